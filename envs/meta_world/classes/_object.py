"""What the reach, push and pick-place classes share: one free object ``obj`` (its joint's
position at ``qpos[9:12]``) observed by body position and ``objGeom``'s orientation."""

from __future__ import annotations

import numpy as np

from envs.meta_world.sawyer import SawyerView, Start, one_object

OBJECT_QPOS = slice(9, 12)
"""``_set_obj_xyz``: the object's position in ``qpos``."""
OBJECT_QVEL = slice(9, 15)
"""``_set_obj_xyz``: the object's velocity in ``qvel``, zeroed when it is moved."""


def objects(view: SawyerView) -> np.ndarray:
    """``obj``'s position and ``objGeom``'s quaternion, zero-padded to 14."""
    return one_object(view.body_xpos("obj"), view.geom_quat("objGeom"))


def object_height(view: SawyerView) -> Start:
    """The object's height right after the hand reset (push places object and goal there)."""
    return {"obj_z": view.body_xpos("obj")[:, 2].copy()}


def place_object(view: SawyerView, obj_init_pos: np.ndarray) -> None:
    """``_set_obj_xyz(obj_init_pos)``: the object moved, its velocity zeroed, ``mj_forward``."""
    view.set_qpos(OBJECT_QPOS, obj_init_pos)
    view.set_qvel(OBJECT_QVEL, 0.0)
    view.forward()
