"""AntVel, AntDir and AntGoal (MAML sec. 5.3) on Gymnasium's Ant-v5.

Model, observation (105,: qpos[2:], qvel and clipped contact forces, v5's default), action (8,),
reset noise, frame skip and the unhealthy termination are v5's. The reward is the task term plus
v5's survive bonus (1.0 while healthy) minus v5's control (0.5 ||a||^2) and contact
(5e-4 ||clip(cfrc_ext, -1, 1)||^2) costs. ``gymnasium.make`` truncates episodes after 200 steps.

Two deliberate differences from v5, both so that observation and reward are functions of the state
after the step, which a batched env (``envs.batched``) reproduces exactly:

- the torso's planar position is read from ``qpos[:2]`` (the free joint) rather than
  ``data.body("torso").xpos``, which right after ``mj_step`` still holds the position from before
  the last physics substep;
- the contact forces ``cfrc_ext`` (observation and contact cost) are computed at the state after
  the step (``mj_forward`` then ``mj_rnePostConstraint``). v5 calls ``mj_rnePostConstraint``
  right after ``mj_step``, on the contacts of the last intermediate stage of the RK4 integrator,
  which no batched stepping (``mujoco.rollout``, ``mujoco.batch``) exposes. ``mj_forward``
  changes no state, so the physics is v5's exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import mujoco
import numpy as np
from gymnasium.envs.mujoco.ant_v5 import AntEnv
from gymnasium.utils import EzPickle

from envs import functional as F
from envs.base import TaskEnv
from envs.oracle import OracleMixin
from envs.tasks import AntDirTask, AntGoalTask, AntVelTask


class _AntTaskEnv(TaskEnv, AntEnv):
    """Ant-v5 with a task; subclasses define ``_reward``."""

    def __init__(self, task: Any = None, **kwargs: Any) -> None:
        AntEnv.__init__(self, **kwargs)
        EzPickle.__init__(self, task, **kwargs)  # pickles as type(self)(task, **kwargs)
        self._init_task(task)

    def _reward(
        self, qpos: np.ndarray, xy_vel: np.ndarray, action: np.ndarray, healthy: np.ndarray
    ) -> tuple[np.ndarray, F.Parts]:
        raise NotImplementedError

    def _step_mujoco_simulation(self, ctrl: np.ndarray, n_frames: int) -> None:
        """v5's stepping, with the contact forces computed at the new state (module docstring)."""
        self.data.ctrl[:] = ctrl
        mujoco.mj_step(self.model, self.data, nstep=n_frames)
        mujoco.mj_forward(self.model, self.data)
        mujoco.mj_rnePostConstraint(self.model, self.data)

    def _cost_weights(self) -> dict[str, Any]:
        return {
            "forward_reward_weight": self._forward_reward_weight,
            "ctrl_cost_weight": self._ctrl_cost_weight,
            "contact_cost_weight": self._contact_cost_weight,
            "healthy_reward": self._healthy_reward,
            "contact_force_range": self._contact_force_range,
        }

    # MujocoEnv.step narrows Env.step's reward (SupportsFloat) and info (dict[str, Any]) to
    # np.float64; this env returns Env's contract (a float and mixed info), as the others do.
    def step(  # type: ignore[override]
        self, action: Any
    ) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        action = self._check_action(action)
        qpos_before = self.data.qpos[None].copy()  # (1, nq)
        self.do_simulation(action, self.frame_skip)
        qpos, qvel = self.data.qpos[None], self.data.qvel[None]
        xy_vel = F.xy_velocity(qpos_before, qpos, self.dt)  # (1, 2)
        healthy = F.ant_healthy(qpos, qvel, self._healthy_z_range)  # (1,)
        reward, parts = self._reward(qpos, xy_vel, action[None], healthy)
        terminated = bool(not healthy[0]) and self._terminate_when_unhealthy
        info = {
            "x_position": float(qpos[0, 0]),
            "y_position": float(qpos[0, 1]),
            "distance_from_origin": float(np.linalg.norm(qpos[0, :2])),
            "x_velocity": float(xy_vel[0, 0]),
            "y_velocity": float(xy_vel[0, 1]),
            **{name: float(value[0]) for name, value in parts.items()},
        }
        if self.render_mode == "human":
            self.render()
        return self._get_obs(), float(reward[0]), terminated, False, info

    def _get_obs(self) -> np.ndarray:
        return F.ant_obs(
            self.data.qpos[None],
            self.data.qvel[None],
            self.data.cfrc_ext[None],
            self._contact_force_range,
            self._exclude_current_positions_from_observation,
            self._include_cfrc_ext_in_observation,
        )[0]


class AntVel(_AntTaskEnv):
    """Run along x at a goal velocity U[0, 3]: task term ``-|v_x - v_goal|``."""

    task_type = AntVelTask

    def __init__(self, task: AntVelTask | Mapping[str, Any] | None = None, **kwargs: Any):
        super().__init__(task, **kwargs)

    def _reward(
        self, qpos: np.ndarray, xy_vel: np.ndarray, action: np.ndarray, healthy: np.ndarray
    ) -> tuple[np.ndarray, F.Parts]:
        cfrc_ext = self.data.cfrc_ext[None]
        goal_velocity = self._task_params  # (1,)
        return F.ant_vel_reward(
            xy_vel[:, 0], action, cfrc_ext, healthy, goal_velocity, **self._cost_weights()
        )


class AntDir(_AntTaskEnv):
    """Run along +x or -x: task term ``direction * v_x``."""

    task_type = AntDirTask

    def __init__(self, task: AntDirTask | Mapping[str, Any] | None = None, **kwargs: Any):
        super().__init__(task, **kwargs)

    def _reward(
        self, qpos: np.ndarray, xy_vel: np.ndarray, action: np.ndarray, healthy: np.ndarray
    ) -> tuple[np.ndarray, F.Parts]:
        cfrc_ext = self.data.cfrc_ext[None]
        direction = self._task_params  # (1,)
        return F.ant_dir_reward(
            xy_vel[:, 0], action, cfrc_ext, healthy, direction, **self._cost_weights()
        )


class AntGoal(_AntTaskEnv):
    """Walk to a goal position U[-3, 3]^2: task term ``-||xy - goal||_1``."""

    task_type = AntGoalTask

    def __init__(self, task: AntGoalTask | Mapping[str, Any] | None = None, **kwargs: Any):
        super().__init__(task, **kwargs)

    def _reward(
        self, qpos: np.ndarray, xy_vel: np.ndarray, action: np.ndarray, healthy: np.ndarray
    ) -> tuple[np.ndarray, F.Parts]:
        cfrc_ext = self.data.cfrc_ext[None]
        goal = self._task_params[None]  # (1, 2)
        return F.ant_goal_reward(
            qpos[:, :2], action, cfrc_ext, healthy, goal, **self._cost_weights()
        )


class AntVelOracle(OracleMixin, AntVel):
    """AntVel whose observation ends with the goal velocity: (106,)."""


class AntDirOracle(OracleMixin, AntDir):
    """AntDir whose observation ends with the direction: (106,)."""


class AntGoalOracle(OracleMixin, AntGoal):
    """AntGoal whose observation ends with the goal position: (107,)."""
