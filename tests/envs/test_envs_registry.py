"""Registration: every family and its oracle under ``metarl/``, usable by Gymnasium tools."""

import pickle

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs

FAMILY_NAMES = list(envs.FAMILIES)
ALL_IDS = list(envs.ENV_IDS)


def test_every_family_and_oracle_is_registered():
    registered = [i for i in gymnasium.registry if i.startswith("metarl/")]
    expected = {f"metarl/{name}{suffix}-v0" for name in FAMILY_NAMES for suffix in ("", "Oracle")}
    assert set(registered) == expected | set(envs.META_WORLD_IDS)
    assert len(expected) == 16
    assert len(envs.META_WORLD_IDS) == 52  # ML1 on each of the 50 envs, ML10, ML45


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_horizon(env_id):
    horizon = 100 if "Navigation2D" in env_id else 200
    assert gymnasium.spec(env_id).max_episode_steps == horizon


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_check_env(env_id):
    env = gymnasium.make(env_id)
    # Rendering needs an OpenGL context that CI machines lack; everything else is checked.
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_task_family_and_classes(env_id):
    cls = envs.task_family(env_id)
    env = gymnasium.make(env_id)
    assert type(env.unwrapped) is cls
    tasks = cls.sample_tasks(3, seed=0)
    assert all(isinstance(task, cls.task_type) for task in tasks)


def test_unknown_id_and_family_are_errors():
    with pytest.raises(ValueError, match="unknown environment id 'metarl/Nope-v0'"):
        envs.task_family("metarl/Nope-v0")
    with pytest.raises(ValueError, match="unknown family 'Nope'"):
        envs.env_id("Nope")
    assert envs.env_id("AntGoal", oracle=True) == "metarl/AntGoalOracle-v0"


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_pickle_keeps_class_and_task(family):
    task = envs.FAMILIES[family].sample_tasks(1, seed=5)[0]
    env = gymnasium.make(envs.env_id(family, oracle=True), task=task).unwrapped
    clone = pickle.loads(pickle.dumps(env))
    assert type(clone) is type(env)
    assert clone.get_task() == task
    assert clone.observation_space == env.observation_space


def test_vector_env_reaches_the_protocol():
    vec = gymnasium.vector.SyncVectorEnv(
        [lambda: gymnasium.make("metarl/HalfCheetahVel-v0") for _ in range(2)]
    )
    task = envs.HalfCheetahVelTask(goal_velocity=0.5)
    vec.call("set_task", task)
    assert vec.call("get_task") == (task, task)
    obs, _ = vec.reset(seed=0, options={"task": envs.HalfCheetahVelTask(goal_velocity=1.5)})
    assert obs.shape == (2, 17)
    assert vec.call("get_task")[1].goal_velocity == 1.5
    vec.close()


@pytest.mark.parametrize("env_id", ["metarl/Navigation2D-v0", "metarl/HalfCheetahVelOracle-v0"])
def test_stable_baselines3_env_checker(env_id):
    sb3_checker = pytest.importorskip("stable_baselines3.common.env_checker")
    env = gymnasium.make(env_id)
    sb3_checker.check_env(env, warn=False, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.float64


def test_gymnasiums_settotalmass_warning_is_silenced_and_others_are_shown():
    import warnings

    from envs.batched import make_batched

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gymnasium.make("metarl/HalfCheetahVel-v0").reset(seed=0)
        make_batched("metarl/HalfCheetahVel-v0", 2).reset(seed=0)
    assert not [w for w in caught if "settotalmass" in str(w.message)]
    with pytest.warns(envs.MujocoWarning, match="another MuJoCo warning"):
        envs._warn("another MuJoCo warning")
