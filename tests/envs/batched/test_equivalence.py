"""The batched env against the registered single envs: same numbers to 1e-6, resets included.

Both sides are seeded alike (env i with seed + i, the ``SyncVectorEnv`` convention), so they
start every episode, auto-resets included, from the same state, and receive the same actions.
"""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import envs
from envs.batched import make_batched

TOL = 1e-6


@pytest.mark.parametrize("env_id", list(envs.ENV_IDS))
def test_matches_registered_env_across_auto_resets(side_by_side, env_id):
    horizon = gymnasium.spec(env_id).max_episode_steps
    tasks = envs.task_family(env_id).sample_tasks(3, seed=1)
    worst, ended = side_by_side(env_id, tasks, steps=horizon + 40)
    assert worst["obs"] <= TOL and worst["reward"] <= TOL, worst
    # Every family ends episodes here (time limit or fall) and restarts them.
    assert ended["truncated"] + ended["terminated"] >= 1, ended


def test_truncation_at_a_custom_time_limit(side_by_side):
    env_id = "metarl/HalfCheetahDir-v0"
    tasks = envs.task_family(env_id).sample_tasks(2, seed=6)
    worst, ended = side_by_side(env_id, tasks, steps=35, max_episode_steps=10)
    assert worst["obs"] <= TOL and worst["reward"] <= TOL, worst
    assert ended == {"terminated": 0, "truncated": 6}


@pytest.mark.parametrize("env_id", ["metarl/HopperRandParams-v0", "metarl/AntDir-v0"])
def test_matches_through_terminations(side_by_side, env_id):
    """Random actions topple these robots: many episodes end early and restart."""
    tasks = envs.task_family(env_id).sample_tasks(4, seed=2)
    steps = 120 if "Hopper" in env_id else 400
    worst, ended = side_by_side(env_id, tasks, steps=steps)
    assert worst["obs"] <= TOL and worst["reward"] <= TOL, worst
    assert ended["terminated"] >= 4


def test_navigation_matches_through_goal_terminations(side_by_side):
    env_id = "metarl/Navigation2D-v0"
    tasks = envs.task_family(env_id).sample_tasks(4, seed=3)
    goals = np.array([task.goal for task in tasks])  # within [-0.5, 0.5]^2
    # Six steps of goal / 6 (each within the 0.1 action limit) reach the goal: terminated.
    actions = np.broadcast_to(goals / 6, (60, *goals.shape))
    worst, ended = side_by_side(env_id, tasks, steps=60, actions=actions)
    assert worst["obs"] <= TOL and worst["reward"] <= TOL, worst
    assert ended["terminated"] >= 1


def test_matches_with_single_env_keyword_arguments(side_by_side):
    """Constructor keywords reach the reference env the parameters are read from."""
    env_id = "metarl/HalfCheetahVel-v0"
    tasks = envs.task_family(env_id).sample_tasks(2, seed=4)
    kwargs = {"ctrl_cost_weight": 0.3, "reset_noise_scale": 0.2}
    worst, _ = side_by_side(env_id, tasks, steps=30, **kwargs)
    assert worst["obs"] <= TOL and worst["reward"] <= TOL, worst


def test_shared_seeding_matches_from_the_same_initial_state(random_actions):
    """seeding="shared" draws other initial states; set into the single envs, both agree."""
    env_id = "metarl/Walker2dRandParams-v0"
    tasks = envs.task_family(env_id).sample_tasks(3, seed=5)
    batched = make_batched(
        env_id, 3, threads=2, tasks=tasks, seeding="shared", autoreset_mode=AutoresetMode.DISABLED
    )
    obs_b, _ = batched.reset(seed=11)
    singles = [gymnasium.make(env_id).unwrapped for _ in tasks]
    for i, (env, task) in enumerate(zip(singles, tasks, strict=True)):
        env.reset(seed=0, options={"task": task})
        env.set_state(batched.batch.bind("qpos")[i].copy(), batched.batch.bind("qvel")[i].copy())
    obs_r = np.stack([env._get_obs() for env in singles])
    np.testing.assert_allclose(obs_b, obs_r, rtol=0, atol=TOL)
    alive = np.ones(3, dtype=bool)
    for action in random_actions(batched.single_action_space, 3, 60, seed=0):
        obs_b, rew_b, term_b, _, _ = batched.step(action)
        for i in np.flatnonzero(alive):
            obs, reward, terminated, _, _ = singles[i].step(action[i])
            np.testing.assert_allclose(obs_b[i], obs, rtol=0, atol=TOL)
            assert abs(rew_b[i] - reward) <= TOL
            assert term_b[i] == terminated
        alive &= ~term_b


def test_disabled_autoreset_with_partial_resets_matches_gymnasium(random_actions):
    """autoreset_mode=DISABLED and reset(options={"reset_mask": ...}) as in SyncVectorEnv: the
    first reset is seeded, the later partial ones continue each env's own generator."""
    env_id, num_envs = "metarl/HopperRandParams-v0", 4
    tasks = envs.task_family(env_id).sample_tasks(num_envs, seed=8)
    batched = make_batched(env_id, num_envs, threads=2, tasks=tasks, autoreset_mode="Disabled")
    reference = gymnasium.vector.SyncVectorEnv(
        [lambda: gymnasium.make(env_id) for _ in tasks], autoreset_mode=AutoresetMode.DISABLED
    )
    for env, task in zip(reference.envs, tasks, strict=True):
        env.unwrapped.set_task(task)
    obs_b, _ = batched.reset(seed=21)
    obs_r, _ = reference.reset(seed=21)
    np.testing.assert_allclose(obs_b, obs_r, rtol=0, atol=TOL)
    restarts = 0
    for action in random_actions(batched.single_action_space, num_envs, 100, seed=1):
        obs_b, rew_b, term_b, trunc_b, _ = batched.step(action)
        obs_r, rew_r, term_r, trunc_r, _ = reference.step(action)
        np.testing.assert_allclose(obs_b, obs_r, rtol=0, atol=TOL)
        np.testing.assert_allclose(rew_b, rew_r, rtol=0, atol=TOL)
        np.testing.assert_array_equal(term_b | trunc_b, term_r | trunc_r)
        ended = term_b | trunc_b
        if ended.any():
            obs_b, _ = batched.reset(options={"reset_mask": ended})
            obs_r, _ = reference.reset(options={"reset_mask": ended})
            np.testing.assert_allclose(obs_b, obs_r, rtol=0, atol=TOL)
            restarts += int(ended.sum())
    assert restarts >= 4
