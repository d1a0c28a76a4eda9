"""Batched env behaviour of its own: thread-count determinism, per-task physics, auto-reset
modes and clear errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.error import ResetNeeded
from gymnasium.vector import AutoresetMode, VectorEnv

import envs
from envs.batched import RandParamsVector, make_batched
from envs.rand_params import default_params
from envs.tasks import HalfCheetahVelTask, HopperRandParamsTask


def rollout(env_id, threads, seeding="per_env", steps=60, num_envs=6, seed=3):
    tasks = envs.task_family(env_id).sample_tasks(num_envs, seed=0)
    env = make_batched(env_id, num_envs, threads=threads, tasks=tasks, seeding=seeding)
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=seed)
    trace = [obs]
    for _ in range(steps):
        action = rng.uniform(-1, 1, size=env.action_space.shape)
        obs, reward, terminated, truncated, _ = env.step(action)
        trace += [obs, reward, terminated, truncated]
    return trace


@pytest.mark.parametrize("env_id", ["metarl/HalfCheetahVel-v0", "metarl/HopperRandParams-v0"])
@pytest.mark.parametrize("seeding", ["per_env", "shared"])
def test_deterministic_whatever_the_thread_count(env_id, seeding):
    one, two = rollout(env_id, 1, seeding), rollout(env_id, 2, seeding)
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a, b)


def test_seeds_change_initial_states_and_repeat():
    env_id = "metarl/HalfCheetahDir-v0"
    for seeding in ("per_env", "shared"):
        first = rollout(env_id, 2, seeding, steps=0, seed=1)[0]
        again = rollout(env_id, 2, seeding, steps=0, seed=1)[0]
        other = rollout(env_id, 2, seeding, steps=0, seed=2)[0]
        np.testing.assert_array_equal(first, again)
        assert not np.array_equal(first, other)
        assert len({row.tobytes() for row in first}) == len(first)  # every env starts elsewhere
        assert np.abs(first[:, :8]).max() <= 0.1 + 1e-12  # qpos[1:] = 0 + U(-0.1, 0.1)


def test_declares_a_gymnasium_vector_env_with_next_step_autoreset():
    env = make_batched("metarl/AntGoal-v0", 3)
    assert isinstance(env, VectorEnv)
    assert env.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert env.observation_space.shape == (3, 105) and env.action_space.shape == (3, 8)
    assert env.single_observation_space.shape == (105,)
    oracle = make_batched("metarl/AntGoalOracle-v0", 3)
    assert oracle.single_observation_space.shape == (107,)
    obs, _ = oracle.reset(seed=0)
    np.testing.assert_array_equal(obs[:, -2:], np.array([t.goal for t in oracle.get_tasks()]))


def test_physics_tasks_give_each_env_its_own_model():
    env_id = "metarl/HopperRandParams-v0"
    tasks = HopperRandParamsTask.sample(2, np.random.default_rng(0))
    env = make_batched(env_id, 4, threads=2, tasks=[tasks[0], tasks[1], tasks[0], tasks[1]])
    assert isinstance(env, RandParamsVector)
    assert env.task_model(0) is env.task_model(2)  # one MjModel per distinct task
    assert env.task_model(0) is not env.task_model(1)
    defaults = default_params(env.model)
    for i, task in enumerate(env.get_tasks()):
        model = env.task_model(i)
        np.testing.assert_allclose(
            model.body_mass[1:], defaults["body_mass"] * task.scales()["body_mass"]
        )
        np.testing.assert_allclose(
            model.dof_damping, defaults["dof_damping"] * task.scales()["dof_damping"]
        )
        np.testing.assert_allclose(
            model.geom_friction, defaults["geom_friction"] * task.scales()["geom_friction"]
        )
    np.testing.assert_array_equal(env.model.body_mass[1:], defaults["body_mass"])  # base untouched
    # Same seeds for envs 0 and 1 (so the same start), same actions: different physics.
    obs, _ = env.reset(seed=[5, 5, 5, 5])
    np.testing.assert_array_equal(obs[0], obs[1])
    action = np.full(env.action_space.shape, 0.5)
    for _ in range(5):
        obs, *_ = env.step(action)
    np.testing.assert_array_equal(obs[0], obs[2])
    assert np.abs(obs[0] - obs[1]).max() > 1e-3


def test_new_tasks_at_reset_rebuild_only_the_models_needed():
    env_id = "metarl/Walker2dRandParams-v0"
    first, second = envs.task_family(env_id).sample_tasks(2, seed=0)
    env = make_batched(env_id, 2, tasks=[first, first])
    kept = env.task_model(0)
    env.reset(seed=0, options={"tasks": [first, second]})
    assert env.task_model(0) is kept and env.get_tasks() == [first, second]


def test_disabled_autoreset_holds_ended_envs_until_reset_mask():
    env = make_batched(
        "metarl/HalfCheetahVel-v0", 3, max_episode_steps=4, autoreset_mode="Disabled"
    )
    assert env.metadata["autoreset_mode"] == AutoresetMode.DISABLED
    env.reset(seed=0)
    action = np.full(env.action_space.shape, 0.3)
    for _ in range(4):
        obs, reward, terminated, truncated, infos = env.step(action)
    assert truncated.all() and not terminated.any()
    held, held_reward, _, held_trunc, infos = env.step(action)
    np.testing.assert_array_equal(held, obs)
    np.testing.assert_array_equal(held_reward, 0.0)
    assert held_trunc.all() and infos == {}  # no environment ran
    mask = np.array([True, False, False])
    restarted, _ = env.reset(seed=9, options={"reset_mask": mask})
    np.testing.assert_array_equal(restarted[1:], obs[1:])
    assert not np.array_equal(restarted[0], obs[0])
    obs, reward, _, truncated, infos = env.step(action)
    assert reward[0] != 0.0 and (reward[1:] == 0.0).all()
    assert infos["_reward_forward"].tolist() == [True, False, False]
    assert truncated.tolist() == [False, True, True]


def test_next_step_autoreset_returns_first_observation_with_zero_reward():
    env = make_batched("metarl/Navigation2D-v0", 2, max_episode_steps=3)
    env.reset(seed=0)
    action = np.full((2, 2), 0.05)
    for _ in range(3):
        obs, reward, _, truncated, _ = env.step(action)
    assert truncated.all()
    obs, reward, terminated, truncated, _ = env.step(action)
    np.testing.assert_array_equal(obs, 0.0)  # episodes start at the origin
    np.testing.assert_array_equal(reward, 0.0)
    assert not terminated.any() and not truncated.any()


# ---------------------------------------------------------------------------------------------
# Bad input


@pytest.fixture
def cheetah():
    env = make_batched("metarl/HalfCheetahVel-v0", 3, threads=1)
    env.reset(seed=0)
    return env


def test_step_before_reset_is_refused():
    env = make_batched("metarl/HalfCheetahVel-v0", 2)
    with pytest.raises(ResetNeeded, match="before calling reset"):
        env.step(np.zeros((2, 6)))


@pytest.mark.parametrize("shape", [(6,), (3, 5), (2, 6), (3, 6, 1)])
def test_wrong_action_shape(cheetah, shape):
    with pytest.raises(ValueError, match=r"expects actions of shape \(3, 6\)"):
        cheetah.step(np.zeros(shape))


@pytest.mark.parametrize("env_id", ["metarl/HalfCheetahVel-v0", "metarl/Navigation2D-v0"])
def test_non_finite_actions(env_id):
    env = make_batched(env_id, 3)
    env.reset(seed=0)
    actions = np.zeros(env.action_space.shape)
    actions[1, 1] = np.nan
    actions[2, 0] = -np.inf
    with pytest.raises(
        ValueError, match=r"Vector: actions of environment\(s\) \[1, 2\] are not"
    ) as error:
        env.step(actions)
    assert "nan" in str(error.value) and "-inf" in str(error.value)


def test_wrong_number_of_tasks(cheetah):
    tasks = [HalfCheetahVelTask(1.0)] * 2
    with pytest.raises(ValueError, match="has 3 environments but got 2 tasks"):
        cheetah.reset(options={"tasks": tasks})
    with pytest.raises(ValueError, match="has 3 environments but got 2 tasks"):
        make_batched("metarl/HalfCheetahVel-v0", 3, tasks=tasks)
    with pytest.raises(TypeError, match="sequence of 3 tasks"):
        cheetah.set_tasks(HalfCheetahVelTask(1.0))


def test_task_of_another_family(cheetah):
    with pytest.raises(TypeError, match="needs a HalfCheetahVelTask"):
        cheetah.set_tasks([envs.HalfCheetahDirTask(1)] * 3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_envs": 0}, "num_envs >= 1"),
        ({"threads": 0}, "threads must be an int >= 1"),
        ({"max_episode_steps": 0}, "max_episode_steps >= 1"),
        ({"autoreset_mode": AutoresetMode.SAME_STEP}, "SAME_STEP is not implemented"),
        ({"seeding": "global"}, "seeding must be 'per_env' or 'shared'"),
    ],
)
def test_bad_construction(kwargs, match):
    arguments = {"env_id": "metarl/HalfCheetahVel-v0", "num_envs": 2} | kwargs
    with pytest.raises(ValueError, match=match):
        make_batched(**arguments)


def test_unknown_env_id():
    with pytest.raises(ValueError, match="unknown environment id"):
        make_batched("metarl/HalfCheetah-v0", 2)


def test_bad_reset_arguments(cheetah):
    with pytest.raises(ValueError, match="unknown option"):
        cheetah.reset(options={"task": HalfCheetahVelTask(1.0)})
    with pytest.raises(ValueError, match=r"reset_mask must be a bool array of shape \(3,\)"):
        cheetah.reset(options={"reset_mask": np.ones(2, dtype=bool)})
    with pytest.raises(TypeError, match="list of 3 ints"):
        cheetah.reset(seed=[1, 2])
