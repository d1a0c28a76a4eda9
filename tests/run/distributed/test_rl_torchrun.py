"""``torchrun`` with 2 gloo processes takes the single-process MAML-TRPO steps on Navigation2D."""

import sys

import pytest
import torch

from metarl.run.checkpoint import load_checkpoint

from .conftest import run, torchrun_command

TINY = [
    "--set", "dtype=float64",
    "--set", "meta_batch_size=5",  # uneven shares over 2 ranks: 3 + 2 tasks
    "--set", "episodes_per_task=4",
    "--set", "horizon=20",
    "--set", "threads=1",
    "--set", "sampler_threads=1",
    "--set", "logging.progress=false",
    "--set", "logging.log_every=1",
    "--set", "logging.checkpoint_every=1",
    "--set", "evaluation.tasks=2",
    "--set", "evaluation.adapt_steps=1",
    "--set", "evaluation.random_init=false",
]  # fmt: skip


@pytest.mark.parametrize(("outer", "iterations"), [("trpo", 1), ("trpo", 3), ("ppo", 2)])
def test_two_processes_match_one_process(repo, tmp_path, outer, iterations):
    args = [
        "train", "experiments/navigation2d_maml_trpo.yaml", *TINY,
        "--set", f"outer={outer}", "--set", f"iterations={iterations}",
    ]  # fmt: skip
    run([sys.executable, "-m", "metarl", *args, "--run-dir", str(tmp_path / "one")], repo)
    two_run = run(torchrun_command(2, *args, "--run-dir", str(tmp_path / "two")), repo)
    assert "report:" in two_run.stdout  # flushed before the ranks' os._exit
    one = load_checkpoint(tmp_path / "one" / "checkpoint.pt")
    two = load_checkpoint(tmp_path / "two" / "checkpoint.pt")
    assert one["iteration"] == two["iteration"] == iterations
    for name, value in one["learner"].items():
        torch.testing.assert_close(two["learner"][name], value, rtol=0, atol=1e-6)
