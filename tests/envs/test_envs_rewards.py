"""Rewards against hand computations from the simulator state, and parity with Gymnasium v5."""

import gymnasium
import mujoco
import numpy as np
import pytest

import envs
from envs.tasks import (
    AntDirTask,
    AntGoalTask,
    AntVelTask,
    HalfCheetahDirTask,
    HalfCheetahVelTask,
    HopperRandParamsTask,
    Navigation2DTask,
    Walker2dRandParamsTask,
)

STEPS = 8


def steps_with_state(family: str, task, seed: int = 0):
    """Yields (qpos_before, env after the step, action, reward, terminated) for a few steps."""
    env = envs.FAMILIES[family]()
    env.reset(seed=seed, options={"task": task})
    rng = np.random.default_rng(seed)
    for _ in range(STEPS):
        action = rng.uniform(env.action_space.low, env.action_space.high)  # float64
        before = env.data.qpos.copy()
        _, reward, terminated, _, info = env.step(action)
        yield before, env, action, reward, terminated, info


def test_navigation_reward_by_hand():
    task = Navigation2DTask((0.3, -0.2))
    env = envs.FAMILIES["Navigation2D"](task=task)
    position, _ = env.reset(seed=0)
    np.testing.assert_array_equal(position, [0.0, 0.0])
    for action in ([0.05, -0.02], [0.5, -0.5], [-0.3, 0.01], [0.1, 0.1]):
        expected = position + np.clip(action, -0.1, 0.1)
        position, reward, terminated, truncated, _ = env.step(np.array(action))
        np.testing.assert_allclose(position, expected, rtol=0, atol=1e-15)
        distance = np.sqrt((expected[0] - 0.3) ** 2 + (expected[1] + 0.2) ** 2)
        assert reward == pytest.approx(-distance, abs=1e-12)
        assert not terminated and not truncated


def test_navigation_terminates_at_the_goal():
    env = envs.FAMILIES["Navigation2D"](task=Navigation2DTask((0.15, 0.0)))
    env.reset(seed=0)
    *_, terminated, _, _ = env.step(np.array([0.1, 0.0]))
    assert not terminated
    _, reward, terminated, _, info = env.step(np.array([0.055, 0.0]))  # 0.005 from the goal
    assert terminated and info["distance"] == pytest.approx(0.005)
    assert reward == pytest.approx(-0.005)


def test_navigation_truncates_after_100_steps():
    env = gymnasium.make("metarl/Navigation2D-v0", task=Navigation2DTask((0.5, 0.5)))
    env.reset(seed=0)
    for t in range(100):
        _, _, terminated, truncated, _ = env.step(np.array([-0.1, -0.1]))  # walk away
        assert not terminated
        assert truncated == (t == 99)


@pytest.mark.parametrize("goal", [0.0, 0.7, 2.0])
def test_half_cheetah_vel_reward_by_hand(goal):
    for before, env, action, reward, terminated, info in steps_with_state(
        "HalfCheetahVel", HalfCheetahVelTask(goal)
    ):
        velocity = (env.data.qpos[0] - before[0]) / 0.05  # frame_skip 5 * timestep 0.01
        expected = -abs(velocity - goal) - 0.05 * np.sum(action**2)
        assert reward == pytest.approx(expected, abs=1e-10)
        assert info["x_velocity"] == pytest.approx(velocity, abs=1e-10)
        assert not terminated


@pytest.mark.parametrize("direction", [-1, 1])
def test_half_cheetah_dir_reward_by_hand(direction):
    for before, env, action, reward, terminated, _ in steps_with_state(
        "HalfCheetahDir", HalfCheetahDirTask(direction)
    ):
        velocity = (env.data.qpos[0] - before[0]) / 0.05
        expected = direction * velocity - 0.05 * np.sum(action**2)
        assert reward == pytest.approx(expected, abs=1e-10)
        assert not terminated


