"""A run stopped at an arbitrary moment resumes to the numbers of a run that never stopped:
SIGKILL loses at most ``logging.checkpoint_minutes`` of work, SIGINT (Ctrl-C) none (the run keeps
the iteration it interrupted, and a second Ctrl-C stops at once)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from metarl.run.checkpoint import load_checkpoint
from metarl.run.trainer import Trainer, make_trainer

REPO = Path(__file__).resolve().parents[2]
BUDGET_MINUTES = 0.02
"""Checkpoint at least every 1.2 s of training; by count, never (checkpoint_every is huge)."""
ITERATIONS = 10**6
"""More than the run gets through before it is stopped."""


def long_config(tiny: Path) -> Path:
    """The tiny config, long enough to be stopped, checkpointing by time alone."""
    data = yaml.safe_load(tiny.read_text())
    data["iterations"] = ITERATIONS
    data["evaluation"]["tasks"] = 2
    # Pinned: under auto, whether a run compiles depends on its iteration count, which the
    # resumed and the reference runs below change (compiled and eager runs round differently).
    data["compile"] = "on"
    data["logging"].update(checkpoint_every=10**9, checkpoint_minutes=BUDGET_MINUTES, log_every=25)
    path = tiny.with_name("long.yaml")
    path.write_text(yaml.safe_dump(data))
    return path


def metarl(*args: str) -> list[str]:
    return [sys.executable, "-m", "metarl", *args]


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL], ids=["sigint", "sigkill"])
def test_a_stopped_run_loses_at_most_the_time_budget_and_resumes_identically(
    tmp_path, tiny_config_file, stop, training_scalars
):
    config = long_config(tiny_config_file)
    # PYTHONFAULTHANDLER: a run that hangs is sent SIGABRT and prints every thread's stack.
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"}
    full, stopped = tmp_path / "full", tmp_path / "stopped"
    process = subprocess.Popen(
        metarl("train", str(config), "--run-dir", str(stopped)),
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        # SIGINT as in a terminal: a test run started in the background (no job control)
        # passes SIGINT on ignored, and a run that ignores it rightly keeps ignoring it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    checkpoint = stopped / "checkpoint.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert checkpoint.exists(), "no time-based checkpoint was written"
    time.sleep(0.5 + 1.5 * 60 * BUDGET_MINUTES)  # an arbitrary moment, budgets later
    assert process.poll() is None, "the run finished before it could be stopped"
    process.send_signal(stop)
    stopped_at = time.time()
    try:
        _, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)  # never leave a training process behind
        try:
            _, err = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
        stacks = err[-6000:]
        raise AssertionError(f"no stop within 60 s of {stop.name}:\n{stacks}") from None
    assert "Traceback" not in err, err

    state = load_checkpoint(checkpoint)
    assert 0 < state["iteration"] < ITERATIONS
    # The work lost is what ran since the last checkpoint: at most the budget plus one
    # iteration and the checkpoint's own write (generous for a loaded machine).
    lost = stopped_at - checkpoint.stat().st_mtime
    assert lost <= 60 * BUDGET_MINUTES + 1.5, f"{lost:.2f} s of work lost"
    if stop == signal.SIGINT:
        assert process.returncode == 130 and f"--resume {stopped}" in err
        # Checkpointed at the end of the interrupted iteration, not budgets earlier.
        assert lost <= 1.0, f"{lost:.2f} s of work lost to Ctrl-C"

    # Resumed to a few iterations past the checkpoint, it equals a run that never stopped.
    until = f"iterations={state['iteration'] + 50}"
    for command in (
        metarl("train", "--resume", str(stopped), "--set", until),
        metarl("train", str(config), "--run-dir", str(full), "--set", until),
    ):
        subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True)
    assert training_scalars(stopped) == training_scalars(full)
    resumed = load_checkpoint(checkpoint)["learner"]
    expected = load_checkpoint(full / "checkpoint.pt")["learner"]
    assert all((resumed[k] == expected[k]).all() for k in expected)


def interrupt_during_iteration(trainer: Trainer, at: int, signals: int) -> None:
    """Send this process ``signals`` SIGINTs while iteration ``at`` takes its outer step."""
    step = trainer.outer.step

    def interrupted(problem, tasks):
        if trainer.iteration + 1 == at:
            for _ in range(signals):
                os.kill(os.getpid(), signal.SIGINT)
        return step(problem, tasks)

    trainer.outer.step = interrupted


@pytest.fixture
def ctrl_c_raises():
    """SIGINT as in a terminal (a test runner or a background job may have it ignored)."""
    handler_before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, handler_before)


def test_ctrl_c_keeps_the_iteration_it_interrupted(tmp_path, tiny_config, ctrl_c_raises):
    config = tiny_config(["iterations=9", "logging.checkpoint_every=100"])
    trainer = make_trainer(config, tmp_path / "run")
    interrupt_during_iteration(trainer, at=3, signals=1)
    with pytest.raises(KeyboardInterrupt):
        trainer.train()
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["iteration"] == 3
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored after the run

    resumed = make_trainer(config, tmp_path / "run")
    resumed.restore()
    resumed.train()
    uninterrupted = make_trainer(config, tmp_path / "full")
    uninterrupted.train()
    for key, value in uninterrupted.learner.state_dict().items():
        assert torch.equal(resumed.learner.state_dict()[key], value), key


def test_a_second_ctrl_c_stops_at_once(tmp_path, tiny_config, ctrl_c_raises):
    trainer = make_trainer(tiny_config(["iterations=9"]), tmp_path / "run")
    interrupt_during_iteration(trainer, at=3, signals=2)
    with pytest.raises(KeyboardInterrupt):
        trainer.train()
    # Stopped inside iteration 3: the last checkpoint is the one of iteration 2.
    assert trainer.iteration == 2
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["iteration"] == 2


def test_a_run_started_with_sigint_ignored_keeps_ignoring_it(tmp_path, tiny_config):
    handler_before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        trainer = make_trainer(tiny_config(["iterations=4"]), tmp_path / "run")
        interrupt_during_iteration(trainer, at=2, signals=2)
        trainer.train()  # not interrupted
        assert trainer.iteration == 4
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, handler_before)
