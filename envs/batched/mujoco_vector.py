"""Batched MuJoCo task environments: N simulator states stepped by ``mujoco.batch.Batch``.

The physics of all N environments advances in one call on MuJoCo's own thread pool (the GIL is
released; each environment's full integration state, ``qacc_warmstart`` included, lives in one
row of ``Batch.state``, so the result is bit-identical to one ``MjData`` per environment at any
thread count). Observations, rewards and terminations are the vectorised functions of
``envs.functional`` applied to all N states at once, with the parameters read from one instance
of the registered single environment, so both compute the same numbers.

Family notes:

- HalfCheetahVel / HalfCheetahDir: no termination.
- AntVel / AntDir / AntGoal: the contact forces ``cfrc_ext`` of the observation and the contact
  cost are MuJoCo's at the state after the step (``mj_forward`` then ``mj_rnePostConstraint``).
  The batch computes them with ``step(stage=mjSTAGE_ACC)`` on a copy of the model with one extra
  accelerometer (which makes ``mj_forward`` run ``mj_rnePostConstraint``; sensors do not act on the
  physics). At reset they are zero, as after ``mj_resetData`` + ``mj_forward`` in the single env.
- HopperRandParams / Walker2dRandParams: one ``MjModel`` per distinct task (``apply_rand_params``
  of ``envs.rand_params``), handed to the batch with ``Batch.set_models``.
- Oracle variants: the task parameters are appended to the observation.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import mujoco
import numpy as np
from gymnasium.envs.mujoco.mujoco_env import MujocoEnv
from gymnasium.vector import AutoresetMode

try:
    from mujoco import batch as mj_batch
except ImportError as error:  # mujoco.batch arrived in MuJoCo 3.17
    raise ImportError(
        f"envs.batched needs MuJoCo >= 3.17 (mujoco.batch); found mujoco {mujoco.__version__}. "
        "Upgrade with `pip install -U mujoco`."
    ) from error

from envs import functional as F
from envs.base import TaskEnv
from envs.batched.vector import NoiseArrays, Seeding, StepInfo, TaskVectorEnv
from envs.oracle import OracleMixin
from envs.rand_params import apply_rand_params, default_params
from envs.tasks import Task

CFRC_PROBE = "_envs_batched_cfrc_probe"
"""Name of the site and accelerometer added to the Ant model so the batch computes cfrc_ext."""


def default_threads() -> int:
    """All cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def resolve_threads(threads: int | None) -> int:
    """MuJoCo threads of a batch: ``threads``, or every core for None; an error otherwise."""
    threads = default_threads() if threads is None else threads
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be an int >= 1 (or None for all cores), got {threads!r}")
    return threads


class MujocoTaskVectorEnv(TaskVectorEnv):
    """N MuJoCo environments of one family; subclasses define the family's observation and
    reward from the state arrays.

    Args:
        reference: a single environment of the family (its model file, frame skip, reset noise
            and reward parameters are used).
        num_envs: N.
        max_episode_steps: time limit (the registered one by default, see ``make_batched``).
        threads: MuJoCo threads stepping the batch; None for all cores.
        tasks, autoreset_mode, seeding: see :class:`TaskVectorEnv`.
    """

    def __init__(
        self,
        reference: TaskEnv,
        num_envs: int,
        max_episode_steps: int,
        threads: int | None = None,
        tasks: Sequence[Task | Mapping[str, Any]] | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        seeding: Seeding = "per_env",
    ) -> None:
        if not isinstance(reference, MujocoEnv):
            raise TypeError(f"{type(self).__name__} needs a MuJoCo env, got {type(reference)}")
        self.threads = resolve_threads(threads)
        super().__init__(reference, num_envs, max_episode_steps, tasks, autoreset_mode, seeding)

    # -- simulation -------------------------------------------------------------------------------

    def _load_model(self, reference: MujocoEnv) -> mujoco.MjModel:
        """The family's model, compiled from the single env's XML file."""
        return mujoco.MjModel.from_xml_path(reference.fullpath)

    def _init_simulation(self, reference: TaskEnv) -> None:
        assert isinstance(reference, MujocoEnv)  # checked in __init__
        self.model = self._load_model(reference)
        self.frame_skip = int(reference.frame_skip)
        self.dt = float(reference.dt)
        self._init_qpos = reference.init_qpos.copy()  # (nq,)
        self._init_qvel = reference.init_qvel.copy()  # (nv,)
        # Each v5 family env sets _reset_noise_scale; MujocoEnv itself does not declare it.
        self._noise_scale = float(cast(Any, reference)._reset_noise_scale)
        self._oracle = isinstance(reference, OracleMixin)
        self._read_parameters(reference)
        self.batch = mj_batch.Batch(self.model, self.num_envs, nthread=self.threads)
        # Live (N, ...) views of the state rows: reading them costs nothing, writing them sets the
        # state the next step starts from.
        self._qpos = self.batch.bind("qpos")
        self._qvel = self.batch.bind("qvel")
        self._ctrl = self.batch.bind("ctrl")
        self._qpos_before = np.empty_like(self._qpos)

    def _read_parameters(self, reference: Any) -> None:
        """Copies the reward / termination parameters of the single env."""
        raise NotImplementedError

    def _physics(self, ids: np.ndarray | None) -> None:
        """Runs ``frame_skip`` substeps of environments ``ids`` (controls already written)."""
        self.batch.step(ids, nstep=self.frame_skip)

    def _reset_states(self, ids: np.ndarray | None) -> None:
        # As MujocoEnv.reset: mj_resetData (time 0, zero warm start and controls), then the
        # family's noise on qpos and qvel (set_state's mj_forward changes no state).
        self.batch.reset(ids, stage=mujoco.mjtStage.mjSTAGE_NONE)
        qpos_noise, qvel_noise = self._draw_reset_noise(ids, self._sample_reset_noise)
        index = slice(None) if ids is None else ids
        self._qpos[index] = self._init_qpos + qpos_noise
        self._qvel[index] = self._init_qvel + qvel_noise

    def _sample_reset_noise(self, rng: np.random.Generator, k: int) -> NoiseArrays:
        """v5's reset noise of HalfCheetah and Ant: U(-s, s) on qpos, s * N(0, 1) on qvel."""
        scale = self._noise_scale
        qpos = rng.uniform(low=-scale, high=scale, size=(k, self.model.nq))
        qvel = scale * rng.standard_normal((k, self.model.nv))
        return qpos, qvel

    def _advance(
        self, actions: np.ndarray, ids: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, StepInfo]:
        np.copyto(self._qpos_before, self._qpos)
        self._ctrl[...] = actions  # rows not in ids are not stepped; reset clears their controls
        self._physics(ids)
        return self._evaluate(self._qpos_before, actions)

    def _evaluate(
        self, qpos_before: np.ndarray, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, StepInfo]:
        """Reward (N,), terminated (N,) and reward parts after a step."""
        raise NotImplementedError

    def _observe(self) -> np.ndarray:
        obs = self._base_observation()
        return F.oracle_obs(obs, self._task_params) if self._oracle else obs

    def _base_observation(self) -> np.ndarray:
        raise NotImplementedError


