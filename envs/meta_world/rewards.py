"""Meta-World's v3 rewards and success tests as array operations over N environments.

Each class entry of :data:`SAWYER_CLASSES` is the vectorised form of that class's
``reset_model`` goal placement, ``compute_reward`` and ``evaluate_state`` in Meta-World 3.1.1
(``reward_function_version="v2"``, its default), over ``(N, ...)`` arrays of the quantities the
single environment reads from its ``MjData``. The equivalence tests
(``tests/envs/meta_world/test_vector.py``) hold them to Meta-World's own environments to 1e-6.

Only the ``success`` entry of Meta-World's ``info`` is computed: it is the one the sampler reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

TARGET_RADIUS = 0.05
"""``SawyerXYZEnv.TARGET_RADIUS``: the reward's in-place bound and most classes' success radius."""

_LONG_TAIL_SCALE = np.sqrt(1 / 0.1 - 1)
"""``reward_utils._sigmoids(..., "long_tail")`` at its default value 0.1 at the margin."""


def tolerance(x: np.ndarray, lower: float, upper: float, margin: np.ndarray) -> np.ndarray:
    """``reward_utils.tolerance(x, bounds=(lower, upper), margin=margin, sigmoid="long_tail")``
    elementwise: 1 inside the bounds, a long-tailed fall-off outside (0 where the margin is 0)."""
    margin = np.broadcast_to(margin, np.shape(x))
    inside = (lower <= x) & (x <= upper)
    distance = np.where(x < lower, lower - x, x - upper)
    with np.errstate(divide="ignore", invalid="ignore"):
        tail = 1 / ((distance / margin * _LONG_TAIL_SCALE) ** 2 + 1)
    return np.where(inside, 1.0, np.where(margin == 0, 0.0, tail))


def hamacher_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``reward_utils.hamacher_product`` elementwise: ``ab / (a + b - ab)``, 0 where that is 0/0."""
    denominator = a + b - a * b
    with np.errstate(divide="ignore", invalid="ignore"):
        product = a * b / denominator
    return np.where(denominator > 0, product, 0.0)


def _norm(x: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("ni,ni->n", x, x))


@dataclass(frozen=True)
class SawyerReadout:
    """What a reward reads after a step, one row per environment."""

    obs: np.ndarray
    """The clipped observation ``(N, 39)`` the step returns (``obs[:, 4:7]`` is the object)."""
    tcp: np.ndarray
    """``tcp_center``: the mean of the two end-effector sites, ``(N, 3)``."""
    left_pad: np.ndarray
    """Body ``leftpad`` position, ``(N, 3)``."""
    right_pad: np.ndarray
    """Body ``rightpad`` position, ``(N, 3)``."""


@dataclass(frozen=True)
class EpisodeStart:
    """What ``reset_model`` fixes for an episode, one row per environment."""

    obj_init_pos: np.ndarray
    """``obj_init_pos`` ``(N, 3)``."""
    target_pos: np.ndarray
    """``_target_pos`` ``(N, 3)``."""
    init_tcp: np.ndarray
    """``init_tcp``: ``tcp_center`` after the hand reset, ``(N, 3)``."""


GoalPlacement = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""``(rand_vec (N, k), object z after the hand reset (N,))`` -> ``obj_init_pos, target_pos``."""
Reward = Callable[
    [SawyerReadout, EpisodeStart, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]
]
"""``(readout, start, actions (N, 4), hand_init_pos (3,))`` -> ``reward (N,), success (N,)``."""


@dataclass(frozen=True)
class SawyerClass:
    """One Meta-World class's episode start and reward, vectorised."""

    place_goal: GoalPlacement
    reward: Reward


# -- goal placement ------------------------------------------------------------------------------


