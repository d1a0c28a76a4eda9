"""``torchrun`` with 2 gloo processes gives the single-process numbers (float64, to 1e-6)."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from metarl.run.checkpoint import load_checkpoint

from .conftest import child_env, run, torchrun_command

COMMON = [
    "--set", "dtype=float64",
    "--set", "meta_batch_size=5",  # uneven shares over 2 ranks: 3 + 2 tasks
    "--set", "threads=1",
    "--set", "logging.progress=false",
    "--set", "logging.log_every=1",
    "--set", "logging.checkpoint_every=1",
    "--set", "evaluation.tasks=8",
    "--set", "evaluation.steps=1",
    "--set", "evaluation.support_sizes=[5]",
]  # fmt: skip


def learner_state(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run_dir / "checkpoint.pt")["learner"]


@pytest.mark.parametrize(
    ("optimizer", "iterations"),
    # One SGD step of lr 1 moves the parameters by exactly the meta-gradient.
    [("sgd", 1), ("adam", 3)],
)
def test_two_processes_match_one_process(repo, tmp_path, optimizer, iterations):
    args = [
        "train", "experiments/sinusoid_maml.yaml", *COMMON,
        "--set", f"iterations={iterations}",
        "--set", f"outer.optimizer={optimizer}",
        "--set", f"outer.lr={1.0 if optimizer == 'sgd' else 1e-2}",
    ]  # fmt: skip
    run([sys.executable, "-m", "metarl", *args, "--run-dir", str(tmp_path / "one")], repo)
    two = run(torchrun_command(2, *args, "--run-dir", str(tmp_path / "two")), repo)
    assert two.stdout.count("run directory:") == 1, "rank 0 alone prints the progress and report"
    # Ranks leave with os._exit (run.distributed.exit_rank): the report must be flushed first.
    assert "report:" in two.stdout
    one_state, two_state = learner_state(tmp_path / "one"), learner_state(tmp_path / "two")
    assert one_state.keys() == two_state.keys()
    for name, value in one_state.items():
        torch.testing.assert_close(two_state[name], value, rtol=0, atol=1e-6)
        if optimizer == "sgd":
            torch.testing.assert_close(two_state[name], value, rtol=0, atol=1e-12)
    assert not (tmp_path / "two" / "config.yaml").with_suffix(".yaml.rank1").exists()


def worker_pids(launcher: int) -> dict[int, int]:
    """RANK -> pid of the processes torchrun started."""
    pids = {}
    for child in Path("/proc").iterdir():
        if not child.name.isdigit():
            continue
        try:
            environ = (child / "environ").read_bytes().split(b"\0")
            status = (child / "status").read_text()
        except OSError:
            continue
        parent = next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid")
        )
        if parent != launcher:
            continue
        for entry in environ:
            if entry.startswith(b"RANK="):
                pids[int(entry[5:])] = int(child.name)
    return pids


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the ranks through /proc")
@pytest.mark.parametrize("failure", ["hang", "death"])
def test_a_failing_rank_stops_the_job_with_a_clear_message(repo, tmp_path, failure):
    run_dir = tmp_path / "run"
    command = torchrun_command(
        2, "train", "experiments/sinusoid_maml.yaml", *COMMON,
        "--set", "iterations=100000", "--run-dir", str(run_dir), "--dist-timeout", "5",
    )  # fmt: skip
    launcher = subprocess.Popen(
        command, cwd=repo, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (run_dir / "checkpoint.pt").exists():
            assert launcher.poll() is None, launcher.communicate()
            assert time.monotonic() < deadline, "the job never wrote a checkpoint"
            time.sleep(0.2)
        rank1 = worker_pids(launcher.pid)[1]
        os.kill(rank1, signal.SIGSTOP if failure == "hang" else signal.SIGKILL)
        started = time.monotonic()
        _, stderr = launcher.communicate(timeout=120)
        stopped_after = time.monotonic() - started
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(launcher.pid, signal.SIGKILL)
    assert launcher.returncode != 0
    assert stopped_after < 60
    if failure == "hang":
        assert "did not answer within 5 s" in stderr
    # The last checkpoint, written atomically by rank 0, still loads.
    assert load_checkpoint(run_dir / "checkpoint.pt")["iteration"] >= 1
