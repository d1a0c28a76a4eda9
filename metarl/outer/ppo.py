"""ProMP-style PPO as the outer optimiser (Rothfuss et al., 2019, "ProMP", Algorithm 1).

Instead of one trust-region step, the meta-parameters take ``epochs`` Adam steps on the clipped
post-adaptation surrogate of the same samples,

    L^CLIP(theta) = mean_i -E[ min(r_i A, clip(r_i, 1 - eps, 1 + eps) A) ],
    r_i = pi_{U_i(theta)}(a|s) / q_i(a|s),

where q_i is the post-adaptation policy that sampled task i's query episodes. Each epoch recomputes
the adaptation U_i(theta) from the fixed pre-adaptation episodes through ``algorithm.meta_step``
(so second-order MAML, first-order MAML or Meta-SGD decide how the gradient flows through it): the
ratio moves with theta through the inner step, which is what makes several epochs on one batch
valid. ProMP also adds a KL penalty on the pre-adaptation policy; here the clipping alone bounds the
update, as in ProMP's ablation "ProMP without KL penalty" (its Fig. 4 shows little difference).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Protocol, cast

import torch
from torch import Tensor

from metarl.core.algorithms.base import MetaAlgorithm, map_adapted
from metarl.core.functional import Params, tree_dot
from metarl.core.problem import MetaProblem, TaskData, Tasks
from metarl.errors import require_finite
from metarl.outer.base import MetaUpdate, OuterStep
from metarl.outer.gradient import apply_meta_gradient, meta_step_values
from metarl.outer.trpo import KLProblem


@dataclass(frozen=True)
class PPOConfig:
    """Clipped-surrogate outer optimisation (ProMP); its step size and gradient clipping are
    ``outer.lr`` and ``outer.grad_clip``.

    Attributes:
        epochs: Adam steps on the same meta-batch, each with the adaptation recomputed.
        clip: clipping range epsilon of the importance ratio.
    """

    epochs: int = 5
    clip: float = 0.2

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"outer.ppo.epochs must be >= 1, got {self.epochs}")
        if not 0 < self.clip < 1:
            raise ValueError(f"outer.ppo.clip must be in (0, 1), got {self.clip}")


class ClippedProblem(KLProblem, Protocol):
    """A meta-problem that also offers PPO's clipped surrogate on the query episodes."""

    def clipped_loss(self, params: Params, task: TaskData, clip: float) -> Tensor:
        """-mean over valid query steps of min(r A, clip(r, 1 - clip, 1 + clip) A)."""
        ...


class ClippedObjective:
    """The same problem with the clipped surrogate as its query loss, for ``meta_step``."""

    def __init__(self, problem: ClippedProblem, clip: float) -> None:
        self.problem = problem
        self.clip = clip

    def support_loss(self, params: Params, task: TaskData, step: int = 0) -> Tensor:
        return self.problem.support_loss(params, task, step)

    def query_loss(self, params: Params, task: TaskData) -> Tensor:
        return self.problem.clipped_loss(params, task, self.clip)

    def query_metrics(self, params: Params, task: TaskData) -> dict[str, Tensor]:
        return self.problem.query_metrics(params, task)


def ppo_step(
    algorithm: MetaAlgorithm,
    learner_params: Params,
    problem: ClippedProblem,
    tasks: Tasks,
    config: PPOConfig,
    optimizer: torch.optim.Optimizer,
    grad_clip: float | None = None,
) -> dict[str, Tensor]:
    """``config.epochs`` optimizer steps on the clipped post-adaptation surrogate of ``tasks``.

    Args:
        algorithm: meta-gradient of the clipped surrogate through the adaptation.
        learner_params: the meta-parameters (``MetaLearner.meta_params()``), updated in place.
        problem: the RL meta-problem (``clipped_loss``, ``query_loss``, ``kl``).
        tasks: the meta-batch of task data.
        config: epochs and clipping range.
        optimizer: an optimizer over exactly ``learner_params`` (Adam with ``outer.lr``).
        grad_clip: clip each epoch's meta-gradient to this global norm (None: off).

    Returns:
        Scalars: ``clipped_loss_before`` (first epoch), ``clipped_loss_after``, ``surrogate_after``
        and ``kl`` (mean KL from the sampling post-adaptation policy) after the last epoch, and
        ``grad_norm`` of the first epoch.

    Raises:
        NonFiniteError: a non-finite loss or meta-gradient, naming the epoch; the step of that
            epoch is not applied.
    """
    objective = ClippedObjective(problem, config.clip)
    loss_before = grad_norm = None
    for epoch in range(config.epochs):
        result = algorithm.meta_step(learner_params, objective, tasks)
        grads = {
            name: result.meta_grads.get(name, torch.zeros_like(param))
            for name, param in learner_params.items()
        }
        norm = torch.sqrt(tree_dot(grads, grads))
        require_finite(
            result.meta_loss,
            norm,
            # Called at once if at all (before the next epoch rebinds these names).
            lambda: meta_step_values(replace(result, meta_grads=grads)),  # noqa: B023
            f"(PPO epoch {epoch}.) Lower outer.lr or inner.lr.",
        )
        if epoch == 0:
            loss_before, grad_norm = result.meta_loss, norm
        apply_meta_gradient(optimizer, learner_params, grads, norm, grad_clip)

    with torch.no_grad():
        adapted = algorithm.adapted_params(learner_params, problem, tasks)
        clipped, surrogate, kl = map_adapted(
            lambda params, task: (
                problem.clipped_loss(params, task, config.clip),
                problem.query_loss(params, task),
                problem.kl(params, task),
            ),
            adapted,
            tasks,
        )
    assert loss_before is not None and grad_norm is not None  # epochs >= 1
    return {
        "clipped_loss_before": loss_before,
        "clipped_loss_after": clipped.mean(),
        "surrogate_after": surrogate.mean(),
        "kl": kl.mean(),
        "grad_norm": grad_norm,
    }


class PPOStep(OuterStep):
    """ProMP's clipped epochs with Adam (``outer.lr``, ``outer.grad_clip``, ``outer.ppo``)."""

    needs_trust_region_algorithm = True
    needs_policy = True

    def make_optimizer(self, config: Any, params: list[Tensor]) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=config.lr)

    def step(self, problem: MetaProblem, tasks: Tasks) -> MetaUpdate:
        assert self.optimizer is not None  # built by make_optimizer
        stats = ppo_step(
            self.algorithm,
            self.meta_params,
            cast(ClippedProblem, problem),
            tasks,
            self.config.ppo,
            self.optimizer,
            self.config.grad_clip,
        )
        return MetaUpdate({f"outer/{name}": value for name, value in stats.items()})
