"""The task protocol on the environments: set/get/reset, determinism, oracle, bad input."""

import gymnasium
import numpy as np
import pytest
from gymnasium.error import ResetNeeded

import envs
from envs.tasks import AntVelTask, HalfCheetahVelTask, Navigation2DTask

FAMILY_NAMES = list(envs.FAMILIES)


def rollout(env, task, seed: int, steps: int, action_seed: int = 0):
    """(obs, reward, terminated) of a rollout under seeded random actions; resets on termination."""
    rng = np.random.default_rng(action_seed)
    space = env.action_space
    obs, _ = env.reset(seed=seed, options={"task": task})
    out = [(obs, 0.0, False)]
    for _ in range(steps):
        action = rng.uniform(space.low, space.high)
        obs, reward, terminated, truncated, _ = env.step(action)
        out.append((obs, reward, terminated))
        if terminated or truncated:
            obs, _ = env.reset()
    return out


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_set_get_and_reset_option(family):
    env = gymnasium.make(envs.env_id(family))
    first, second = env.unwrapped.sample_tasks(2, seed=11)
    env.unwrapped.set_task(first)
    assert env.unwrapped.get_task() == first
    env.reset(seed=0, options={"task": second})
    assert env.unwrapped.get_task() == second
    env.reset(seed=0)  # no option: the task stays
    assert env.unwrapped.get_task() == second
    env.unwrapped.set_task(first.to_dict())  # the logged (dict) form works too
    assert env.unwrapped.get_task() == first


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_task_at_construction(family):
    task = envs.FAMILIES[family].sample_tasks(1, seed=2)[0]
    assert gymnasium.make(envs.env_id(family), task=task).unwrapped.get_task() == task
    default = envs.FAMILIES[family].sample_tasks(1, seed=0)[0]
    assert envs.FAMILIES[family]().get_task() == default


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_same_seed_same_trajectory(family):
    task = envs.FAMILIES[family].sample_tasks(1, seed=4)[0]
    a = rollout(gymnasium.make(envs.env_id(family)), task, seed=1, steps=60)
    b = rollout(gymnasium.make(envs.env_id(family)), task, seed=1, steps=60)
    for (obs_a, rew_a, term_a), (obs_b, rew_b, term_b) in zip(a, b, strict=True):
        np.testing.assert_array_equal(obs_a, obs_b)
        assert rew_a == rew_b and term_a == term_b


@pytest.mark.parametrize(
    "family", ["HalfCheetahVel", "AntVel", "AntGoal", "HopperRandParams", "Walker2dRandParams"]
)
def test_reset_seed_seeds_the_initial_state(family):
    env = gymnasium.make(envs.env_id(family))
    obs_a, _ = env.reset(seed=1)
    obs_b, _ = env.reset(seed=1)
    obs_c, _ = env.reset(seed=2)
    np.testing.assert_array_equal(obs_a, obs_b)
    assert not np.array_equal(obs_a, obs_c)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_oracle_obs_is_base_obs_plus_task(family):
    task, other = envs.FAMILIES[family].sample_tasks(2, seed=8)
    base = gymnasium.make(envs.env_id(family))
    oracle = gymnasium.make(envs.env_id(family, oracle=True))
    size = base.observation_space.shape[0]
    params = task.to_array()
    assert oracle.observation_space.shape == (size + params.size,)
    for (obs, rew, _), (obs_o, rew_o, _) in zip(
        rollout(base, task, 0, 10), rollout(oracle, task, 0, 10), strict=True
    ):
        np.testing.assert_array_equal(obs_o[:size], obs)
        np.testing.assert_array_equal(obs_o[size:], params)
        assert rew_o == rew
    oracle.unwrapped.set_task(other)
    obs_o, *_ = oracle.step(oracle.action_space.sample())
    np.testing.assert_array_equal(obs_o[size:], other.to_array())