# ---------------------------------------------------------------------------------------------
# HalfCheetah


class HalfCheetahVector(MujocoTaskVectorEnv):
    """HalfCheetahVel / HalfCheetahDir (and oracles): obs (N, 17), action (N, 6)."""

    REWARDS: dict[str, Callable[..., tuple[np.ndarray, F.Parts]]] = {  # noqa: RUF012
        "HalfCheetahVel": F.half_cheetah_vel_reward,
        "HalfCheetahDir": F.half_cheetah_dir_reward,
    }

    def _read_parameters(self, reference: Any) -> None:
        self._reward_fn = self.REWARDS[self.task_type.family]
        self._weights = {
            "forward_reward_weight": reference._forward_reward_weight,
            "ctrl_cost_weight": reference._ctrl_cost_weight,
        }
        self._exclude_x = reference._exclude_current_positions_from_observation
        self._never = np.zeros(self.num_envs, dtype=bool)

    def _evaluate(
        self, qpos_before: np.ndarray, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, StepInfo]:
        x_vel = F.x_velocity(qpos_before, self._qpos, self.dt)  # (N,)
        task = self._task_params[:, 0]  # goal velocity or direction, (N,)
        reward, parts = self._reward_fn(x_vel, actions, task, **self._weights)
        return reward, self._never, parts

    def _base_observation(self) -> np.ndarray:
        return F.half_cheetah_obs(self._qpos, self._qvel, self._exclude_x)


# ---------------------------------------------------------------------------------------------
# Ant