def _object_then_goal(rand_vec: np.ndarray, obj_z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reach and pick-place: ``rand_vec`` is the object's position, then the goal's."""
    return rand_vec[:, :3].copy(), rand_vec[:, 3:6].copy()


def _on_table(rand_vec: np.ndarray, obj_z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Push: the x-y of object and goal from ``rand_vec``, both at the object's settled height."""
    height = obj_z[:, None]
    obj = np.concatenate([rand_vec[:, 0:2], height], axis=1)
    target = np.concatenate([rand_vec[:, 3:5], height], axis=1)
    return obj, target


# -- gripper caging ------------------------------------------------------------------------------


def _caging_high_density(
    readout: SawyerReadout,
    start: EpisodeStart,
    actions: np.ndarray,
    obj_radius: float,
    pad_success_thresh: float,
    xz_thresh: float,
) -> np.ndarray:
    """``SawyerXYZEnv._gripper_caging_reward(..., high_density=True)``."""
    obj = readout.obs[:, 4:7]
    pad_y = np.stack([readout.left_pad[:, 1], readout.right_pad[:, 1]], axis=1)  # (N, 2)
    pad_to_obj = np.abs(pad_y - obj[:, 1:2])
    pad_to_obj_init = np.abs(pad_y - start.obj_init_pos[:, 1:2])
    caging_margin = np.abs(pad_to_obj_init - pad_success_thresh)
    caging_lr = tolerance(pad_to_obj, obj_radius, pad_success_thresh, caging_margin)
    caging_y = hamacher_product(caging_lr[:, 0], caging_lr[:, 1])

    xz = [0, 2]
    xz_margin = _norm(start.obj_init_pos[:, xz] - start.init_tcp[:, xz]) - xz_thresh
    caging_xz = tolerance(_norm(readout.tcp[:, xz] - obj[:, xz]), 0.0, xz_thresh, xz_margin)

    gripper_closed = np.minimum(np.maximum(0.0, actions[:, -1]), 1.0)
    caging = hamacher_product(caging_y, caging_xz)
    gripping = np.where(caging > 0.97, gripper_closed, 0.0)
    return (hamacher_product(caging, gripping) + caging) / 2


def _caging_pick_place(
    readout: SawyerReadout, start: EpisodeStart, actions: np.ndarray
) -> np.ndarray:
    """``SawyerPickPlaceEnvV3._gripper_caging_reward`` (its own version, with signed pad gaps).

    Its margins use ``init_left_pad`` and ``init_right_pad``, which ``reset_model`` assigns from
    ``get_body_com``: live views of ``MjData.xpos``, so they are the pads' current positions.
    """
    pad_margin, xz_margin_radius, obj_radius = 0.05, 0.005, 0.015
    obj = readout.obs[:, 4:7]
    left_gap = readout.left_pad[:, 1] - obj[:, 1]
    right_gap = obj[:, 1] - readout.right_pad[:, 1]
    right_margin = np.abs(np.abs(obj[:, 1] - readout.right_pad[:, 1]) - pad_margin)
    left_margin = np.abs(np.abs(obj[:, 1] - readout.left_pad[:, 1]) - pad_margin)
    right_caging = tolerance(right_gap, obj_radius, pad_margin, right_margin)
    left_caging = tolerance(left_gap, obj_radius, pad_margin, left_margin)
    y_caging = hamacher_product(left_caging, right_caging)

    xz = [0, 2]  # Meta-World zeroes y of both points, which leaves this distance
    tcp_obj_xz = _norm(readout.tcp[:, xz] - obj[:, xz])
    xz_margin = _norm(start.obj_init_pos[:, xz] - start.init_tcp[:, xz]) - xz_margin_radius
    xz_caging = tolerance(tcp_obj_xz, 0.0, xz_margin_radius, xz_margin)

    gripper_closed = np.minimum(np.maximum(0.0, actions[:, -1]), 1.0)
    caging = hamacher_product(y_caging, xz_caging)
    gripping = np.where(caging > 0.97, gripper_closed, 0.0)
    return (hamacher_product(caging, gripping) + caging) / 2


# -- rewards -------------------------------------------------------------------------------------


def reach_reward(
    readout: SawyerReadout, start: EpisodeStart, actions: np.ndarray, hand_init_pos: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """reach-v3: ``10 * tolerance(|tcp - goal|)``; success within 5 cm of the goal."""
    tcp_to_target = _norm(readout.tcp - start.target_pos)
    margin = _norm(hand_init_pos - start.target_pos)
    in_place = tolerance(tcp_to_target, 0.0, TARGET_RADIUS, margin)
    return 10 * in_place, tcp_to_target <= TARGET_RADIUS


def push_reward(
    readout: SawyerReadout, start: EpisodeStart, actions: np.ndarray, hand_init_pos: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """push-v3: caging, a bonus once the puck is held and moved; 10 and success within 5 cm."""
    obj, tcp_opened = readout.obs[:, 4:7], readout.obs[:, 3]
    tcp_to_obj = _norm(obj - readout.tcp)
    target_to_obj = _norm(obj - start.target_pos)
    in_place = tolerance(
        target_to_obj, 0.0, TARGET_RADIUS, _norm(start.obj_init_pos - start.target_pos)
    )
    object_grasped = _caging_high_density(
        readout, start, actions, obj_radius=0.015, pad_success_thresh=0.05, xz_thresh=0.005
    )
    reward = 2 * object_grasped
    # Meta-World's `reward += 1.0 + reward + 5.0 * in_place` doubles the caging term.
    held = (tcp_to_obj < 0.02) & (tcp_opened > 0)
    reward = np.where(held, 2 * reward + 1.0 + 5.0 * in_place, reward)
    reward = np.where(target_to_obj < TARGET_RADIUS, 10.0, reward)
    return reward, target_to_obj <= TARGET_RADIUS


def pick_place_reward(
    readout: SawyerReadout, start: EpisodeStart, actions: np.ndarray, hand_init_pos: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """pick-place-v3: caging times in-place, a bonus once lifted; success within 7 cm."""
    obj, tcp_opened = readout.obs[:, 4:7], readout.obs[:, 3]
    obj_to_target = _norm(obj - start.target_pos)
    tcp_to_obj = _norm(obj - readout.tcp)
    in_place = tolerance(
        obj_to_target, 0.0, TARGET_RADIUS, _norm(start.obj_init_pos - start.target_pos)
    )
    object_grasped = _caging_pick_place(readout, start, actions)
    reward = hamacher_product(object_grasped, in_place)
    lifted = (tcp_to_obj < 0.02) & (tcp_opened > 0) & (obj[:, 2] - 0.01 > start.obj_init_pos[:, 2])
    reward = np.where(lifted, reward + 1.0 + 5.0 * in_place, reward)
    reward = np.where(obj_to_target < TARGET_RADIUS, 10.0, reward)
    return reward, obj_to_target <= 0.07


SAWYER_CLASSES: dict[str, SawyerClass] = {
    "reach-v3": SawyerClass(_object_then_goal, reach_reward),
    "push-v3": SawyerClass(_on_table, push_reward),
    "pick-place-v3": SawyerClass(_object_then_goal, pick_place_reward),
}
"""Meta-World environment name -> its vectorised episode start and reward. The classes not here
run as Meta-World's own environments inside the batched env (``envs.meta_world.vector``)."""