def ant_common(env, action) -> float:
    """Survive bonus minus v5's control and contact costs, by hand."""
    z = env.data.qpos[2]
    healthy = (
        0.2 <= z <= 1.0 and np.isfinite(env.data.qpos).all() and np.isfinite(env.data.qvel).all()
    )
    contact = np.clip(env.data.cfrc_ext, -1.0, 1.0)
    return 1.0 * healthy - 0.5 * np.sum(action**2) - 5e-4 * np.sum(contact**2)


@pytest.mark.parametrize("goal", [0.0, 2.5])
def test_ant_vel_reward_by_hand(goal):
    for before, env, action, reward, _, info in steps_with_state("AntVel", AntVelTask(goal)):
        velocity = (env.data.qpos[0] - before[0]) / 0.05
        assert reward == pytest.approx(-abs(velocity - goal) + ant_common(env, action), abs=1e-10)
        assert info["reward_survive"] == 1.0


@pytest.mark.parametrize("direction", [-1, 1])
def test_ant_dir_reward_by_hand(direction):
    for before, env, action, reward, _, _ in steps_with_state("AntDir", AntDirTask(direction)):
        velocity = (env.data.qpos[0] - before[0]) / 0.05
        assert reward == pytest.approx(direction * velocity + ant_common(env, action), abs=1e-10)


def test_ant_goal_reward_by_hand():
    goal = np.array([1.5, -2.0])
    for _, env, action, reward, _, info in steps_with_state("AntGoal", AntGoalTask(tuple(goal))):
        xy = env.data.qpos[:2]  # the torso's free joint: its position after the step
        distance = np.abs(xy - goal).sum()
        assert reward == pytest.approx(-distance + ant_common(env, action), abs=1e-10)
        assert info["reward_goal"] == pytest.approx(-distance, abs=1e-12)


def test_ant_terminates_when_unhealthy():
    env = envs.FAMILIES["AntVel"]()
    env.reset(seed=0)
    qpos, qvel = env.data.qpos.copy(), env.data.qvel.copy()
    qpos[2] = 1.5  # torso far above the healthy range
    env.set_state(qpos, qvel)
    _, _, terminated, _, info = env.step(np.zeros(8))
    assert terminated and info["reward_survive"] == 0.0


@pytest.mark.parametrize(
    ("family", "task"),
    [
        ("HopperRandParams", HopperRandParamsTask.sample(1, np.random.default_rng(0))[0]),
        ("Walker2dRandParams", Walker2dRandParamsTask.sample(1, np.random.default_rng(0))[0]),
    ],
)
def test_rand_params_reward_by_hand(family, task):
    for before, env, action, reward, terminated, _ in steps_with_state(family, task):
        velocity = (env.data.qpos[0] - before[0]) / 0.008  # frame_skip 4 * timestep 0.002
        z, angle = env.data.qpos[1], env.data.qpos[2]
        if family == "HopperRandParams":
            state = np.concatenate([env.data.qpos[2:], env.data.qvel])
            healthy = z > 0.7 and abs(angle) < 0.2 and np.all(np.abs(state) < 100)
        else:
            healthy = 0.8 < z < 2.0 and abs(angle) < 1.0
        expected = velocity + 1.0 * healthy - 1e-3 * np.sum(action**2)
        assert reward == pytest.approx(expected, abs=1e-10)
        assert terminated == (not healthy)
        if terminated:
            break


# ---------------------------------------------------------------------------------------------
# Parity with the Gymnasium v5 environments the families build on


def parity(ours: str, reference: str, task, steps: int = 40):
    """Max |obs difference|, and per-step (our info, v5 info), under the same float32 actions."""
    a, b = gymnasium.make(ours, task=task).unwrapped, gymnasium.make(reference).unwrapped
    obs_a, _ = a.reset(seed=3)
    obs_b, _ = b.reset(seed=3)
    worst = np.abs(obs_a - obs_b).max()
    rng = np.random.default_rng(0)
    pairs = []
    for _ in range(steps):
        action = rng.uniform(-1, 1, a.action_space.shape).astype(np.float32)
        obs_a, rew_a, term_a, _, info_a = a.step(action)
        obs_b, rew_b, term_b, _, info_b = b.step(action)
        worst = max(worst, np.abs(obs_a - obs_b).max())
        pairs.append((rew_a, rew_b, term_a, term_b, info_a, info_b))
        if term_a or term_b:
            break
    return worst, pairs


