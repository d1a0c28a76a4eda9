"""Outer steps: the update of the meta-parameters from a meta-batch, one family behind one
interface (:class:`~metarl.outer.base.OuterStep`), chosen by ``outer.kind``.

To add an outer step: a module with its ``OuterStep`` subclass (and its settings dataclass, if it
has any, as a field of :class:`OuterConfig`), and its entry in :data:`OUTER_STEPS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from metarl.core.algorithms.base import MetaAlgorithm
from metarl.core.functional import Params
from metarl.errors import ConfigError
from metarl.outer.base import Average, MetaUpdate, OuterStep, update_scalars
from metarl.outer.gradient import GradientStep
from metarl.outer.ppo import PPOConfig, PPOStep
from metarl.outer.trpo import TRPOConfig, TRPOStep

OUTER_STEPS: dict[str, type[OuterStep]] = {
    "adam": GradientStep,
    "sgd": GradientStep,
    "trpo": TRPOStep,
    "ppo": PPOStep,
}
"""``outer.kind`` -> the step class."""

TRUST_REGION_ALGORITHMS: tuple[str, ...] = ("maml", "fomaml", "metasgd", "hfmaml")
"""Algorithms whose meta-gradient is the gradient of the post-adaptation surrogate through a
differentiable adaptation, as TRPO's Fisher products and PPO's clipped surrogate require."""


@dataclass(frozen=True)
class OuterConfig:
    """The outer step: how the meta-parameters move once per meta-iteration."""

    kind: str = "adam"
    """``adam`` or ``sgd`` (a torch optimizer on the algorithm's meta-gradient; MAML paper,
    sinusoid: Adam), ``trpo`` (MAML-TRPO, MAML paper RL) or ``ppo`` (ProMP-style); trpo and ppo
    need an RL problem and an algorithm that differentiates through the adaptation."""
    lr: float = 1e-3
    """Step size of adam / sgd and of PPO's Adam epochs (MAML paper: Adam 1e-3; for Reptile with
    sgd it is the interpolation rate epsilon); unused by trpo."""
    grad_clip: float | None = None
    """Clip the meta-gradient to this global L2 norm before each adam / sgd / ppo step; ``null``
    leaves it unclipped."""
    trpo: TRPOConfig = field(default_factory=TRPOConfig)
    """Trust-region settings (used when ``kind: trpo``)."""
    ppo: PPOConfig = field(default_factory=PPOConfig)
    """Clipped-surrogate settings (used when ``kind: ppo``)."""

    def __post_init__(self) -> None:
        if self.kind not in OUTER_STEPS:
            raise ConfigError(
                f"outer.kind {self.kind!r} is unknown; use one of {list(OUTER_STEPS)}"
            )
        if not self.lr > 0:
            raise ConfigError(f"outer.lr must be > 0, got {self.lr}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ConfigError(f"outer.grad_clip must be > 0 or null, got {self.grad_clip}")

    def check_algorithm(self, algorithm: str, problem_kind: str) -> None:
        """Reject an outer step whose requirements ``algorithm`` or the problem do not meet."""
        cls = OUTER_STEPS[self.kind]
        if cls.needs_policy and problem_kind != "rl":
            raise ConfigError(
                f"outer.kind: {self.kind} measures the KL divergence between policies, which "
                f"{problem_kind} tasks do not have; use outer.kind adam or sgd"
            )
        if cls.needs_trust_region_algorithm and algorithm not in TRUST_REGION_ALGORITHMS:
            raise ConfigError(
                f"outer.kind: {self.kind} needs the surrogate's gradient through a "
                f"differentiable adaptation, which algorithm {algorithm!r} does not give; use "
                f"algorithm one of {list(TRUST_REGION_ALGORITHMS)}, or outer.kind adam / sgd"
            )


def make_outer_step(
    config: OuterConfig,
    algorithm: MetaAlgorithm,
    meta_params: Params,
    average: Average | None = None,
) -> OuterStep:
    """The outer step ``config.kind`` over ``meta_params``."""
    return OUTER_STEPS[config.kind](config, algorithm, meta_params, average)


__all__ = [
    "OUTER_STEPS",
    "TRUST_REGION_ALGORITHMS",
    "Average",
    "MetaUpdate",
    "OuterConfig",
    "OuterStep",
    "make_outer_step",
    "update_scalars",
]
