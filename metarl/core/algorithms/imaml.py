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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor
from torch.func import grad, vmap

from metarl.core.adaptation import AfterStep, InnerLoopConfig
from metarl.core.algorithms.base import (
    MetaAlgorithm,
    MetaStepResult,
    map_adapted,
    model_grads,
    stack_outputs,
)
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
    resamples_between_steps = False

    def __init__(self, inner: InnerLoopConfig, config: IMAMLConfig | None = None) -> None:
        super().__init__(inner)
        self.config = config or IMAMLConfig()

    def _regularised_loss(self, problem: MetaProblem):
        lam = self.config.lam

        def loss(phi: Params, theta: Params, task: TaskData) -> Tensor:
            proximal = sum(((phi[n] - theta[n]) ** 2).sum() for n in phi)
            return problem.support_loss(phi, task) + 0.5 * lam * proximal

        return loss

    def _solve_inner_batch(
        self,
        theta: Params,
        problem: MetaProblem,
        tasks: dict,
        iterations: int,
        after_step: AfterStep | None = None,
    ) -> Params:
        """Minimise every task's regularised loss from phi = theta with ``iterations`` solver
        iterations (``after_step(i, phi)`` after each); returns phi with a task dim."""
        count = num_tasks(tasks)
        theta = detach(theta)
        phi = {n: v.expand(count, *v.shape) for n, v in theta.items()}
        batched_loss = vmap(self._regularised_loss(problem), in_dims=(0, None, 0))
        if self.config.inner_optimizer == "lbfgs":
            return self._solve_lbfgs(phi, lambda p: batched_loss(p, theta, tasks).sum(), iterations)
        # SGD and Adam as functions of the iterate (torch.optim's updates, out of place), so
        # the solve composes with torch.func and torch.compile.
        gradient = grad(lambda p: batched_loss(p, theta, tasks).sum())
        moments = {n: (torch.zeros_like(v), torch.zeros_like(v)) for n, v in phi.items()}
        for iteration in range(1, iterations + 1):
            grads = gradient(phi)
            if self.config.inner_optimizer == "sgd":
                phi = {n: v - self.inner.lr * grads[n] for n, v in phi.items()}
            else:
                phi, moments = adam_update(phi, grads, moments, iteration, self.inner.lr)
            if after_step is not None:
                after_step(iteration, phi)
        return phi

    def _solve_lbfgs(
        self, start: Params, total_loss: Callable[[Params], Tensor], iterations: int
    ) -> Params:
        """``torch.optim.LBFGS`` with a strong-Wolfe line search, all iterations in one call."""
        phi = {n: v.detach().clone().requires_grad_() for n, v in start.items()}
        optimizer = torch.optim.LBFGS(
            list(phi.values()),
            lr=self.inner.lr,
            max_iter=iterations,
            tolerance_grad=1e-12,
            tolerance_change=0.0,
            line_search_fn="strong_wolfe",
        )

        def closure() -> Tensor:
            optimizer.zero_grad()
            total = total_loss(phi)
            total.backward()
            return total

        with torch.enable_grad():
            optimizer.step(closure)
        return detach(phi)

    def _solve_inner(
        self,
        theta: Params,
        problem: MetaProblem,
        tasks: Tasks,
        iterations: int | None = None,
        after_step: AfterStep | None = None,
    ) -> Params:
        batches = [tasks] if isinstance(tasks, dict) else [_as_batch(t) for t in tasks]
        if isinstance(tasks, dict) and self.config.inner_optimizer == "lbfgs":
            batches = [_as_batch(t) for t in unstack_tasks(tasks)]
        iterations = self.inner.steps if iterations is None else iterations
        solutions = [
            self._solve_inner_batch(theta, problem, batch, iterations, after_step)
            for batch in batches
        ]
        return {n: torch.cat([s[n] for s in solutions]) for n in theta}

    def adaptation_curve(
        self,
        meta_params: Params,
        problem: MetaProblem,
        tasks: Tasks,
        steps: int,
        score: Callable[[Params, TaskData], Any],
    ) -> Any:
        """The scores after s = 0 .. ``steps`` iterations of iMAML's own inner solver (SGD or
        Adam iterations on the regularised problem; L-BFGS solved afresh with s iterations)."""
        theta = detach(model_params(meta_params))
        count = num_tasks(tasks)
        stages = [{n: v.expand(count, *v.shape) for n, v in theta.items()}]
        if self.config.inner_optimizer == "lbfgs":
            stages += [self._solve_inner(theta, problem, tasks, s) for s in range(1, steps + 1)]
        elif isinstance(tasks, dict):
            self._solve_inner(theta, problem, tasks, steps, lambda _, phi: stages.append(phi))
        else:  # ragged tasks: each as a batch of one
            per_task = [
                self.adaptation_curve(meta_params, problem, _as_batch(task), steps, score)
                for task in tasks
            ]
            return _map_tensors(lambda t: t.squeeze(1), stack_outputs(per_task))
        scores = [map_adapted(score, stage, tasks) for stage in stages]
        return _map_tensors(lambda t: t.transpose(0, 1), stack_outputs(scores))

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

        grads, metrics = map_adapted(implicit_gradient, adapted, tasks)
        meta_grads = model_grads({n: g.mean(dim=0) for n, g in grads.items()})
        meta_loss = metrics["query_loss_post"].mean()
        return MetaStepResult(meta_loss, meta_grads, metrics, num_tasks(tasks))


ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
"""``torch.optim.Adam``'s defaults, which the inner Adam solver uses."""


def adam_update(
    params: Params, grads: Params, moments: dict[str, tuple[Tensor, Tensor]], step: int, lr: float
) -> tuple[Params, dict[str, tuple[Tensor, Tensor]]]:
    """One step (``step`` counts from 1) of ``torch.optim.Adam``'s update with its default
    betas and eps, out of place: the new parameters and first and second moments."""
    beta1, beta2 = ADAM_BETAS
    step_size = lr / (1 - beta1**step)
    correction2_sqrt = (1 - beta2**step) ** 0.5
    updated, new_moments = {}, {}
    for name, value in params.items():
        first, second = moments[name]
        g = grads[name]
        first = first.lerp(g, 1 - beta1)
        second = second * beta2 + (1 - beta2) * (g * g)
        denominator = second.sqrt() / correction2_sqrt + ADAM_EPS
        updated[name] = value - step_size * (first / denominator)
        new_moments[name] = (first, second)
    return updated, new_moments


def _map_tensors(fn: Callable[[Tensor], Tensor], output: Any) -> Any:
    """``fn`` applied to every tensor of a nested output (tensors, dicts, tuples)."""
    if isinstance(output, Tensor):
        return fn(output)
    if isinstance(output, dict):
        return {key: _map_tensors(fn, value) for key, value in output.items()}
    return tuple(_map_tensors(fn, value) for value in output)


def _as_batch(task: TaskData) -> dict:
    return {key: value.unsqueeze(0) for key, value in task.items()}