@pytest.mark.parametrize(
    ("ours", "reference", "task"),
    [
        ("metarl/HopperRandParams-v0", "Hopper-v5", HopperRandParamsTask.nominal()),
        ("metarl/Walker2dRandParams-v0", "Walker2d-v5", Walker2dRandParamsTask.nominal()),
    ],
)
def test_nominal_rand_params_is_v5(ours, reference, task):
    worst, pairs = parity(ours, reference, task, steps=200)
    assert worst == 0.0
    for rew_a, rew_b, term_a, term_b, _, _ in pairs:
        assert rew_a == pytest.approx(rew_b, abs=1e-6)  # v5 squares float32 actions
        assert term_a == term_b


def test_half_cheetah_dir_matches_v5_but_for_ctrl_weight():
    worst, pairs = parity("metarl/HalfCheetahDir-v0", "HalfCheetah-v5", HalfCheetahDirTask(1))
    assert worst == 0.0
    for rew_a, rew_b, _, _, info_a, info_b in pairs:
        assert info_a["reward_forward"] == info_b["reward_forward"]
        assert info_a["reward_ctrl"] == pytest.approx(info_b["reward_ctrl"] / 2, rel=1e-6)
        assert rew_a == pytest.approx(rew_b - info_b["reward_ctrl"] / 2, abs=1e-6)


def test_ant_dir_matches_v5_but_for_the_contact_forces():
    """Positions, velocities, control cost, survive bonus and terminations are v5's; the contact
    forces are MuJoCo's at the state after the step (v5 reads those of the last RK4 stage)."""
    ours = gymnasium.make("metarl/AntDir-v0", task=AntDirTask(1)).unwrapped
    v5 = gymnasium.make("Ant-v5").unwrapped
    obs_a, _ = ours.reset(seed=3)
    obs_b, _ = v5.reset(seed=3)
    np.testing.assert_array_equal(obs_a, obs_b)
    rng = np.random.default_rng(0)
    steps_in_contact = 0
    for _ in range(60):
        action = rng.uniform(-1, 1, 8).astype(np.float32)
        obs_a, _, term_a, _, info_a = ours.step(action)
        obs_b, _, term_b, _, info_b = v5.step(action)
        np.testing.assert_array_equal(obs_a[:27], obs_b[:27])  # qpos[2:], qvel
        assert term_a == term_b
        for key in ("reward_ctrl", "reward_survive"):
            assert info_a[key] == pytest.approx(info_b[key], abs=1e-6)
        # v5 reads the torso's xpos, one physics substep behind qpos: close, not equal.
        assert info_a["reward_forward"] == pytest.approx(info_b["reward_forward"], abs=0.2)
        # A fresh forward pass at the new state gives the observed contact forces.
        data = mujoco.MjData(ours.model)
        for name in ("qpos", "qvel", "ctrl", "qacc_warmstart"):
            getattr(data, name)[:] = getattr(ours.data, name)
        mujoco.mj_forward(ours.model, data)
        mujoco.mj_rnePostConstraint(ours.model, data)
        contact = np.clip(data.cfrc_ext, -1.0, 1.0)
        np.testing.assert_allclose(obs_a[27:], contact[1:].ravel(), rtol=0, atol=1e-9)
        expected_cost = 5e-4 * np.sum(contact**2)
        assert info_a["reward_contact"] == pytest.approx(-expected_cost, abs=1e-9)
        steps_in_contact += data.ncon > 0
        if term_a:
            break
    assert steps_in_contact > 0
