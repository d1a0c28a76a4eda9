"""The numbers behind every toy figure, computed by the core and nothing else.

Losses and gradients come from the toy problems through :mod:`torch.func`; adapted points,
meta-losses and meta-gradients come from :func:`metarl.core.algorithms.make_algorithm` objects
(through :class:`metarl.extras.toy.variants.Variant`). No meta-gradient is re-derived here: the only
closed forms are the leading-order Taylor expansions of seed 003 (:func:`taylor_meta_gradients`),
drawn as predictions next to the core's numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.func import grad, vmap

from metarl.core.adaptation import InnerLoopConfig, MetaLearner
from metarl.core.algorithms import IMAMLConfig, make_algorithm, map_tasks
from metarl.core.functional import Params
from metarl.core.problem import MetaProblem, TaskBatch, TaskData
from metarl.core.solvers import hessian_vector_product
from metarl.extras.toy.tasks import QuadraticProblem, ToyPoint, quadratic_task
from metarl.extras.toy.variants import VARIANTS, Variant

PATH_TOLERANCE = 1e-6
"""iMAML's inner tolerance in the trajectory figure (far below a line width)."""
PATH_MAX_SOLVER_STEPS = 200
"""iMAML's inner step cap in the trajectory figure (bounds its run time on non-convex tasks)."""


def grid_points(
    centre: tuple[float, float],
    half_width: float,
    resolution: int,
    device: torch.device | str,
    dtype: torch.dtype,
) -> tuple[Tensor, Tensor, Tensor]:
    """A square grid centre +- half_width: the coordinates (R,) along x and along y, and the
    points (R * R, 2) with x varying fastest."""
    offsets = torch.linspace(-half_width, half_width, resolution, device=device, dtype=dtype)
    xs, ys = centre[0] + offsets, centre[1] + offsets
    points = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1).reshape(-1, 2)
    return xs, ys, points


def loss_values(
    problem: MetaProblem, task: TaskData, points: Tensor, query: bool = False
) -> Tensor:
    """The task's support (or query) loss at every point (N, 2) -> (N,)."""
    loss = problem.query_loss if query else problem.support_loss
    return vmap(lambda x: loss({"x": x}, task))(points)


def gradient_field(problem: MetaProblem, task: TaskData, points: Tensor) -> Tensor:
    """The gradient of the task's support loss at every point (N, 2) -> (N, 2)."""
    return vmap(grad(lambda x: problem.support_loss({"x": x}, task)))(points)


@dataclass
class CurvatureField:
    """Seed 000's figure for one curvature C = [[a, b], [b, c]] (``a``, ``b``, ``c`` and ``g``).

    Attributes:
        loss: f on the grid points (N,).
        exact: the exact gradient C (x - m) + g (N, 2).
        first_order: the gradient with the curvature dropped, C = 0, i.e. g everywhere (N, 2).
        error: root-mean-square of ||exact - first_order|| over the grid.
        relative_error: ``error`` divided by the root-mean-square of ||exact||.
    """

    curvature: tuple[float, float, float]
    loss: Tensor
    exact: Tensor
    first_order: Tensor
    error: float
    relative_error: float


def curvature_field(
    curvature: tuple[float, float, float], offset: Sequence[float], points: Tensor
) -> CurvatureField:
    """Exact gradient field of seed 000's quadratic against its first-order (C = 0) version."""
    problem = QuadraticProblem()
    a, b, c = curvature
    task = quadratic_task(a, b, c, offset, points.device, points.dtype)
    flat = quadratic_task(0.0, 0.0, 0.0, offset, points.device, points.dtype)
    exact = gradient_field(problem, task, points)
    first_order = gradient_field(problem, flat, points)
    error = (exact - first_order).pow(2).sum(-1).mean().sqrt()
    scale = exact.pow(2).sum(-1).mean().sqrt()
    return CurvatureField(
        curvature=curvature,
        loss=loss_values(problem, task, points),
        exact=exact,
        first_order=first_order,
        error=float(error),
        relative_error=float(error / scale),
    )


def meta_gradient_field(
    variant: Variant, problem: MetaProblem, tasks: TaskBatch, points: Tensor
) -> Tensor:
    """The variant's meta-gradient at every point (N, 2) -> (N, 2), one core meta-step each."""
    return torch.stack([variant.gradient(problem, tasks, point) for point in points])


