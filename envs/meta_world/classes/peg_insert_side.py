"""peg-insert-side-v3: pick the peg up and push its head into the hole in the side of the box."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation  # a dependency of the metaworld extra

from envs.meta_world.classes._object import place_object
from envs.meta_world.rewards import (
    gripper_caging,
    hamacher_product,
    norm,
    rect_prism_tolerance,
    tolerance,
)
from envs.meta_world.sawyer import SawyerClass, SawyerStep, SawyerView, Start, one_object

TARGET_RADIUS = 0.07
"""``SawyerPegInsertionSideEnvV3.TARGET_RADIUS``: the in-place bound and the success radius."""
TARGET_OFFSET = np.array([0.03, 0.0, 0.13])
"""The goal (the hole) relative to the box's position."""
SCALE = np.array([1.0, 2.0, 2.0])
"""The weights of the head-to-goal distance: y and z count double, so the peg is lifted first."""


def setup(view: SawyerView, rand_vec: np.ndarray) -> None:
    """The box placed at ``rand_vec[3:6]``."""
    view.set_body_pos("box", rand_vec[:, 3:6])


def head_reading(view: SawyerView) -> Start:
    """``peg_head_pos_init``: the peg head's site right after the hand reset, before the peg is
    moved; as in Meta-World, the position the derived fields hold then (before the last
    substep), not the one the peg is then placed at."""
    return {"peg_head_pos_init": view.site_xpos("pegHead").copy()}


def reset(view: SawyerView, rand_vec: np.ndarray, after_hand: Start) -> Start:
    """``rand_vec`` is the peg's position, then the box's; the goal is the hole in the box."""
    obj_init_pos = rand_vec[:, 0:3].copy()
    place_object(view, obj_init_pos)
    return {
        "obj_init_pos": obj_init_pos,
        "target_pos": rand_vec[:, 3:6] + TARGET_OFFSET,
        "peg_head_pos_init": after_hand["peg_head_pos_init"],
    }


def _body_xmat(xquat: np.ndarray) -> np.ndarray:
    """``mju_quat2Mat`` of each row's ``(w, x, y, z)`` quaternion, ``(n, 3, 3)``."""
    w, x, y, z = xquat.T
    return np.stack(
        [
            np.stack([w * w + x * x - y * y - z * z, 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), w * w - x * x + y * y - z * z, 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), w * w - x * x - y * y + z * z], -1),
        ],
        axis=1,
    )


def objects(view: SawyerView) -> np.ndarray:
    """The ``pegGrasp`` site's position and quaternion, zero-padded to 14.

    Meta-World converts the site's ``xmat`` with scipy; the site sits unrotated in the peg's
    body, so its ``xmat`` is the body's, built here from ``xquat`` (the quaternion's sign then
    follows scipy's ``from_matrix``, as in the observation).
    """
    grasp = view.site_xpos("pegGrasp")
    return one_object(grasp, Rotation.from_matrix(_body_xmat(view.body_xquat("peg"))).as_quat())


def _in_place(step: SawyerStep, head_to_target: np.ndarray) -> np.ndarray:
    """Near the hole (scaled distance of the head), times staying out of the two boxes below
    and above the hole that the head should not enter from."""
    view, target_pos = step.view, step.start["target_pos"]
    margin = norm((step.start["peg_head_pos_init"] - target_pos) * SCALE)
    in_place = tolerance(head_to_target, 0.0, TARGET_RADIUS, margin)
    head = view.site_xpos("pegHead")
    boxes = [
        rect_prism_tolerance(
            head,
            view.site_xpos(f"bottom_right_corner_collision_box_{k}"),
            view.site_xpos(f"top_left_corner_collision_box_{k}"),
        )
        for k in (2, 1)
    ]
    return hamacher_product(in_place, hamacher_product(*boxes))


def reward(step: SawyerStep) -> tuple[np.ndarray, np.ndarray]:
    """Caging (1 once lifted near the tcp) times in-place, a bonus once lifted; 10 and success
    with the head within 7 cm (scaled) of the hole."""
    obj, tcp_opened = step.obs[:, 4:7], step.obs[:, 3]
    obj_init_pos, target_pos = step.start["obj_init_pos"], step.start["target_pos"]
    tcp_to_obj = norm(obj - step.view.tcp_center)
    head_to_target = norm((step.view.site_xpos("pegHead") - target_pos) * SCALE)
    in_place = _in_place(step, head_to_target)
    object_grasped = gripper_caging(
        step,
        obj,
        obj_radius=0.0075,
        pad_success_thresh=0.03,
        object_reach_radius=0.01,
        xz_thresh=0.005,
        high_density=True,
    )
    lifted = (tcp_to_obj < 0.08) & (tcp_opened > 0) & (obj[:, 2] - 0.01 > obj_init_pos[:, 2])
    object_grasped = np.where(lifted, 1.0, object_grasped)
    reward = hamacher_product(object_grasped, in_place)
    reward = np.where(lifted, reward + 1.0 + 5 * in_place, reward)
    success = head_to_target <= TARGET_RADIUS
    return np.where(success, 10.0, reward), success


CLASS = SawyerClass(reset, objects, reward, setup=setup, hand_readings=head_reading)
