"""A task really changes the env: the reward (goal tasks) or the dynamics (physics tasks)."""

import mujoco
import numpy as np
import pytest

import envs
from envs.rand_params import apply_rand_params, default_params
from envs.tasks import (
    AntGoalTask,
    HalfCheetahVelTask,
    HopperRandParamsTask,
    Navigation2DTask,
    Walker2dRandParamsTask,
)


def run(env, task, actions, seed=0):
    obs, _ = env.reset(seed=seed, options={"task": task})
    observations, rewards = [obs], []
    for action in actions:
        obs, reward, *_ = env.step(action)
        observations.append(obs)
        rewards.append(reward)
    return np.array(observations), np.array(rewards)


@pytest.mark.parametrize(
    ("family", "task_a", "task_b"),
    [
        ("HalfCheetahVel", HalfCheetahVelTask(0.5), HalfCheetahVelTask(1.5)),
        ("AntGoal", AntGoalTask((2.0, 0.0)), AntGoalTask((-2.0, 1.0))),
        ("Navigation2D", Navigation2DTask((0.4, 0.4)), Navigation2DTask((-0.4, 0.1))),
    ],
)
def test_goal_changes_reward_not_trajectory(family, task_a, task_b):
    env = envs.FAMILIES[family]()
    actions = np.random.default_rng(0).uniform(-1, 1, (20, *env.action_space.shape))
    obs_a, rew_a = run(env, task_a, actions)
    obs_b, rew_b = run(env, task_b, actions)
    np.testing.assert_array_equal(obs_a, obs_b)  # the same trajectory ...
    assert np.all(rew_a != rew_b)  # ... scored differently at every step


@pytest.mark.parametrize("family", ["HopperRandParams", "Walker2dRandParams"])
def test_mass_scaling_changes_next_state(family):
    cls = envs.FAMILIES[family]
    nominal = cls.task_type.nominal()
    heavy_fields = {name: getattr(nominal, name) for name in cls.task_type.shapes}
    heavy_fields["body_mass"] = np.full(len(nominal.body_mass), 2.0)
    heavy = cls.task_type(**heavy_fields)
    env = cls()
    action = np.full(env.action_space.shape, 0.5)
    next_states = []
    for task in (nominal, heavy):
        env.reset(seed=0, options={"task": task})
        env.step(action)
        next_states.append(np.concatenate([env.data.qpos, env.data.qvel]))
    assert np.abs(next_states[0] - next_states[1]).max() > 1e-4


@pytest.mark.parametrize("family", ["HopperRandParams", "Walker2dRandParams"])
def test_model_parameters_are_default_times_scale_and_never_compound(family):
    cls = envs.FAMILIES[family]
    env = cls()
    defaults = {name: array.copy() for name, array in env._default_params.items()}
    task_a, task_b = cls.sample_tasks(2, seed=0)
    env.set_task(task_a)
    np.testing.assert_allclose(
        env.model.body_mass[1:], defaults["body_mass"] * 1.5 ** np.array(task_a.body_mass)
    )
    np.testing.assert_allclose(
        env.model.body_inertia[1:], defaults["body_inertia"] * 1.5 ** np.array(task_a.body_inertia)
    )
    np.testing.assert_allclose(
        env.model.dof_damping, defaults["dof_damping"] * 1.5 ** np.array(task_a.dof_damping)
    )
    np.testing.assert_allclose(
        env.model.geom_friction, defaults["geom_friction"] * 1.5 ** np.array(task_a.geom_friction)
    )
    masses_a = env.model.body_mass.copy()
    subtree_a = env.model.body_subtreemass.copy()
    env.set_task(task_b)
    env.set_task(task_a)
    np.testing.assert_array_equal(env.model.body_mass, masses_a)
    np.testing.assert_array_equal(env.model.body_subtreemass, subtree_a)  # derived constants too
    assert env.model.body_subtreemass[0] == pytest.approx(env.model.body_mass.sum())
    env.set_task(cls.task_type.nominal())
    for name, array in defaults.items():
        np.testing.assert_array_equal(env._default_params[name], array)


@pytest.mark.parametrize(
    ("family", "task_type", "xml"),
    [
        ("HopperRandParams", HopperRandParamsTask, "hopper.xml"),
        ("Walker2dRandParams", Walker2dRandParamsTask, "walker2d_v5.xml"),
    ],
)
def test_task_shapes_match_the_model(family, task_type, xml):
    model = envs.FAMILIES[family]().model
    assert task_type.shapes == {
        "body_mass": (model.nbody - 1,),
        "body_inertia": (model.nbody - 1, 3),
        "dof_damping": (model.nv,),
        "geom_friction": (model.ngeom, 3),
    }


def test_apply_rand_params_checks_the_model():
    walker_model = envs.FAMILIES["Walker2dRandParams"]().model
    hopper_task = HopperRandParamsTask.nominal()
    with pytest.raises(ValueError, match=r"body_mass has shape \(4,\), but the model needs \(7,\)"):
        apply_rand_params(walker_model, default_params(walker_model), hopper_task)


def test_apply_rand_params_on_a_separate_model_matches_the_env():
    """What a batched env would do: its own MjModel, the same task, the same physics."""
    env = envs.FAMILIES["HopperRandParams"]()
    task = env.sample_tasks(1, seed=3)[0]
    env.reset(seed=0, options={"task": task})
    model = mujoco.MjModel.from_xml_path(env.fullpath)
    apply_rand_params(model, default_params(model), task)
    for name in ("body_mass", "body_inertia", "dof_damping", "geom_friction", "dof_invweight0"):
        np.testing.assert_array_equal(getattr(model, name), getattr(env.model, name))
    data = mujoco.MjData(model)
    data.qpos[:], data.qvel[:] = env.data.qpos, env.data.qvel
    action = np.full(3, 0.3)
    env.step(action)
    data.ctrl[:] = action
    mujoco.mj_step(model, data, nstep=env.frame_skip)
    np.testing.assert_array_equal(data.qpos, env.data.qpos)
