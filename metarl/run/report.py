"""The held-out evaluation report of any run: confidence intervals, JSON, PNG, ``eval/`` scalars.

Supervised curves (query loss and accuracy after 0..n inner steps) and RL curves (return after
0..k policy-gradient steps) are reported the same way: the mean over tasks with a 95% confidence
interval of the mean, ``1.96 * s / sqrt(n)`` (normal approximation; ``s`` is the sample standard
deviation over the ``n`` tasks, as in the MAML paper's tables), written as ``<stem>.json`` (NaN
and inf, a diverged adaptation or a single task's CI, as ``null``) and ``<stem>.png`` (one panel
per metric, shaded intervals).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

Z_95 = 1.96
CI_DESCRIPTION = "95% CI half-width of the mean over tasks: 1.96 * sample std / sqrt(tasks)"

CurveData = tuple[Sequence[int], Sequence[float], Sequence[float]]
"""One line of a panel: steps, means, 95% half-widths."""
Panel = tuple[str, dict[str, CurveData]]
"""A panel of the PNG: its y-axis label and its lines by label."""


class Curve(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Report:
    """How an experiment presents its evaluation curves: the loop writes them all the same way.

    Attributes:
        title: the PNG's title and the JSON's ``title``.
        scalars: ``eval/`` TensorBoard scalars by name.
        panels: the PNG's panels.
        xlabel: the PNG's x-axis label (what a step is).
    """

    title: str
    scalars: dict[str, float]
    panels: Sequence[Panel]
    xlabel: str


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


def curve_scalars(
    pre: str, post: str, steps: Sequence[int], means: Sequence[float]
) -> dict[str, float]:
    """A curve as TensorBoard scalars: its first point under ``pre``, step ``s`` under
    ``post.format(step=s)``."""
    scalars = {pre: means[0]}
    pairs = zip(steps[1:], means[1:], strict=True)
    scalars.update({post.format(step=step): value for step, value in pairs})
    return scalars


def _draw(axes: Axes, curves: dict[str, CurveData], ylabel: str, xlabel: str) -> None:
    for label, (steps, mean, ci) in curves.items():
        (line,) = axes.plot(steps, mean, marker="o", markersize=3, label=label)
        low = [m - c for m, c in zip(mean, ci, strict=True)]
        high = [m + c for m, c in zip(mean, ci, strict=True)]
        axes.fill_between(steps, low, high, color=line.get_color(), alpha=0.2)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    axes.legend()


def plot_panels(panels: Sequence[Panel], title: str, path: str | Path, xlabel: str) -> Path:
    """The panels side by side with shaded 95% intervals, as a PNG at ``path``."""
    figure = Figure(figsize=(6 * len(panels), 4), layout="constrained")
    for index, (ylabel, data) in enumerate(panels):
        _draw(figure.add_subplot(1, len(panels), index + 1), data, ylabel, xlabel)
    figure.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    return path


def finite_or_null(value: Any) -> Any:
    """The report with NaN/inf as JSON ``null``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite_or_null(item) for key, item in value.items()}
    if isinstance(value, list):
        return [finite_or_null(item) for item in value]
    return value


def write_report(
    curves: Mapping[str, Curve],
    panels: Sequence[Panel],
    out_dir: str | Path,
    title: str,
    *,
    stem: str,
    xlabel: str,
) -> tuple[Path, Path]:
    """Write ``<stem>.json`` (every curve's numbers) and ``<stem>.png`` (``panels``) into
    ``out_dir``; returns both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {
        "title": title,
        "interval": CI_DESCRIPTION,
        "curves": {label: curve.to_dict() for label, curve in curves.items()},
    }
    json_path = out_dir / f"{stem}.json"
    json_path.write_text(json.dumps(finite_or_null(report), indent=2, allow_nan=False) + "\n")
    return json_path, plot_panels(panels, title, out_dir / f"{stem}.png", xlabel)
