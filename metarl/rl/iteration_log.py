"""What one RL meta-iteration writes to TensorBoard: scalars, per-task histograms, a scatter plot.

Scalars (one device-to-host transfer per log step): ``train/`` returns before and after each
adaptation step, ``outer/`` statistics of the meta-update (TRPO's KL, surrogate improvement and
line-search steps; PPO's or Adam's loss and gradient norm), ``perf/`` seconds per phase and env
steps per second of sampling. Histograms: the per-task return before and after adaptation.
Figure (at checkpoints): return against the task parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor

from metarl.rl.evaluation import task_parameters
from metarl.run.logger import RunLogger


@dataclass
class IterationResult:
    """What one meta-iteration produced, for logging.

    Attributes:
        metrics: scalar tensors by TensorBoard name (on the device until a log step), with
            ``perf/env_steps`` the env steps of the iteration.
        seconds: wall-clock seconds by phase (``sampling``, ``adaptation``, ``outer``).
        tasks: the meta-batch's tasks.
        returns_pre: ``(T,)`` average episode return of each task before adaptation.
        returns_post: ``(T,)`` after adaptation.
    """

    metrics: dict[str, Tensor]
    seconds: dict[str, float]
    tasks: list[Any]
    returns_pre: Tensor
    returns_post: Tensor


def log_iteration(result: IterationResult, logger: RunLogger, step: int) -> dict[str, float]:
    """Write one iteration's scalars and histograms at ``step``; the scalars as floats."""
    names = list(result.metrics)
    values = torch.stack([result.metrics[n].detach().double().reshape(()) for n in names])
    scalars = dict(zip(names, values.tolist(), strict=True))
    env_steps = scalars.pop("perf/env_steps")
    scalars.update({f"perf/{phase}_s": s for phase, s in result.seconds.items()})
    scalars["perf/iteration_s"] = sum(result.seconds.values())
    scalars["perf/env_steps_per_s"] = env_steps / max(result.seconds["sampling"], 1e-9)
    logger.log_scalars(step, scalars)
    logger.log_histogram(step, "tasks/return_post", result.returns_post)
    logger.log_histogram(step, "tasks/return_pre", result.returns_pre)
    return scalars


def return_vs_task_figure(result: IterationResult) -> Figure:
    """Average return before and after adaptation against the task parameter (its norm when the
    task has several parameters, e.g. a 2-D goal)."""
    params = task_parameters(result.tasks)
    x = params[:, 0] if params.shape[1] == 1 else np.linalg.norm(params, axis=1)
    figure = Figure(figsize=(5, 3.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.scatter(x, result.returns_pre.detach().cpu().numpy(), s=12, label="before adaptation")
    axes.scatter(x, result.returns_post.detach().cpu().numpy(), s=12, label="after adaptation")
    axes.set_xlabel("task parameter" if params.shape[1] == 1 else "task parameter norm")
    axes.set_ylabel("average return")
    axes.grid(alpha=0.3)
    axes.legend()
    return figure
