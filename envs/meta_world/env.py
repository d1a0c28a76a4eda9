"""Meta-World's ML1 / ML10 / ML45 as task families with the project's task protocol.

A family env holds one of Meta-World's own environments (``metaworld.env_dict``'s classes, their
assets and rewards, untouched) and switches it when a task of another class is set: the task
names the class and the goal, ``set_task`` hands Meta-World its ``Task`` (goal hidden from the
observation, as in Meta-World's ML benchmarks), and ``reset`` and ``step`` are Meta-World's.
Only the env of the current class is kept, so a slot that changes class between meta-batches
builds the new one (~50 ms) instead of holding up to 45 models.

``sample_tasks(n, seed, split)`` draws the train or the test split exactly as Meta-World defines
it (``envs.meta_world.splits``). Episodes succeed when ``info["success"]`` is 1 at any step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, cast

import gymnasium
import numpy as np

from envs.base import Split, TaskEnv
from envs.meta_world.catalog import ENV_NAMES, ml1_family, splits
from envs.meta_world.compat import load_metaworld
from envs.meta_world.splits import benchmark_tasks, metaworld_task, sample_round_robin
from envs.tasks import MetaWorldTask, as_generator


class MetaWorldEnv(TaskEnv[MetaWorldTask], gymnasium.Env):
    """A Meta-World benchmark as one environment whose task picks the class and the goal.

    Subclasses set ``benchmark`` (``ML1``, ``ML10``, ``ML45``) and, for ML1, ``env_name``.
    """

    task_type: ClassVar[type[MetaWorldTask]] = MetaWorldTask
    benchmark: ClassVar[str]
    """``ML1``, ``ML10`` or ``ML45``."""
    env_name: ClassVar[str | None] = None
    """ML1's one environment class; None for ML10 and ML45."""
    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}  # type: ignore[misc]

    def __init__(self, task: MetaWorldTask | Mapping[str, Any] | None = None) -> None:
        load_metaworld()
        self._inner: Any = None
        self._inner_name: str | None = None
        self._reset_done = False
        first = task if task is not None else self.sample_tasks(1, seed=0)[0]
        self.set_task(first)
        inner: Any = self._inner  # set by set_task
        self.observation_space = inner.observation_space
        self.action_space = inner.action_space

    # -- the task distribution --------------------------------------------------------------

    @classmethod
    def classes(cls, split: Split | None = None) -> tuple[str, ...]:
        """The environment names of ``split`` (both splits when None)."""
        by_split = splits(cls.benchmark, cls.env_name)
        if split is not None:
            return by_split[split]
        return tuple(dict.fromkeys(by_split["train"] + by_split["test"]))

    @classmethod
    def split_tasks(cls, split: Split) -> list[MetaWorldTask]:
        """Every task of ``split``, in Meta-World's order (50 per class)."""
        return benchmark_tasks(cls.benchmark, cls.env_name)[split]

    @classmethod
    def sample_tasks(
        cls, n: int, seed: int | np.random.Generator, split: Split = "train"
    ) -> list[MetaWorldTask]:
        """``n`` tasks of Meta-World's ``split``, round-robin over its classes."""
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        return sample_round_robin(cls.split_tasks(split), n, as_generator(seed))

    # -- Gymnasium API ------------------------------------------------------------------------

    def _apply_task(self, task: MetaWorldTask) -> None:
        allowed = self.classes()
        if task.env_name not in allowed:
            raise ValueError(
                f"{type(self).__name__} has no class {task.env_name!r}: the task belongs to "
                f"another benchmark; {self.benchmark} has {list(allowed)}"
            )
        if task.env_name != self._inner_name:
            if self._inner is not None:
                self._inner.close()
            self._inner = load_metaworld().env_dict.ALL_V3_ENVIRONMENTS[task.env_name]()
            self._inner_name = task.env_name
            self._reset_done = False
        self._inner.set_task(metaworld_task(task))

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Meta-World's reset (deterministic for a task: the goal is frozen, the hand is driven
        to its start); ``options={"task": task}`` sets the task first."""
        gymnasium.Env.reset(self, seed=seed)
        self._reset_options(options)
        obs, info = self._inner.reset()
        self._reset_done = True
        return obs, info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Meta-World's step; ``info["success"]`` is 1.0 on steps that meet the goal."""
        array = self._check_action(action)
        obs, reward, terminated, truncated, info = self._inner.step(array)
        return obs, float(reward), bool(terminated), bool(truncated), info

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()

    @property
    def inner(self) -> Any:
        """The Meta-World environment of the current class."""
        return self._inner


class ML10(MetaWorldEnv):
    """ML10: 10 training classes, 5 held-out test classes, 50 goals each."""

    benchmark: ClassVar[str] = "ML10"


class ML45(MetaWorldEnv):
    """ML45: 45 training classes, 5 held-out test classes, 50 goals each."""

    benchmark: ClassVar[str] = "ML45"


def _ml1_class(env_name: str) -> type[MetaWorldEnv]:
    name = "ML1_" + env_name.replace("-", "_")
    attributes = {
        "benchmark": "ML1",
        "env_name": env_name,
        "__doc__": f"ML1 on {env_name}: 50 train goals and 50 separate test goals.",
        "__module__": __name__,
        "__qualname__": name,
    }
    return cast(type[MetaWorldEnv], type(name, (MetaWorldEnv,), attributes))


ML1_CLASSES: dict[str, type[MetaWorldEnv]] = {
    ml1_family(env_name): _ml1_class(env_name) for env_name in ENV_NAMES
}
"""``ML1-<name>`` -> its family class, for each of the 50 environments."""

# Module attributes, so that "envs.meta_world.env:ML1_push_v3" entry points and pickling resolve.
globals().update({cls.__name__: cls for cls in ML1_CLASSES.values()})

FAMILIES: dict[str, type[MetaWorldEnv]] = {**ML1_CLASSES, "ML10": ML10, "ML45": ML45}
"""Family name -> class: the 50 ML1 families, ML10 and ML45."""
