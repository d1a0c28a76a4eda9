"""Discounted returns, GAE(lambda) and advantage normalisation, batched over ``(H, T, E)``.

All functions take padded ``(H, T, E)`` tensors with a ``mask`` (1.0 on real steps) and treat the
step after the last real one, and the step after the horizon, as terminal (value 0): the MAML
objective is the finite-horizon return E[sum_{t<H} r_t]. The only Python loop is the backward
recursion over time; tasks and episodes are batched.

    returns      R_t = r_t + gamma R_{t+1}
    TD residual  delta_t = r_t + gamma V(s_{t+1}) - V(s_t)
    GAE          A_t = sum_{l>=0} (gamma lambda)^l delta_{t+l}     (Schulman et al. 2016, eq. 16)

lambda = 1 gives A_t = R_t - V(s_t) (the MAML setting); lambda = 0 gives A_t = delta_t.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from metarl.errors import check_finite
from metarl.rl.episodes import Episodes

if TYPE_CHECKING:
    from metarl.rl.baseline import LinearFeatureBaseline


def _reverse_discounted_sum(values: Tensor, mask: Tensor, discount: float) -> Tensor:
    """y_t = m_t (x_t + discount * y_{t+1}), y_H = 0, along dim 0."""
    running = torch.zeros_like(values[0])
    backwards = []
    for t in range(values.shape[0] - 1, -1, -1):
        running = mask[t] * (values[t] + discount * running)
        backwards.append(running)
    return torch.stack(backwards[::-1])


def discounted_returns(rewards: Tensor, mask: Tensor, gamma: float) -> Tensor:
    """R_t = sum_{l>=0} gamma^l r_{t+l} over the rest of the episode, ``(H, T, E)``."""
    _check_discount("gamma", gamma)
    return _reverse_discounted_sum(rewards, mask, gamma)


def generalized_advantages(
    rewards: Tensor, values: Tensor, mask: Tensor, gamma: float, lam: float
) -> Tensor:
    """GAE(gamma, lambda) advantages, ``(H, T, E)``; ``values`` are V(s_t) at every step."""
    _check_discount("gamma", gamma)
    _check_discount("gae_lambda", lam)
    values = values * mask
    # V(s_{t+1}) with 0 after the last real step and after the horizon.
    next_values = torch.cat([values[1:], torch.zeros_like(values[:1])])
    deltas = rewards + gamma * next_values - values
    return _reverse_discounted_sum(deltas, mask, gamma * lam)


def normalize(x: Tensor, mask: Tensor, eps: float = 1e-8) -> Tensor:
    """(x - mean) / (std + eps) per task over its real steps; padding stays 0.

    Mean and (population) standard deviation are taken over all valid steps of each task (its
    ``(H, E)`` entries with ``mask`` 1, each step weighing the same), as rllab and the MAML code
    normalise. pytorch-maml-rl's ``weighted_normalize`` averages the per-episode means instead,
    which is the same only when every episode of the task has the same length.
    """
    count = mask.sum(dim=(0, 2), keepdim=True).clamp(min=1.0)  # (1, T, 1)
    mean = (x * mask).sum(dim=(0, 2), keepdim=True) / count
    var = (((x - mean) * mask) ** 2).sum(dim=(0, 2), keepdim=True) / count
    return (x - mean) / (var.sqrt() + eps) * mask


def compute_advantages(
    episodes: Episodes,
    gamma: float,
    gae_lambda: float,
    baseline: LinearFeatureBaseline | None,
    normalize_advantages: bool = True,
) -> Episodes:
    """Returns, baseline values and advantages of ``episodes`` (a new ``Episodes``).

    The baseline (if any) is fitted per task on these episodes' discounted returns, then predicts
    V(s_t) for GAE. Without a baseline V = 0, so with lambda = 1 the advantage is the return.
    """
    check_finite(
        "rewards", episodes.rewards, "the environment returned a non-finite reward on that step"
    )
    returns = discounted_returns(episodes.rewards, episodes.mask, gamma)
    with_returns = episodes.replace(returns=returns)
    if baseline is None:
        values = torch.zeros_like(returns)
    else:
        baseline.fit(with_returns)
        values = baseline.predict(with_returns)
    advantages = generalized_advantages(episodes.rewards, values, episodes.mask, gamma, gae_lambda)
    if normalize_advantages:
        advantages = normalize(advantages, episodes.mask)
    check_finite(
        "advantages",
        advantages,
        "rewards, returns and baseline values were finite, so the overflow is in GAE or the "
        "normalisation (extremely large rewards?)",
    )
    return with_returns.replace(values=values, advantages=advantages)


def _check_discount(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
