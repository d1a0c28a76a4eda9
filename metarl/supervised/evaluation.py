"""Adaptation curves on held-out tasks: query loss (and accuracy) after 0, 1, ..., n inner steps.

Starting from the meta-learned parameters, each held-out task adapts with the algorithm's own
inner solve (:meth:`~metarl.core.algorithms.MetaAlgorithm.adaptation_curve`: the k-step loop with
its fixed or learned step sizes, or iMAML's proximal solve) on its support set, and the query set
is scored after every step. Numbers are reported as the mean over
tasks with a 95% confidence interval of the mean (:mod:`metarl.run.report`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from metarl.core.algorithms import MetaAlgorithm
from metarl.core.functional import Params, detach
from metarl.core.problem import MetaProblem, TaskData, Tasks, num_tasks
from metarl.run.report import CurveData, Panel, curve_scalars, mean_and_ci95


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
        loss_median: median query loss over tasks after each number of steps (NaN once more than
            half of the tasks diverged); unlike the mean, a few diverging tasks do not move it.
        diverged_tasks: tasks whose query loss is non-finite (inf or NaN) after each number of
            steps; one of them makes the mean non-finite.
    """

    steps: list[int]
    loss_mean: list[float]
    loss_ci95: list[float]
    accuracy_mean: list[float] | None
    accuracy_ci95: list[float] | None
    num_tasks: int
    loss_median: list[float]
    diverged_tasks: list[int]

    def to_dict(self) -> dict:
        return asdict(self)


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
        loss_median=_median(losses).tolist(),
        diverged_tasks=(~torch.isfinite(losses)).sum(dim=0).tolist(),
    )


def _median(losses: Tensor) -> Tensor:
    """Median over tasks (dim 0) with a non-finite loss ranked above every finite one, so that
    diverged tasks count as the worst rather than being dropped."""
    ranked = torch.where(torch.isfinite(losses), losses, torch.inf)
    count = ranked.shape[0]
    ordered = ranked.sort(dim=0).values
    # The mean of the two middle values for an even count, as statistics.median.
    middle = (ordered[(count - 1) // 2] + ordered[count // 2]) / 2
    return torch.where(torch.isfinite(middle), middle, torch.nan)


def loss_panels(curves: dict[str, AdaptationCurve]) -> list[Panel]:
    """The report's panels: query loss, and query accuracy where the curves have it."""
    panels: list[Panel] = [
        ("query loss", {k: (c.steps, c.loss_mean, c.loss_ci95) for k, c in curves.items()})
    ]
    accuracy: dict[str, CurveData] = {
        k: (c.steps, c.accuracy_mean, c.accuracy_ci95)
        for k, c in curves.items()
        if c.accuracy_mean is not None and c.accuracy_ci95 is not None
    }
    if accuracy:
        panels.append(("query accuracy", accuracy))
    return panels


def loss_scalars(curves: dict[str, AdaptationCurve]) -> dict[str, float]:
    """``eval/pre_adapt_{loss,accuracy}_k{K}`` and ``eval/post_adapt_..._k{K}_step{s}``."""
    scalars: dict[str, float] = {}
    for label, curve in curves.items():
        k = label.removeprefix("K=")
        for metric, means in {"loss": curve.loss_mean, "accuracy": curve.accuracy_mean}.items():
            if means is not None:
                scalars |= curve_scalars(
                    f"eval/pre_adapt_{metric}_k{k}",
                    f"eval/post_adapt_{metric}_k{k}_step{{step}}",
                    curve.steps,
                    means,
                )
    return scalars
