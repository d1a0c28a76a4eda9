"""Implicit MAML (Rajeswaran et al., 2019; seed 001).

Each task solves a proximally regularised inner problem,

    phi_i(theta) = argmin_phi  L_support,i(phi) + lambda/2 ||phi - theta||^2,

and at its optimum the implicit function theorem gives d phi / d theta = (I + H_i / lambda)^-1,
with H_i the Hessian of L_support,i at phi_i. The meta-gradient of L_query,i(phi_i(theta)) is

    g_i = (I + H_i / lambda)^-1 grad L_query,i(phi_i),

found by conjugate gradient on Hessian-vector products, without forming H and without
differentiating through the inner optimizer: memory does not grow with the number of inner steps.
``cg_damping`` adds ``damping * v`` to the CG operator to keep it positive definite where the
support loss is not convex.

The inner problem is solved with any elementwise torch optimizer (``sgd``, ``adam``) on all
tasks at once (the regularised losses of different tasks are independent, so their sum has the
per-task minimisers), or with ``lbfgs``, which couples the tasks through its line search and so
runs one task at a time. The inner problem is one fixed objective, so with RL it is the
policy-gradient loss of the pre-adaptation episodes (``support_loss(phi, task)``, step 0) at every
solver iteration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor
from torch.func import grad, vmap

from metarl.core.adaptation import InnerLoopConfig
from metarl.core.algorithms.base import MetaAlgorithm, MetaStepResult, model_grads, stack_outputs
from metarl.core.functional import Params, detach, model_params, tree_zip
from metarl.core.problem import MetaProblem, TaskData, Tasks, num_tasks, unstack_tasks
from metarl.core.solvers import conjugate_gradient, hessian_vector_product

InnerOptimizer = Literal["sgd", "adam", "lbfgs"]


@dataclass(frozen=True)
class IMAMLConfig:
    """Attributes:
    lam: proximal regularisation strength lambda.
    cg_steps: conjugate-gradient iterations for the implicit meta-gradient.
    cg_damping: added to the diagonal of (I + H / lambda) for numerical safety.
    inner_optimizer: optimizer of the inner problem (``sgd``, ``adam``, ``lbfgs``).
    """

    lam: float = 2.0
    cg_steps: int = 5
    cg_damping: float = 0.0
    inner_optimizer: InnerOptimizer = "sgd"

    def __post_init__(self) -> None:
        if not self.lam > 0:
            raise ValueError(f"imaml.lam must be > 0, got {self.lam}")
        if self.cg_steps < 1:
            raise ValueError(f"imaml.cg_steps must be >= 1, got {self.cg_steps}")
        if self.cg_damping < 0:
            raise ValueError(f"imaml.cg_damping must be >= 0, got {self.cg_damping}")
        if self.inner_optimizer not in ("sgd", "adam", "lbfgs"):
            raise ValueError(
                f"imaml.inner_optimizer must be sgd, adam or lbfgs, got {self.inner_optimizer!r}"
            )


class IMAML(MetaAlgorithm):
    name = "imaml"

    def __init__(self, inner: InnerLoopConfig, config: IMAMLConfig | None = None) -> None:
        super().__init__(inner)
        self.config = config or IMAMLConfig()

    def _regularised_loss(self, problem: MetaProblem):
        lam = self.config.lam

        def loss(phi: Params, theta: Params, task: TaskData) -> Tensor:
            proximal = sum(((phi[n] - theta[n]) ** 2).sum() for n in phi)
            return problem.support_loss(phi, task) + 0.5 * lam * proximal

        return loss

    def _solve_inner_batch(self, theta: Params, problem: MetaProblem, tasks: dict) -> Params:
        """Minimise every task's regularised loss from phi = theta; returns phi with a task dim."""
        count = num_tasks(tasks)
        phi = {
            n: v.detach().expand(count, *v.shape).clone().requires_grad_() for n, v in theta.items()
        }
        batched_loss = vmap(self._regularised_loss(problem), in_dims=(0, None, 0))
        params = list(phi.values())
        lr = self.inner.lr
        optimizer: torch.optim.Optimizer
        if self.config.inner_optimizer == "sgd":
            optimizer = torch.optim.SGD(params, lr=lr)
        elif self.config.inner_optimizer == "adam":
            optimizer = torch.optim.Adam(params, lr=lr)
        else:
            optimizer = torch.optim.LBFGS(
                params,
                lr=lr,
                max_iter=self.inner.steps,
                tolerance_grad=1e-12,
                tolerance_change=0.0,
                line_search_fn="strong_wolfe",
            )

        def closure() -> Tensor:
            optimizer.zero_grad()
            total = batched_loss(phi, detach(theta), tasks).sum()
            total.backward()
            return total

        # L-BFGS runs all its iterations inside one step() call.
        calls = 1 if self.config.inner_optimizer == "lbfgs" else self.inner.steps
        with torch.enable_grad():
            for _ in range(calls):
                optimizer.step(closure)
        return detach(phi)

    def _solve_inner(self, theta: Params, problem: MetaProblem, tasks: Tasks) -> Params:
        batches = [tasks] if isinstance(tasks, dict) else [_as_batch(t) for t in tasks]
        if isinstance(tasks, dict) and self.config.inner_optimizer == "lbfgs":
            batches = [_as_batch(t) for t in unstack_tasks(tasks)]
        solutions = [self._solve_inner_batch(theta, problem, batch) for batch in batches]
        return {n: torch.cat([s[n] for s in solutions]) for n in theta}

    def adapted_params(self, meta_params: Params, problem: MetaProblem, tasks: Tasks) -> Params:
        """The inner problems' solutions, stacked along a task dimension (no graph to theta)."""
        return self._solve_inner(model_params(meta_params), problem, tasks)

    def adapt_task(self, meta_params: Params, problem: MetaProblem, task: TaskData) -> Params:
        solution = self._solve_inner(model_params(meta_params), problem, [task])
        return {n: v[0] for n, v in solution.items()}

    def meta_step(self, meta_params: Params, problem: MetaProblem, tasks: Tasks) -> MetaStepResult:
        theta = detach(model_params(meta_params))
        adapted = self._solve_inner(theta, problem, tasks)
        lam, damping = self.config.lam, self.config.cg_damping

        def implicit_gradient(adapted: Params, task: TaskData):
            query_grad = grad(lambda p: problem.query_loss(p, task))(adapted)

            def matvec(vector: Params) -> Params:
                curvature = hessian_vector_product(
                    lambda p: problem.support_loss(p, task), adapted, vector
                )
                return tree_zip(lambda v, hv: (1.0 + damping) * v + hv / lam, vector, curvature)

            metrics = {
                "query_loss_pre": problem.query_loss(theta, task),
                "query_loss_post": problem.query_loss(adapted, task),
                **{f"{k}_post": v for k, v in problem.query_metrics(adapted, task).items()},
            }
            return conjugate_gradient(matvec, query_grad, self.config.cg_steps), metrics

        per_task_adapted = (
            adapted
            if isinstance(tasks, dict)
            else [{n: v[i] for n, v in adapted.items()} for i in range(num_tasks(tasks))]
        )
        grads, metrics = _map_adapted(implicit_gradient, per_task_adapted, tasks)
        meta_grads = model_grads({n: g.mean(dim=0) for n, g in grads.items()})
        meta_loss = metrics["query_loss_post"].mean()
        return MetaStepResult(meta_loss, meta_grads, metrics, num_tasks(tasks))


def _as_batch(task: TaskData) -> dict:
    return {key: value.unsqueeze(0) for key, value in task.items()}


def _map_adapted(fn, adapted, tasks: Tasks):
    """Like :func:`map_tasks`, but with per-task adapted parameters as the first argument."""
    if isinstance(tasks, dict):
        return vmap(fn, in_dims=(0, 0))(adapted, tasks)
    return stack_outputs([fn(a, task) for a, task in zip(adapted, tasks, strict=True)])
