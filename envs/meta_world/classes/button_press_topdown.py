"""button-press-topdown-v3: press the button down from above to within 2.4 cm of its hole."""

from __future__ import annotations

import numpy as np

from envs.meta_world.rewards import hamacher_product, norm, tolerance
from envs.meta_world.sawyer import SawyerClass, SawyerStep, SawyerView, Start, one_object

BUTTON_OFFSET = np.array([0.0, 0.0, 0.193])
"""``_get_pos_objects``: the button's top relative to the ``button`` body."""
SUCCESS_DEPTH = 0.024
"""Success: the button's top this close to the hole in height."""


def setup(view: SawyerView, rand_vec: np.ndarray) -> None:
    """The button's box placed at ``rand_vec``."""
    view.set_body_pos("box", rand_vec)


def reset(view: SawyerView, rand_vec: np.ndarray, after_hand: Start) -> Start:
    """``mj_forward`` on the hand reset's state, then the hole as the goal and the button's
    initial depth above it."""
    view.forward()
    target_pos = view.site_xpos("hole").copy()
    depth = np.abs(target_pos[:, 2] - view.site_xpos("buttonStart")[:, 2])
    return {"target_pos": target_pos, "obj_to_target_init": depth}


def objects(view: SawyerView) -> np.ndarray:
    """The button's top and the ``button`` body's quaternion (MuJoCo's w, x, y, z order)."""
    return one_object(view.body_xpos("button") + BUTTON_OFFSET, view.body_xquat("button"))


def reward(step: SawyerStep) -> tuple[np.ndarray, np.ndarray]:
    """Closed gripper near the button, plus pressed once the gripper is on it; success when
    pressed to within 2.4 cm of the hole."""
    obj, tcp_closed = step.obs[:, 4:7], 1.0 - step.obs[:, 3]
    tcp_to_obj = norm(obj - step.view.tcp_center)
    # Meta-World's "initial" distance is the current button's distance to `init_tcp`.
    near_margin = norm(obj - step.start["init_tcp"])
    obj_to_target = np.abs(step.start["target_pos"][:, 2] - obj[:, 2])
    near_button = tolerance(tcp_to_obj, 0.0, 0.01, near_margin)
    pressed = tolerance(obj_to_target, 0.0, 0.005, step.start["obj_to_target_init"])
    reward = 5.0 * hamacher_product(tcp_closed, near_button)
    reward = np.where(tcp_to_obj <= 0.03, reward + 5.0 * pressed, reward)
    return reward, obj_to_target <= SUCCESS_DEPTH


CLASS = SawyerClass(reset, objects, reward, setup=setup)
