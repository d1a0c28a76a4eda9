"""What a vectorised Meta-World class sees of the batch, and what it must provide.

A class (one module of :mod:`envs.meta_world.classes`) is the array form of its Meta-World
environment's ``reset_model``, ``_get_pos_objects`` / ``_get_quat_objects``, ``compute_reward``
and ``evaluate_state`` (Meta-World 3.1.1, ``reward_function_version="v2"``, its default). It reads
and writes the simulations through a :class:`SawyerView`: the batch's rows as Meta-World's
``MjData`` and ``MjModel`` accessors read them (``data.body(name).xpos``, ``data.site(name)``,
``data.joint(name).qpos``, ``model.body(name).pos``), one row per environment.

Meta-World's ``reset`` runs ``reset_model`` twice: once on the previous episode's state, then
after ``mj_resetData``. Only the model fields the first call writes (bodies moved to the task's
position) outlive it, so a class states them in ``setup`` and the batch applies them before the
hand reset; ``reset`` is the second call after its ``_reset_hand``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import mujoco
import numpy as np

Rows = np.ndarray | slice
"""Rows of a batch: an index array, or ``slice(None)`` for all of them."""
VIEW_FIELDS = ("qpos", "qvel", "xpos", "xquat", "site_xpos", "geom_xpos", "geom_xmat")
"""The ``MjData`` fields a view reads. A batch copies a bound output field out after each call,
so the batch binds these before its first call."""
Start = dict[str, np.ndarray]
"""What ``reset_model`` fixes for an episode (``obj_init_pos``, ``_target_pos``, ...), by name,
one row per environment; the reward reads it at every step."""


class SawyerView:
    """Rows of a Sawyer batch, read and written as Meta-World reads and writes its ``MjData``.

    Positions are the batch's bound outputs: after a step they describe the kinematics that the
    step's last call computed, as ``MjData``'s derived fields do after ``mj_step`` or
    ``mj_forward``.

    Args:
        batch: the ``mujoco.batch.Batch``.
        model: its model (for names and addresses).
        ids: the simulations, or None for all of them (what the batch's calls take).
    """

    def __init__(self, batch: Any, model: mujoco.MjModel, ids: np.ndarray | None) -> None:
        self.batch, self.model, self.ids = batch, model, ids
        self.rows: Rows = slice(None) if ids is None else ids

    def _id(self, kind: mujoco.mjtObj, name: str) -> int:
        index = mujoco.mj_name2id(self.model, kind, name)
        if index < 0:
            raise KeyError(f"the model has no {kind.name[6:].lower()} named {name!r}")
        return index

    def body_xpos(self, name: str) -> np.ndarray:
        """``data.body(name).xpos`` (and ``get_body_com(name)``), ``(n, 3)``."""
        return self.batch.bind("xpos")[self.rows, self._id(mujoco.mjtObj.mjOBJ_BODY, name)]

    def body_xquat(self, name: str) -> np.ndarray:
        """``data.body(name).xquat`` (MuJoCo's w, x, y, z order), ``(n, 4)``."""
        return self.batch.bind("xquat")[self.rows, self._id(mujoco.mjtObj.mjOBJ_BODY, name)]

    def site_xpos(self, name: str) -> np.ndarray:
        """``data.site(name).xpos`` (and ``_get_site_pos(name)``), ``(n, 3)``."""
        return self.batch.bind("site_xpos")[self.rows, self._id(mujoco.mjtObj.mjOBJ_SITE, name)]

    def geom_xpos(self, name: str) -> np.ndarray:
        """``data.geom(name).xpos``, ``(n, 3)``."""
        return self.batch.bind("geom_xpos")[self.rows, self._id(mujoco.mjtObj.mjOBJ_GEOM, name)]

    def geom_quat(self, name: str) -> np.ndarray:
        """``Rotation.from_matrix(data.geom(name).xmat.reshape(3, 3)).as_quat()`` (scipy's x, y,
        z, w order, as Meta-World's observations hold it), ``(n, 4)``."""
        from scipy.spatial.transform import Rotation  # a dependency of the metaworld extra

        xmat = self.batch.bind("geom_xmat")[self.rows, self._id(mujoco.mjtObj.mjOBJ_GEOM, name)]
        return np.asarray(Rotation.from_matrix(xmat.reshape(-1, 3, 3)).as_quat())

    @property
    def tcp_center(self) -> np.ndarray:
        """``tcp_center``: the mean of the two end-effector sites, ``(n, 3)``."""
        return (self.site_xpos("rightEndEffector") + self.site_xpos("leftEndEffector")) / 2.0

    def _joint(self, name: str) -> int:
        return self._id(mujoco.mjtObj.mjOBJ_JOINT, name)

    def joint_qpos(self, name: str) -> np.ndarray:
        """``data.joint(name).qpos`` of a hinge or slide joint, ``(n,)``."""
        address = self.model.jnt_qposadr[self._joint(name)]
        return self.batch.bind("qpos")[self.rows, address]

    def set_qpos(self, columns: slice | int, values: np.ndarray | float) -> None:
        """``qpos[columns] = values`` in every row (no kinematics: call :meth:`forward`)."""
        self.batch.bind("qpos")[self.rows, columns] = values

    def set_qvel(self, columns: slice | int, values: np.ndarray | float) -> None:
        """``qvel[columns] = values`` in every row."""
        self.batch.bind("qvel")[self.rows, columns] = values

    def set_joint_qpos(self, name: str, values: np.ndarray | float) -> None:
        """``data.joint(name).qpos = values`` for a hinge or slide joint."""
        self.set_qpos(int(self.model.jnt_qposadr[self._joint(name)]), values)

    def set_joint_qvel(self, name: str, values: np.ndarray | float) -> None:
        """``data.joint(name).qvel = values`` for a hinge or slide joint."""
        self.set_qvel(int(self.model.jnt_dofadr[self._joint(name)]), values)

    def set_body_pos(self, name: str, values: np.ndarray) -> None:
        """``model.body(name).pos = values``: each row's own model, ``(n, 3)``."""
        body_pos = self.batch.expand("body_pos")
        body_pos[self.rows, self._id(mujoco.mjtObj.mjOBJ_BODY, name)] = values

    def forward(self) -> None:
        """``mj_forward`` of the rows (what ``set_state`` and ``mj_forward`` run)."""
        self.batch.forward(self.ids)


@dataclass(frozen=True)
class SawyerStep:
    """What a reward reads after a step, one row per environment."""

    view: SawyerView
    """The stepped rows, with the kinematics at the new state."""
    obs: np.ndarray
    """The clipped observation ``(n, 39)`` the step returns (``obs[:, 4:7]``: the first object)."""
    actions: np.ndarray
    """The actions ``(n, 4)`` as the agent gave them (unclipped)."""
    start: Start
    """The episode start of each row."""
    hand_init_pos: np.ndarray
    """``hand_init_pos`` ``(3,)`` of the class."""


def one_object(position: np.ndarray, quaternion: np.ndarray | None = None) -> np.ndarray:
    """A one-object class's ``objects``: the position ``(n, 3)`` and quaternion ``(n, 4)``
    (zeros where Meta-World observes none), the second object's seven entries zero."""
    observed = np.zeros((position.shape[0], 14))
    observed[:, 0:3] = position
    if quaternion is not None:
        observed[:, 3:7] = quaternion
    return observed


def _no_readings(view: SawyerView) -> Start:
    return {}


@dataclass(frozen=True)
class SawyerClass:
    """One Meta-World class's episode start, observed objects and reward, vectorised."""

    reset: Callable[[SawyerView, np.ndarray, Start], Start]
    """``(view, rand_vec (n, k), after_hand)`` -> the episode start. Runs after the hand reset
    and does what ``reset_model`` does after ``_reset_hand``: it writes the state (and
    calls ``view.forward()`` where Meta-World does) and returns what the reward reads later.
    ``after_hand`` holds ``init_tcp`` and ``hand_readings``'s values."""
    objects: Callable[[SawyerView], np.ndarray]
    """``_get_pos_objects`` and ``_get_quat_objects`` interleaved per object (position, then
    quaternion) and zero-padded: the observation's entries 4 to 18, ``(n, 14)``."""
    reward: Callable[[SawyerStep], tuple[np.ndarray, np.ndarray]]
    """``compute_reward``'s reward and ``evaluate_state``'s success, ``(n,)`` each."""
    setup: Callable[[SawyerView, np.ndarray], None] | None = None
    """``(view, rand_vec)``: the model fields the first ``reset_model`` call writes (bodies
    placed for the task), applied before the hand reset. None: the class changes no model field
    between tasks, so the hand reset ends in the same state and readings for every episode, and
    the batch runs it only once (then ``reset`` must call ``view.forward()``: the derived fields
    are not the hand reset's)."""
    hand_readings: Callable[[SawyerView], Start] = field(default=_no_readings)
    """What ``reset_model`` reads right after ``_reset_hand``, before anything recomputes the
    kinematics (for instance the object's height)."""
