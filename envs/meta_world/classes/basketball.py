"""basketball-v3: pick the ball up and drop it through the hoop (within 8 cm of a goal above it)."""

from __future__ import annotations

import numpy as np

from envs.meta_world.classes._object import place_object
from envs.meta_world.rewards import gripper_caging, hamacher_product, norm, tolerance
from envs.meta_world.sawyer import SawyerClass, SawyerStep, SawyerView, Start, one_object

TARGET_RADIUS = 0.08
"""``SawyerBasketballEnvV3.TARGET_RADIUS``: the in-place bound and the success radius."""
BALL_Z = float(np.float32(0.03))
"""The ball's start height: ``init_config["obj_init_pos"]``'s, a float32 that every reset keeps
(``rand_vec``'s third entry is unused)."""
TARGET_Z = 0.3
"""The goal's height, slightly above the hoop."""
SCALE = np.array([1.0, 1.0, 2.0])
"""The weights of the ball-to-goal distance: the height counts double."""


def setup(view: SawyerView, rand_vec: np.ndarray) -> None:
    """The basket placed at ``rand_vec[3:6]``."""
    view.set_body_pos("basket_goal", rand_vec[:, 3:6])


def reset(view: SawyerView, rand_vec: np.ndarray, after_hand: Start) -> Start:
    """The ball at ``rand_vec[:2]``; the goal above the hoop.

    Meta-World's ``_target_pos`` is a live view of the goal site's ``xpos``, and it writes that
    into the site's model position; the site is compiled into its body's frame
    (``site_sameframe``), so that write moves nothing and the goal stays the hoop's position.
    """
    count = rand_vec.shape[0]
    obj_init_pos = np.concatenate([rand_vec[:, 0:2], np.full((count, 1), BALL_Z)], axis=1)
    place_object(view, obj_init_pos)
    target_pos = view.site_xpos("goal").copy()
    target_pos[:, 2] = TARGET_Z
    return {"obj_init_pos": obj_init_pos, "target_pos": target_pos}


def objects(view: SawyerView) -> np.ndarray:
    """The ball's position and ``xquat`` (MuJoCo's w, x, y, z order), zero-padded to 14."""
    return one_object(view.body_xpos("bsktball"), view.body_xquat("bsktball"))


def reward(step: SawyerStep) -> tuple[np.ndarray, np.ndarray]:
    """Caging (1 once lifted near the tcp) times in-place, a bonus once lifted; 10 and success
    within 8 cm (scaled) of the goal."""
    obj, tcp_opened = step.obs[:, 4:7], step.obs[:, 3]
    obj_init_pos, target_pos = step.start["obj_init_pos"], step.start["target_pos"]
    target_to_obj = norm((obj - target_pos) * SCALE)
    margin = norm((obj_init_pos - target_pos) * SCALE)
    in_place = tolerance(target_to_obj, 0.0, TARGET_RADIUS, margin)
    tcp_to_obj = norm(obj - step.view.tcp_center)
    object_grasped = gripper_caging(
        step,
        obj,
        obj_radius=0.025,
        pad_success_thresh=0.06,
        object_reach_radius=0.01,
        xz_thresh=0.005,
        high_density=True,
    )
    lifted = (tcp_to_obj < 0.035) & (tcp_opened > 0) & (obj[:, 2] - 0.01 > obj_init_pos[:, 2])
    object_grasped = np.where(lifted, 1.0, object_grasped)
    reward = hamacher_product(object_grasped, in_place)
    reward = np.where(lifted, reward + 1.0 + 5.0 * in_place, reward)
    reward = np.where(target_to_obj < TARGET_RADIUS, 10.0, reward)
    return reward, target_to_obj <= TARGET_RADIUS


CLASS = SawyerClass(reset, objects, reward, setup=setup)
