"""Hessian-free MAML (Fallah, Mokhtari and Ozdaglar, 2020; seed 002).

The exact MAML meta-gradient back-propagates grad L_query(phi_k) through the k inner steps,

    v_k = grad L_query(phi_k),    v_j = (I - alpha H_support(phi_j)) v_{j+1},    g = v_0,

and Hessian-free MAML replaces each Hessian-vector product by a central finite difference of
gradients, so only first-order derivatives are ever evaluated:

    H(phi) v ~ [grad L(phi + delta u) - grad L(phi - delta u)] / (2 delta) * ||v||,   u = v / ||v||.

The perturbation has norm ``fd_eps`` whatever the scale of v; the error is O(fd_eps^2).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
from torch import Tensor
from torch.func import grad

from metarl.core.adaptation import InnerLoopConfig, inner_step
from metarl.core.algorithms.base import MetaAlgorithm, MetaStepResult, map_tasks, model_grads
from metarl.core.functional import Params, detach, model_params, tree_norm, tree_zip
from metarl.core.problem import MetaProblem, TaskData, Tasks, num_tasks


@dataclass(frozen=True)
class HFMAMLConfig:
    """Attributes:
    fd_eps: norm of the finite-difference perturbation delta.
    """

    fd_eps: float = 1e-4

    def __post_init__(self) -> None:
        if not self.fd_eps > 0:
            raise ValueError(f"hfmaml.fd_eps must be > 0, got {self.fd_eps}")


def finite_difference_hvp(loss_grad, params: Params, vector: Params, eps: float) -> Params:
    """Central-difference estimate of H(params) @ vector from two gradient evaluations."""
    norm = tree_norm(vector)
    scale = torch.where(norm > 0, eps / norm.clamp_min(1e-30), 0.0)
    plus = loss_grad(tree_zip(lambda p, v: p + scale * v, params, vector))
    minus = loss_grad(tree_zip(lambda p, v: p - scale * v, params, vector))
    inverse = torch.where(norm > 0, 1.0 / (2.0 * scale).clamp_min(1e-30), 0.0)
    return tree_zip(lambda a, b: (a - b) * inverse, plus, minus)


class HessianFreeMAML(MetaAlgorithm):
    name = "hfmaml"

    def __init__(self, inner: InnerLoopConfig, config: HFMAMLConfig | None = None) -> None:
        super().__init__(inner)
        self.config = config or HFMAMLConfig()

    def meta_step(self, meta_params: Params, problem: MetaProblem, tasks: Tasks) -> MetaStepResult:
        alpha, eps = self.inner.lr, self.config.fd_eps

        def task_gradient(meta_params: Params, task: TaskData):
            params = detach(model_params(meta_params))
            trajectory = [params]
            support_losses = []
            for step in range(self.inner.steps):
                phi, loss = inner_step(
                    trajectory[-1],
                    partial(problem.support_loss, task=task, step=step),
                    meta_params,
                    self.inner,
                    step,
                )
                trajectory.append(detach(phi))
                support_losses.append(loss.detach())
            adapted = trajectory[-1]
            vector = grad(lambda p: problem.query_loss(p, task))(adapted)
            for step, phi in reversed(list(enumerate(trajectory[:-1]))):
                support_grad = grad(lambda p, step=step: problem.support_loss(p, task, step))
                curvature = finite_difference_hvp(support_grad, phi, vector, eps)
                vector = tree_zip(lambda v, hv: v - alpha * hv, vector, curvature)
            metrics: dict[str, Tensor] = {
                "query_loss_pre": problem.query_loss(params, task),
                "query_loss_post": problem.query_loss(adapted, task),
                **{f"{k}_post": v for k, v in problem.query_metrics(adapted, task).items()},
            }
            if support_losses:
                metrics["support_loss"] = torch.stack(support_losses)
            return vector, metrics

        grads, metrics = map_tasks(task_gradient, meta_params, tasks)
        meta_grads = model_grads({n: g.mean(dim=0) for n, g in grads.items()})
        meta_loss = metrics["query_loss_post"].mean()
        return MetaStepResult(meta_loss, meta_grads, metrics, num_tasks(tasks))
