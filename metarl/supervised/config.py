"""The supervised run configuration (``kind: supervised``): the shared :class:`RunConfig` plus the
task family, the network and the held-out adaptation curves. Defaults are the MAML paper's
sinusoid setting (Finn et al., 2017, sec. 5.1)."""

from __future__ import annotations

from dataclasses import dataclass, field

from metarl.core.adaptation import InnerLoopConfig
from metarl.errors import ConfigError
from metarl.run.config import EvaluationConfig, RunConfig
from metarl.supervised.models import ModelConfig
from metarl.supervised.tasks import TaskConfig


@dataclass(frozen=True)
class SupervisedEvaluationConfig(EvaluationConfig):
    """Held-out adaptation curves: loss (and accuracy) after 0..steps inner steps on new tasks."""

    tasks: int = 600
    """Number of held-out test tasks (MAML paper: 600)."""
    steps: int = 10
    """Inner steps at test time; the curve reports every step from 0 to this."""
    support_sizes: tuple[int, ...] = (5, 10, 20)
    """Support points (shots) per test task; one curve each (MAML paper: K = 5, 10, 20)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.steps < 0:
            raise ConfigError(f"evaluation.steps must be >= 0, got {self.steps}")
        if not self.support_sizes or any(k < 1 for k in self.support_sizes):
            raise ConfigError(
                "evaluation.support_sizes must be a non-empty list of positive sizes, "
                f"got {list(self.support_sizes)}"
            )


@dataclass(frozen=True)
class SupervisedConfig(RunConfig):
    """A supervised meta-learning run: task family, model, meta-algorithm and outer step."""

    iterations: int = 70_000
    """Outer (meta) iterations, one meta-batch each (MAML paper, sinusoid: 70,000)."""
    meta_batch_size: int = 25
    """Tasks per meta-batch (MAML paper, sinusoid: 25)."""
    inner: InnerLoopConfig = field(default_factory=InnerLoopConfig)
    """Inner loop: steps, step size and whether it is learned (MAML paper: 1 step, 0.01)."""
    evaluation: SupervisedEvaluationConfig = field(default_factory=SupervisedEvaluationConfig)
    """Held-out adaptation evaluation at the end of training (and every ``evaluation.every``)."""
    vectorize: bool = True
    """Adapt all tasks of a meta-batch in one vmapped call (``false``: a Python loop)."""
    task: TaskConfig = field(default_factory=TaskConfig)
    """Task family and its settings."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """Network (MAML paper, sinusoid: MLP with two hidden layers of 40 ReLU units)."""