def regularised_optimum(
    problem: MetaProblem, task: TaskData, theta: Tensor, lam: float, iterations: int = 100
) -> Tensor:
    """iMAML's inner solution argmin_phi L(phi) + lam/2 ||phi - theta||^2, by the core's IMAML.

    Uses the core's L-BFGS inner solver (strong Wolfe line search), which converges to rounding
    level on non-convex tasks too, where a fixed gradient step size has no convergence guarantee.
    """
    algorithm = make_algorithm(
        "imaml",
        InnerLoopConfig(steps=iterations, lr=1.0),
        imaml=IMAMLConfig(lam=lam, inner_optimizer="lbfgs"),
    )
    return algorithm.adapt_task({"model.x": theta}, problem, task)["x"]


def regularised_values(
    problem: MetaProblem, task: TaskData, theta: Tensor, lam: float, points: Tensor
) -> Tensor:
    """The regularised inner objective L(phi) + lam/2 ||phi - theta||^2 on the points (N,)."""
    return loss_values(problem, task, points) + 0.5 * lam * (points - theta).pow(2).sum(-1)


def angle_degrees(u: Tensor, v: Tensor) -> Tensor:
    """Angle between two plane vectors, accurate for tiny angles (atan2 of cross and dot)."""
    cross = u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]
    dot = (u * v).sum(-1)
    return torch.rad2deg(torch.atan2(cross.abs(), dot))


def taylor_meta_gradients(
    problem: MetaProblem, tasks: TaskBatch, theta: Tensor, alpha: float, steps: int
) -> dict[str, Tensor]:
    """Seed 003's leading-order expansions of the meta-gradients, for k = ``steps`` steps of alpha.

    With s the support and q the query loss of a task, H their Hessians and all terms at theta
    averaged over the tasks, up to O(alpha^2):

        MAML:               grad q - k alpha (H_s grad q + H_q grad s)
        first-order MAML:   grad q - k alpha H_q grad s
        Reptile (/ alpha):  k grad s - k (k - 1) / 2 alpha H_s grad s

    When q = s these are seed 003's coefficients (1, 2k), (1, k) and (k, k(k-1)/2) of AvgGrad and
    AvgGradInner (eq. 37, 39, 41, with its k counting the query gradient too). iMAML with
    lam = 1 / (k alpha) and Hessian-free MAML share MAML's expansion.
    """
    meta_params = {"model.x": theta.detach()}

    def terms(meta_params: Params, task: TaskData) -> dict[str, Tensor]:
        params = {"x": meta_params["model.x"]}

        def support(p: Params) -> Tensor:
            return problem.support_loss(p, task)

        def query(p: Params) -> Tensor:
            return problem.query_loss(p, task)

        grad_s, grad_q = grad(support)(params), grad(query)(params)
        return {
            "grad_s": grad_s["x"],
            "grad_q": grad_q["x"],
            "hq_gs": hessian_vector_product(query, params, grad_s)["x"],
            "hs_gq": hessian_vector_product(support, params, grad_q)["x"],
            "hs_gs": hessian_vector_product(support, params, grad_s)["x"],
        }

    mean = {name: value.mean(dim=0) for name, value in map_tasks(terms, meta_params, tasks).items()}
    k = steps
    maml = mean["grad_q"] - k * alpha * (mean["hs_gq"] + mean["hq_gs"])
    return {
        "maml": maml,
        "fomaml": mean["grad_q"] - k * alpha * mean["hq_gs"],
        "reptile": k * mean["grad_s"] - 0.5 * k * (k - 1) * alpha * mean["hs_gs"],
        "imaml": maml,
        "hfmaml": maml,
    }


@dataclass
class GradientComparison:
    """Every variant's meta-gradient against MAML's on a grid of step sizes and step counts.

    Attributes:
        alphas: inner step sizes (A,).
        steps: inner step counts (K entries).
        angle: per variant, the angle to MAML's meta-gradient in degrees (K, A).
        ratio: per variant, ||g_variant|| / ||g_MAML|| (K, A).
        taylor_angle, taylor_ratio: the same for the leading-order expansions (K, A).
    """

    alphas: Tensor
    steps: list[int]
    angle: dict[str, Tensor]
    ratio: dict[str, Tensor]
    taylor_angle: dict[str, Tensor]
    taylor_ratio: dict[str, Tensor]


