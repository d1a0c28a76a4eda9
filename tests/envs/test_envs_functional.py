"""The vectorised functions give, for N envs at once, what N single envs give one by one.

This is the contract a batched env relies on: stack the states of N envs, call the same function
from ``envs.functional`` once, and match every single env's observation, reward and termination.
"""

import numpy as np
import pytest

import envs
from envs import functional as F

N = 3
STEPS = 25


def record(family: str, seed: int = 0):
    """Runs N single envs with different tasks; returns per-step stacked states and outputs."""
    cls = envs.FAMILIES[family]
    tasks = cls.sample_tasks(N, seed=seed)
    singles = [cls() for _ in range(N)]
    for i, (env, task) in enumerate(zip(singles, tasks, strict=True)):
        env.reset(seed=seed + i, options={"task": task})
    rng = np.random.default_rng(seed)
    space = singles[0].action_space
    steps = []
    for _ in range(STEPS):
        actions = rng.uniform(space.low, space.high, size=(N, *space.shape))
        before = [
            env.data.qpos.copy() if hasattr(env, "data") else env._position.copy()
            for env in singles
        ]
        outs = [env.step(a) for env, a in zip(singles, actions, strict=True)]
        state = {
            "before": np.stack(before),
            "actions": actions,
            "obs": np.stack([o[0] for o in outs]),
            "reward": np.array([o[1] for o in outs]),
            "terminated": np.array([o[2] for o in outs]),
        }
        if hasattr(singles[0], "data"):
            state["qpos"] = np.stack([env.data.qpos.copy() for env in singles])
            state["qvel"] = np.stack([env.data.qvel.copy() for env in singles])
            state["cfrc_ext"] = np.stack([env.data.cfrc_ext.copy() for env in singles])
            state["dt"] = singles[0].dt
        if state["terminated"].any():
            break
        steps.append(state)
    params = np.stack([task.to_array() for task in tasks])  # (N, K)
    return steps, params


def test_navigation_vectorised():
    steps, goals = record("Navigation2D")
    for s in steps:
        position = F.navigation_move(s["before"], s["actions"])
        reward, _ = F.navigation_reward(position, goals)
        np.testing.assert_array_equal(position, s["obs"])
        np.testing.assert_allclose(reward, s["reward"], rtol=0, atol=1e-12)
        np.testing.assert_array_equal(F.navigation_terminated(position, goals), s["terminated"])


@pytest.mark.parametrize("family", ["HalfCheetahVel", "HalfCheetahDir"])
def test_half_cheetah_vectorised(family):
    steps, params = record(family)
    reward_fn = (
        F.half_cheetah_vel_reward if family == "HalfCheetahVel" else F.half_cheetah_dir_reward
    )
    for s in steps:
        np.testing.assert_array_equal(F.half_cheetah_obs(s["qpos"], s["qvel"]), s["obs"])
        x_vel = F.x_velocity(s["before"], s["qpos"], s["dt"])
        reward, _ = reward_fn(x_vel, s["actions"], params[:, 0])
        np.testing.assert_allclose(reward, s["reward"], rtol=0, atol=1e-12)


@pytest.mark.parametrize("family", ["AntVel", "AntDir", "AntGoal"])
def test_ant_vectorised(family):
    steps, params = record(family)
    assert steps, "the ants fell over at once"
    for s in steps:
        np.testing.assert_array_equal(F.ant_obs(s["qpos"], s["qvel"], s["cfrc_ext"]), s["obs"])
        healthy = F.ant_healthy(s["qpos"], s["qvel"])
        np.testing.assert_array_equal(~healthy, s["terminated"])
        xy_vel = F.xy_velocity(s["before"], s["qpos"], s["dt"])
        common = (s["actions"], s["cfrc_ext"], healthy)
        if family == "AntVel":
            reward, _ = F.ant_vel_reward(xy_vel[:, 0], *common, params[:, 0])
        elif family == "AntDir":
            reward, _ = F.ant_dir_reward(xy_vel[:, 0], *common, params[:, 0])
        else:
            reward, _ = F.ant_goal_reward(s["qpos"][:, :2], *common, params)
        np.testing.assert_allclose(reward, s["reward"], rtol=0, atol=1e-12)


@pytest.mark.parametrize("family", ["HopperRandParams", "Walker2dRandParams"])
def test_rand_params_vectorised(family):
    steps, _ = record(family)
    for s in steps:
        np.testing.assert_array_equal(F.planar_walker_obs(s["qpos"], s["qvel"]), s["obs"])
        if family == "HopperRandParams":
            healthy = F.hopper_healthy(s["qpos"], s["qvel"])
        else:
            healthy = F.walker2d_healthy(s["qpos"])
        np.testing.assert_array_equal(~healthy, s["terminated"])
        x_vel = F.x_velocity(s["before"], s["qpos"], s["dt"])
        reward, _ = F.locomotion_reward(x_vel, s["actions"], healthy)
        np.testing.assert_allclose(reward, s["reward"], rtol=0, atol=1e-12)


def test_oracle_obs_vectorised():
    obs = np.arange(6.0).reshape(2, 3)
    params = np.array([[10.0], [20.0]])
    np.testing.assert_array_equal(F.oracle_obs(obs, params), [[0, 1, 2, 10], [3, 4, 5, 20]])


def test_reward_parts_sum_to_reward():
    rng = np.random.default_rng(0)
    action, cfrc = rng.normal(size=(4, 8)), rng.normal(size=(4, 14, 6))
    healthy = np.array([True, False, True, True])
    reward, parts = F.ant_goal_reward(
        rng.normal(size=(4, 2)), action, cfrc, healthy, np.zeros((4, 2))
    )
    np.testing.assert_allclose(sum(parts.values()), reward)
    np.testing.assert_array_equal(parts["reward_survive"], healthy * 1.0)
    reward, parts = F.half_cheetah_vel_reward(rng.normal(size=4), action[:, :6], np.ones(4))
    np.testing.assert_allclose(parts["reward_forward"] + parts["reward_ctrl"], reward)
