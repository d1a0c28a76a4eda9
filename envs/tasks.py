"""Task values for every environment family, their distributions and their JSON form.

A task is a frozen dataclass: immutable, hashable, printable and comparable. Each class names its
family (``family``), checks its own values on construction (so an out-of-range task cannot exist),
samples its distribution from an explicit ``np.random.Generator`` and turns into a dict / JSON
with a ``family`` tag, so a run can log the exact tasks it saw and replay them later::

    task = HalfCheetahVelTask(goal_velocity=1.5)
    text = task_to_json(task)  # '{"family": "HalfCheetahVel", "goal_velocity": 1.5}'
    assert task_from_json(text) == task

Distributions follow the MAML paper (Finn et al., 2017, sec. 5.3) and its reproduction
pytorch-maml-rl; the physics-parameter tasks follow ProMP's ``rand_param_envs`` (Rothfuss et al.,
2019).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np

if TYPE_CHECKING:
    # typing.Self is 3.11+; the project supports 3.10, and this import is for the checker only.
    from typing_extensions import Self

TaskT = TypeVar("TaskT", bound="Task")


def as_generator(seed: int | np.random.Generator) -> np.random.Generator:
    """The generator itself, or a fresh one seeded with ``seed``; no implicit global RNG."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int or a np.random.Generator, got {seed!r}")
    return np.random.default_rng(int(seed))


