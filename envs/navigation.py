"""Navigation2D: a point mass in the plane walks from the origin to a goal (pure NumPy).

As in pytorch-maml-rl's ``Navigation2DEnv`` (MAML sec. 5.1): the observation is the position, an
action is a displacement clipped to [-0.1, 0.1]^2, the reward is minus the distance to the goal
after the move. The episode ends within 0.01 (Euclidean) of the goal; ``gymnasium.make`` truncates
it after 100 steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.spaces import Box

from envs import functional as F
from envs.base import TaskEnv
from envs.oracle import OracleMixin
from envs.tasks import Navigation2DTask


class Navigation2D(TaskEnv[Navigation2DTask], gym.Env):
    """2D navigation to a goal drawn from U[-0.5, 0.5]^2. Obs (2,) float64, action (2,)."""

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (as gymnasium.Env declares it)
    task_type = Navigation2DTask

    def __init__(
        self, task: Navigation2DTask | Mapping[str, Any] | None = None, render_mode: None = None
    ) -> None:
        if render_mode is not None:
            raise ValueError(f"Navigation2D has no render modes, got render_mode={render_mode!r}")
        self.render_mode = None
        limit = F.NAVIGATION_ACTION_LIMIT
        self.action_space = Box(-limit, limit, shape=(2,), dtype=np.float32)
        self.observation_space = Box(-np.inf, np.inf, shape=(2,), dtype=np.float64)
        self._position = np.zeros(2)
        self._init_task(task)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        self._reset_options(options)
        gym.Env.reset(self, seed=seed)  # seeds self.np_random; the start is always the origin
        self._position = np.zeros(2)
        self._reset_done = True
        return self._get_obs(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        action = self._check_action(action)
        goal = self._task_params[None]  # (1, 2)
        position = F.navigation_move(self._position[None], action[None])  # (1, 2)
        reward, parts = F.navigation_reward(position, goal)
        terminated = F.navigation_terminated(position, goal)
        self._position = position[0]
        info = {"distance": float(parts["distance"][0])}
        return self._get_obs(), float(reward[0]), bool(terminated[0]), False, info

    def _get_obs(self) -> np.ndarray:
        return self._position.copy()


class Navigation2DOracle(OracleMixin, Navigation2D):
    """Navigation2D whose observation also holds the goal: (4,)."""
