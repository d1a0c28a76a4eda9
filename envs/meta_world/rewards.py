"""The reward building blocks of Meta-World 3.1.1 (``metaworld.utils.reward_utils`` and
``SawyerXYZEnv._gripper_caging_reward``) as array operations over N environments, for the
vectorised classes of :mod:`envs.meta_world.classes`."""

from __future__ import annotations

import numpy as np

from envs.meta_world.sawyer import SawyerStep

TARGET_RADIUS = 0.05
"""``SawyerXYZEnv.TARGET_RADIUS``: the reward's in-place bound and most classes' success radius."""

VALUE_AT_MARGIN = 0.1
"""``reward_utils.tolerance``'s default value at a distance of one margin from the bounds."""


def _sigmoid(scaled: np.ndarray, sigmoid: str) -> np.ndarray:
    """``reward_utils._sigmoids(scaled, VALUE_AT_MARGIN, sigmoid)``."""
    if sigmoid == "long_tail":
        return 1 / ((scaled * np.sqrt(1 / VALUE_AT_MARGIN - 1)) ** 2 + 1)
    if sigmoid == "gaussian":
        return np.exp(-0.5 * (scaled * np.sqrt(-2 * np.log(VALUE_AT_MARGIN))) ** 2)
    raise ValueError(f"sigmoid must be 'long_tail' or 'gaussian', got {sigmoid!r}")


def tolerance(
    x: np.ndarray | float,
    lower: float,
    upper: float,
    margin: np.ndarray | float,
    sigmoid: str = "long_tail",
) -> np.ndarray:
    """``reward_utils.tolerance(x, bounds=(lower, upper), margin=margin, sigmoid=sigmoid)``
    elementwise: 1 inside the bounds, a sigmoid fall-off outside (0 where the margin is 0)."""
    x = np.asarray(x, dtype=np.float64)
    margin = np.broadcast_to(margin, x.shape)
    inside = (lower <= x) & (x <= upper)
    distance = np.where(x < lower, lower - x, x - upper)
    with np.errstate(divide="ignore", invalid="ignore"):
        tail = _sigmoid(distance / margin, sigmoid)
    return np.where(inside, 1.0, np.where(margin == 0, 0.0, tail))


def hamacher_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``reward_utils.hamacher_product`` elementwise: ``ab / (a + b - ab)``, 0 where that is 0/0."""
    denominator = a + b - a * b
    with np.errstate(divide="ignore", invalid="ignore"):
        product = a * b / denominator
    return np.where(denominator > 0, product, 0.0)


def norm(x: np.ndarray) -> np.ndarray:
    """Euclidean norm of each row of ``(n, d)``."""
    return np.sqrt(np.einsum("ni,ni->n", x, x))


def rect_prism_tolerance(curr: np.ndarray, zero: np.ndarray, one: np.ndarray) -> np.ndarray:
    """``reward_utils.rect_prism_tolerance`` per row of ``(n, 3)`` points and corners."""
    low, high = np.minimum(zero, one), np.maximum(zero, one)
    in_prism = np.all((low <= curr) & (curr <= high), axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.prod((curr - zero) / (one - zero), axis=-1)
    return np.where(in_prism, value, 1.0)


def gripper_caging(
    step: SawyerStep,
    obj_pos: np.ndarray,
    obj_radius: float,
    pad_success_thresh: float,
    object_reach_radius: float,
    xz_thresh: float,
    desired_gripper_effort: float = 1.0,
    high_density: bool = False,
    medium_density: bool = False,
) -> np.ndarray:
    """``SawyerXYZEnv._gripper_caging_reward`` with the same arguments, per row; it reads
    ``obj_init_pos`` and ``init_tcp`` from the step's episode start."""
    view, obj_init_pos, init_tcp = step.view, step.start["obj_init_pos"], step.start["init_tcp"]
    pad_y = np.stack([view.body_xpos("leftpad")[:, 1], view.body_xpos("rightpad")[:, 1]], axis=1)
    pad_to_obj = np.abs(pad_y - obj_pos[:, 1:2])
    pad_to_obj_init = np.abs(pad_y - obj_init_pos[:, 1:2])
    caging_margin = np.abs(pad_to_obj_init - pad_success_thresh)
    caging_lr = tolerance(pad_to_obj, obj_radius, pad_success_thresh, caging_margin)
    caging_y = hamacher_product(caging_lr[:, 0], caging_lr[:, 1])

    xz = [0, 2]
    tcp = view.tcp_center
    xz_margin = norm(obj_init_pos[:, xz] - init_tcp[:, xz]) - xz_thresh
    caging_xz = tolerance(norm(tcp[:, xz] - obj_pos[:, xz]), 0.0, xz_thresh, xz_margin)

    effort = np.minimum(np.maximum(0.0, step.actions[:, -1]), desired_gripper_effort)
    gripper_closed = effort / desired_gripper_effort
    caging = hamacher_product(caging_y, caging_xz)
    gripping = np.where(caging > 0.97, gripper_closed, 0.0)
    caging_and_gripping = hamacher_product(caging, gripping)
    if high_density:
        caging_and_gripping = (caging_and_gripping + caging) / 2
    if medium_density:
        reach_margin = np.abs(norm(obj_init_pos - init_tcp) - object_reach_radius)
        reach = tolerance(norm(obj_pos - tcp), 0.0, object_reach_radius, reach_margin)
        caging_and_gripping = (caging_and_gripping + reach) / 2
    return caging_and_gripping
