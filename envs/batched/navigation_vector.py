"""Batched Navigation2D: N point masses in pure NumPy, the single env's functions over N rows."""

from __future__ import annotations

import numpy as np

from envs import functional as F
from envs.base import TaskEnv
from envs.batched.vector import StepInfo, TaskVectorEnv
from envs.oracle import OracleMixin


class Navigation2DVector(TaskVectorEnv):
    """Navigation2D (and its oracle): obs (N, 2) positions, action (N, 2) displacements.

    Every episode starts at the origin (no reset noise), as in the single env.
    """

    def _init_simulation(self, reference: TaskEnv) -> None:
        self._position = np.zeros((self.num_envs, 2))  # (N, 2)
        self._oracle = isinstance(reference, OracleMixin)

    def _reset_states(self, ids: np.ndarray | None) -> None:
        self._position[slice(None) if ids is None else ids] = 0.0

    def _advance(
        self, actions: np.ndarray, ids: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, StepInfo]:
        goal = self._task_params  # (N, 2)
        moved = F.navigation_move(self._position, actions)
        if ids is None:
            self._position = moved
        else:
            self._position[ids] = moved[ids]
        reward, parts = F.navigation_reward(self._position, goal)
        return reward, F.navigation_terminated(self._position, goal), parts

    def _observe(self) -> np.ndarray:
        position = self._position.copy()
        return F.oracle_obs(position, self._task_params) if self._oracle else position
