"""The figure an RL run logs at each checkpoint: return against the task parameter."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor


def return_vs_task_figure(
    tasks: Sequence[Any], returns_pre: Tensor, returns_post: Tensor
) -> Figure:
    """Average return before and after adaptation (``(T,)`` each) against the task parameter
    (its norm when the task has several parameters, e.g. a 2-D goal; Meta-World's task vectors
    differ in length between classes, so each task's norm is taken on its own)."""
    vectors = [np.atleast_1d(np.asarray(task.to_array(), dtype=float)) for task in tasks]
    scalar = all(vector.size == 1 for vector in vectors)
    x = np.array([vector[0] if scalar else np.linalg.norm(vector) for vector in vectors])
    figure = Figure(figsize=(5, 3.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.scatter(x, returns_pre.detach().cpu().numpy(), s=12, label="before adaptation")
    axes.scatter(x, returns_post.detach().cpu().numpy(), s=12, label="after adaptation")
    axes.set_xlabel("task parameter" if scalar else "task parameter norm")
    axes.set_ylabel("average return")
    axes.grid(alpha=0.3)
    axes.legend()
    return figure
