"""HopperRandParams and Walker2dRandParams: tasks that change the physics, not the reward.

ProMP's ``rand_param_envs`` tasks (Rothfuss et al., 2019) on Gymnasium's Hopper-v5 and Walker2d-v5:
every element of ``body_mass``, ``body_inertia``, ``dof_damping`` and ``geom_friction`` is the
model's default times ``1.5**u`` with ``u ~ U[-3, 3]`` (ProMP itself uses base 1.3 for damping; the
issue asks for 1.5 throughout). Observation, reward (forward velocity + survive bonus - control
cost), termination, reset noise and frame skip are v5's; ``gymnasium.make`` truncates episodes
after 200 steps.

``apply_rand_params`` works on any ``MjModel``, so a batched env can give each of its models the
same parameters as the single env.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import mujoco
import numpy as np
from gymnasium.envs.mujoco.hopper_v5 import HopperEnv
from gymnasium.envs.mujoco.walker2d_v5 import Walker2dEnv
from gymnasium.utils import EzPickle

from envs import functional as F
from envs.base import TaskEnv
from envs.oracle import OracleMixin
from envs.tasks import HopperRandParamsTask, RandParamsTask, Walker2dRandParamsTask

RAND_PARAM_NAMES = ("body_mass", "body_inertia", "dof_damping", "geom_friction")
_SKIP_WORLD_BODY = {
    "body_mass": True,
    "body_inertia": True,
    "dof_damping": False,
    "geom_friction": False,
}
"""Whether a field leaves out the world body (row 0), whose mass and inertia are zero."""


def _model_view(model: mujoco.MjModel, name: str) -> np.ndarray:
    """The model array a task field scales (a view: writing to it changes the model)."""
    array = getattr(model, name)
    return array[1:] if _SKIP_WORLD_BODY[name] else array


def default_params(model: mujoco.MjModel) -> dict[str, np.ndarray]:
    """A copy of the parameters a task scales, taken from a freshly loaded model."""
    return {name: _model_view(model, name).copy() for name in RAND_PARAM_NAMES}


def apply_rand_params(
    model: mujoco.MjModel, defaults: dict[str, np.ndarray], task: RandParamsTask
) -> None:
    """Sets ``model``'s parameters to ``defaults * 1.5**u`` (never compounding) and updates the
    model constants derived from them (``mj_setConst``: subtree masses, inverse weights, ...).

    Raises:
        ValueError: if the task's shapes do not match the model.
    """
    scales = task.scales()
    for name in RAND_PARAM_NAMES:
        if scales[name].shape != defaults[name].shape:
            raise ValueError(
                f"{task.family} task {name} has shape {scales[name].shape}, "
                f"but the model needs {defaults[name].shape}"
            )
    for name in RAND_PARAM_NAMES:
        _model_view(model, name)[...] = defaults[name] * scales[name]
    mujoco.mj_setConst(model, mujoco.MjData(model))  # scratch data: the env's state is untouched


if TYPE_CHECKING:
    # The mixin uses the v5 attributes that both of its concrete bases (HopperEnv, Walker2dEnv)
    # define; the checker sees them through one of them. At run time the base is plain object.
    _LocomotionEnv = HopperEnv
else:
    _LocomotionEnv = object


class _RandParamsEnv(TaskEnv, _LocomotionEnv):
    """Shared step of the physics-parameter families; subclasses define ``_healthy``."""

    def _init_rand_params(self, task: Any, kwargs: dict[str, Any]) -> None:
        EzPickle.__init__(self, task, **kwargs)  # pickles as type(self)(task, **kwargs)
        self._default_params = default_params(self.model)
        self._init_task(task)

    def _apply_task(self, task: Any) -> None:
        apply_rand_params(self.model, self._default_params, task)

    def _healthy(self, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # MujocoEnv.step narrows Env.step's reward (SupportsFloat) and info (dict[str, Any]) to
    # np.float64; this env returns Env's contract (a float and mixed info), as the others do.
    def step(  # type: ignore[override]
        self, action: Any
    ) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        action = self._check_action(action)
        qpos_before = self.data.qpos[None].copy()  # (1, nq)
        self.do_simulation(action, self.frame_skip)
        qpos, qvel = self.data.qpos[None], self.data.qvel[None]
        x_vel = F.x_velocity(qpos_before, qpos, self.dt)  # (1,)
        healthy = self._healthy(qpos, qvel)  # (1,)
        reward, parts = F.locomotion_reward(
            x_vel,
            action[None],
            healthy,
            forward_reward_weight=self._forward_reward_weight,
            ctrl_cost_weight=self._ctrl_cost_weight,
            healthy_reward=self._healthy_reward,
        )
        terminated = bool(not healthy[0]) and self._terminate_when_unhealthy
        info = {
            "x_position": float(qpos[0, 0]),
            "z_distance_from_origin": float(qpos[0, 1] - self.init_qpos[1]),
            "x_velocity": float(x_vel[0]),
            **{name: float(value[0]) for name, value in parts.items()},
        }
        if self.render_mode == "human":
            self.render()
        return self._get_obs(), float(reward[0]), terminated, False, info

    def _get_obs(self) -> np.ndarray:
        exclude = self._exclude_current_positions_from_observation
        return F.planar_walker_obs(self.data.qpos[None], self.data.qvel[None], exclude)[0]


class HopperRandParams(_RandParamsEnv, HopperEnv):
    """Hopper-v5 with randomised mass, inertia, damping and friction. Obs (11,), action (3,)."""

    task_type = HopperRandParamsTask

    def __init__(self, task: HopperRandParamsTask | Mapping[str, Any] | None = None, **kwargs: Any):
        HopperEnv.__init__(self, **kwargs)
        self._init_rand_params(task, kwargs)

    def _healthy(self, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
        return F.hopper_healthy(
            qpos,
            qvel,
            self._healthy_state_range,
            self._healthy_z_range,
            self._healthy_angle_range,
        )


class Walker2dRandParams(_RandParamsEnv, Walker2dEnv):
    """Walker2d-v5 with randomised mass, inertia, damping and friction. Obs (17,), action (6,)."""

    task_type = Walker2dRandParamsTask

    def __init__(
        self, task: Walker2dRandParamsTask | Mapping[str, Any] | None = None, **kwargs: Any
    ):
        Walker2dEnv.__init__(self, **kwargs)
        self._init_rand_params(task, kwargs)

    def _healthy(self, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
        return F.walker2d_healthy(qpos, self._healthy_z_range, self._healthy_angle_range)


class HopperRandParamsOracle(OracleMixin, HopperRandParams):
    """HopperRandParams whose observation ends with the 37 exponents: (48,)."""


class Walker2dRandParamsOracle(OracleMixin, Walker2dRandParams):
    """Walker2dRandParams whose observation ends with the 61 exponents: (78,)."""
