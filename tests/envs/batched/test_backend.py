"""The sampler backend on a batched env against the Gymnasium backend of ``metarl.rl.sampler``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import envs
from envs.batched import BatchedBackend
from metarl.rl.policies import make_policy
from metarl.rl.sampler import GymnasiumBackend, MetaSampler


@pytest.mark.parametrize(
    "env_id", ["metarl/HopperRandParams-v0", "metarl/Navigation2D-v0", "metarl/HalfCheetahDir-v0"]
)
def test_backend_matches_gymnasium_backend(env_id, random_actions):
    horizon, num_envs = 40, 4
    tasks = envs.task_family(env_id).sample_tasks(2, seed=0) * 2
    batched, reference = (
        BatchedBackend(env_id, horizon, threads=2),
        GymnasiumBackend(env_id, horizon),
    )
    assert batched.observation_space == reference.observation_space
    assert batched.action_space == reference.action_space
    for seed in (0, 100):  # a second reset reuses the envs
        np.testing.assert_allclose(
            batched.reset(tasks, seed), reference.reset(tasks, seed), atol=1e-6
        )
        for action in random_actions(batched.action_space, num_envs, horizon + 3, seed):
            for ours, theirs in zip(batched.step(action), reference.step(action), strict=True):
                np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)
    batched.close()


def test_backend_follows_the_number_of_environments():
    backend = BatchedBackend("metarl/HalfCheetahVel-v0", 10, threads=1)
    tasks = envs.task_family("metarl/HalfCheetahVel-v0").sample_tasks(5, seed=0)
    assert backend.reset(tasks, seed=0).shape == (5, 17)
    assert backend.reset(tasks[:2], seed=0).shape == (2, 17)
    obs, reward, terminated, truncated = backend.step(np.zeros((2, 6)))
    assert obs.shape == (2, 17) and reward.shape == terminated.shape == truncated.shape == (2,)


def test_meta_sampler_gives_the_same_episodes_on_both_backends():
    env_id, horizon = "metarl/HopperRandParams-v0", 60
    tasks = envs.task_family(env_id).sample_tasks(3, seed=1)
    episodes = []
    for backend in (BatchedBackend(env_id, horizon, threads=2), GymnasiumBackend(env_id, horizon)):
        sampler = MetaSampler(env_id, episodes_per_task=2, horizon=horizon, backend=backend)
        init = torch.Generator().manual_seed(0)
        policy = make_policy(
            sampler.observation_space, sampler.action_space, (16,), init_std=2.0, generator=init
        )
        params = {k: v.detach() for k, v in policy.named_parameters()}
        generator = torch.Generator().manual_seed(0)
        episodes.append(sampler.sample(policy, params, tasks, generator, seed=3))
    ours, theirs = episodes
    assert ours.mask.sum() < ours.mask.numel()  # some episodes ended early
    for name in ("observations", "actions", "rewards", "mask", "log_probs"):
        torch.testing.assert_close(getattr(ours, name), getattr(theirs, name), rtol=0, atol=1e-6)