def compare_meta_gradients(
    problem: MetaProblem,
    tasks: TaskBatch,
    theta: Tensor,
    alphas: Sequence[float],
    steps: Sequence[int],
    smoothness: float,
    variants: Sequence[str] = VARIANTS,
) -> GradientComparison:
    """Angle and norm ratio of each variant's meta-gradient to MAML's, at ``theta``."""
    shape = (len(steps), len(alphas))
    angle, ratio, taylor_angle, taylor_ratio = (
        {name: torch.zeros(shape, dtype=theta.dtype) for name in variants} for _ in range(4)
    )
    for row, k in enumerate(steps):
        for column, alpha in enumerate(alphas):
            grads = {
                name: Variant(name, alpha, k, smoothness).gradient(problem, tasks, theta)
                for name in {"maml", *variants}
            }
            taylor = taylor_meta_gradients(problem, tasks, theta, alpha, k)
            for name in variants:
                # The tables live on the CPU for plotting, whatever the device.
                angle[name][row, column] = angle_degrees(grads[name], grads["maml"]).cpu()
                ratio[name][row, column] = (grads[name].norm() / grads["maml"].norm()).cpu()
                taylor_angle[name][row, column] = angle_degrees(taylor[name], taylor["maml"]).cpu()
                taylor_ratio[name][row, column] = (
                    taylor[name].norm() / taylor["maml"].norm()
                ).cpu()
    return GradientComparison(
        torch.tensor(list(alphas), dtype=theta.dtype),
        list(steps),
        angle,
        ratio,
        taylor_angle,
        taylor_ratio,
    )


def meta_loss_values(
    inner: InnerLoopConfig, problem: MetaProblem, tasks: TaskBatch, points: Tensor
) -> Tensor:
    """MAML's meta-loss F(theta) = mean_i L_query,i(U_i(theta)) at every point (N, 2) -> (N,).

    The adapted points come from the core (``MAML.adapted_params``), vmapped over the points.
    """
    algorithm = make_algorithm("maml", inner)

    def meta_loss(x: Tensor) -> Tensor:
        adapted = algorithm.adapted_params({"model.x": x}, problem, tasks)
        return vmap(problem.query_loss)(adapted, tasks).mean()

    return vmap(meta_loss)(points)


def outer_lr(name: str, lr: float, alpha: float, steps: int) -> float:
    """The outer step size that puts every variant's first step on the same scale.

    Reptile's direction theta - phi is about k alpha times the others' meta-gradients (its
    leading term is k alpha AvgGrad), so it gets epsilon = lr / (k alpha).
    """
    return lr / (steps * alpha) if name == "reptile" else lr


@dataclass
class Trajectory:
    """A meta-training path (iterations + 1, 2) and, for iMAML, the worst inner residual on it."""

    path: Tensor
    inner_residual: float = 0.0


def meta_trajectories(
    problem: MetaProblem,
    tasks: TaskBatch,
    start: Sequence[float],
    alpha: float,
    steps: int,
    smoothness: float,
    lr: float,
    iterations: int,
    variants: Sequence[str] = VARIANTS,
) -> dict[str, Trajectory]:
    """Meta-train each variant from ``start`` with plain SGD on the whole (fixed) meta-batch.

    Each meta-step runs the core's ``meta_step``, writes the meta-gradients into ``.grad`` of a
    :class:`MetaLearner` and steps a torch optimizer, exactly as a training loop does.
    """
    dtype, device = tasks_dtype_device(tasks)
    trajectories = {}
    for name in variants:
        variant = Variant(
            name,
            alpha,
            steps,
            smoothness,
            tolerance=PATH_TOLERANCE,
            max_solver_steps=PATH_MAX_SOLVER_STEPS,
        )
        point = ToyPoint(start, device, dtype)  # MetaLearner trains this module in place
        learner = MetaLearner(point, variant.inner)
        optimizer = torch.optim.SGD(learner.parameters(), lr=outer_lr(name, lr, alpha, steps))
        path, worst = [point.x.detach().clone()], 0.0
        for _ in range(iterations):
            result = variant.meta_step(learner.meta_params(), problem, tasks)
            for key, param in learner.meta_params().items():
                param.grad = result.meta_grads[key]
            optimizer.step()
            path.append(point.x.detach().clone())
            worst = max(worst, variant.residual)
        trajectories[name] = Trajectory(torch.stack(path), worst)
    return trajectories


def tasks_dtype_device(tasks: TaskBatch) -> tuple[torch.dtype, torch.device]:
    first = next(iter(tasks.values()))
    return first.dtype, first.device


def log_range(low: float, high: float, count: int) -> list[float]:
    """``count`` numbers spaced evenly on a log scale from ``low`` to ``high``."""
    step = (math.log(high) - math.log(low)) / (count - 1)
    return [math.exp(math.log(low) + i * step) for i in range(count)]
