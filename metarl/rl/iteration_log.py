"""The figure an RL run logs at each checkpoint: return against the task parameter."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor

from metarl.rl.evaluation import task_parameters


def return_vs_task_figure(
    tasks: Sequence[Any], returns_pre: Tensor, returns_post: Tensor
) -> Figure:
    """Average return before and after adaptation (``(T,)`` each) against the task parameter
    (its norm when the task has several parameters, e.g. a 2-D goal)."""
    params = task_parameters(tasks)
    x = params[:, 0] if params.shape[1] == 1 else np.linalg.norm(params, axis=1)
    figure = Figure(figsize=(5, 3.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.scatter(x, returns_pre.detach().cpu().numpy(), s=12, label="before adaptation")
    axes.scatter(x, returns_post.detach().cpu().numpy(), s=12, label="after adaptation")
    axes.set_xlabel("task parameter" if params.shape[1] == 1 else "task parameter norm")
    axes.set_ylabel("average return")
    axes.grid(alpha=0.3)
    axes.legend()
    return figure
