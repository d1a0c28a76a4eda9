"""Task values: distributions, determinism, JSON round trip and validation."""

import json

import numpy as np
import pytest

import envs
from envs.tasks import (
    TASK_TYPES,
    AntDirTask,
    AntGoalTask,
    AntVelTask,
    HalfCheetahDirTask,
    HalfCheetahVelTask,
    HopperRandParamsTask,
    Navigation2DTask,
    Walker2dRandParamsTask,
    task_from_dict,
    task_from_json,
    task_to_json,
)

FAMILIES = list(envs.FAMILIES.items())


@pytest.mark.parametrize(("name", "cls"), FAMILIES)
def test_same_seed_same_tasks(name, cls):
    assert cls.sample_tasks(5, seed=3) == cls.sample_tasks(5, seed=3)
    a = cls.sample_tasks(5, seed=np.random.default_rng(3))
    assert a == cls.sample_tasks(5, seed=3)  # an int seeds a fresh generator
    if name not in ("HalfCheetahDir", "AntDir"):  # two values only: collisions are likely
        assert cls.sample_tasks(5, seed=3) != cls.sample_tasks(5, seed=4)


@pytest.mark.parametrize(("name", "cls"), FAMILIES)
def test_generator_is_advanced(name, cls):
    rng = np.random.default_rng(0)
    first, second = cls.sample_tasks(20, rng), cls.sample_tasks(20, rng)
    assert first != second
    assert cls.sample_tasks(40, seed=0)[:20] == first


@pytest.mark.parametrize(("name", "cls"), FAMILIES)
def test_sampling_does_not_depend_on_env_state(name, cls):
    before = cls.sample_tasks(4, seed=1)
    env = cls()
    env.reset(seed=9)
    env.step(env.action_space.sample())
    assert env.sample_tasks(4, seed=1) == before


@pytest.mark.parametrize(("name", "cls"), FAMILIES)
def test_json_round_trip(name, cls):
    for task in cls.sample_tasks(3, seed=7):
        text = task_to_json(task)
        data = json.loads(text)
        assert data["family"] == name
        again = task_from_json(text)
        assert again == task
        assert type(again) is type(task)
        assert hash(again) == hash(task)
        assert np.array_equal(again.to_array(), task.to_array())  # exact, not approximately
        assert cls.task_type.from_dict(data) == task
        assert task_from_dict(task.to_dict()) == task
        assert type(task).__name__ in repr(task)


def test_distribution_ranges():
    rng = np.random.default_rng(0)
    goals = np.array([t.goal for t in Navigation2DTask.sample(500, rng)])
    assert goals.min() >= -0.5 and goals.max() <= 0.5 and goals.std() > 0.2
    velocities = [t.goal_velocity for t in HalfCheetahVelTask.sample(500, rng)]
    assert 0 <= min(velocities) < 0.1 and 1.9 < max(velocities) <= 2
    velocities = [t.goal_velocity for t in AntVelTask.sample(500, rng)]
    assert 0 <= min(velocities) < 0.1 and 2.9 < max(velocities) <= 3
    directions = [t.direction for t in HalfCheetahDirTask.sample(500, rng)]
    assert set(directions) == {-1, 1} and abs(np.mean(directions)) < 0.2
    assert {t.direction for t in AntDirTask.sample(100, rng)} == {-1, 1}
    goals = np.array([t.goal for t in AntGoalTask.sample(500, rng)])
    assert goals.min() >= -3 and goals.max() <= 3 and goals.min() < -2.9
    exponents = np.concatenate([t.to_array() for t in HopperRandParamsTask.sample(50, rng)])
    assert exponents.min() >= -3 and exponents.max() <= 3 and exponents.min() < -2.9


