"""reach-v3: bring the gripper within 5 cm of the goal."""

from __future__ import annotations

import numpy as np

from envs.meta_world.classes._object import objects, place_object
from envs.meta_world.rewards import TARGET_RADIUS, norm, tolerance
from envs.meta_world.sawyer import SawyerClass, SawyerStep, SawyerView, Start


def reset(view: SawyerView, rand_vec: np.ndarray, after_hand: Start) -> Start:
    """``rand_vec`` is the object's position, then the goal's."""
    obj_init_pos, target_pos = rand_vec[:, :3].copy(), rand_vec[:, 3:6].copy()
    place_object(view, obj_init_pos)
    return {"obj_init_pos": obj_init_pos, "target_pos": target_pos}


def reward(step: SawyerStep) -> tuple[np.ndarray, np.ndarray]:
    """``10 * tolerance(|tcp - goal|)``; success within 5 cm of the goal."""
    target_pos = step.start["target_pos"]
    tcp_to_target = norm(step.view.tcp_center - target_pos)
    margin = norm(step.hand_init_pos - target_pos)
    in_place = tolerance(tcp_to_target, 0.0, TARGET_RADIUS, margin)
    return 10 * in_place, tcp_to_target <= TARGET_RADIUS


CLASS = SawyerClass(reset, objects, reward)
