"""Shared fixtures of the RL tests: a tiny discrete task environment and float64 policies."""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
import pytest
import torch

from metarl.rl.policies import CategoricalMLPPolicy, GaussianMLPPolicy

CORRIDOR_ID = "metarl_test/Corridor-v0"


class Corridor(gymnasium.Env):
    """Walk left (0), stay (1) or right (2) on the integers; the task is the goal cell.

    Reward -|position - goal| after the move; the episode terminates on the goal. The start cell
    is drawn from the seeded ``np_random`` in [-2, 2], so reset seeds matter.
    """

    def __init__(self) -> None:
        self.observation_space = gymnasium.spaces.Box(-np.inf, np.inf, shape=(2,), dtype=np.float64)
        self.action_space = gymnasium.spaces.Discrete(3)
        self.goal = 3
        self.position = 0

    @classmethod
    def sample_tasks(cls, n: int, seed: int) -> list[int]:
        return [int(g) for g in np.random.default_rng(seed).integers(-4, 5, size=n)]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if options and "task" in options:
            self.goal = int(options["task"])
        self.position = int(self.np_random.integers(-2, 3))
        return self._obs(), {}

    def step(self, action):
        self.position += int(action) - 1
        distance = abs(self.position - self.goal)
        return self._obs(), -float(distance), distance == 0, False, {}

    def _obs(self) -> np.ndarray:
        return np.array([self.position, self.position**2 / 10.0])


@pytest.fixture(scope="session")
def corridor_id() -> str:
    if CORRIDOR_ID not in gymnasium.registry:
        gymnasium.register(CORRIDOR_ID, entry_point=Corridor, max_episode_steps=50)
    return CORRIDOR_ID


@pytest.fixture
def gaussian_policy():
    """A float64 Gaussian MLP policy factory: ``gaussian_policy(obs_dim, act_dim, hidden)``."""

    def make(obs_dim: int, act_dim: int, hidden=(8,), activation="tanh", init_std=0.5, seed=0):
        generator = torch.Generator().manual_seed(seed)
        policy = GaussianMLPPolicy(
            obs_dim, act_dim, hidden, activation, init_std, generator=generator
        )
        return policy.to(torch.float64)

    return make


@pytest.fixture
def categorical_policy():
    """A float64 categorical MLP policy factory: ``categorical_policy(obs_dim, n, hidden)``."""

    def make(obs_dim: int, num_actions: int, hidden=(8,), activation="tanh", seed=0):
        generator = torch.Generator().manual_seed(seed)
        policy = CategoricalMLPPolicy(obs_dim, num_actions, hidden, activation, generator)
        return policy.to(torch.float64)

    return make


def params_of(policy) -> dict[str, torch.Tensor]:
    """Detached copies of a policy's parameters."""
    return {name: p.detach().clone() for name, p in policy.named_parameters()}


@pytest.fixture
def detached_params():
    return params_of
