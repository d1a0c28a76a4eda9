"""Supervised task distributions: the first stage of the pipeline (task -> adaptation -> objective).

A task distribution samples meta-batches as :data:`metarl.core.problem.TaskBatch` dicts (support and
query tensors with a leading task dimension, plus the task's parameters), ready for one vmapped
meta-step. Train and test distributions of a family are separate objects; held-out evaluation
tasks come from the test distribution with a generator of their own seed.
"""

from __future__ import annotations

from typing import Literal, Protocol, cast

import torch

from metarl.core.problem import TaskBatch
from metarl.supervised.tasks.omniglot import (
    DataLayoutError,
    OmniglotConfig,
    OmniglotTasks,
    load_omniglot,
    write_synthetic_omniglot,
)
from metarl.supervised.tasks.sinusoid import SinusoidConfig, SinusoidTasks


class TaskDistribution(Protocol):
    """A family of supervised tasks.

    Attributes:
        loss: the problem's loss, ``mse`` (regression) or ``cross_entropy`` (classification).
        input_shape: shape of one input example.
        output_dim: size of the model's output.
    """

    @property
    def loss(self) -> Literal["mse", "cross_entropy"]:
        """Read-only, so a family may fix it to one of the two (``Literal["mse"]``)."""
        ...

    input_shape: tuple[int, ...]
    output_dim: int

    def sample(
        self, num_tasks: int, generator: torch.Generator, *, support: int | None = None
    ) -> TaskBatch:
        """``num_tasks`` tasks on the distribution's device and dtype; ``support`` overrides K."""
        ...


TASK_FAMILIES: dict[str, type] = {"sinusoid": SinusoidConfig, "omniglot": OmniglotConfig}


def make_task_distribution(
    family: str,
    config: SinusoidConfig | OmniglotConfig,
    split: Literal["train", "test"],
    device: torch.device | str,
    dtype: torch.dtype,
) -> TaskDistribution:
    """Build the ``split`` distribution of ``family`` from its config (data is loaded and checked
    here, so a bad data folder fails before training starts)."""
    if family not in TASK_FAMILIES:
        raise ValueError(f"unknown task family {family!r}; choose one of {sorted(TASK_FAMILIES)}")
    if not isinstance(config, TASK_FAMILIES[family]):
        raise TypeError(
            f"task family {family!r} needs a {TASK_FAMILIES[family].__name__}, "
            f"got {type(config).__name__}"
        )
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if family == "sinusoid":
        # One family for both splits: held-out tasks differ by the generator's seed.
        # The isinstance check against TASK_FAMILIES[family] above does not narrow for mypy.
        return SinusoidTasks(cast(SinusoidConfig, config), device, dtype)
    return OmniglotTasks(cast(OmniglotConfig, config), split, device, dtype)


__all__ = [
    "TASK_FAMILIES",
    "DataLayoutError",
    "OmniglotConfig",
    "OmniglotTasks",
    "SinusoidConfig",
    "SinusoidTasks",
    "TaskDistribution",
    "load_omniglot",
    "make_task_distribution",
    "write_synthetic_omniglot",
]
