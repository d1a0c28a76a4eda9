"""push-v3: push the puck within 5 cm of the goal on the table."""

from __future__ import annotations

import numpy as np

from envs.meta_world.classes._object import object_height, objects, place_object
from envs.meta_world.rewards import TARGET_RADIUS, gripper_caging, norm, tolerance
from envs.meta_world.sawyer import SawyerClass, SawyerStep, SawyerView, Start


def reset(view: SawyerView, rand_vec: np.ndarray, after_hand: Start) -> Start:
    """The x-y of object and goal from ``rand_vec``, both at the object's settled height."""
    height = after_hand["obj_z"][:, None]
    obj_init_pos = np.concatenate([rand_vec[:, 0:2], height], axis=1)
    target_pos = np.concatenate([rand_vec[:, 3:5], height], axis=1)
    place_object(view, obj_init_pos)
    return {"obj_init_pos": obj_init_pos, "target_pos": target_pos}


def reward(step: SawyerStep) -> tuple[np.ndarray, np.ndarray]:
    """Caging, a bonus once the puck is held and moved; 10 and success within 5 cm."""
    obj, tcp_opened = step.obs[:, 4:7], step.obs[:, 3]
    obj_init_pos, target_pos = step.start["obj_init_pos"], step.start["target_pos"]
    tcp_to_obj = norm(obj - step.view.tcp_center)
    target_to_obj = norm(obj - target_pos)
    in_place = tolerance(target_to_obj, 0.0, TARGET_RADIUS, norm(obj_init_pos - target_pos))
    object_grasped = gripper_caging(
        step,
        obj,
        obj_radius=0.015,
        pad_success_thresh=0.05,
        object_reach_radius=0.01,
        xz_thresh=0.005,
        high_density=True,
    )
    reward = 2 * object_grasped
    # Meta-World's `reward += 1.0 + reward + 5.0 * in_place` doubles the caging term.
    held = (tcp_to_obj < 0.02) & (tcp_opened > 0)
    reward = np.where(held, 2 * reward + 1.0 + 5.0 * in_place, reward)
    reward = np.where(target_to_obj < TARGET_RADIUS, 10.0, reward)
    return reward, target_to_obj <= TARGET_RADIUS


CLASS = SawyerClass(reset, objects, reward, hand_readings=object_height)
