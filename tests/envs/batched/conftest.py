"""Shared helpers: the registered single envs side by side with a batched env."""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium
import numpy as np
import pytest
from gymnasium.vector import SyncVectorEnv

import envs
from envs.batched import make_batched


def _sync_reference(env_id: str, tasks: Sequence[envs.Task], **kwargs) -> SyncVectorEnv:
    """``SyncVectorEnv`` of ``gymnasium.make(env_id)`` copies, copy i holding ``tasks[i]``."""
    reference = SyncVectorEnv(
        [lambda: gymnasium.make(env_id, **kwargs) for _ in tasks], autoreset_mode="NextStep"
    )
    for env, task in zip(reference.envs, tasks, strict=True):
        env.unwrapped.set_task(task)
    return reference


def _random_actions(
    space: gymnasium.spaces.Box, num_envs: int, steps: int, seed: int
) -> np.ndarray:
    """(steps, N, A) float32 actions uniform in a box a bit wider than the action space."""
    rng = np.random.default_rng(seed)
    low, high = 1.2 * space.low, 1.2 * space.high  # beyond the bounds: MuJoCo clamps ctrl
    return rng.uniform(low, high, size=(steps, num_envs, *space.shape)).astype(np.float32)


def _side_by_side(env_id: str, tasks, steps: int, seed: int = 7, actions=None, **kwargs):
    """Steps both envs with the same actions; returns the largest differences and counts."""
    batched = make_batched(env_id, len(tasks), threads=2, tasks=tasks, **kwargs)
    reference = _sync_reference(env_id, tasks, **kwargs)
    obs_b, _ = batched.reset(seed=seed)
    obs_r, _ = reference.reset(seed=seed)
    worst = {"obs": np.abs(obs_b - obs_r).max(), "reward": 0.0}
    ended = {"terminated": 0, "truncated": 0}
    if actions is None:
        actions = _random_actions(batched.single_action_space, len(tasks), steps, seed)
    for action in actions:
        obs_b, rew_b, term_b, trunc_b, _ = batched.step(action)
        obs_r, rew_r, term_r, trunc_r, _ = reference.step(action)
        worst["obs"] = max(worst["obs"], np.abs(obs_b - obs_r).max())
        worst["reward"] = max(worst["reward"], np.abs(rew_b - rew_r).max())
        np.testing.assert_array_equal(term_b, term_r)
        np.testing.assert_array_equal(trunc_b, trunc_r)
        ended["terminated"] += int(term_b.sum())
        ended["truncated"] += int(trunc_b.sum())
    return worst, ended


@pytest.fixture
def sync_reference():
    """``sync_reference(env_id, tasks, **kwargs)``: the registered envs in a ``SyncVectorEnv``."""
    return _sync_reference


@pytest.fixture
def random_actions():
    """``random_actions(space, num_envs, steps, seed)``: (steps, N, A) float32 actions."""
    return _random_actions


@pytest.fixture
def side_by_side():
    """``side_by_side(env_id, tasks, steps, seed=7, actions=None, **env_kwargs)``: steps a batched
    env and the registered envs with the same actions; returns the largest |difference| of
    observations and rewards (flags are asserted equal) and the number of ended episodes."""
    return _side_by_side
