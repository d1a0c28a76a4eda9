"""door-open-v3: swing the door open until its handle is within 8 cm of the goal in x."""

from __future__ import annotations

import numpy as np

from envs.meta_world.rewards import hamacher_product, norm, tolerance
from envs.meta_world.sawyer import SawyerClass, SawyerStep, SawyerView, Start, one_object

TARGET_OFFSET = np.array([-0.3, -0.45, 0.0])
"""The goal relative to the door's position."""
SUCCESS_X = 0.08
"""Success: the handle's x within this of the goal's."""


def setup(view: SawyerView, rand_vec: np.ndarray) -> None:
    """The door body placed at ``rand_vec``."""
    view.set_body_pos("door", rand_vec)


def reset(view: SawyerView, rand_vec: np.ndarray, after_hand: Start) -> Start:
    """``_set_obj_xyz(0)``: the door closed and at rest, then ``mj_forward``."""
    view.set_joint_qpos("doorjoint", 0.0)
    view.set_joint_qvel("doorjoint", 0.0)
    view.forward()
    return {"target_pos": rand_vec + TARGET_OFFSET}


def objects(view: SawyerView) -> np.ndarray:
    """The ``handle`` geom's position and quaternion, zero-padded to 14."""
    return one_object(view.geom_xpos("handle"), view.geom_quat("handle"))


def _ready_and_opened(step: SawyerStep) -> tuple[np.ndarray, np.ndarray]:
    """``SawyerDoorEnvV3._reward_pos``: the hand above a funnel around the handle and beside
    it, and how far the door has swung."""
    hand = step.obs[:, 0:3]
    door = step.obs[:, 4:7] + np.array([-0.05, 0, 0])
    threshold = 0.12
    radius = norm(hand[:, :2] - door[:, :2])
    outside = radius > threshold
    # The log is only taken outside the funnel's flat bottom, as Meta-World's branch does.
    floor = np.where(outside, 0.04 * np.log(np.where(outside, radius - threshold, 1.0)) + 0.4, 0.0)
    above_floor = np.where(
        hand[:, 2] >= floor, 1.0, tolerance(floor - hand[:, 2], 0.0, 0.01, floor / 2.0)
    )
    in_place = tolerance(
        norm(hand - door - np.array([0.05, 0.03, -0.01])), 0.0, threshold / 2.0, 0.5
    )
    ready_to_open = hamacher_product(above_floor, in_place)

    theta = step.view.joint_qpos("doorjoint")  # the live joint, not the observation
    door_angle = -theta
    opened = 0.2 * (theta < -np.pi / 90.0) + 0.8 * tolerance(
        np.pi / 2.0 + np.pi / 6 - door_angle, 0.0, 0.5, np.pi / 3.0
    )
    return ready_to_open, opened


def reward(step: SawyerStep) -> tuple[np.ndarray, np.ndarray]:
    """Ready-and-gripping plus opened; 10 and success once the handle is near the goal in x."""
    grab = (np.clip(step.actions[:, 3], -1, 1) + 1.0) / 2.0
    ready_to_open, opened = _ready_and_opened(step)
    reward = 2.0 * hamacher_product(ready_to_open, grab) + 8.0 * opened
    success = np.abs(step.obs[:, 4] - step.start["target_pos"][:, 0]) <= SUCCESS_X
    return np.where(success, 10.0, reward), success


CLASS = SawyerClass(reset, objects, reward, setup=setup)
