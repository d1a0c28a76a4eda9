"""The task protocol shared by every family: ``sample_tasks``, ``set_task``, ``get_task`` and
``reset(options={"task": task})``.

``TaskEnv`` is a mixin placed before the Gymnasium class in the bases
(``class HalfCheetahVel(TaskEnv[HalfCheetahVelTask], HalfCheetahEnv)``), so its ``reset`` runs
first and hands over to the Gymnasium one. The meta-RL trainer reaches the protocol through
``gymnasium.vector`` with ``envs.call("set_task", tasks)`` or without any env, through
``Family.sample_tasks``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Generic, Literal, cast

import numpy as np
from gymnasium.error import ResetNeeded

from envs.tasks import Task, TaskT, as_generator, coerce_task

Split = Literal["train", "test"]
"""Which tasks to draw: training tasks, or the held-out ones evaluation uses."""


class TaskEnv(Generic[TaskT]):
    """Mixin that gives a Gymnasium environment a task distribution.

    Subclasses set ``task_type`` and call ``self._init_task(task)`` at the end of ``__init__``;
    families whose task changes the model override ``_apply_task``. Until a task is set, an env
    holds ``sample_tasks(1, seed=0)[0]``, so ``gymnasium.make(id)`` alone gives a usable env.
    """

    task_type: ClassVar[type[Task]]
    """The task dataclass of this family."""

    metadata: dict[str, Any]
    """Gymnasium's render metadata, from the env class the mixin is combined with."""

    _task: TaskT
    _task_params: np.ndarray
    _reset_done: bool

    @classmethod
    def sample_tasks(
        cls, n: int, seed: int | np.random.Generator, split: Split = "train"
    ) -> list[TaskT]:
        """``n`` tasks from the family's distribution.

        Args:
            n: Number of tasks.
            seed: An int (the same int gives the same tasks) or a generator, which is advanced.
            split: ``train`` or ``test``. The MAML paper's families have one distribution, so
                held-out tasks differ only by their seed; Meta-World's benchmarks have their own
                test goals and classes (``envs.meta_world``).
        """
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        # A ClassVar cannot mention TaskT, so task_type is typed as type[Task]; it is TaskT's class.
        return cast(list[TaskT], cls.task_type.sample(n, as_generator(seed)))

    def set_task(self, task: TaskT | Mapping[str, Any]) -> None:
        """Makes ``task`` (or its ``to_dict`` form) the current task, from the next step on."""
        # task_type is the class of TaskT (see sample_tasks), so the parsed task is a TaskT.
        parsed = cast(TaskT, coerce_task(self.task_type, task))
        self._apply_task(parsed)
        self._task = parsed
        self._task_params = parsed.to_array()

    def get_task(self) -> TaskT:
        """The current task."""
        return self._task

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Gymnasium reset; ``options={"task": task}`` sets the task first."""
        self._reset_options(options)
        obs, info = super().reset(seed=seed, options=options)  # type: ignore[misc]
        self._reset_done = True
        return obs, info

    # -- helpers for subclasses ---------------------------------------------------------------

    def _init_task(self, task: TaskT | Mapping[str, Any] | None) -> None:
        self._reset_done = False
        self.set_task(task if task is not None else self.sample_tasks(1, seed=0)[0])

    def _apply_task(self, task: TaskT) -> None:
        """Hook for tasks that change the simulator (physics parameters); a no-op by default."""

    def _reset_options(self, options: dict[str, Any] | None) -> None:
        if not options:
            return
        unknown = sorted(set(options) - {"task"})
        if unknown:
            raise ValueError(f"{type(self).__name__}.reset got unknown option(s) {unknown}")
        self.set_task(options["task"])

    def _check_action(self, action: Any) -> np.ndarray:
        """The action as a float64 array; errors for a step before reset, a wrong shape, or a NaN
        or inf entry."""
        if not getattr(self, "_reset_done", False):
            raise ResetNeeded(f"Cannot call {type(self).__name__}.step() before calling reset()")
        array = np.asarray(action, dtype=np.float64)
        expected = self.action_space.shape  # type: ignore[attr-defined]
        if array.shape != expected:
            raise ValueError(
                f"{type(self).__name__} expects an action of shape {expected}, "
                f"got shape {array.shape}"
            )
        # NaN or inf would give a nan/-inf reward, and MuJoCo resets a non-finite state silently.
        if not np.isfinite(array).all():
            where = np.flatnonzero(~np.isfinite(array)).tolist()
            raise ValueError(
                f"{type(self).__name__}.step got a non-finite action "
                f"{np.array2string(array, precision=4, separator=', ')} (NaN or inf at index "
                f"{where}); check the policy's outputs"
            )
        return array
