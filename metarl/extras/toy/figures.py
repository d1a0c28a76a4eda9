"""Seed 000's curvature figure and seed 001's regularisation figure, and the drawing helpers.

Each ``*_figure`` function computes with :mod:`~.compute`, draws one PNG with matplotlib
(Agg backend) and returns the numbers it drew (JSON-ready), so the command's ``summary.json`` and
the tests see exactly what the picture shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes
from torch import Tensor

from metarl.core.problem import MetaProblem, TaskData
from metarl.extras.toy import compute, variants
from metarl.extras.toy.tasks import CENTRE, QuadraticProblem, as_batch, quadratic_task


def draw_contour(ax: Axes, xs: Tensor, ys: Tensor, values: Tensor, levels: int = 25) -> None:
    grid = values.reshape(ys.numel(), xs.numel()).cpu().numpy()
    x, y = xs.cpu().numpy(), ys.cpu().numpy()
    ax.contourf(x, y, grid, levels=levels, cmap="viridis")
    ax.contour(x, y, grid, levels=levels, colors="white", linewidths=0.3, alpha=0.6)
    ax.set_aspect("equal")
    ax.set_xlim(x[0], x[-1])
    ax.set_ylim(y[0], y[-1])


def draw_arrows(ax: Axes, points: Tensor, vectors: Sequence[Tensor], colors: Sequence[str]) -> None:
    """Arrow fields on one common scale: the longest arrow spans 90% of the grid spacing."""
    spacing = float((points[:, 0].unique()[1] - points[:, 0].unique()[0]).abs())
    longest = max(float(v.norm(dim=-1).max()) for v in vectors)
    scale = 0.9 * spacing / max(longest, 1e-12)
    p = points.cpu().numpy()
    for vector, color in zip(vectors, colors, strict=True):
        v = (vector * scale).cpu().numpy()
        ax.quiver(
            p[:, 0],
            p[:, 1],
            v[:, 0],
            v[:, 1],
            color=color,
            angles="xy",
            scale_units="xy",
            scale=1.0,
            width=0.006,
            headwidth=3.5,
        )


def curvature_figure(
    curvatures: Sequence[tuple[float, float, float]],
    offset: Sequence[float],
    alpha: float,
    path: Path,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """Seed 000's figure: exact gradient vs its first-order (C = 0) version, for a few C.

    The bottom row shows what this means for meta-learning: the core's MAML and first-order MAML
    meta-gradients (one inner step of size ``alpha``) on the same task at every arrow point.
    """
    dtype = torch.float64
    xs, ys, points = compute.grid_points((CENTRE, CENTRE), 2.5, 81, device, dtype)
    *_, arrow_points = compute.grid_points((CENTRE, CENTRE), 2.25, 10, device, dtype)
    problem = QuadraticProblem()
    fig, axes = plt.subplots(2, len(curvatures), figsize=(3.9 * len(curvatures), 8.4))
    summary = []
    for column, curvature in enumerate(curvatures):
        field = compute.curvature_field(curvature, offset, points)
        arrows = compute.curvature_field(curvature, offset, arrow_points)
        top, bottom = axes[0, column], axes[1, column]
        draw_contour(top, xs, ys, field.loss)
        draw_arrows(top, arrow_points, [arrows.exact, arrows.first_order], ["white", "tab:red"])
        a, b, c = curvature
        norm = (a * a + 2 * b * b + c * c) ** 0.5
        top.set_title(
            f"C = [[{a:g}, {b:g}], [{b:g}, {c:g}]],  ||C||_F = {norm:.2f}\n"
            f"first-order gradient error {100 * field.relative_error:.0f}% (RMS)",
            fontsize=9,
        )
        task = as_batch(quadratic_task(a, b, c, offset, device, dtype))
        maml, fomaml = (
            compute.meta_gradient_field(
                variants.Variant(name, alpha, 1, norm), problem, task, arrow_points
            )
            for name in ("maml", "fomaml")
        )
        angles = compute.angle_degrees(fomaml, maml)
        ratios = fomaml.norm(dim=-1) / maml.norm(dim=-1)
        draw_contour(bottom, xs, ys, field.loss)
        draw_arrows(bottom, arrow_points, [fomaml, maml], ["tab:orange", "white"])
        bottom.set_title(
            f"first-order MAML vs MAML, 1 step of {alpha:g}\n"
            f"mean angle {float(angles.mean()):.1f} deg, "
            f"norm ratio {float(ratios.min()):.2f} to {float(ratios.max()):.2f}",
            fontsize=9,
        )
        summary.append(
            {
                "curvature": list(curvature),
                "frobenius_norm": norm,
                "first_order_error_rms": field.error,
                "first_order_relative_error": field.relative_error,
                "fomaml_mean_angle_deg": float(angles.mean()),
            }
        )
    axes[0, 0].set_ylabel("white: exact gradient\nred: first-order (C = 0)")
    axes[1, 0].set_ylabel("white: MAML meta-gradient\norange: first-order MAML")
    fig.suptitle(
        "Curvature and the first-order approximation (seed 000): contours of "
        f"f(x) = 1/2 (x - 1/2)^T C (x - 1/2) + g^T x,  g = {tuple(offset)}",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return {"panels": summary}


def regularisation_figure(
    problem: MetaProblem,
    task: TaskData,
    theta: Sequence[float],
    lambdas: Sequence[float],
    path: Path,
    device: torch.device | str = "cpu",
) -> dict[str, Any]:
    """Seed 001's figure: L(phi) + lam/2 ||phi - theta||^2 for several lam, with phi* marked.

    The first panel is the task loss itself; every panel also traces the path of the inner
    optimum phi*(lam) as lam runs from small (the task's own minimum) to large (theta itself).
    """
    dtype = torch.float64
    xs, ys, points = compute.grid_points((CENTRE, CENTRE), 3.0, 121, device, dtype)
    start = torch.tensor(list(theta), device=device, dtype=dtype)
    path_lambdas = compute.log_range(0.01, 30.0, 30)
    optimum_path = torch.stack(
        [compute.regularised_optimum(problem, task, start, lam) for lam in path_lambdas]
    ).cpu()
    fig, axes = plt.subplots(1, len(lambdas) + 1, figsize=(4.0 * (len(lambdas) + 1), 4.6))
    summary = []
    for ax, lam in zip(axes, [0.0, *lambdas], strict=True):
        values = compute.regularised_values(problem, task, start, lam, points)
        draw_contour(ax, xs, ys, values, levels=30)
        ax.plot(
            optimum_path[:, 0],
            optimum_path[:, 1],
            color="white",
            ls="--",
            lw=1.0,
            label=f"phi*(lambda), lambda {path_lambdas[0]:g} to {path_lambdas[-1]:g}",
        )
        ax.plot(
            *start.cpu().tolist(),
            marker="o",
            color="white",
            mec="black",
            ms=8,
            ls="",
            label="theta",
        )
        if lam == 0.0:
            ax.set_title("task loss L(phi)", fontsize=10)
            continue
        optimum = compute.regularised_optimum(problem, task, start, lam)
        residual = float(
            variants.inner_residual(problem, as_batch(task), start, lam, optimum[None])[0]
        )
        ax.plot(
            *optimum.cpu().tolist(),
            marker="*",
            color="tab:red",
            mec="white",
            ms=15,
            ls="",
            label="inner optimum phi*",
        )
        ax.set_title(f"L(phi) + lambda/2 ||phi - theta||^2,  lambda = {lam:g}", fontsize=10)
        summary.append(
            {
                "lambda": lam,
                "optimum": optimum.cpu().tolist(),
                "gradient_norm": residual,
                "distance_to_theta": float((optimum - start).norm()),
            }
        )
    axes[-1].legend(loc="lower right", fontsize=7, framealpha=0.8)
    fig.suptitle(
        "iMAML's regularised inner objective (seed 001): "
        "a larger lambda keeps the task solution phi* near the meta-parameters theta",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return {
        "theta": list(theta),
        "panels": summary,
        "path_lambdas": path_lambdas,
        "optimum_path": optimum_path.tolist(),
    }
