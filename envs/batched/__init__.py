"""Batched task environments: N environments of a family, with a task each, in one object.

``make_batched(env_id, num_envs)`` gives a ``gymnasium.vector.VectorEnv`` for any registered
``metarl/`` id (oracle variants included) that steps all N environments in one call: MuJoCo
families through ``mujoco.batch.Batch`` (MuJoCo's thread pool, no Python loop over
environments), Navigation2D in NumPy. It computes the same observations, rewards and
terminations as ``gymnasium.make(env_id)`` (the reference, with the same seeds) to floating-point
rounding, through the vectorised functions of ``envs.functional``::

    import envs
    from envs.batched import make_batched

    tasks = envs.task_family("metarl/HalfCheetahVel-v0").sample_tasks(40, seed=0)
    vec = make_batched("metarl/HalfCheetahVel-v0", num_envs=40, threads=2)
    obs, _ = vec.reset(seed=0, options={"tasks": tasks})  # (40, 17)
    obs, rewards, terminated, truncated, infos = vec.step(actions)  # actions (40, 6)

Meta-World's families batch by class (``envs.meta_world.vector``), with ``infos["success"]``.
:class:`BatchedBackend` plugs a batched env into the meta-RL sampler (``metarl.rl.sampler``).
"""

from __future__ import annotations

from envs.batched.backend import BatchedBackend
from envs.batched.factory import VECTOR_CLASSES, has_batched_class, make_batched
from envs.batched.mujoco_vector import (
    MUJOCO_VECTORS,
    AntVector,
    HalfCheetahVector,
    MujocoTaskVectorEnv,
    RandParamsVector,
    default_threads,
)
from envs.batched.navigation_vector import Navigation2DVector
from envs.batched.vector import TaskVectorEnv

__all__ = [
    "MUJOCO_VECTORS",
    "VECTOR_CLASSES",
    "AntVector",
    "BatchedBackend",
    "HalfCheetahVector",
    "MujocoTaskVectorEnv",
    "Navigation2DVector",
    "RandParamsVector",
    "TaskVectorEnv",
    "default_threads",
    "has_batched_class",
    "make_batched",
]
