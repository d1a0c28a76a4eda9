"""Supervised task distributions: the first stage of the pipeline (task -> adaptation -> objective).

To add a family: a module with its config dataclass and its distribution class, then its entry
in :data:`TASK_FAMILIES` and its field in :class:`TaskConfig` here.

A task distribution samples meta-batches as :data:`metarl.core.problem.TaskBatch` dicts (support and
query tensors with a leading task dimension, plus the task's parameters), ready for one vmapped
meta-step. Train and test distributions of a family are separate objects; held-out evaluation
tasks come from the test distribution with a generator of their own seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Protocol

import torch

from metarl.core.problem import TaskBatch
from metarl.errors import ConfigError
from metarl.run.config_schema import suggestion
from metarl.supervised.tasks.linear import LinearConfig, LinearTasks
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


Split = Literal["train", "test"]


class TaskFamily(NamedTuple):
    """A registered family: its settings class and how to build one split's distribution."""

    config: type
    build: Callable[[Any, Split, torch.device | str, torch.dtype], TaskDistribution]


TASK_FAMILIES: dict[str, TaskFamily] = {
    # One distribution for both splits: held-out tasks differ by the generator's seed.
    "sinusoid": TaskFamily(SinusoidConfig, lambda c, split, d, t: SinusoidTasks(c, d, t)),
    "linear": TaskFamily(LinearConfig, lambda c, split, d, t: LinearTasks(c, d, t)),
    # Train and test classes are disjoint characters.
    "omniglot": TaskFamily(OmniglotConfig, OmniglotTasks),
}
"""Family name -> its settings and builder."""


@dataclass(frozen=True)
class TaskConfig:
    """Which task family to meta-train on, and the settings of each family."""

    family: str = "sinusoid"
    """Task family, one of ``metarl list``'s task families (sinusoid, linear, omniglot)."""
    sinusoid: SinusoidConfig = field(default_factory=SinusoidConfig)
    """Settings of the sinusoid regression family (used when ``family: sinusoid``)."""
    linear: LinearConfig = field(default_factory=LinearConfig)
    """Settings of the linear regression family (used when ``family: linear``)."""
    omniglot: OmniglotConfig = field(default_factory=OmniglotConfig)
    """Settings of the Omniglot classification family (used when ``family: omniglot``)."""

    def __post_init__(self) -> None:
        if self.family not in TASK_FAMILIES:
            raise ConfigError(
                f"task.family {self.family!r} is not a task family; "
                f"choose one of {sorted(TASK_FAMILIES)}" + suggestion(self.family, TASK_FAMILIES)
            )

    @property
    def family_config(self) -> Any:
        """The settings of the selected family (``self.sinusoid`` for ``family: sinusoid``)."""
        return getattr(self, self.family)


def make_task_distribution(
    family: str,
    config: Any,
    split: Split,
    device: torch.device | str,
    dtype: torch.dtype,
) -> TaskDistribution:
    """Build the ``split`` distribution of ``family`` from its config (data is loaded and checked
    here, so a bad data folder fails before training starts)."""
    if family not in TASK_FAMILIES:
        raise ValueError(f"unknown task family {family!r}; choose one of {sorted(TASK_FAMILIES)}")
    registered = TASK_FAMILIES[family]
    if not isinstance(config, registered.config):
        raise TypeError(
            f"task family {family!r} needs a {registered.config.__name__}, "
            f"got {type(config).__name__}"
        )
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return registered.build(config, split, device, dtype)


__all__ = [
    "TASK_FAMILIES",
    "DataLayoutError",
    "LinearConfig",
    "LinearTasks",
    "OmniglotConfig",
    "OmniglotTasks",
    "SinusoidConfig",
    "SinusoidTasks",
    "TaskConfig",
    "TaskDistribution",
    "TaskFamily",
    "load_omniglot",
    "make_task_distribution",
    "write_synthetic_omniglot",
]
