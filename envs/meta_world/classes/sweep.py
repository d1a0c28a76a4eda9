"""sweep-v3: sweep the block off the table's edge, within 5 cm of a goal beside the table."""

from __future__ import annotations

import numpy as np

from envs.meta_world.classes._object import place_object
from envs.meta_world.rewards import TARGET_RADIUS, hamacher_product, norm, tolerance
from envs.meta_world.sawyer import SawyerClass, SawyerStep, SawyerView, Start, one_object

OBJ_RADIUS = 0.02
"""``SawyerSweepEnvV3.OBJ_RADIUS``."""
OBJ_Z = 0.02
"""The object's start height (``init_config["obj_init_pos"][2]``)."""
GOAL = np.array([0.5, 0.65, 0.01])
"""``self.goal``: the target before its y is set from ``rand_vec``."""


def reset(view: SawyerView, rand_vec: np.ndarray, after_hand: Start) -> Start:
    """``rand_vec`` is the object's position; the goal shares its y."""
    count = rand_vec.shape[0]
    obj_init_pos = np.concatenate([rand_vec[:, 0:2], np.full((count, 1), OBJ_Z)], axis=1)
    target_pos = np.tile(GOAL, (count, 1))
    target_pos[:, 1] = rand_vec[:, 1]
    place_object(view, obj_init_pos)
    return {"obj_init_pos": obj_init_pos, "target_pos": target_pos}


def objects(view: SawyerView) -> np.ndarray:
    """``obj``'s position and its body quaternion (MuJoCo's w, x, y, z), zero-padded to 14."""
    return one_object(view.body_xpos("obj"), view.body_xquat("obj"))


def _caging(step: SawyerStep) -> np.ndarray:
    """``SawyerSweepEnvV3._gripper_caging_reward``: caging and, once caged, gripping, averaged.

    Its margins use ``init_left_pad`` and ``init_right_pad``, which ``SawyerXYZEnv.__init__``
    assigns from ``get_body_com``: live views of ``MjData.xpos``, so they are the pads' current
    positions.
    """
    pad_margin, x_z_margin_radius = 0.05, 0.005
    grip_margin = OBJ_RADIUS + 0.01
    obj, view = step.obs[:, 4:7], step.view
    left_pad, right_pad = view.body_xpos("leftpad"), view.body_xpos("rightpad")
    left_gap = left_pad[:, 1] - obj[:, 1]
    right_gap = obj[:, 1] - right_pad[:, 1]
    right_margin = np.abs(np.abs(obj[:, 1] - right_pad[:, 1]) - pad_margin)
    left_margin = np.abs(np.abs(obj[:, 1] - left_pad[:, 1]) - pad_margin)
    y_caging = hamacher_product(
        tolerance(right_gap, OBJ_RADIUS, pad_margin, right_margin),
        tolerance(left_gap, OBJ_RADIUS, pad_margin, left_margin),
    )
    y_gripping = hamacher_product(
        tolerance(right_gap, OBJ_RADIUS, grip_margin, right_margin),
        tolerance(left_gap, OBJ_RADIUS, grip_margin, left_margin),
    )

    xz = [0, 2]  # Meta-World zeroes y of both points, which leaves this distance
    tcp_obj_xz = norm(view.tcp_center[:, xz] - obj[:, xz])
    obj_init_pos, init_tcp = step.start["obj_init_pos"], step.start["init_tcp"]
    xz_margin = norm(obj_init_pos[:, xz] - init_tcp[:, xz]) - x_z_margin_radius
    x_z_caging = tolerance(tcp_obj_xz, 0.0, x_z_margin_radius, xz_margin)

    caging = hamacher_product(y_caging, x_z_caging)
    gripping = np.where(caging > 0.95, y_gripping, 0.0)
    return (caging + gripping) / 2


def reward(step: SawyerStep) -> tuple[np.ndarray, np.ndarray]:
    """Caging, plus caging times in-place; 10 and success within 5 cm of the goal."""
    obj = step.obs[:, 4:7]
    obj_init_pos, target_pos = step.start["obj_init_pos"], step.start["target_pos"]
    obj_to_target = norm(obj - target_pos)
    in_place = tolerance(obj_to_target, 0.0, TARGET_RADIUS, norm(obj_init_pos - target_pos))
    object_grasped = _caging(step)
    reward = 2 * object_grasped + 6 * hamacher_product(object_grasped, in_place)
    reward = np.where(obj_to_target < TARGET_RADIUS, 10.0, reward)
    return reward, obj_to_target <= TARGET_RADIUS


CLASS = SawyerClass(reset, objects, reward)
