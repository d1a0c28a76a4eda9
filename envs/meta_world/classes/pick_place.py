"""pick-place-v3: pick the puck up and place it within 7 cm of a goal in the air."""

from __future__ import annotations

import numpy as np

from envs.meta_world.classes import reach
from envs.meta_world.classes._object import objects
from envs.meta_world.rewards import TARGET_RADIUS, hamacher_product, norm, tolerance
from envs.meta_world.sawyer import SawyerClass, SawyerStep


def _caging(step: SawyerStep) -> np.ndarray:
    """``SawyerPickPlaceEnvV3._gripper_caging_reward`` (its own version, with signed pad gaps).

    Its margins use ``init_left_pad`` and ``init_right_pad``, which ``reset_model`` assigns from
    ``get_body_com``: live views of ``MjData.xpos``, so they are the pads' current positions.
    """
    pad_margin, xz_margin_radius, obj_radius = 0.05, 0.005, 0.015
    obj, view = step.obs[:, 4:7], step.view
    left_pad, right_pad = view.body_xpos("leftpad"), view.body_xpos("rightpad")
    left_gap = left_pad[:, 1] - obj[:, 1]
    right_gap = obj[:, 1] - right_pad[:, 1]
    right_margin = np.abs(np.abs(obj[:, 1] - right_pad[:, 1]) - pad_margin)
    left_margin = np.abs(np.abs(obj[:, 1] - left_pad[:, 1]) - pad_margin)
    right_caging = tolerance(right_gap, obj_radius, pad_margin, right_margin)
    left_caging = tolerance(left_gap, obj_radius, pad_margin, left_margin)
    y_caging = hamacher_product(left_caging, right_caging)

    xz = [0, 2]  # Meta-World zeroes y of both points, which leaves this distance
    tcp_obj_xz = norm(view.tcp_center[:, xz] - obj[:, xz])
    obj_init_pos, init_tcp = step.start["obj_init_pos"], step.start["init_tcp"]
    xz_margin = norm(obj_init_pos[:, xz] - init_tcp[:, xz]) - xz_margin_radius
    xz_caging = tolerance(tcp_obj_xz, 0.0, xz_margin_radius, xz_margin)

    gripper_closed = np.minimum(np.maximum(0.0, step.actions[:, -1]), 1.0)
    caging = hamacher_product(y_caging, xz_caging)
    gripping = np.where(caging > 0.97, gripper_closed, 0.0)
    return (hamacher_product(caging, gripping) + caging) / 2


def reward(step: SawyerStep) -> tuple[np.ndarray, np.ndarray]:
    """Caging times in-place, a bonus once lifted; success within 7 cm."""
    obj, tcp_opened = step.obs[:, 4:7], step.obs[:, 3]
    obj_init_pos, target_pos = step.start["obj_init_pos"], step.start["target_pos"]
    obj_to_target = norm(obj - target_pos)
    tcp_to_obj = norm(obj - step.view.tcp_center)
    in_place = tolerance(obj_to_target, 0.0, TARGET_RADIUS, norm(obj_init_pos - target_pos))
    object_grasped = _caging(step)
    reward = hamacher_product(object_grasped, in_place)
    lifted = (tcp_to_obj < 0.02) & (tcp_opened > 0) & (obj[:, 2] - 0.01 > obj_init_pos[:, 2])
    reward = np.where(lifted, reward + 1.0 + 5.0 * in_place, reward)
    reward = np.where(obj_to_target < TARGET_RADIUS, 10.0, reward)
    return reward, obj_to_target <= 0.07


CLASS = SawyerClass(reach.reset, objects, reward)
