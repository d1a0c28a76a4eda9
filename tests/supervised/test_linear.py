"""The linear regression family: what it samples, and that MAML adapts on it through the CLI's
config (the family was added through the README's "to add a supervised task family" row)."""

import pytest
import torch

from metarl.run.config import config_from_dict
from metarl.run.trainer import make_trainer
from metarl.supervised.tasks import LinearConfig, LinearTasks, make_task_distribution


def test_tasks_are_linear_functions_of_their_inputs():
    tasks = LinearTasks(LinearConfig(dim=3, support=4, query=6), dtype=torch.float64)
    batch = tasks.sample(5, torch.Generator().manual_seed(0))
    assert batch["support_x"].shape == (5, 4, 3) and batch["query_y"].shape == (5, 6, 1)
    for split in ("support", "query"):
        expected = torch.einsum("tnd,td->tn", batch[f"{split}_x"], batch["weights"])
        expected = expected + batch["bias"][:, None]
        torch.testing.assert_close(batch[f"{split}_y"].squeeze(-1), expected)
    again = tasks.sample(5, torch.Generator().manual_seed(0))
    assert all(torch.equal(batch[k], again[k]) for k in batch)
    assert tasks.sample(2, torch.Generator().manual_seed(0), support=9)["support_x"].shape[1] == 9


def test_label_noise_has_its_standard_deviation():
    tasks = LinearTasks(
        LinearConfig(dim=2, support=2000, query=1, noise_std=0.5), dtype=torch.float64
    )
    batch = tasks.sample(4, torch.Generator().manual_seed(1))
    clean = (
        torch.einsum("tnd,td->tn", batch["support_x"], batch["weights"]) + batch["bias"][:, None]
    )
    residual = batch["support_y"].squeeze(-1) - clean
    assert residual.std().item() == pytest.approx(0.5, rel=0.05)


@pytest.mark.parametrize("key", ["dim", "support", "query"])
def test_bad_settings_name_the_key(key):
    with pytest.raises(ValueError, match=f"task.linear.{key} must be >= 1"):
        LinearConfig(**{key: 0})


def test_maml_learns_an_initialisation_that_adapts(tmp_path):
    config = config_from_dict(
        {
            "task": {"family": "linear", "linear": {"dim": 2, "support": 10, "query": 10}},
            "model": {"hidden": [32, 32]},
            "inner": {"lr": 0.05},
            "outer": {"lr": 1e-2},
            "iterations": 300,
            "meta_batch_size": 8,
            "evaluation": {"tasks": 100, "steps": 1, "support_sizes": [10]},
            "logging": {"progress": False, "run_root": str(tmp_path)},
        }
    )
    assert isinstance(
        make_task_distribution("linear", config.task.linear, "test", "cpu", torch.float32),
        LinearTasks,
    )
    trainer = make_trainer(config, tmp_path / "run")
    untrained = trainer.evaluate()["K=10"].loss_mean
    trained = trainer.train()["K=10"].loss_mean
    # Before meta-training one step barely helps; after it, one step takes most of the loss.
    assert trained[1] < 0.5 * trained[0]
    assert trained[1] < 0.5 * untrained[1]