def test_tasks_are_immutable_and_comparable():
    task = HalfCheetahVelTask(goal_velocity=1.0)
    with pytest.raises(AttributeError):
        task.goal_velocity = 2.0  # type: ignore[misc]
    assert task == HalfCheetahVelTask(1)
    assert task != AntVelTask(1.0)  # same value, other family
    assert {task, HalfCheetahVelTask(1.0)} == {task}
    assert isinstance(HalfCheetahVelTask(np.float32(1.5)).goal_velocity, float)
    assert HalfCheetahDirTask(-1.0).direction == -1
    assert isinstance(Navigation2DTask(np.array([0.1, 0.2])).goal, tuple)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: HalfCheetahVelTask(5.0),
            r"HalfCheetahVel task goal_velocity=5.0 is outside \[0, 2\]",
        ),
        (lambda: HalfCheetahVelTask(-0.1), r"goal_velocity=-0.1 is outside \[0, 2\]"),
        (lambda: HalfCheetahVelTask(float("nan")), r"goal_velocity=nan is outside"),
        (lambda: AntVelTask(3.5), r"AntVel task goal_velocity=3.5 is outside \[0, 3\]"),
        (lambda: HalfCheetahDirTask(0), r"HalfCheetahDir task direction=0 is not one of"),
        (lambda: AntDirTask(2), r"AntDir task direction=2 is not one of"),
        (lambda: Navigation2DTask((0.7, 0.0)), r"Navigation2D task goal\[0\]=0.7 is outside"),
        (lambda: Navigation2DTask((0.1, 0.2, 0.3)), r"goal has shape \(3,\), expected \(2,\)"),
        (lambda: AntGoalTask((0.0, -3.5)), r"AntGoal task goal\[1\]=-3.5 is outside \[-3, 3\]"),
    ],
)
def test_out_of_range_values_are_rejected(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_rand_params_task_validation():
    nominal = HopperRandParamsTask.nominal()
    fields = {name: np.array(getattr(nominal, name)) for name in HopperRandParamsTask.shapes}
    bad = dict(fields, body_mass=np.array([0.0, 3.5, 0.0, 0.0]))
    with pytest.raises(ValueError, match=r"HopperRandParams task body_mass\[1\]=3.5 is outside"):
        HopperRandParamsTask(**bad)
    inertia = np.zeros((4, 3))
    inertia[2, 1] = -4.0
    with pytest.raises(ValueError, match=r"body_inertia\[2, 1\]=-4.0 is outside \[-3, 3\]"):
        HopperRandParamsTask(**dict(fields, body_inertia=inertia))
    with pytest.raises(ValueError, match=r"dof_damping has shape \(5,\), expected \(6,\)"):
        HopperRandParamsTask(**dict(fields, dof_damping=np.zeros(5)))
    with pytest.raises(ValueError, match=r"geom_friction has shape \(5,\), expected \(5, 3\)"):
        HopperRandParamsTask(**dict(fields, geom_friction=np.zeros(5)))
    with pytest.raises(TypeError, match="must be a sequence of numbers"):
        HopperRandParamsTask(**dict(fields, dof_damping="000000"))


def test_non_numbers_are_rejected():
    with pytest.raises(TypeError, match="goal_velocity must be a real number"):
        HalfCheetahVelTask("1.0")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="direction must be a real number"):
        HalfCheetahDirTask(True)


def test_dict_errors_name_the_problem():
    with pytest.raises(
        ValueError, match=r"HalfCheetahVel task is missing field\(s\) \['goal_velocity'\]"
    ):
        HalfCheetahVelTask.from_dict({"family": "HalfCheetahVel"})
    with pytest.raises(
        ValueError, match="expected a HalfCheetahVel task, got a task of family 'AntVel'"
    ):
        HalfCheetahVelTask.from_dict({"family": "AntVel", "goal_velocity": 1.0})
    with pytest.raises(ValueError, match="has no 'family' tag"):
        HalfCheetahVelTask.from_dict({"goal_velocity": 1.0})
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['speed'\]"):
        HalfCheetahVelTask.from_dict({"family": "HalfCheetahVel", "goal_velocity": 1, "speed": 2})
    with pytest.raises(ValueError, match="unknown task family 'Cartpole'"):
        task_from_dict({"family": "Cartpole"})
    data = Walker2dRandParamsTask.nominal().to_dict()
    del data["geom_friction"]
    with pytest.raises(ValueError, match=r"missing field\(s\) \['geom_friction'\]"):
        task_from_dict(data)


def test_sample_tasks_argument_errors():
    cls = envs.FAMILIES["Navigation2D"]
    with pytest.raises(TypeError, match=r"seed must be an int or a np\.random\.Generator"):
        cls.sample_tasks(2, seed=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-negative int"):
        cls.sample_tasks(-1, seed=0)
    assert cls.sample_tasks(0, seed=0) == []


def test_task_types_cover_every_family():
    assert set(TASK_TYPES) == set(envs.FAMILIES) | {"MetaWorld"}
    for name, cls in envs.FAMILIES.items():
        assert cls.task_type.family == name
    for cls in envs.META_WORLD_IDS.values():
        assert cls.task_type is TASK_TYPES["MetaWorld"]