class AntVector(MujocoTaskVectorEnv):
    """AntVel / AntDir / AntGoal (and oracles): obs (N, 105), action (N, 8)."""

    def _load_model(self, reference: MujocoEnv) -> mujoco.MjModel:
        # mj_forward runs mj_rnePostConstraint (cfrc_ext) only when a sensor needs it.
        spec = mujoco.MjSpec.from_file(reference.fullpath)
        spec.worldbody.add_site(name=CFRC_PROBE)
        spec.add_sensor(
            name=CFRC_PROBE,
            type=mujoco.mjtSensor.mjSENS_ACCELEROMETER,
            objtype=mujoco.mjtObj.mjOBJ_SITE,
            objname=CFRC_PROBE,
        )
        return spec.compile()

    def _read_parameters(self, reference: Any) -> None:
        self._weights = reference._cost_weights()
        self._healthy_z_range = reference._healthy_z_range
        self._terminate_when_unhealthy = bool(reference._terminate_when_unhealthy)
        self._exclude_xy = reference._exclude_current_positions_from_observation
        self._include_cfrc = reference._include_cfrc_ext_in_observation
        self._cfrc = np.zeros((self.num_envs, self.model.nbody, 6))  # (N, nbody, 6)

    def _init_simulation(self, reference: TaskEnv) -> None:
        super()._init_simulation(reference)
        self._cfrc_out = self.batch.bind("cfrc_ext")  # refreshed for the stepped envs only

    def _physics(self, ids: np.ndarray | None) -> None:
        self.batch.step(ids, nstep=self.frame_skip, stage=mujoco.mjtStage.mjSTAGE_ACC)
        if ids is None:
            np.copyto(self._cfrc, self._cfrc_out)
        else:
            self._cfrc[ids] = self._cfrc_out[ids]

    def _reset_states(self, ids: np.ndarray | None) -> None:
        super()._reset_states(ids)
        self._cfrc[slice(None) if ids is None else ids] = 0.0

    def _evaluate(
        self, qpos_before: np.ndarray, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, StepInfo]:
        qpos, qvel, cfrc = self._qpos, self._qvel, self._cfrc
        healthy = F.ant_healthy(qpos, qvel, self._healthy_z_range)  # (N,)
        family, task = self.task_type.family, self._task_params
        if family == "AntGoal":
            reward, parts = F.ant_goal_reward(
                qpos[:, :2], actions, cfrc, healthy, task, **self._weights
            )
        else:
            x_vel = F.xy_velocity(qpos_before, qpos, self.dt)[:, 0]
            reward_fn = F.ant_vel_reward if family == "AntVel" else F.ant_dir_reward
            reward, parts = reward_fn(x_vel, actions, cfrc, healthy, task[:, 0], **self._weights)
        terminated = ~healthy if self._terminate_when_unhealthy else np.zeros_like(healthy)
        return reward, terminated, parts

    def _base_observation(self) -> np.ndarray:
        return F.ant_obs(
            self._qpos,
            self._qvel,
            self._cfrc,
            self._weights["contact_force_range"],
            self._exclude_xy,
            self._include_cfrc,
        )


# ---------------------------------------------------------------------------------------------
# Hopper / Walker2d with physics-parameter tasks


class RandParamsVector(MujocoTaskVectorEnv):
    """HopperRandParams / Walker2dRandParams (and oracles): one MjModel per distinct task."""

    def _read_parameters(self, reference: Any) -> None:
        self._healthy = reference._healthy  # vectorised over N, reads only constant ranges
        self._weights = {
            "forward_reward_weight": reference._forward_reward_weight,
            "ctrl_cost_weight": reference._ctrl_cost_weight,
            "healthy_reward": reference._healthy_reward,
        }
        self._terminate_when_unhealthy = bool(reference._terminate_when_unhealthy)
        self._exclude_x = reference._exclude_current_positions_from_observation
        self._defaults = default_params(self.model)
        self._task_models: dict[Task, mujoco.MjModel] = {}

    def _apply_tasks(self, tasks: list[Task]) -> None:
        models = {task: self._task_models.get(task) for task in dict.fromkeys(tasks)}
        for task, model in models.items():
            if model is None:
                model = models[task] = copy.copy(self.model)
                apply_rand_params(model, self._defaults, task)  # type: ignore[arg-type]
        self._task_models = models  # only the current tasks' models stay alive
        self.batch.set_models([models[task] for task in tasks])

    def task_model(self, env_index: int) -> mujoco.MjModel:
        """The MjModel environment ``env_index`` runs on (shared by envs with the same task)."""
        return self._task_models[self._tasks[env_index]]

    def _sample_reset_noise(self, rng: np.random.Generator, k: int) -> NoiseArrays:
        """v5's reset noise of Hopper and Walker2d: U(-s, s) on qpos, then on qvel."""
        scale = self._noise_scale
        qpos = rng.uniform(low=-scale, high=scale, size=(k, self.model.nq))
        qvel = rng.uniform(low=-scale, high=scale, size=(k, self.model.nv))
        return qpos, qvel

    def _evaluate(
        self, qpos_before: np.ndarray, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, StepInfo]:
        x_vel = F.x_velocity(qpos_before, self._qpos, self.dt)  # (N,)
        healthy = self._healthy(self._qpos, self._qvel)  # (N,)
        reward, parts = F.locomotion_reward(x_vel, actions, healthy, **self._weights)
        terminated = ~healthy if self._terminate_when_unhealthy else np.zeros_like(healthy)
        return reward, terminated, parts

    def _base_observation(self) -> np.ndarray:
        return F.planar_walker_obs(self._qpos, self._qvel, self._exclude_x)


MUJOCO_VECTORS: dict[str, type[MujocoTaskVectorEnv]] = {
    "HalfCheetahVel": HalfCheetahVector,
    "HalfCheetahDir": HalfCheetahVector,
    "AntVel": AntVector,
    "AntDir": AntVector,
    "AntGoal": AntVector,
    "HopperRandParams": RandParamsVector,
    "Walker2dRandParams": RandParamsVector,
}
"""Family name -> batched class."""
