"""Task distributions for meta-RL as Gymnasium environments (issue 3).

Importing ``envs`` registers every family and its oracle variant under the ``metarl/``
namespace::

    import gymnasium, envs

    env = gymnasium.make("metarl/HalfCheetahVel-v0")
    tasks = envs.task_family("metarl/HalfCheetahVel-v0").sample_tasks(20, seed=0)
    obs, info = env.reset(seed=0, options={"task": tasks[0]})

Every family class offers ``sample_tasks(n, seed)`` (classmethod), ``set_task(task)``,
``get_task()`` and ``reset(options={"task": task})``; tasks are frozen dataclasses from
``envs.tasks`` with a JSON round trip. ``envs.functional`` holds the vectorised observation,
reward and termination functions that the single environments call with ``N = 1``.
"""

from __future__ import annotations

import warnings

import gymnasium
import mujoco

from envs.ant import AntDir, AntDirOracle, AntGoal, AntGoalOracle, AntVel, AntVelOracle
from envs.base import TaskEnv
from envs.half_cheetah import (
    HalfCheetahDir,
    HalfCheetahDirOracle,
    HalfCheetahVel,
    HalfCheetahVelOracle,
)
from envs.meta_world import FAMILIES as META_WORLD_FAMILIES
from envs.meta_world import MAX_PATH_LENGTH, MetaWorldEnv
from envs.navigation import Navigation2D, Navigation2DOracle
from envs.rand_params import (
    HopperRandParams,
    HopperRandParamsOracle,
    Walker2dRandParams,
    Walker2dRandParamsOracle,
)
from envs.tasks import (
    TASK_TYPES,
    AntDirTask,
    AntGoalTask,
    AntVelTask,
    HalfCheetahDirTask,
    HalfCheetahVelTask,
    HopperRandParamsTask,
    MetaWorldTask,
    Navigation2DTask,
    Task,
    Walker2dRandParamsTask,
    task_from_dict,
    task_from_json,
    task_to_json,
)

NAMESPACE = "metarl"
VERSION = 0

FAMILIES: dict[str, type[TaskEnv]] = {
    "Navigation2D": Navigation2D,
    "HalfCheetahVel": HalfCheetahVel,
    "HalfCheetahDir": HalfCheetahDir,
    "AntVel": AntVel,
    "AntDir": AntDir,
    "AntGoal": AntGoal,
    "HopperRandParams": HopperRandParams,
    "Walker2dRandParams": Walker2dRandParams,
}
"""Family name -> environment class (``sample_tasks`` works on the class, without an env)."""

ORACLES: dict[str, type[TaskEnv]] = {
    "Navigation2D": Navigation2DOracle,
    "HalfCheetahVel": HalfCheetahVelOracle,
    "HalfCheetahDir": HalfCheetahDirOracle,
    "AntVel": AntVelOracle,
    "AntDir": AntDirOracle,
    "AntGoal": AntGoalOracle,
    "HopperRandParams": HopperRandParamsOracle,
    "Walker2dRandParams": Walker2dRandParamsOracle,
}
"""Family name -> oracle environment class (observation ends with the task parameters)."""

MAX_EPISODE_STEPS: dict[str, int] = {name: 200 for name in FAMILIES} | {"Navigation2D": 100}
"""Horizon of each family, set as ``max_episode_steps`` at registration."""


