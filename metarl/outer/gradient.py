"""The gradient outer step (``outer.kind: adam | sgd``): a torch optimizer on the meta-gradient.

    g = meta_grads            # MetaAlgorithm.meta_step: MAML's, iMAML's implicit one, Reptile's
    check g and the meta-loss are finite                  # else nothing moves
    g *= min(1, grad_clip / ||g||)                        # if outer.grad_clip
    theta <- Adam(theta, g) or SGD(theta, g)              # outer.lr

The same gradient application serves PPO's epochs (:mod:`metarl.outer.ppo`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor
from torch.nn.utils import clip_grads_with_norm_, get_total_norm

from metarl.core.algorithms.base import MetaStepResult
from metarl.core.problem import MetaProblem, Tasks
from metarl.errors import require_finite
from metarl.outer.base import MetaUpdate, OuterStep

OUTER_OPTIMIZERS: tuple[str, ...] = ("adam", "sgd")


def make_outer_optimizer(name: str, params: Iterable[Tensor], lr: float) -> torch.optim.Optimizer:
    """``torch.optim.Adam`` (the MAML paper's outer optimizer) or plain ``torch.optim.SGD``."""
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    raise ValueError(f"outer optimizer must be one of {OUTER_OPTIMIZERS}, got {name!r}")


def apply_meta_gradient(
    optimizer: torch.optim.Optimizer,
    meta_params: dict[str, Tensor],
    meta_grads: dict[str, Tensor],
    grad_norm: Tensor,
    grad_clip: float | None,
) -> None:
    """Write ``meta_grads`` into the parameters' ``.grad``, clip them to the global L2 norm
    ``grad_clip`` (given their norm ``grad_norm``) if set, and take one optimizer step.

    Parameters without a meta-gradient get ``grad = None``, so the optimizer leaves them alone.
    The tensors of ``meta_grads`` become the ``.grad`` themselves (no copy), so clipping scales
    them in place.
    """
    for name, param in meta_params.items():
        param.grad = meta_grads.get(name)
    if grad_clip is not None:
        clip_grads_with_norm_(
            [p for p in meta_params.values() if p.grad is not None], grad_clip, grad_norm
        )
    optimizer.step()


def meta_step_values(result: MetaStepResult) -> dict[str, Tensor]:
    """The meta-step's values in the order they were computed, named for an error message."""
    named: dict[str, Tensor] = {}
    support = result.metrics.get("support_loss")  # (tasks, inner steps)
    if support is not None:
        for step in range(support.shape[1]):
            named[f"inner support loss at inner step {step}"] = support[:, step]
    for key in ("query_loss_pre", "query_loss_post"):
        if key in result.metrics:
            named[key.replace("_", " ")] = result.metrics[key]
    named["meta-loss"] = result.meta_loss
    named.update({f"meta-gradient of {name}": grad for name, grad in result.meta_grads.items()})
    return named


class GradientStep(OuterStep):
    """Adam or SGD (``outer.kind``) with ``outer.lr`` on the algorithm's meta-gradient."""

    def make_optimizer(self, config: Any, params: list[Tensor]) -> torch.optim.Optimizer:
        return make_outer_optimizer(config.kind, params, config.lr)

    def step(self, problem: MetaProblem, tasks: Tasks) -> MetaUpdate:
        result = self.algorithm.meta_step(self.meta_params, problem, tasks)
        grad_norm = get_total_norm(list(result.meta_grads.values()))
        require_finite(
            result.meta_loss,
            grad_norm,
            lambda: meta_step_values(result),
            "Lower inner.lr or outer.lr, or set outer.grad_clip.",
        )
        assert self.optimizer is not None  # built by make_optimizer
        apply_meta_gradient(
            self.optimizer, self.meta_params, result.meta_grads, grad_norm, self.config.grad_clip
        )
        stats = {"outer/meta_loss": result.meta_loss, "outer/grad_norm": grad_norm}
        return MetaUpdate(stats, result.metrics)
