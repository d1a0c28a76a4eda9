"""A run stopped at an arbitrary moment, by SIGINT (Ctrl-C) or SIGKILL, loses at most
``logging.checkpoint_minutes`` of work and resumes to the numbers of a run that never stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from metarl.run.checkpoint import load_checkpoint

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
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    full, stopped = tmp_path / "full", tmp_path / "stopped"
    process = subprocess.Popen(
        metarl("train", str(config), "--run-dir", str(stopped)),
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
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
        process.kill()  # never leave a training process behind to load the rest of the suite
        process.communicate()
        raise AssertionError(f"the run did not stop within 60 s of {stop.name}") from None
    assert "Traceback" not in err, err

    state = load_checkpoint(checkpoint)
    assert 0 < state["iteration"] < ITERATIONS
    # The work lost is what ran since the last checkpoint: at most the budget plus one
    # iteration and the checkpoint's own write (generous for a loaded machine).
    lost = stopped_at - checkpoint.stat().st_mtime
    assert lost <= 60 * BUDGET_MINUTES + 1.5, f"{lost:.2f} s of work lost"
    if stop == signal.SIGINT:
        assert process.returncode == 130 and f"--resume {stopped}" in err

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
