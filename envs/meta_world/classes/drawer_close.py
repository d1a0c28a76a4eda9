"""drawer-close-v3: push the open drawer shut until its handle is within 6.5 cm of the goal."""

from __future__ import annotations

import numpy as np

from envs.meta_world.rewards import TARGET_RADIUS, hamacher_product, norm, tolerance
from envs.meta_world.sawyer import SawyerClass, SawyerStep, SawyerView, Start, one_object

HANDLE_OFFSET = np.array([0.0, -0.16, 0.05])
"""``_get_pos_objects``: the handle relative to the ``drawer_link`` body."""
TARGET_OFFSET = np.array([0.0, -0.16, 0.09])
"""The goal relative to the drawer's position."""
OPENED = -0.15
"""``-maxDist``: the drawer's slide joint at the start, pulled out all the way."""
SUCCESS_RADIUS = TARGET_RADIUS + 0.015
"""Success (and the full reward): the handle this close to the goal. Meta-World's class sets
``_TARGET_RADIUS = 0.04`` but reads the base class's ``TARGET_RADIUS``."""
HANDLE_REACH_RADIUS = 0.005
"""The reach term's bound on the gripper's distance to the handle."""


def setup(view: SawyerView, rand_vec: np.ndarray) -> None:
    """The drawer body placed at ``rand_vec``."""
    view.set_body_pos("drawer", rand_vec)


def handle(view: SawyerView) -> np.ndarray:
    """``_get_pos_objects``: the handle's position, ``(n, 3)``."""
    return view.body_xpos("drawer_link") + HANDLE_OFFSET


def reset(view: SawyerView, rand_vec: np.ndarray, after_hand: Start) -> Start:
    """``_set_obj_xyz(-maxDist)``: the drawer pulled out (its velocity is kept, as Meta-World's
    ``set_state`` keeps it), then ``mj_forward``; the handle's start is read after it."""
    view.set_joint_qpos("goal_slidey", OPENED)
    view.forward()
    return {"obj_init_pos": handle(view).copy(), "target_pos": rand_vec + TARGET_OFFSET}


def objects(view: SawyerView) -> np.ndarray:
    """The handle's position; ``_get_quat_objects`` is zeros."""
    return one_object(handle(view))


def reward(step: SawyerStep) -> tuple[np.ndarray, np.ndarray]:
    """Reach (while gripping) times in-place; 10 and success within 6.5 cm of the goal."""
    obj = step.obs[:, 4:7]
    obj_init_pos, target_pos = step.start["obj_init_pos"], step.start["target_pos"]
    target_to_obj = norm(obj - target_pos)
    in_place_margin = np.abs(norm(obj_init_pos - target_pos) - TARGET_RADIUS)
    in_place = tolerance(target_to_obj, 0.0, TARGET_RADIUS, in_place_margin)
    tcp_to_obj = norm(obj - step.view.tcp_center)
    reach_margin = np.abs(norm(obj_init_pos - step.start["init_tcp"]) - HANDLE_REACH_RADIUS)
    reach = tolerance(tcp_to_obj, 0.0, HANDLE_REACH_RADIUS, reach_margin, sigmoid="gaussian")
    gripper_closed = np.minimum(np.maximum(0.0, step.actions[:, -1]), 1.0)
    reward = hamacher_product(hamacher_product(reach, gripper_closed), in_place)
    success = target_to_obj <= SUCCESS_RADIUS
    return 10.0 * np.where(success, 1.0, reward), success


CLASS = SawyerClass(reset, objects, reward, setup=setup)
