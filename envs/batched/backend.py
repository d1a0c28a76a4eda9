"""The meta-RL sampler's env-stepping backend on a batched env (``metarl.rl.sampler``).

``MetaSampler`` resets N = tasks x episodes environments with their tasks, then steps all of them
``horizon`` times; an environment that ended is held until the next reset. That is a batched env
with ``autoreset_mode=DISABLED`` and the time limit at the horizon. Environment ``n`` is seeded
``seed + n`` exactly as the Gymnasium backend seeds ``gymnasium.make(id).reset(seed=seed + n)``,
so both backends give the sampler the same episodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium
import numpy as np
from gymnasium.vector import AutoresetMode

from envs.batched.factory import make_batched
from envs.batched.vector import TaskVectorEnv

StepResult = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class BatchedBackend:
    """``VectorBackend`` of ``metarl.rl.sampler`` over :func:`envs.batched.make_batched`.

    The batched env is rebuilt only when the number of environments changes.

    Args:
        env_id: a registered ``metarl/`` id.
        horizon: the most steps per episode.
        threads: MuJoCo threads; None for all cores.
    """

    def __init__(self, env_id: str, horizon: int, threads: int | None = None) -> None:
        self.env_id, self.horizon, self.threads = env_id, horizon, threads
        self.env = self._make(1)
        self.observation_space: gymnasium.Space = self.env.single_observation_space
        self.action_space: gymnasium.Space = self.env.single_action_space
        self.last_success: np.ndarray | None = None

    def _make(self, num_envs: int) -> TaskVectorEnv:
        return make_batched(
            self.env_id,
            num_envs,
            threads=self.threads,
            max_episode_steps=self.horizon,
            autoreset_mode=AutoresetMode.DISABLED,
        )

    def reset(self, tasks: Sequence[Any], seed: int) -> np.ndarray:
        """Resets environment n with ``tasks[n]`` and seed ``seed + n``; (N, obs)."""
        if len(tasks) != self.env.num_envs:
            self.env.close()
            self.env = self._make(len(tasks))
        obs, _ = self.env.reset(seed=seed, options={"tasks": tasks})
        self.last_success = None
        return obs

    def step(self, actions: np.ndarray) -> StepResult:
        """Observations (N, obs), rewards (N,), terminated and truncated (N,) bool; the envs that
        report success (Meta-World) leave it in ``last_success``."""
        obs, rewards, terminated, truncated, info = self.env.step(actions)
        success = info.get("success")
        self.last_success = None if success is None else success.astype(bool)
        return obs, rewards, terminated, truncated

    def close(self) -> None:
        self.env.close()
