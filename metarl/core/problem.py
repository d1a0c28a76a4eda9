"""What a meta-algorithm needs to know about a task: its support loss and its query loss.

A task's data is a dict of tensors (``TaskData``). A meta-batch is either the same dict with a
leading task dimension (``TaskBatch``, equal shapes, processed in one vmapped call) or a list of
``TaskData`` (ragged tasks, processed one at a time). Supervised tasks and RL tasks implement the
same :class:`MetaProblem` protocol, so the algorithms never know which kind they are training.
"""

from __future__ import annotations

from typing import Literal, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from metarl.core.functional import Params, model_forward

TaskData = dict[str, Tensor]
TaskBatch = dict[str, Tensor]
Tasks = TaskBatch | list[TaskData]


class MetaProblem(Protocol):
    """The two losses of a task in the bilevel problem min_theta E_T[L_query(U_support(theta))]."""

    def support_loss(self, params: Params, task: TaskData, step: int = 0) -> Tensor:
        """Scalar loss inner step ``step`` descends (one task's data, no task dimension).

        A problem whose support data changes between inner steps (RL, which samples episodes
        with the policy adapted so far) reads that step's data; the others ignore ``step``.
        """
        ...

    def query_loss(self, params: Params, task: TaskData) -> Tensor:
        """Scalar loss the meta-objective evaluates after adaptation."""
        ...

    def query_metrics(self, params: Params, task: TaskData) -> dict[str, Tensor]:
        """Extra per-task scalars to log after adaptation (for instance accuracy)."""
        ...


def num_tasks(tasks: Tasks) -> int:
    if isinstance(tasks, list):
        return len(tasks)
    return next(iter(tasks.values())).shape[0]


def unstack_tasks(tasks: TaskBatch) -> list[TaskData]:
    """Split a batched meta-batch into a list of per-task dicts (the ragged representation)."""
    return [{key: value[i] for key, value in tasks.items()} for i in range(num_tasks(tasks))]


def params_dtype(params: Params) -> torch.dtype:
    return next(iter(params.values())).dtype


class SupervisedProblem:
    """Regression (mean squared error) or classification (cross-entropy) with a support/query split.

    Task data keys: ``support_x``, ``support_y``, ``query_x``, ``query_y``.
    """

    def __init__(self, model: nn.Module, loss: Literal["mse", "cross_entropy"]) -> None:
        if loss not in ("mse", "cross_entropy"):
            raise ValueError(f"loss must be 'mse' or 'cross_entropy', got {loss!r}")
        self.forward = model_forward(model)
        self.loss = loss

    def _loss(self, params: Params, inputs: Tensor, targets: Tensor) -> Tensor:
        predictions = self.forward(params, inputs)
        if self.loss == "mse":
            return F.mse_loss(predictions, targets)
        return F.cross_entropy(predictions, targets)

    def support_loss(self, params: Params, task: TaskData, step: int = 0) -> Tensor:
        """The same support set at every inner step."""
        return self._loss(params, task["support_x"], task["support_y"])

    def query_loss(self, params: Params, task: TaskData) -> Tensor:
        return self._loss(params, task["query_x"], task["query_y"])

    def query_metrics(self, params: Params, task: TaskData) -> dict[str, Tensor]:
        if self.loss == "mse":
            return {}
        predictions = self.forward(params, task["query_x"]).argmax(dim=-1)
        correct = (predictions == task["query_y"]).to(params_dtype(params))
        return {"accuracy": correct.mean()}
