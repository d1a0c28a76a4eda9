"""HalfCheetahVel and HalfCheetahDir (MAML sec. 5.3) on Gymnasium's HalfCheetah-v5.

Model, observation (17,), action (6,), reset noise and frame skip are v5's; only the reward
changes, and its control cost weight is 0.05 (the MAML paper's) instead of v5's 0.1. The episode
never terminates; ``gymnasium.make`` truncates it after 200 steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv
from gymnasium.utils import EzPickle

from envs import functional as F
from envs.base import TaskEnv
from envs.oracle import OracleMixin
from envs.tasks import HalfCheetahDirTask, HalfCheetahVelTask

MAML_CTRL_COST_WEIGHT = 0.05


class _HalfCheetahTaskEnv(TaskEnv, HalfCheetahEnv):
    """HalfCheetah-v5 with a task; subclasses define ``_reward``."""

    def __init__(self, task: Any = None, **kwargs: Any) -> None:
        kwargs.setdefault("ctrl_cost_weight", MAML_CTRL_COST_WEIGHT)
        HalfCheetahEnv.__init__(self, **kwargs)
        EzPickle.__init__(self, task, **kwargs)  # pickles as type(self)(task, **kwargs)
        self._init_task(task)

    def _reward(self, x_vel: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, F.Parts]:
        raise NotImplementedError

    # MujocoEnv.step narrows Env.step's reward (SupportsFloat) and info (dict[str, Any]) to
    # np.float64; this env returns Env's contract (a float and mixed info), as the others do.
    def step(  # type: ignore[override]
        self, action: Any
    ) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        action = self._check_action(action)
        qpos_before = self.data.qpos[None].copy()  # (1, nq)
        self.do_simulation(action, self.frame_skip)
        x_vel = F.x_velocity(qpos_before, self.data.qpos[None], self.dt)  # (1,)
        reward, parts = self._reward(x_vel, action[None])
        info = {
            "x_position": float(self.data.qpos[0]),
            "x_velocity": float(x_vel[0]),
            **{name: float(value[0]) for name, value in parts.items()},
        }
        if self.render_mode == "human":
            self.render()
        return self._get_obs(), float(reward[0]), False, False, info

    def _get_obs(self) -> np.ndarray:
        exclude = self._exclude_current_positions_from_observation
        return F.half_cheetah_obs(self.data.qpos[None], self.data.qvel[None], exclude)[0]


class HalfCheetahVel(_HalfCheetahTaskEnv):
    """Run at a goal velocity U[0, 2]: reward ``-|v_x - v_goal| - 0.05 ||a||^2``."""

    task_type = HalfCheetahVelTask

    def __init__(self, task: HalfCheetahVelTask | Mapping[str, Any] | None = None, **kwargs: Any):
        super().__init__(task, **kwargs)

    def _reward(self, x_vel: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, F.Parts]:
        return F.half_cheetah_vel_reward(
            x_vel,
            action,
            self._task_params,  # (1,): N = 1 goal velocity
            forward_reward_weight=self._forward_reward_weight,
            ctrl_cost_weight=self._ctrl_cost_weight,
        )


class HalfCheetahDir(_HalfCheetahTaskEnv):
    """Run forward or backward: reward ``direction * v_x - 0.05 ||a||^2``."""

    task_type = HalfCheetahDirTask

    def __init__(self, task: HalfCheetahDirTask | Mapping[str, Any] | None = None, **kwargs: Any):
        super().__init__(task, **kwargs)

    def _reward(self, x_vel: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, F.Parts]:
        return F.half_cheetah_dir_reward(
            x_vel,
            action,
            self._task_params,  # (1,): N = 1 direction
            forward_reward_weight=self._forward_reward_weight,
            ctrl_cost_weight=self._ctrl_cost_weight,
        )


class HalfCheetahVelOracle(OracleMixin, HalfCheetahVel):
    """HalfCheetahVel whose observation ends with the goal velocity: (18,)."""


class HalfCheetahDirOracle(OracleMixin, HalfCheetahDir):
    """HalfCheetahDir whose observation ends with the direction: (18,)."""