def env_id(family: str, oracle: bool = False) -> str:
    """The registered id of a family, e.g. ``env_id("AntGoal", oracle=True)`` is
    ``"metarl/AntGoalOracle-v0"``."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; known: {list(FAMILIES)}")
    return f"{NAMESPACE}/{family}{'Oracle' if oracle else ''}-v{VERSION}"


ENV_IDS: dict[str, type[TaskEnv]] = {
    env_id(family, oracle): cls
    for oracle, classes in ((False, FAMILIES), (True, ORACLES))
    for family, cls in classes.items()
}
"""Registered id -> environment class, every family then every oracle variant."""


META_WORLD_IDS: dict[str, type[MetaWorldEnv]] = {
    f"{NAMESPACE}/{family}-v{VERSION}": cls for family, cls in META_WORLD_FAMILIES.items()
}
"""Registered id -> Meta-World family class: ``metarl/ML1-<name>-v0`` for the 50 environments,
``metarl/ML10-v0`` and ``metarl/ML45-v0`` (they need the optional ``metaworld`` package)."""


def is_meta_world(env_id: str) -> bool:
    """Whether ``env_id`` is one of the Meta-World families."""
    return env_id in META_WORLD_IDS


def known_env_ids() -> list[str]:
    """Every registered ``metarl/`` id: the MAML paper's families, then Meta-World's."""
    return [*ENV_IDS, *META_WORLD_IDS]


def task_family(env_id: str) -> type[TaskEnv]:
    """The class behind a registered id, for ``sample_tasks`` without making an env."""
    if env_id in ENV_IDS:
        return ENV_IDS[env_id]
    if env_id in META_WORLD_IDS:
        return META_WORLD_IDS[env_id]
    raise ValueError(f"unknown environment id {env_id!r}; known: {known_env_ids()}")


def family_name(env_id: str) -> str:
    """The family of a registered id: ``HalfCheetahVel`` for ``metarl/HalfCheetahVelOracle-v0``,
    ``ML1-push-v3`` for ``metarl/ML1-push-v3-v0``."""
    if env_id in META_WORLD_IDS:
        return env_id.split("/", 1)[1].rsplit("-v", 1)[0]
    return task_family(env_id).task_type.family


def _register_all() -> None:
    for id_, cls in ENV_IDS.items():
        family = cls.task_type.family
        if id_ in gymnasium.registry:  # importing twice (e.g. importlib.reload) is harmless
            continue
        gymnasium.register(
            id=id_,
            entry_point=f"{cls.__module__}:{cls.__name__}",
            max_episode_steps=MAX_EPISODE_STEPS[family],
        )
    for id_, meta_world_cls in META_WORLD_IDS.items():
        if id_ not in gymnasium.registry:
            gymnasium.register(
                id=id_,
                entry_point=f"{meta_world_cls.__module__}:{meta_world_cls.__name__}",
                max_episode_steps=MAX_PATH_LENGTH,
            )


_register_all()

__all__ = [
    "ENV_IDS",
    "FAMILIES",
    "MAX_EPISODE_STEPS",
    "META_WORLD_IDS",
    "NAMESPACE",
    "ORACLES",
    "TASK_TYPES",
    "AntDir",
    "AntDirOracle",
    "AntDirTask",
    "AntGoal",
    "AntGoalOracle",
    "AntGoalTask",
    "AntVel",
    "AntVelOracle",
    "AntVelTask",
    "HalfCheetahDir",
    "HalfCheetahDirOracle",
    "HalfCheetahDirTask",
    "HalfCheetahVel",
    "HalfCheetahVelOracle",
    "HalfCheetahVelTask",
    "HopperRandParams",
    "HopperRandParamsOracle",
    "HopperRandParamsTask",
    "MetaWorldEnv",
    "MetaWorldTask",
    "Navigation2D",
    "Navigation2DOracle",
    "Navigation2DTask",
    "Task",
    "TaskEnv",
    "Walker2dRandParams",
    "Walker2dRandParamsOracle",
    "Walker2dRandParamsTask",
    "env_id",
    "family_name",
    "is_meta_world",
    "known_env_ids",
    "task_family",
    "task_from_dict",
    "task_from_json",
    "task_to_json",
]


class MujocoWarning(UserWarning):
    """A warning MuJoCo printed (for instance a deprecated attribute in a v5 XML file)."""


# Gymnasium's own half_cheetah.xml sets the deprecated compiler attribute settotalmass (the masses
# it gives are those of the published HalfCheetah results), so every model compiled from it, once
# per single env and once per batched env, warned about a file the user cannot change.
_SILENCED_WARNINGS = ("compiler attribute 'settotalmass' is deprecated",)


def _warn(message: str) -> None:
    if message.startswith(_SILENCED_WARNINGS):
        return
    warnings.warn(message, MujocoWarning, stacklevel=2)


# MuJoCo prints its warnings to the console and to MUJOCO_LOG.TXT in the working folder, once per
# model compiled: 800 identical lines for a meta-batch of HalfCheetah copies. As Python warnings
# they are shown once and can be filtered; a callback the user installed first is kept.
if mujoco.get_mju_user_warning() is None:
    mujoco.set_mju_user_warning(_warn)
