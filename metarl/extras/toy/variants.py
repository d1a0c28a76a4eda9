"""The compared algorithms: each of the core's MAML-family algorithms, set up for k inner steps.

:class:`Variant` wraps :func:`~metarl.core.algorithms.make_algorithm` so that the explorer can ask
every algorithm the same question (its meta-step or meta-gradient for k inner steps of size alpha);
for iMAML it also makes sure the inner problems are really solved, so the figures show iMAML's
meta-gradient rather than the artefact of a truncated inner loop.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.func import grad, vmap

from metarl.core.adaptation import InnerLoopConfig
from metarl.core.algorithms import (
    HFMAMLConfig,
    IMAMLConfig,
    MetaAlgorithm,
    MetaStepResult,
    make_algorithm,
)
from metarl.core.functional import Params
from metarl.core.problem import MetaProblem, TaskBatch, TaskData

VARIANTS: tuple[str, ...] = ("maml", "fomaml", "reptile", "imaml", "hfmaml")
"""The algorithms the explorer compares, by their ``ALGORITHMS`` names (core algorithms)."""

MAX_SOLVER_STEPS = 2000
"""Cap on the gradient steps of iMAML's inner solver (reached only for lam much below L)."""

LABELS: dict[str, str] = {
    "maml": "MAML",
    "fomaml": "first-order MAML",
    "reptile": "Reptile",
    "imaml": "iMAML",
    "hfmaml": "Hessian-free MAML",
}


def inner_residual(
    problem: MetaProblem, tasks: TaskBatch, theta: Tensor, lam: float, adapted: Tensor
) -> Tensor:
    """Every task's ||grad L(phi_i) + lam (phi_i - theta)||, zero at iMAML's inner optimum (T,)."""

    def residual(phi: Tensor, task: TaskData) -> Tensor:
        gradient = grad(lambda x: problem.support_loss({"x": x}, task))(phi)
        return (gradient + lam * (phi - theta)).norm()

    return vmap(residual)(adapted, tasks)


class Variant:
    """One compared algorithm, set up for k = ``steps`` inner steps of size alpha = ``alpha``.

    MAML, first-order MAML, Reptile and Hessian-free MAML are the core algorithms with
    ``InnerLoopConfig(steps, alpha)``. iMAML has no step count: it gets lam = 1 / (k alpha) unless
    ``lam`` is given, the proximal strength whose solution phi = theta - grad L(phi) / lam matches
    k steps of alpha to first order (so it solves MAML's meta-problem to leading order; seeds 001,
    003). Its inner problem is solved by gradient descent with step 1 / (lam + L), L =
    ``smoothness``, for as many steps as the contraction 1 - (lam + mu) / (lam + L) needs to bring
    the regularised gradient below ``tolerance`` (mu = ``curvature_floor``; exact for convex
    tasks), doubled until every task's regularised gradient is below ``tolerance``: on non-convex
    tasks the inner problem can be badly conditioned, and the figures must show iMAML's
    meta-gradient, not a truncated solve (up to ``max_solver_steps``; ``residual`` tells how far
    the last solve got). The step count that last sufficed is kept for the next meta-step.
    """

    def __init__(
        self,
        name: str,
        alpha: float,
        steps: int,
        smoothness: float,
        lam: float | None = None,
        curvature_floor: float = 0.0,
        tolerance: float = 1e-9,
        max_solver_steps: int = MAX_SOLVER_STEPS,
    ) -> None:
        if name not in VARIANTS:
            raise ValueError(f"unknown toy variant {name!r}; choose one of {VARIANTS}")
        self.name, self.alpha, self.steps = name, alpha, steps
        self.smoothness, self.tolerance = smoothness, tolerance
        self.max_solver_steps = max_solver_steps
        self.residual = 0.0
        """iMAML: the largest regularised gradient left by the last inner solve."""
        self.inner = InnerLoopConfig(steps=steps, lr=alpha)
        self.strength = 1.0 / (steps * alpha) if lam is None and name == "imaml" else lam
        self.solver_steps = self._first_guess(curvature_floor) if name == "imaml" else 0

    @property
    def _lam(self) -> float:
        """iMAML's proximal strength, which __init__ always sets for iMAML (others never ask)."""
        assert self.strength is not None
        return self.strength

    def _imaml(self) -> MetaAlgorithm:
        lam = self._lam
        solver = InnerLoopConfig(steps=self.solver_steps, lr=1.0 / (lam + self.smoothness))
        # The toy problems are two-dimensional: conjugate gradient is exact after two iterations.
        return make_algorithm("imaml", solver, imaml=IMAMLConfig(lam=lam, cg_steps=4))

    def _first_guess(self, curvature_floor: float) -> int:
        lam = self._lam
        if not lam + curvature_floor > 0:
            raise ValueError(
                f"iMAML's regularised inner objective has no minimum: lambda ({lam:g}) plus the "
                f"smallest curvature ({curvature_floor:g}) must be > 0; increase lambda"
            )
        contraction = 1.0 - (lam + curvature_floor) / (lam + self.smoothness)
        if contraction <= 0:
            return 1
        # The residual gradient is at most (lam + L) times the distance to the optimum.
        distance = self.tolerance / (lam + self.smoothness)
        guess = math.ceil(math.log(distance) / math.log(contraction))
        return min(max(guess, 1), self.max_solver_steps)

    def meta_step(
        self, meta_params: Params, problem: MetaProblem, tasks: TaskBatch
    ) -> MetaStepResult:
        """The core algorithm's meta-step (iMAML: with its inner problems solved to tolerance)."""
        if self.name != "imaml":
            algorithm = make_algorithm(self.name, self.inner, hfmaml=HFMAMLConfig())
            return algorithm.meta_step(meta_params, problem, tasks)
        theta = meta_params["model.x"].detach()
        while True:
            result = self._imaml().meta_step(meta_params, problem, tasks)
            adapted = torch.stack([result.metrics["x0_post"], result.metrics["x1_post"]], -1)
            residual = inner_residual(problem, tasks, theta, self._lam, adapted).max()
            self.residual = float(residual)
            if self.residual <= self.tolerance or self.solver_steps >= self.max_solver_steps:
                return result
            self.solver_steps = min(2 * self.solver_steps, self.max_solver_steps)

    def adapted_point(self, problem: MetaProblem, task: TaskData, theta: Tensor) -> Tensor:
        """One task's adapted point phi (iMAML: its inner optimum, to tolerance)."""
        result = self.meta_step(
            {"model.x": theta.detach().clone().requires_grad_()},
            problem,
            {key: value.unsqueeze(0) for key, value in task.items()},
        )
        return torch.stack([result.metrics["x0_post"][0], result.metrics["x1_post"][0]])

    def gradient(self, problem: MetaProblem, tasks: TaskBatch, theta: Tensor) -> Tensor:
        """The meta-gradient at ``theta``, with Reptile's on seed 003's scale.

        The core's Reptile returns theta - phi (the update direction for its outer step size);
        seed 003 (eq. 40) defines g_Reptile = (theta - phi) / alpha, a sum of k inner gradients,
        which is what is compared with the other variants.
        """
        meta_params = {"model.x": theta.detach().clone().requires_grad_()}
        direction = self.meta_step(meta_params, problem, tasks).meta_grads["model.x"]
        return direction / self.alpha if self.name == "reptile" else direction
