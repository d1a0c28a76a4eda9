"""The interface every meta-algorithm implements, and the task-batching helper they share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import torch
from torch import Tensor
from torch.func import vmap

from metarl.core.adaptation import InnerLoopConfig, adapt
from metarl.core.functional import MODEL_PREFIX, Params, model_params
from metarl.core.problem import MetaProblem, TaskData, Tasks


@dataclass
class MetaStepResult:
    """What one meta-step returns to the trainer.

    Attributes:
        meta_loss: mean post-adaptation query loss over the meta-batch (detached scalar).
        meta_grads: direction for the outer optimizer, keyed like the meta-parameters.
        metrics: detached per-task tensors (leading task dimension) for logging.
        num_tasks: tasks in this meta-batch (weights for averaging across processes).
    """

    meta_loss: Tensor
    meta_grads: Params
    metrics: dict[str, Tensor] = field(default_factory=dict)
    num_tasks: int = 0


def map_tasks(fn: Callable[[Params, TaskData], Any], meta_params: Params, tasks: Tasks) -> Any:
    """Apply the per-task function ``fn`` to every task, stacking its outputs along dim 0.

    A ``TaskBatch`` (dict of equally-shaped tensors with a task dimension) runs as one
    :func:`torch.func.vmap` call, so each layer is one batched kernel for all tasks; a list of
    tasks (ragged shapes) runs task by task. Both give the same numbers.
    """
    if isinstance(tasks, dict):
        return vmap(fn, in_dims=(None, 0), randomness="different")(meta_params, tasks)
    outputs = [fn(meta_params, task) for task in tasks]
    return stack_outputs(outputs)


KeyT = TypeVar("KeyT")  # the keys of the per-task dict (str for parameters; any key maps alike)


def map_adapted(
    fn: Callable[[dict[KeyT, Tensor], TaskData], Any], adapted: dict[KeyT, Tensor], tasks: Tasks
) -> Any:
    """Apply ``fn(adapted_i, task_i)`` to every task, stacking outputs along dim 0.

    ``adapted`` holds every task's parameters along a leading task dimension, as returned by
    :meth:`MetaAlgorithm.adapted_params`; a ``TaskBatch`` runs as one vmapped call.
    """
    if isinstance(tasks, dict):
        return vmap(fn, in_dims=(0, 0))(adapted, tasks)
    per_task = [{name: value[i] for name, value in adapted.items()} for i in range(len(tasks))]
    return stack_outputs([fn(a, task) for a, task in zip(per_task, tasks, strict=True)])


def stack_outputs(outputs: list[Any]) -> Any:
    """Stack a list of equally-structured outputs (tensors, dicts, tuples) along a new dim 0."""
    first = outputs[0]
    if isinstance(first, Tensor):
        return torch.stack(outputs)
    if isinstance(first, dict):
        return {key: stack_outputs([out[key] for out in outputs]) for key in first}
    if isinstance(first, tuple):
        return tuple(stack_outputs(list(group)) for group in zip(*outputs, strict=True))
    raise TypeError(f"cannot stack per-task outputs of type {type(first).__name__}")


def model_grads(grads: Params) -> Params:
    """Key a gradient over the network's parameters like the meta-parameters."""
    return {MODEL_PREFIX + name: value for name, value in grads.items()}


class MetaAlgorithm(ABC):
    """Given meta-parameters and a batch of tasks, return the meta-loss, meta-gradient and metrics.

    The trainer applies ``meta_grads`` with any torch optimizer and never branches on the
    algorithm. ``adapted_params`` exposes each algorithm's task adaptation (differentiable where the
    algorithm differentiates through it), which the RL outer optimizers (TRPO, PPO) and the
    evaluator build on.
    """

    name: str  # set by each class; ShardedAlgorithm copies its wrapped algorithm's per instance
    supports_learned_lr: ClassVar[bool] = False
    resamples_between_steps: ClassVar[bool] = True
    """Inner step j may descend on data gathered after j steps (RL resamples episodes with the
    policy adapted so far); false for an inner problem that is one fixed objective (iMAML)."""

    def __init__(self, inner: InnerLoopConfig) -> None:
        if inner.lr_mode != "fixed" and not self.supports_learned_lr:
            raise ValueError(
                f"{self.name} does not learn inner step sizes (inner.lr_mode={inner.lr_mode!r}); "
                "use algorithm 'maml' or 'fomaml' with a learned lr_mode, or lr_mode: fixed"
            )
        self.inner = inner

    @abstractmethod
    def meta_step(self, meta_params: Params, problem: MetaProblem, tasks: Tasks) -> MetaStepResult:
        """Meta-loss and meta-gradient of the meta-batch ``tasks`` at ``meta_params``."""

    def adapt_task(self, meta_params: Params, problem: MetaProblem, task: TaskData) -> Params:
        """One task's adapted parameters (the plain k-step inner loop unless overridden)."""
        adapted, _ = adapt(
            model_params(meta_params),
            lambda params, step: problem.support_loss(params, task, step),
            meta_params,
            self.inner,
        )
        return adapted

    def adapted_params(self, meta_params: Params, problem: MetaProblem, tasks: Tasks) -> Params:
        """Every task's adapted parameters, stacked along a leading task dimension."""
        return map_tasks(lambda mp, task: self.adapt_task(mp, problem, task), meta_params, tasks)

    def adaptation_curve(
        self,
        meta_params: Params,
        problem: MetaProblem,
        tasks: Tasks,
        steps: int,
        score: Callable[[Params, TaskData], Any],
    ) -> Any:
        """``score(phi_s, task)`` after s = 0 .. ``steps`` steps of this algorithm's adaptation.

        Evaluation adapts through here, so each algorithm is scored with its own inner solve.
        Returns the scores stacked as ``(tasks, steps + 1, ...)``.
        """

        def one_task(meta_params: Params, task: TaskData) -> Any:
            params = model_params(meta_params)
            scores = [score(params, task)]
            adapt(
                params,
                lambda p, step: problem.support_loss(p, task, step),
                meta_params,
                self.inner,
                steps=steps,
                after_step=lambda _, adapted: scores.append(score(adapted, task)),
            )
            return stack_outputs(scores)

        return map_tasks(one_task, meta_params, tasks)
