"""``make_batched``: the batched env of a registered id."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import gymnasium
from gymnasium.vector import AutoresetMode

import envs
from envs.batched.mujoco_vector import MUJOCO_VECTORS, MujocoTaskVectorEnv
from envs.batched.navigation_vector import Navigation2DVector
from envs.batched.vector import Seeding, TaskVectorEnv
from envs.tasks import Task

VECTOR_CLASSES: dict[str, type[TaskVectorEnv]] = {
    **MUJOCO_VECTORS,
    "Navigation2D": Navigation2DVector,
}
"""Family name -> batched class (every family of ``envs.FAMILIES``; Meta-World's families see
:func:`vector_class`)."""


def vector_class(family: str) -> type[TaskVectorEnv] | None:
    """The batched class of a task family, or None."""
    if family == "MetaWorld":
        # Imported here: envs.meta_world.vector builds on this package.
        from envs.meta_world.vector import MetaWorldVector

        return MetaWorldVector
    return VECTOR_CLASSES.get(family)


def make_batched(
    env_id: str,
    num_envs: int,
    *,
    threads: int | None = None,
    tasks: Sequence[Task | Mapping[str, Any]] | None = None,
    max_episode_steps: int | None = None,
    autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
    seeding: Seeding = "per_env",
    **env_kwargs: Any,
) -> TaskVectorEnv:
    """A batched env of ``num_envs`` copies of the registered ``env_id``.

    Args:
        env_id: a ``metarl/`` id (``envs.ENV_IDS``).
        num_envs: N.
        threads: MuJoCo threads (None: all cores); ignored by Navigation2D.
        tasks: N tasks; by default the single env's default task everywhere.
        max_episode_steps: time limit; by default the registered ``max_episode_steps``.
        autoreset_mode: ``NEXT_STEP`` (Gymnasium's default) or ``DISABLED``
            (see :class:`TaskVectorEnv`).
        seeding: ``"per_env"`` (``reset(seed=s)`` matches ``SyncVectorEnv``: env i seeded s + i)
            or ``"shared"`` (one generator for all N).
        **env_kwargs: keyword arguments of the single env (e.g. ``ctrl_cost_weight``).
    """
    reference_class = envs.task_family(env_id)
    family = reference_class.task_type.family
    if max_episode_steps is None:
        # Every metarl/ id registers its family's limit (envs.MAX_EPISODE_STEPS), so it is an int.
        max_episode_steps = cast(int, gymnasium.spec(env_id).max_episode_steps)
    batched_class = vector_class(family)
    if batched_class is None:
        raise ValueError(
            f"{env_id} has no batched class (envs.batched.VECTOR_CLASSES has "
            f"{sorted(VECTOR_CLASSES)}); step it with gymnasium.make_vec, or the sampler's "
            "gymnasium backend"
        )
    reference = reference_class(**env_kwargs)
    try:
        if issubclass(batched_class, Navigation2DVector):  # no simulator threads
            return batched_class(
                reference, num_envs, max_episode_steps, tasks, autoreset_mode, seeding
            )
        simulated = cast(type[MujocoTaskVectorEnv], batched_class)  # or MetaWorldVector: same call
        return simulated(
            reference, num_envs, max_episode_steps, threads, tasks, autoreset_mode, seeding
        )
    finally:
        cast(gymnasium.Env, reference).close()  # TaskEnv is a mixin on a Gymnasium env


def has_batched_class(env_id: str) -> bool:
    """Whether ``env_id``'s family has a batched class (otherwise the sampler falls back to one
    Gymnasium env per slot)."""
    return vector_class(envs.task_family(env_id).task_type.family) is not None
