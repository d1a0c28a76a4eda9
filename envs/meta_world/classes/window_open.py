"""window-open-v3: slide the window open, its handle within 5 cm of the goal in x."""

from __future__ import annotations

import numpy as np

from envs.meta_world.rewards import TARGET_RADIUS, hamacher_product, norm, tolerance
from envs.meta_world.sawyer import SawyerClass, SawyerStep, SawyerView, Start, one_object

TARGET_OFFSET = np.array([0.2, 0.0, 0.0])
"""The goal relative to the window's position."""
HANDLE_RADIUS = 0.02
"""The reach reward's in-place bound."""


def setup(view: SawyerView, rand_vec: np.ndarray) -> None:
    """The window body placed at ``rand_vec``."""
    view.set_body_pos("window", rand_vec)


def handle_position(view: SawyerView) -> Start:
    """``window_handle_pos_init``: the handle site right after the hand reset, as the derived
    fields hold it (the state before the last substep)."""
    return {"handle_init": view.site_xpos("handleOpenStart").copy()}


def reset(view: SawyerView, rand_vec: np.ndarray, after_hand: Start) -> Start:
    """The window shut; Meta-World assigns the joint without ``mj_forward``, so the first
    observation still reads the hand reset's derived fields."""
    view.set_joint_qpos("window_slide", 0.0)
    return {
        "obj_init_pos": rand_vec.copy(),
        "target_pos": rand_vec + TARGET_OFFSET,
        "handle_init": after_hand["handle_init"],
    }


def objects(view: SawyerView) -> np.ndarray:
    """The ``handleOpenStart`` site's position; no quaternion (zeros), zero-padded to 14."""
    return one_object(view.site_xpos("handleOpenStart"))


def reward(step: SawyerStep) -> tuple[np.ndarray, np.ndarray]:
    """``10 * reach * in_place``; success once the handle is within 5 cm of the goal in x."""
    obj = step.view.site_xpos("handleOpenStart")  # read live, not from the clipped observation
    start = step.start
    target_x = start["target_pos"][:, 0]
    target_to_obj = np.abs(obj[:, 0] - target_x)
    target_to_obj_init = np.abs(start["obj_init_pos"][:, 0] - target_x)
    in_place = tolerance(
        target_to_obj, 0.0, TARGET_RADIUS, np.abs(target_to_obj_init - TARGET_RADIUS)
    )
    tcp_to_obj = norm(obj - step.view.tcp_center)
    tcp_to_obj_init = norm(start["handle_init"] - start["init_tcp"])
    reach = tolerance(tcp_to_obj, 0.0, HANDLE_RADIUS, np.abs(tcp_to_obj_init - HANDLE_RADIUS))
    return 10 * hamacher_product(reach, in_place), target_to_obj <= TARGET_RADIUS


CLASS = SawyerClass(reset, objects, reward, setup=setup, hand_readings=handle_position)
