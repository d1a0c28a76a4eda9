"""Observation, reward and termination of every family as pure, vectorised NumPy functions.

Every array argument has a leading env axis ``N``: ``qpos (N, nq)``, ``qvel (N, nv)``,
``action (N, A)``, ``cfrc_ext (N, nbody, 6)``, task parameters ``(N,)`` or ``(N, 2)``. The single
environments call these functions with ``N = 1``; a batched environment that steps ``N`` MuJoCo
states at once (``mujoco.rollout``) calls the same functions on all of them, so the two agree to
floating-point rounding. Reward functions return ``(reward (N,), parts)`` where ``parts`` maps the
names Gymnasium's v5 environments put in ``info`` (``reward_forward``, ``reward_ctrl``, ...) to
``(N,)`` arrays.

Defaults of the keyword arguments are Gymnasium v5's, except ``ctrl_cost_weight`` of HalfCheetah,
which is 0.05 as in the MAML paper (v5 uses 0.1).
"""

from __future__ import annotations

import numpy as np

Parts = dict[str, np.ndarray]

# ---------------------------------------------------------------------------------------------
# Shared pieces


def x_velocity(qpos_before: np.ndarray, qpos_after: np.ndarray, dt: float) -> np.ndarray:
    """Forward velocity of the root from its x coordinate ``qpos[:, 0]``: (N,)."""
    return (qpos_after[:, 0] - qpos_before[:, 0]) / dt


def xy_velocity(qpos_before: np.ndarray, qpos_after: np.ndarray, dt: float) -> np.ndarray:
    """Planar velocity of a free-joint root from ``qpos[:, :2]``: (N, 2)."""
    return (qpos_after[:, :2] - qpos_before[:, :2]) / dt


def control_cost(action: np.ndarray, weight: float) -> np.ndarray:
    """``weight * ||a||^2`` per env: (N,)."""
    return weight * np.sum(np.square(action), axis=-1)


def oracle_obs(obs: np.ndarray, task_params: np.ndarray) -> np.ndarray:
    """Observation with the task parameters appended: (N, D) + (N, K) -> (N, D + K)."""
    return np.concatenate([obs, task_params], axis=-1)


# ---------------------------------------------------------------------------------------------
# Navigation2D (pytorch-maml-rl's 2D navigation)

NAVIGATION_ACTION_LIMIT = 0.1
NAVIGATION_GOAL_TOLERANCE = 0.01


def navigation_move(position: np.ndarray, action: np.ndarray) -> np.ndarray:
    """Next position: the action clipped to [-0.1, 0.1]^2 and added. (N, 2), (N, 2) -> (N, 2)."""
    limit = NAVIGATION_ACTION_LIMIT
    return position + np.clip(action, -limit, limit)


def navigation_reward(position: np.ndarray, goal: np.ndarray) -> tuple[np.ndarray, Parts]:
    """Minus the Euclidean distance to the goal. (N, 2), (N, 2) -> (N,)."""
    distance = np.linalg.norm(position - goal, axis=-1)
    return -distance, {"distance": distance}


