"""The interface of every outer step: one update of the meta-parameters from a meta-batch.

    update = outer_step.step(problem, tasks)      # theta <- theta + delta(theta, meta-batch)
    update.stats                                  # scalars by TensorBoard name (``outer/...``)
    update.per_task                               # per-task metrics of the meta-step, if any

An outer step holds the meta-parameters it updates (the learner's leaf tensors) and the
meta-algorithm that gives it the meta-gradient and the differentiable adaptation; its state
(an optimizer's moments) goes into checkpoints through ``state_dict``. A step that meets a NaN or
inf raises :class:`~metarl.errors.NonFiniteError` before it changes anything.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor

from metarl.core.algorithms.base import MetaAlgorithm
from metarl.core.functional import Params
from metarl.core.problem import MetaProblem, Tasks

Average = Callable[[list[Tensor]], list[Tensor]]
"""Under ``torchrun``: per-rank means over the local tasks -> means over all tasks."""


@dataclass
class MetaUpdate:
    """What one outer step reports.

    Attributes:
        stats: scalar tensors by TensorBoard name (``outer/grad_norm``, ``outer/kl``, ...).
        per_task: the meta-step's per-task metrics (leading task dimension; ``support_loss`` is
            ``(tasks, inner steps)``), reduced for logging by :func:`update_scalars`.
    """

    stats: dict[str, Tensor]
    per_task: dict[str, Tensor] = field(default_factory=dict)


def update_scalars(update: MetaUpdate) -> dict[str, Tensor]:
    """The update's scalars to log: its stats, the task means of its per-task metrics under
    ``outer/``, and the support loss before each inner step under ``inner/``."""
    scalars = dict(update.stats)
    for key, values in update.per_task.items():
        if key == "support_loss":  # (tasks, inner steps)
            for step, value in enumerate(values.mean(dim=0).unbind()):
                scalars[f"inner/support_loss_step{step}"] = value
        else:
            scalars[f"outer/{key}"] = values.mean()
    return scalars


class OuterStep(ABC):
    """One family member: gradient steps (Adam / SGD), TRPO or PPO.

    Args:
        config: the ``outer:`` section (:class:`metarl.outer.OuterConfig`).
        algorithm: meta-gradient (``meta_step``) and adaptation (``adapted_params``).
        meta_params: the learner's meta-parameters (leaf tensors), updated in place.
        average: combines per-rank means into means over all tasks under ``torchrun``.
    """

    needs_trust_region_algorithm: ClassVar[bool] = False
    """The step differentiates the post-adaptation surrogate through a differentiable adaptation
    (TRPO's Fisher products, PPO's re-adapted epochs)."""
    needs_policy: ClassVar[bool] = False
    """The step measures a KL divergence between policies, so it applies to RL problems only."""

    def __init__(
        self,
        config: Any,
        algorithm: MetaAlgorithm,
        meta_params: Params,
        average: Average | None = None,
    ) -> None:
        self.config = config
        self.algorithm = algorithm
        self.meta_params = meta_params
        self.average: Average = average or (lambda values: values)
        self.optimizer = self.make_optimizer(config, list(meta_params.values()))
        self.show_phase: Callable[[str], None] = lambda phase: None
        """Where a long step is (conjugate gradient, line search), for the progress line; the
        trainer points it at its progress bar."""

    def make_optimizer(self, config: Any, params: list[Tensor]) -> torch.optim.Optimizer | None:
        """The torch optimizer the step keeps between iterations (checkpointed), if any."""
        return None

    @abstractmethod
    def step(self, problem: MetaProblem, tasks: Tasks) -> MetaUpdate:
        """Update the meta-parameters once from the meta-batch ``tasks``.

        Raises:
            NonFiniteError: a loss or gradient is NaN or inf; nothing was changed.
        """

    def state_dict(self) -> dict[str, Any] | None:
        """State kept between iterations (the optimizer's), or ``None`` for a stateless step."""
        return None if self.optimizer is None else self.optimizer.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s value."""
        if self.optimizer is not None:
            self.optimizer.load_state_dict(state)
