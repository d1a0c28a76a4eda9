"""Adaptation curves on held-out tasks: query loss (and accuracy) after 0, 1, ..., n inner steps.

Starting from the meta-learned parameters, each held-out task adapts with the algorithm's own
inner solve (:meth:`~metarl.core.algorithms.MetaAlgorithm.adaptation_curve`: the k-step loop with
its fixed or learned step sizes, or iMAML's proximal solve) on its support set, and the query set
is scored after every step. Numbers are reported as the mean over
tasks with a 95% confidence interval of the mean, ``1.96 * s / sqrt(n)`` (normal approximation;
``s`` is the sample standard deviation over the ``n`` tasks, as in the MAML paper's tables).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from metarl.core.algorithms import MetaAlgorithm
from metarl.core.functional import Params, detach
from metarl.core.problem import MetaProblem, TaskData, Tasks, num_tasks

Z_95 = 1.96
CI_DESCRIPTION = "95% CI half-width of the mean over tasks: 1.96 * sample std / sqrt(tasks)"


@dataclass(frozen=True)
class AdaptationCurve:
    """Query loss (and accuracy, for classification) after each number of inner steps.

    Attributes:
        steps: inner steps taken, 0 .. max_steps.
        loss_mean: mean query loss over tasks after each number of steps.
        loss_ci95: 95% confidence half-width of ``loss_mean``.
        accuracy_mean: mean query accuracy after each number of steps (None for regression).
        accuracy_ci95: 95% confidence half-width of ``accuracy_mean``.
        num_tasks: held-out tasks averaged over.
    """

    steps: list[int]
    loss_mean: list[float]
    loss_ci95: list[float]
    accuracy_mean: list[float] | None
    accuracy_ci95: list[float] | None
    num_tasks: int

    def to_dict(self) -> dict:
        return asdict(self)


def mean_and_ci95(values: Tensor) -> tuple[Tensor, Tensor]:
    """Mean over dim 0 and the half-width of its 95% confidence interval.

    The half-width is ``1.96 * std / sqrt(n)`` with the unbiased sample standard deviation; it is
    NaN for a single task, where the spread is unknown.
    """
    count = values.shape[0]
    mean = values.mean(dim=0)
    if count < 2:
        return mean, torch.full_like(mean, math.nan)
    return mean, Z_95 * values.std(dim=0) / math.sqrt(count)


def _split(tasks: Tasks, chunk_size: int) -> list[Tasks]:
    total = num_tasks(tasks)
    starts = range(0, total, chunk_size)
    if isinstance(tasks, list):
        return [tasks[s : s + chunk_size] for s in starts]
    return [{k: v[s : s + chunk_size] for k, v in tasks.items()} for s in starts]


def evaluate_adaptation(
    algorithm: MetaAlgorithm,
    meta_params: Params,
    problem: MetaProblem,
    tasks: Tasks,
    max_steps: int,
    *,
    chunk_size: int = 100,
) -> AdaptationCurve:
    """Adapt every task in ``tasks`` for ``max_steps`` inner steps and score it after each step.

    A meta-batch dict runs vmapped over at most ``chunk_size`` tasks at a time (bounding memory for
    600-task evaluations); a list of tasks runs one task at a time. Nothing is differentiated with
    respect to the meta-parameters.
    """
    if max_steps < 0:
        raise ValueError(f"max_steps must be >= 0, got {max_steps}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")

    def score(params: Params, task: TaskData) -> tuple[Tensor, dict[str, Tensor]]:
        return problem.query_loss(params, task), problem.query_metrics(params, task)

    frozen = detach(meta_params)
    with torch.no_grad():
        chunks = [
            algorithm.adaptation_curve(frozen, problem, chunk, max_steps, score)
            for chunk in _split(tasks, chunk_size)
        ]
    losses = torch.cat([loss for loss, _ in chunks])  # (tasks, max_steps + 1)
    loss_mean, loss_ci = mean_and_ci95(losses)
    accuracy_mean = accuracy_ci = None
    if "accuracy" in chunks[0][1]:
        accuracy = torch.cat([metrics["accuracy"] for _, metrics in chunks])
        mean, ci = mean_and_ci95(accuracy)
        accuracy_mean, accuracy_ci = mean.tolist(), ci.tolist()
    return AdaptationCurve(
        steps=list(range(max_steps + 1)),
        loss_mean=loss_mean.tolist(),
        loss_ci95=loss_ci.tolist(),
        accuracy_mean=accuracy_mean,
        accuracy_ci95=accuracy_ci,
        num_tasks=losses.shape[0],
    )


CurveData = tuple[list[int], list[float], list[float]]


def _draw(axes: Axes, curves: dict[str, CurveData], ylabel: str) -> None:
    for label, (steps, mean, ci) in curves.items():
        (line,) = axes.plot(steps, mean, marker="o", markersize=3, label=label)
        low = [m - c for m, c in zip(mean, ci, strict=True)]
        high = [m + c for m, c in zip(mean, ci, strict=True)]
        axes.fill_between(steps, low, high, color=line.get_color(), alpha=0.2)
    axes.set_xlabel("inner steps")
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    axes.legend()


def _save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    return path


def plot_curves(curves: dict[str, CurveData], ylabel: str, title: str, path: str | Path) -> Path:
    """Plot ``label -> (steps, mean, ci95)`` lines with shaded 95% intervals; PNG at ``path``."""
    figure = Figure(figsize=(6, 4), layout="constrained")
    axes = figure.add_subplot()
    _draw(axes, curves, ylabel)
    axes.set_title(title)
    return _save(figure, Path(path))


def _finite_or_null(value: Any) -> Any:
    """The report with NaN/inf (a diverged adaptation, a single task's CI) as JSON ``null``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite_or_null(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite_or_null(item) for item in value]
    return value


def write_report(
    curves: dict[str, AdaptationCurve],
    out_dir: str | Path,
    title: str,
    *,
    stem: str = "adaptation",
) -> tuple[Path, Path]:
    """Write ``<stem>.json`` (every curve's numbers) and ``<stem>.png`` (loss, and accuracy when
    present, against inner steps) into ``out_dir``; returns both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{stem}.json"
    report = {
        "title": title,
        "interval": CI_DESCRIPTION,
        "curves": {label: curve.to_dict() for label, curve in curves.items()},
    }
    json_path.write_text(json.dumps(_finite_or_null(report), indent=2, allow_nan=False) + "\n")

    panels = [("query loss", {k: (c.steps, c.loss_mean, c.loss_ci95) for k, c in curves.items()})]
    accuracy = {
        k: (c.steps, c.accuracy_mean, c.accuracy_ci95)
        for k, c in curves.items()
        if c.accuracy_mean is not None and c.accuracy_ci95 is not None
    }
    if accuracy:
        panels.append(("query accuracy", accuracy))
    figure = Figure(figsize=(6 * len(panels), 4), layout="constrained")
    for index, (ylabel, data) in enumerate(panels):
        _draw(figure.add_subplot(1, len(panels), index + 1), data, ylabel)
    figure.suptitle(title)
    return json_path, _save(figure, out_dir / f"{stem}.png")