def navigation_terminated(position: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """True within 0.01 (Euclidean) of the goal: (N,) bool."""
    return np.linalg.norm(position - goal, axis=-1) < NAVIGATION_GOAL_TOLERANCE


# ---------------------------------------------------------------------------------------------
# HalfCheetah (v5 observation; MAML rewards)


def half_cheetah_obs(qpos: np.ndarray, qvel: np.ndarray, exclude_x: bool = True) -> np.ndarray:
    """HalfCheetah-v5 observation: ``qpos`` without the root x, then ``qvel``. -> (N, 17)."""
    return np.concatenate([qpos[:, 1:] if exclude_x else qpos, qvel], axis=-1)


def half_cheetah_vel_reward(
    x_vel: np.ndarray,
    action: np.ndarray,
    goal_velocity: np.ndarray,
    forward_reward_weight: float = 1.0,
    ctrl_cost_weight: float = 0.05,
) -> tuple[np.ndarray, Parts]:
    """HalfCheetahVel: ``-|v_x - v_goal| - 0.05 ||a||^2``. (N,), (N, 6), (N,) -> (N,)."""
    forward = -forward_reward_weight * np.abs(x_vel - goal_velocity)
    ctrl = control_cost(action, ctrl_cost_weight)
    return forward - ctrl, {"reward_forward": forward, "reward_ctrl": -ctrl}


def half_cheetah_dir_reward(
    x_vel: np.ndarray,
    action: np.ndarray,
    direction: np.ndarray,
    forward_reward_weight: float = 1.0,
    ctrl_cost_weight: float = 0.05,
) -> tuple[np.ndarray, Parts]:
    """HalfCheetahDir: ``direction * v_x - 0.05 ||a||^2``. (N,), (N, 6), (N,) -> (N,)."""
    forward = forward_reward_weight * direction * x_vel
    ctrl = control_cost(action, ctrl_cost_weight)
    return forward - ctrl, {"reward_forward": forward, "reward_ctrl": -ctrl}


# ---------------------------------------------------------------------------------------------
# Ant (v5 observation, termination and cost weights)


def ant_contact_forces(
    cfrc_ext: np.ndarray, contact_force_range: tuple[float, float] = (-1.0, 1.0)
) -> np.ndarray:
    """External contact forces clipped to ``contact_force_range``: (N, nbody, 6)."""
    return np.clip(cfrc_ext, *contact_force_range)


def ant_obs(
    qpos: np.ndarray,
    qvel: np.ndarray,
    cfrc_ext: np.ndarray,
    contact_force_range: tuple[float, float] = (-1.0, 1.0),
    exclude_xy: bool = True,
    include_cfrc_ext: bool = True,
) -> np.ndarray:
    """Ant-v5 observation: ``qpos[2:]`` (13), ``qvel`` (14), clipped ``cfrc_ext[1:]`` (78).

    Returns (N, 105) with the defaults.

    ``cfrc_ext`` is MuJoCo's ``data.cfrc_ext`` as v5 reads it right after ``mj_step`` +
    ``mj_rnePostConstraint``. ``mujoco.rollout`` does not return it, so a batched env must compute
    it per env (or use ``include_cfrc_ext=False``).
    """
    parts = [qpos[:, 2:] if exclude_xy else qpos, qvel]
    if include_cfrc_ext:
        forces = ant_contact_forces(cfrc_ext[:, 1:], contact_force_range)
        parts.append(forces.reshape(forces.shape[0], -1))
    return np.concatenate(parts, axis=-1)


def ant_healthy(
    qpos: np.ndarray, qvel: np.ndarray, healthy_z_range: tuple[float, float] = (0.2, 1.0)
) -> np.ndarray:
    """Ant-v5 health: finite state and torso height in ``healthy_z_range`` (inclusive): (N,)."""
    finite = np.isfinite(qpos).all(axis=-1) & np.isfinite(qvel).all(axis=-1)
    z = qpos[:, 2]
    return finite & (healthy_z_range[0] <= z) & (z <= healthy_z_range[1])


def _ant_common(
    action: np.ndarray,
    cfrc_ext: np.ndarray,
    healthy: np.ndarray,
    ctrl_cost_weight: float,
    contact_cost_weight: float,
    healthy_reward: float,
    contact_force_range: tuple[float, float],
) -> Parts:
    """Survive bonus and control / contact costs shared by the Ant families (v5 weights)."""
    contact = ant_contact_forces(cfrc_ext, contact_force_range)
    contact_cost = contact_cost_weight * np.sum(np.square(contact), axis=(-2, -1))
    return {
        "reward_ctrl": -control_cost(action, ctrl_cost_weight),
        "reward_contact": -contact_cost,
        "reward_survive": healthy * healthy_reward,
    }


def _ant_total(task_key: str, task_term: np.ndarray, common: Parts) -> tuple[np.ndarray, Parts]:
    reward = task_term + common["reward_survive"] + common["reward_ctrl"] + common["reward_contact"]
    return reward, {task_key: task_term, **common}


def ant_vel_reward(
    x_vel: np.ndarray,
    action: np.ndarray,
    cfrc_ext: np.ndarray,
    healthy: np.ndarray,
    goal_velocity: np.ndarray,
    forward_reward_weight: float = 1.0,
    ctrl_cost_weight: float = 0.5,
    contact_cost_weight: float = 5e-4,
    healthy_reward: float = 1.0,
    contact_force_range: tuple[float, float] = (-1.0, 1.0),
) -> tuple[np.ndarray, Parts]:
    """AntVel: ``-|v_x - v_goal| + survive - ctrl - contact``. -> (N,)."""
    forward = -forward_reward_weight * np.abs(x_vel - goal_velocity)
    common = _ant_common(
        action,
        cfrc_ext,
        healthy,
        ctrl_cost_weight,
        contact_cost_weight,
        healthy_reward,
        contact_force_range,
    )
    return _ant_total("reward_forward", forward, common)


def ant_dir_reward(
    x_vel: np.ndarray,
    action: np.ndarray,
    cfrc_ext: np.ndarray,
    healthy: np.ndarray,
    direction: np.ndarray,
    forward_reward_weight: float = 1.0,
    ctrl_cost_weight: float = 0.5,
    contact_cost_weight: float = 5e-4,
    healthy_reward: float = 1.0,
    contact_force_range: tuple[float, float] = (-1.0, 1.0),
) -> tuple[np.ndarray, Parts]:
    """AntDir: ``direction * v_x + survive - ctrl - contact``. -> (N,)."""
    forward = forward_reward_weight * direction * x_vel
    common = _ant_common(
        action,
        cfrc_ext,
        healthy,
        ctrl_cost_weight,
        contact_cost_weight,
        healthy_reward,
        contact_force_range,
    )
    return _ant_total("reward_forward", forward, common)


def ant_goal_reward(
    xy_position: np.ndarray,
    action: np.ndarray,
    cfrc_ext: np.ndarray,
    healthy: np.ndarray,
    goal: np.ndarray,
    forward_reward_weight: float = 1.0,
    ctrl_cost_weight: float = 0.5,
    contact_cost_weight: float = 5e-4,
    healthy_reward: float = 1.0,
    contact_force_range: tuple[float, float] = (-1.0, 1.0),
) -> tuple[np.ndarray, Parts]:
    """AntGoal: ``-||xy - goal||_1 + survive - ctrl - contact``. (N, 2), ..., (N, 2) -> (N,)."""
    goal_term = -forward_reward_weight * np.sum(np.abs(xy_position - goal), axis=-1)
    common = _ant_common(
        action,
        cfrc_ext,
        healthy,
        ctrl_cost_weight,
        contact_cost_weight,
        healthy_reward,
        contact_force_range,
    )
    return _ant_total("reward_goal", goal_term, common)


# ---------------------------------------------------------------------------------------------
# Hopper / Walker2d (v5 observation, termination and reward)


def planar_walker_obs(qpos: np.ndarray, qvel: np.ndarray, exclude_x: bool = True) -> np.ndarray:
    """Hopper-v5 / Walker2d-v5 observation: ``qpos[1:]`` and ``qvel`` clipped to [-10, 10]."""
    return np.concatenate([qpos[:, 1:] if exclude_x else qpos, np.clip(qvel, -10.0, 10.0)], axis=-1)


def hopper_healthy(
    qpos: np.ndarray,
    qvel: np.ndarray,
    healthy_state_range: tuple[float, float] = (-100.0, 100.0),
    healthy_z_range: tuple[float, float] = (0.7, float("inf")),
    healthy_angle_range: tuple[float, float] = (-0.2, 0.2),
) -> np.ndarray:
    """Hopper-v5 health (strict bounds): state ``(qpos[2:], qvel)``, height and angle: (N,)."""
    state = np.concatenate([qpos[:, 2:], qvel], axis=-1)
    healthy_state = np.all((healthy_state_range[0] < state) & (state < healthy_state_range[1]), -1)
    z, angle = qpos[:, 1], qpos[:, 2]
    healthy_z = (healthy_z_range[0] < z) & (z < healthy_z_range[1])
    healthy_angle = (healthy_angle_range[0] < angle) & (angle < healthy_angle_range[1])
    return healthy_state & healthy_z & healthy_angle


def walker2d_healthy(
    qpos: np.ndarray,
    healthy_z_range: tuple[float, float] = (0.8, 2.0),
    healthy_angle_range: tuple[float, float] = (-1.0, 1.0),
) -> np.ndarray:
    """Walker2d-v5 health (strict bounds): torso height and angle: (N,)."""
    z, angle = qpos[:, 1], qpos[:, 2]
    healthy_z = (healthy_z_range[0] < z) & (z < healthy_z_range[1])
    healthy_angle = (healthy_angle_range[0] < angle) & (angle < healthy_angle_range[1])
    return healthy_z & healthy_angle


def locomotion_reward(
    x_vel: np.ndarray,
    action: np.ndarray,
    healthy: np.ndarray,
    forward_reward_weight: float = 1.0,
    ctrl_cost_weight: float = 1e-3,
    healthy_reward: float = 1.0,
) -> tuple[np.ndarray, Parts]:
    """Hopper-v5 / Walker2d-v5 reward: ``v_x + survive - 1e-3 ||a||^2``. -> (N,)."""
    forward = forward_reward_weight * x_vel
    survive = healthy * healthy_reward
    ctrl = control_cost(action, ctrl_cost_weight)
    reward = forward + survive - ctrl
    return reward, {"reward_forward": forward, "reward_ctrl": -ctrl, "reward_survive": survive}