# ---------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_task_of_another_family_is_rejected(family):
    env = envs.FAMILIES[family]()
    foreign = AntVelTask(1.0) if family != "AntVel" else HalfCheetahVelTask(1.0)
    needed = env.task_type.__name__
    with pytest.raises(TypeError, match=f"needs a {needed}, got a {type(foreign).__name__}"):
        env.set_task(foreign)
    with pytest.raises(TypeError, match=f"needs a {needed}"):
        env.reset(options={"task": foreign})
    with pytest.raises(ValueError, match=f"expected a {family} task, got a task of family"):
        env.set_task(foreign.to_dict())
    with pytest.raises(TypeError, match=f"needs a {needed} or its dict form, got 1.0"):
        env.set_task(1.0)


def test_task_missing_a_field_is_rejected():
    env = envs.FAMILIES["HalfCheetahVel"]()
    with pytest.raises(ValueError, match="missing field"):
        env.set_task({"family": "HalfCheetahVel"})
    with pytest.raises(ValueError, match="missing field"):
        env.reset(options={"task": {"family": "HalfCheetahVel"}})
    data = envs.FAMILIES["HopperRandParams"].sample_tasks(1, seed=0)[0].to_dict()
    del data["body_inertia"]
    with pytest.raises(ValueError, match=r"missing field\(s\) \['body_inertia'\]"):
        envs.FAMILIES["HopperRandParams"]().set_task(data)


def test_out_of_range_task_dict_is_rejected_and_task_kept():
    env = envs.FAMILIES["HalfCheetahVel"]()
    before = env.get_task()
    with pytest.raises(ValueError, match=r"goal_velocity=5.0 is outside \[0, 2\]"):
        env.set_task({"family": "HalfCheetahVel", "goal_velocity": 5.0})
    assert env.get_task() == before


def test_unknown_reset_option_is_rejected():
    env = envs.FAMILIES["Navigation2D"]()
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['tsak'\]"):
        env.reset(options={"tsak": Navigation2DTask((0.1, 0.1))})


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_step_before_reset(family):
    bare = envs.FAMILIES[family]()
    with pytest.raises(ResetNeeded, match=r"Cannot call .*step\(\) before calling .*reset\(\)"):
        bare.step(bare.action_space.sample())
    made = gymnasium.make(envs.env_id(family))
    with pytest.raises(ResetNeeded, match=r"Cannot call .*step\(\) before calling .*reset\(\)"):
        made.step(made.action_space.sample())


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_wrong_action_shape(family):
    for env in (envs.FAMILIES[family](), gymnasium.make(envs.env_id(family))):
        env.reset(seed=0)
        size = env.action_space.shape[0]
        for action in (np.zeros(size - 1), np.zeros(size + 1), np.zeros((1, size)), 0.0):
            shape = np.shape(action)
            with pytest.raises(
                ValueError,
                match=rf"expects an action of shape \({size},\), got shape {re_shape(shape)}",
            ):
                env.step(action)


@pytest.mark.parametrize("family", FAMILY_NAMES)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_action_is_refused_before_the_simulator(family, bad):
    env = gymnasium.make(envs.env_id(family))
    env.reset(seed=0)
    action = np.zeros(env.action_space.shape)
    action[-1] = bad
    with pytest.raises(
        ValueError, match=rf"{family}\.step got a non-finite action .*index \["
    ) as error:
        env.step(action)
    assert str(bad) in str(error.value)
    # The env did not move: the next finite step starts from the reset state.
    again = gymnasium.make(envs.env_id(family))
    again.reset(seed=0)
    zero = np.zeros(env.action_space.shape)
    np.testing.assert_array_equal(env.step(zero)[0], again.step(zero)[0])


def re_shape(shape: tuple[int, ...]) -> str:
    return str(shape).replace("(", r"\(").replace(")", r"\)")


def test_rand_params_shape_mismatch_with_model():
    """A task built for Hopper's model cannot go into a Walker2d env."""
    env = envs.FAMILIES["Walker2dRandParams"]()
    hopper_task = envs.FAMILIES["HopperRandParams"].sample_tasks(1, seed=0)[0]
    with pytest.raises(TypeError, match="needs a Walker2dRandParamsTask"):
        env.set_task(hopper_task)