def _check_count(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise ValueError(f"the number of tasks must be a non-negative int, got {n!r}")
    return int(n)


def _real(family: str, name: str, value: Any) -> float:
    """``value`` as a Python float; rejects strings, bools and other non-numbers."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{family} task {name} must be a real number, got {value!r}")
    return float(value)


def _scalar_in_range(family: str, name: str, value: Any, low: float, high: float) -> float:
    value = _real(family, name, value)
    if not low <= value <= high:  # also rejects NaN
        raise ValueError(f"{family} task {name}={value} is outside [{low:g}, {high:g}]")
    return value


def _array_in_range(
    family: str, name: str, value: Any, shape: tuple[int, ...], low: float, high: float
) -> np.ndarray:
    if isinstance(value, str) or not isinstance(value, Sequence | np.ndarray):
        raise TypeError(f"{family} task {name} must be a sequence of numbers, got {value!r}")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{family} task {name} must hold numbers, got {value!r}") from error
    if array.shape != shape:
        raise ValueError(f"{family} task {name} has shape {array.shape}, expected {shape}")
    bad = ~((array >= low) & (array <= high))  # NaN counts as out of range
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        where = f"{name}[{', '.join(map(str, index))}]"
        raise ValueError(f"{family} task {where}={array[index]} is outside [{low:g}, {high:g}]")
    return array


def _as_tuple(array: np.ndarray) -> tuple:
    """Nested tuples of Python floats: hashable, and exact through JSON."""
    if array.ndim == 1:
        return tuple(float(x) for x in array)
    return tuple(_as_tuple(row) for row in array)


def _as_list(value: Any) -> Any:
    """Nested tuples as nested lists (JSON arrays); scalars unchanged."""
    return [_as_list(x) for x in value] if isinstance(value, tuple) else value


@dataclass(frozen=True)
class Task:
    """Base of all task values. Subclasses are frozen dataclasses that set ``family``."""

    family: ClassVar[str]

    @classmethod
    def sample(cls: type[TaskT], n: int, rng: np.random.Generator) -> list[TaskT]:
        """``n`` tasks from the family's distribution, drawn from ``rng``."""
        raise NotImplementedError

    def to_array(self) -> np.ndarray:
        """The task parameters as one flat float64 vector (what the oracle appends), field order."""
        fields = dataclasses.fields(self)
        parts = [np.ravel(np.asarray(getattr(self, f.name), dtype=np.float64)) for f in fields]
        return np.concatenate(parts)

    def to_dict(self) -> dict[str, Any]:
        """``{"family": ..., field: value}`` with tuples as lists: ready for ``json.dumps``."""
        out: dict[str, Any] = {"family": self.family}
        for f in dataclasses.fields(self):
            out[f.name] = _as_list(getattr(self, f.name))
        return out

    @classmethod
    def from_dict(cls: type[TaskT], data: Mapping[str, Any]) -> TaskT:
        """Rebuilds a task from ``to_dict`` output; rejects other families and missing fields."""
        if not isinstance(data, Mapping):
            raise TypeError(f"a {cls.family} task dict must be a mapping, got {data!r}")
        family = data.get("family")
        if family is None:
            raise ValueError(f"{cls.family} task dict has no 'family' tag: {dict(data)!r}")
        if family != cls.family:
            raise ValueError(f"expected a {cls.family} task, got a task of family {family!r}")
        names = [f.name for f in dataclasses.fields(cls)]
        missing = [name for name in names if name not in data]
        if missing:
            raise ValueError(f"{cls.family} task is missing field(s) {missing}")
        unknown = sorted(set(data) - set(names) - {"family"})
        if unknown:
            raise ValueError(f"{cls.family} task has unknown field(s) {unknown}")
        return cls(**{name: data[name] for name in names})


# ---------------------------------------------------------------------------------------------
# Goal / direction tasks (MAML sec. 5.3)


@dataclass(frozen=True)
class _GoalTask(Task):
    """Reach a planar ``goal`` drawn from U[low, high]^2."""

    low: ClassVar[float]
    high: ClassVar[float]

    goal: tuple[float, float]
    """Goal position (x, y)."""

    def __post_init__(self) -> None:
        goal = _array_in_range(self.family, "goal", self.goal, (2,), self.low, self.high)
        object.__setattr__(self, "goal", _as_tuple(goal))

    @classmethod
    def sample(cls, n: int, rng: np.random.Generator) -> list[Self]:
        goals = rng.uniform(cls.low, cls.high, size=(_check_count(n), 2))
        return [cls(goal=tuple(goal)) for goal in goals]


@dataclass(frozen=True)
class _VelocityTask(Task):
    """Run forward at ``goal_velocity``, drawn from U[0, high]."""

    low: ClassVar[float] = 0.0
    high: ClassVar[float]

    goal_velocity: float
    """Target forward (x) velocity."""

    def __post_init__(self) -> None:
        value = _scalar_in_range(
            self.family, "goal_velocity", self.goal_velocity, self.low, self.high
        )
        object.__setattr__(self, "goal_velocity", value)

    @classmethod
    def sample(cls, n: int, rng: np.random.Generator) -> list[Self]:
        velocities = rng.uniform(cls.low, cls.high, size=_check_count(n))
        return [cls(goal_velocity=float(v)) for v in velocities]


@dataclass(frozen=True)
class _DirectionTask(Task):
    """Run along +x (``direction=1``) or -x (``direction=-1``), each with probability 1/2."""

    direction: int
    """+1 or -1."""

    def __post_init__(self) -> None:
        value = _real(self.family, "direction", self.direction)
        if value not in (-1.0, 1.0):
            raise ValueError(f"{self.family} task direction={value:g} is not one of {{-1, +1}}")
        object.__setattr__(self, "direction", int(value))

    @classmethod
    def sample(cls, n: int, rng: np.random.Generator) -> list[Self]:
        return [cls(direction=int(d)) for d in rng.choice((-1, 1), size=_check_count(n))]


@dataclass(frozen=True)
class Navigation2DTask(_GoalTask):
    """Navigation2D: goal position U[-0.5, 0.5]^2."""

    family: ClassVar[str] = "Navigation2D"
    low: ClassVar[float] = -0.5
    high: ClassVar[float] = 0.5


@dataclass(frozen=True)
class HalfCheetahVelTask(_VelocityTask):
    """HalfCheetahVel: goal velocity U[0, 2]."""

    family: ClassVar[str] = "HalfCheetahVel"
    high: ClassVar[float] = 2.0


@dataclass(frozen=True)
class HalfCheetahDirTask(_DirectionTask):
    """HalfCheetahDir: direction in {-1, +1}."""

    family: ClassVar[str] = "HalfCheetahDir"


@dataclass(frozen=True)
class AntVelTask(_VelocityTask):
    """AntVel: goal velocity U[0, 3]."""

    family: ClassVar[str] = "AntVel"
    high: ClassVar[float] = 3.0


@dataclass(frozen=True)
class AntDirTask(_DirectionTask):
    """AntDir: direction in {-1, +1} along x."""

    family: ClassVar[str] = "AntDir"


@dataclass(frozen=True)
class AntGoalTask(_GoalTask):
    """AntGoal: goal position of the torso U[-3, 3]^2."""

    family: ClassVar[str] = "AntGoal"
    low: ClassVar[float] = -3.0
    high: ClassVar[float] = 3.0


# ---------------------------------------------------------------------------------------------
# Physics-parameter tasks (ProMP rand_param_envs)


@dataclass(frozen=True)
class RandParamsTask(Task):
    """Log-scale exponents ``u`` of the physics parameters; the model uses ``default * 1.5**u``.

    One exponent per element, each in [-3, 3] (``log_scale_limit`` in ProMP). The world body
    (index 0) is left out of ``body_mass`` / ``body_inertia``: its mass and inertia are zero, so an
    exponent for it would change nothing.
    """

    log_scale_limit: ClassVar[float] = 3.0
    scale_base: ClassVar[float] = 1.5
    shapes: ClassVar[dict[str, tuple[int, ...]]]
    """Shape of each field; checked against the MuJoCo model by the environment as well."""

    body_mass: tuple[float, ...]
    """Per body (world excluded): (nbody - 1,)."""
    body_inertia: tuple[tuple[float, float, float], ...]
    """Per body (world excluded), per principal axis: (nbody - 1, 3)."""
    dof_damping: tuple[float, ...]
    """Per degree of freedom: (nv,)."""
    geom_friction: tuple[tuple[float, float, float], ...]
    """Per geom, per friction component (slide, spin, roll): (ngeom, 3)."""

    def __post_init__(self) -> None:
        limit = self.log_scale_limit
        for name, shape in self.shapes.items():
            array = _array_in_range(self.family, name, getattr(self, name), shape, -limit, limit)
            object.__setattr__(self, name, _as_tuple(array))

    @classmethod
    def sample(cls, n: int, rng: np.random.Generator) -> list[Self]:
        limit = cls.log_scale_limit
        tasks: list[Self] = []
        for _ in range(_check_count(n)):
            # Arrays, not the annotated tuples: __post_init__ checks them and stores tuples.
            fields: dict[str, Any] = {
                name: rng.uniform(-limit, limit, size=shape) for name, shape in cls.shapes.items()
            }
            tasks.append(cls(**fields))
        return tasks

    @classmethod
    def nominal(cls) -> RandParamsTask:
        """The task with every exponent 0: the unmodified Gymnasium model."""
        zeros: dict[str, Any] = {name: np.zeros(shape) for name, shape in cls.shapes.items()}
        return cls(**zeros)

    def scales(self) -> dict[str, np.ndarray]:
        """The multipliers ``1.5**u`` for each field."""
        return {name: self.scale_base ** np.asarray(getattr(self, name)) for name in self.shapes}


@dataclass(frozen=True)
class HopperRandParamsTask(RandParamsTask):
    """HopperRandParams: exponents for Gymnasium's Hopper-v5 model (hopper.xml)."""

    family: ClassVar[str] = "HopperRandParams"
    shapes: ClassVar[dict[str, tuple[int, ...]]] = {
        "body_mass": (4,),
        "body_inertia": (4, 3),
        "dof_damping": (6,),
        "geom_friction": (5, 3),
    }


@dataclass(frozen=True)
class Walker2dRandParamsTask(RandParamsTask):
    """Walker2dRandParams: exponents for Gymnasium's Walker2d-v5 model (walker2d_v5.xml)."""

    family: ClassVar[str] = "Walker2dRandParams"
    shapes: ClassVar[dict[str, tuple[int, ...]]] = {
        "body_mass": (7,),
        "body_inertia": (7, 3),
        "dof_damping": (9,),
        "geom_friction": (8, 3),
    }


# ---------------------------------------------------------------------------------------------
# Meta-World tasks


@dataclass(frozen=True)
class MetaWorldTask(Task):
    """One Meta-World task: an environment class and its goal, exactly as Meta-World holds it.

    ``rand_vec`` is Meta-World's ``_last_rand_vec`` (object and goal positions, 3 to 9 numbers by
    class), which ``set_task`` freezes so that every reset starts from it. The tasks of a split
    come from Meta-World's own benchmark classes (``envs.meta_world.splits``); this value only
    names one, so it is not sampled from here.
    """

    family: ClassVar[str] = "MetaWorld"

    env_name: str
    """A Meta-World v3 environment name, e.g. ``push-v3`` (``envs.meta_world.ENV_NAMES``)."""
    rand_vec: tuple[float, ...]
    """Meta-World's task vector for that environment (object and goal positions)."""

    def __post_init__(self) -> None:
        from envs.meta_world.catalog import ENV_NAMES

        if not isinstance(self.env_name, str) or self.env_name not in ENV_NAMES:
            close = difflib.get_close_matches(str(self.env_name), ENV_NAMES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"MetaWorld task env_name {self.env_name!r} is not a Meta-World v3 environment"
                f"{hint}; the 50 names are listed by `metarl list`"
            )
        vector = self.rand_vec
        if (
            isinstance(vector, str)
            or not isinstance(vector, Sequence | np.ndarray)
            or not len(vector)
        ):
            raise TypeError(
                f"MetaWorld task rand_vec must be a non-empty sequence of numbers, got {vector!r}"
            )
        values = _array_in_range(self.family, "rand_vec", vector, (len(vector),), -np.inf, np.inf)
        if not np.isfinite(values).all():
            raise ValueError(f"MetaWorld task rand_vec must be finite, got {values.tolist()}")
        object.__setattr__(self, "rand_vec", _as_tuple(values))

    @classmethod
    def sample(cls, n: int, rng: np.random.Generator) -> list[Self]:
        raise TypeError(
            "Meta-World tasks come from a benchmark split: use the family's "
            "sample_tasks(n, seed, split) (e.g. envs.task_family('metarl/ML10-v0'))"
        )

    def to_array(self) -> np.ndarray:
        """The task vector ``rand_vec`` (the environment name is not a number)."""
        return np.asarray(self.rand_vec, dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# Generic JSON round trip

TASK_TYPES: dict[str, type[Task]] = {
    cls.family: cls
    for cls in (
        Navigation2DTask,
        HalfCheetahVelTask,
        HalfCheetahDirTask,
        AntVelTask,
        AntDirTask,
        AntGoalTask,
        HopperRandParamsTask,
        Walker2dRandParamsTask,
        MetaWorldTask,
    )
}
"""Family name -> task class."""


def task_from_dict(data: Mapping[str, Any]) -> Task:
    """A task of any family from its ``to_dict`` form; the ``family`` tag picks the class."""
    if not isinstance(data, Mapping):
        raise TypeError(f"a task dict must be a mapping, got {data!r}")
    family = data.get("family")
    if family not in TASK_TYPES:
        raise ValueError(f"unknown task family {family!r}; known: {sorted(TASK_TYPES)}")
    return TASK_TYPES[family].from_dict(data)


def task_to_json(task: Task) -> str:
    """One-line JSON of ``task.to_dict()``; floats round-trip exactly."""
    return json.dumps(task.to_dict())


def task_from_json(text: str) -> Task:
    """Inverse of ``task_to_json``."""
    return task_from_dict(json.loads(text))


def coerce_task(task_type: type[TaskT], task: Any) -> TaskT:
    """``task`` if it is a ``task_type``; a dict is parsed; anything else is a clear error."""
    if isinstance(task, task_type):
        return task
    if isinstance(task, Mapping):
        return task_type.from_dict(task)
    if isinstance(task, Task):
        raise TypeError(
            f"a {task_type.family} environment needs a {task_type.__name__}, "
            f"got a {type(task).__name__} (family {task.family!r})"
        )
    raise TypeError(
        f"a {task_type.family} environment needs a {task_type.__name__} or its dict form, "
        f"got {task!r}"
    )
