"""MAML (Finn et al., 2017), its first-order approximation, and Meta-SGD / MAML++ step sizes.

Meta-objective over a meta-batch of tasks T_i (seed 002, eq. 3-4; seed 003, eq. 17-21):

    F(theta) = mean_i L_query,i(U_i(theta)),
    U_i = k steps of phi <- phi - alpha grad L_support,i(phi)

    grad F(theta) = mean_i  prod_{j=0}^{k-1} (I - alpha H_support,i(phi_j))  grad L_query,i(phi_k)

The exact second-order meta-gradient is obtained by differentiating through all k inner steps
(reverse mode over the vmapped inner loop; the Hessian products are never formed explicitly).
First-order MAML (``inner.first_order``) drops the Hessian factors: grad F ~ mean_i grad
L_query,i(phi_k). With ``inner.lr_mode`` ``per_parameter`` the step sizes alpha are learned
elementwise (Meta-SGD, Li et al. 2017), with ``per_layer_per_step`` per layer and step (MAML++).
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor

from metarl.core.adaptation import InnerLoopConfig, adapt
from metarl.core.algorithms.base import MetaAlgorithm, MetaStepResult, map_tasks
from metarl.core.functional import Params, detach, model_params
from metarl.core.problem import MetaProblem, TaskData, Tasks, num_tasks


class MAML(MetaAlgorithm):
    """Second-order MAML; first-order MAML when ``inner.first_order`` is set."""

    name = "maml"
    supports_learned_lr = True

    def meta_step(self, meta_params: Params, problem: MetaProblem, tasks: Tasks) -> MetaStepResult:
        def task_objective(meta_params: Params, task: TaskData) -> tuple[Tensor, dict[str, Tensor]]:
            params = model_params(meta_params)
            adapted, support_losses = adapt(
                params, lambda p, step: problem.support_loss(p, task, step), meta_params, self.inner
            )
            query_loss = problem.query_loss(adapted, task)
            metrics = {
                "query_loss_pre": problem.query_loss(detach(params), task).detach(),
                "query_loss_post": query_loss.detach(),
                **{
                    f"{k}_post": v.detach() for k, v in problem.query_metrics(adapted, task).items()
                },
            }
            if support_losses:
                metrics["support_loss"] = torch.stack(support_losses).detach()
            return query_loss, metrics

        query_losses, metrics = map_tasks(task_objective, meta_params, tasks)
        meta_loss = query_losses.mean()
        names = list(meta_params)
        grads = torch.autograd.grad(meta_loss, [meta_params[n] for n in names], allow_unused=True)
        meta_grads = {
            n: torch.zeros_like(meta_params[n]) if g is None else g
            for n, g in zip(names, grads, strict=True)
        }
        return MetaStepResult(meta_loss.detach(), meta_grads, metrics, num_tasks(tasks))


class FOMAML(MAML):
    """First-order MAML: the same objective with inner gradients treated as constants."""

    name = "fomaml"

    def __init__(self, inner: InnerLoopConfig) -> None:
        super().__init__(replace(inner, first_order=True))


class MetaSGD(MAML):
    """Meta-SGD: MAML with a learned step size for every parameter element."""

    name = "metasgd"

    def __init__(self, inner: InnerLoopConfig) -> None:
        if inner.lr_mode == "fixed":
            inner = replace(inner, lr_mode="per_parameter")
        super().__init__(inner)
