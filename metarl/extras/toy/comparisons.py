"""The comparison figures: meta-training trajectories and meta-gradients against MAML's.

Like :mod:`~metarl.extras.toy.figures`, each ``*_figure`` function computes with the core, draws
one PNG and returns the numbers it drew.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes
from torch import Tensor

from metarl.core.adaptation import InnerLoopConfig
from metarl.core.problem import TaskBatch
from metarl.extras.toy import compute, variants
from metarl.extras.toy.figures import draw_contour
from metarl.extras.toy.tasks import ToyTasks

JOINT = "joint"
"""Key of the joint-training reference path (MAML with k = 0) in the trajectory figure."""
COLORS = {
    "maml": "black",
    "fomaml": "tab:orange",
    "reptile": "tab:green",
    "imaml": "tab:red",
    "hfmaml": "tab:purple",
    JOINT: "tab:gray",
}
STYLES = {"hfmaml": (0, (2, 2)), JOINT: (0, (1, 1))}
LABELS = {**variants.LABELS, JOINT: "joint training (k = 0)"}
ANGLE_FLOOR = 1e-12
"""Angles below this (degrees; rounding level) are drawn at the floor of the log axis."""
TAYLOR_RANGE = 0.2
"""Taylor predictions are drawn where k alpha is at most this (they need small k alpha)."""


def _trajectory_panel(
    ax: Axes,
    paths: dict[str, Tensor],
    inner: InnerLoopConfig,
    distribution: ToyTasks,
    tasks: TaskBatch,
    centre: tuple[float, float],
    half_width: float,
) -> None:
    dtype, device = compute.tasks_dtype_device(tasks)
    xs, ys, points = compute.grid_points(centre, half_width, 81, device, dtype)
    meta_loss = compute.meta_loss_values(inner, distribution.problem, tasks, points)
    draw_contour(ax, xs, ys, meta_loss, levels=30)
    for name, trajectory in paths.items():
        xy = trajectory.cpu().numpy()
        ax.plot(
            xy[:, 0],
            xy[:, 1],
            color=COLORS[name],
            ls=STYLES.get(name, "-"),
            lw=1.6,
            marker=".",
            ms=3,
            label=LABELS[name],
        )
        ax.plot(*xy[-1], marker="X", color=COLORS[name], mec="white", ms=10)


def trajectories_figure(
    families: Sequence[tuple[str, ToyTasks, TaskBatch]],
    start: Sequence[float],
    alpha: float,
    steps: int,
    lr: float,
    iterations: int,
    path: Path,
) -> dict[str, Any]:
    """Meta-parameter paths of every variant from one start over MAML's meta-loss contour.

    The top row shows the whole paths, the bottom row zooms in on where they end. Joint training
    (MAML with k = 0: minimise the mean task loss) is drawn for reference.
    """
    inner = InnerLoopConfig(steps=steps, lr=alpha)
    fig, axes = plt.subplots(2, len(families), figsize=(6.4 * len(families), 12.4), squeeze=False)
    summary: dict[str, Any] = {}
    for column, (title, distribution, tasks) in enumerate(families):
        problem, smoothness = distribution.problem, distribution.smoothness(tasks)
        dtype, device = compute.tasks_dtype_device(tasks)
        trajectories = compute.meta_trajectories(
            problem, tasks, start, alpha, steps, smoothness, lr, iterations
        )
        trajectories[JOINT] = compute.meta_trajectories(
            problem, tasks, start, alpha, 0, smoothness, lr, iterations, variants=("maml",)
        )["maml"]
        paths = {name: t.path for name, t in trajectories.items()}
        every = torch.cat([*(p.cpu() for p in paths.values()), torch.tensor([start], dtype=dtype)])
        low, high = every.min(0).values, every.max(0).values
        whole, zoom = axes[0, column], axes[1, column]
        _trajectory_panel(
            whole,
            paths,
            inner,
            distribution,
            tasks,
            _centre(low, high),
            float((high - low).max()) / 2 + 0.75,
        )
        whole.plot(*start, marker="o", color="white", mec="black", ms=9, ls="")
        ends = torch.stack([p[-1] for p in paths.values()]).cpu()
        low, high = ends.min(0).values, ends.max(0).values
        middle, half = _centre(low, high), max(0.6 * float((high - low).max()), 0.1)
        whole.add_patch(
            plt.Rectangle(
                (middle[0] - half, middle[1] - half),
                2 * half,
                2 * half,
                fill=False,
                ec="white",
                ls=":",
            )
        )
        _trajectory_panel(zoom, paths, inner, distribution, tasks, middle, half)
        whole.set_title(
            f"{title} ({tasks_count(tasks)} tasks): contours of MAML's meta-loss", fontsize=10
        )
        zoom.set_title(
            "zoom on the end points (X); iMAML's inner problems solved to a gradient of "
            f"{trajectories['imaml'].inner_residual:.0e} or better",
            fontsize=9,
        )
        whole.legend(loc="best", fontsize=8, framealpha=0.8)
        end_losses = compute.meta_loss_values(inner, problem, tasks, ends.to(device))
        summary[title] = {
            name: {
                "end": t.path[-1].cpu().tolist(),
                "last_step": float((t.path[-1] - t.path[-2]).norm()),
                "maml_meta_loss_at_end": float(end_losses[n]),
                "worst_inner_residual": t.inner_residual,
            }
            for n, (name, t) in enumerate(trajectories.items())
        }
    fig.suptitle(
        f"Meta-training from one start (white dot): k = {steps} inner steps of alpha = {alpha:g}, "
        f"iMAML lambda = 1/(k alpha) = {1 / (steps * alpha):.3g}, {iterations} SGD meta-steps of "
        f"{lr:g} (Reptile {compute.outer_lr('reptile', lr, alpha, steps):.3g})",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return summary


def _centre(low: Tensor, high: Tensor) -> tuple[float, float]:
    middle = (low + high) / 2
    return float(middle[0]), float(middle[1])


def tasks_count(tasks: TaskBatch) -> int:
    return next(iter(tasks.values())).shape[0]


def meta_gradient_figure(
    label: str,
    distribution: ToyTasks,
    tasks: TaskBatch,
    theta: Sequence[float],
    alphas: Sequence[float],
    alpha_steps: Sequence[int],
    step_counts: Sequence[int],
    step_alpha: float,
    path: Path,
) -> dict[str, Any]:
    """Each variant's meta-gradient against MAML's: angle and norm ratio over alpha and over k.

    Dotted lines are seed 003's leading-order predictions (:func:`compute.taylor_meta_gradients`).
    """
    dtype, device = compute.tasks_dtype_device(tasks)
    point = torch.tensor(list(theta), device=device, dtype=dtype)
    by_alpha = compute.compare_meta_gradients(
        distribution.problem, tasks, point, alphas, alpha_steps, distribution.smoothness(tasks)
    )
    by_steps = compute.compare_meta_gradients(
        distribution.problem,
        tasks,
        point,
        [step_alpha],
        step_counts,
        distribution.smoothness(tasks),
    )
    fig, axes = plt.subplots(2, 2, figsize=(12, 9))
    others = [n for n in variants.VARIANTS if n != "maml"]
    dashes = ["-", "--", "-.", ":"]
    x_alpha = by_alpha.alphas.numpy()
    for name in others:
        for row, k in enumerate(by_alpha.steps):
            style = dashes[row % len(dashes)]
            curve = f"{variants.LABELS[name]}, k = {k}"
            angle = by_alpha.angle[name][row].clamp_min(ANGLE_FLOOR).numpy()
            axes[0, 0].loglog(x_alpha, angle, color=COLORS[name], ls=style, marker=".", label=curve)
            axes[0, 1].loglog(
                x_alpha,
                by_alpha.ratio[name][row].numpy(),
                color=COLORS[name],
                ls=style,
                marker=".",
                label=curve,
            )
            if name in ("fomaml", "reptile"):
                valid = k * by_alpha.alphas <= TAYLOR_RANGE
                axes[0, 0].loglog(
                    x_alpha[valid],
                    by_alpha.taylor_angle[name][row][valid],
                    color=COLORS[name],
                    ls=":",
                    lw=2.5,
                    alpha=0.5,
                )
                axes[0, 1].loglog(
                    x_alpha[valid],
                    by_alpha.taylor_ratio[name][row][valid],
                    color=COLORS[name],
                    ls=":",
                    lw=2.5,
                    alpha=0.5,
                )
        counts = by_steps.steps
        angle = by_steps.angle[name][:, 0].clamp_min(ANGLE_FLOOR).numpy()
        axes[1, 0].semilogy(
            counts, angle, color=COLORS[name], marker="o", label=variants.LABELS[name]
        )
        axes[1, 1].semilogy(
            counts,
            by_steps.ratio[name][:, 0].numpy(),
            color=COLORS[name],
            marker="o",
            label=variants.LABELS[name],
        )
        if name in ("fomaml", "reptile"):
            axes[1, 0].semilogy(
                counts,
                by_steps.taylor_angle[name][:, 0].numpy(),
                color=COLORS[name],
                ls=":",
                lw=2.5,
                alpha=0.5,
            )
            axes[1, 1].semilogy(
                counts,
                by_steps.taylor_ratio[name][:, 0].numpy(),
                color=COLORS[name],
                ls=":",
                lw=2.5,
                alpha=0.5,
            )
    axes[0, 0].set(
        xlabel="inner step size alpha",
        ylabel="angle to MAML's meta-gradient (deg)",
        title="angle vs alpha",
    )
    axes[0, 1].set(
        xlabel="inner step size alpha",
        ylabel="||g|| / ||g_MAML||",
        title="norm ratio vs alpha (Reptile: (theta - phi) / alpha)",
    )
    axes[1, 0].set(
        xlabel="inner steps k",
        ylabel="angle to MAML's meta-gradient (deg)",
        title=f"angle vs k at alpha = {step_alpha:g}",
    )
    axes[1, 1].set(
        xlabel="inner steps k",
        ylabel="||g|| / ||g_MAML||",
        title=f"norm ratio vs k at alpha = {step_alpha:g}",
    )
    for ax in axes.flat:
        ax.grid(True, which="both", alpha=0.3)
    axes[0, 0].legend(fontsize=7, ncol=2)
    axes[1, 0].legend(fontsize=8)
    fig.suptitle(
        f"Meta-gradients against exact MAML at theta = {tuple(theta)}, {tasks_count(tasks)} "
        f"{label}; iMAML uses lambda = 1/(k alpha).\nDotted: seed 003's leading-order Taylor "
        f"prediction (drawn for k alpha <= {TAYLOR_RANGE:g}); angles below {ANGLE_FLOOR:g} deg "
        "are drawn at that floor.",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)

    def table(comparison: compute.GradientComparison) -> dict[str, Any]:
        return {
            name: {
                "angle_deg": comparison.angle[name].tolist(),
                "ratio": comparison.ratio[name].tolist(),
                "taylor_angle_deg": comparison.taylor_angle[name].tolist(),
                "taylor_ratio": comparison.taylor_ratio[name].tolist(),
            }
            for name in others
        }

    return {
        "theta": list(theta),
        "by_alpha": {"alphas": x_alpha.tolist(), "steps": by_alpha.steps, **table(by_alpha)},
        "by_steps": {"alpha": step_alpha, "steps": by_steps.steps, **table(by_steps)},
    }
