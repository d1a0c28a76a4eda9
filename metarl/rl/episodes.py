"""A meta-batch of episodes as padded tensors in ``[time H, task T, episode E, ...]`` layout.

Step ``t`` of an episode holds the observation s_t the action was taken in, the action a_t, the
reward r_t received for it and the sampling policy's log-probability log pi(a_t | s_t). Episodes
that end before the horizon are padded: ``mask`` is 1.0 on real steps and 0.0 after the step on
which the episode terminated, and every padded entry is zero (finite, so masked arithmetic never
meets NaN). The horizon H is part of the problem (the finite-horizon objective E[sum_{t<H} r_t]
of the MAML formulation), so reaching it is an ending like any other.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, cast

from torch import Tensor


@dataclass(frozen=True)
class Episodes:
    """Episodes of T tasks x E episodes, padded to the horizon H.

    Attributes:
        observations: ``(H, T, E, obs_dim)`` observation before each action.
        actions: ``(H, T, E, act_dim)`` float, or ``(H, T, E)`` long for discrete actions.
        rewards: ``(H, T, E)``.
        mask: ``(H, T, E)``, 1.0 on real steps, 0.0 on padding.
        log_probs: ``(H, T, E)`` log-probability of each action under the sampling policy.
        dist_params: the sampling policy's distribution parameters at every step (e.g. ``mean``
            and ``log_std``, ``(H, T, E, act_dim)``), for the KL to the sampling policy.
        returns: ``(H, T, E)`` discounted returns-to-go, once advantages are computed.
        values: ``(H, T, E)`` baseline predictions, once advantages are computed.
        advantages: ``(H, T, E)``, once advantages are computed.
        successes: ``(T, E)`` 1.0 for an episode whose env reported ``info["success"]`` at
            any step (Meta-World), 0.0 otherwise; None for envs without a success signal.
    """

    observations: Tensor
    actions: Tensor
    rewards: Tensor
    mask: Tensor
    log_probs: Tensor
    dist_params: dict[str, Tensor] = field(default_factory=dict)
    returns: Tensor | None = None
    values: Tensor | None = None
    advantages: Tensor | None = None
    successes: Tensor | None = None

    def __post_init__(self) -> None:
        shape = self.rewards.shape
        if len(shape) != 3:
            raise ValueError(f"rewards must be (horizon, tasks, episodes), got {tuple(shape)}")
        named = {
            "observations": self.observations,
            "actions": self.actions,
            "mask": self.mask,
            "log_probs": self.log_probs,
            **{f"dist_params[{k!r}]": v for k, v in self.dist_params.items()},
            **{k: getattr(self, k) for k in ("returns", "values", "advantages")},
        }
        for name, tensor in named.items():
            if tensor is not None and tensor.shape[:3] != shape:
                raise ValueError(
                    f"Episodes.{name} has shape {tuple(tensor.shape)}; its first three dims must "
                    f"be (horizon, tasks, episodes) = {tuple(shape)} like rewards"
                )
        if self.successes is not None and self.successes.shape != shape[1:]:
            raise ValueError(
                f"Episodes.successes has shape {tuple(self.successes.shape)}; expected "
                f"(tasks, episodes) = {tuple(shape[1:])}"
            )

    @property
    def horizon(self) -> int:
        return self.rewards.shape[0]

    @property
    def num_tasks(self) -> int:
        return self.rewards.shape[1]

    @property
    def episodes_per_task(self) -> int:
        return self.rewards.shape[2]

    def lengths(self) -> Tensor:
        """Steps in each episode, ``(T, E)``."""
        return self.mask.sum(dim=0)

    def num_steps(self) -> int:
        """Environment steps in the batch (a host synchronisation: for logging only)."""
        return int(self.mask.sum().item())

    def episode_returns(self) -> Tensor:
        """Undiscounted return sum_t r_t of each episode, ``(T, E)``."""
        return (self.rewards * self.mask).sum(dim=0)

    def success_rates(self) -> Tensor | None:
        """Fraction of each task's episodes that succeeded, ``(T,)``; None without successes."""
        return None if self.successes is None else self.successes.mean(dim=1)

    def replace(self, **changes: Tensor | None) -> Episodes:
        """A copy with some fields replaced (e.g. ``advantages=...``)."""
        # mypy checks **changes against every field's type; callers replace the optional ones.
        return dataclasses.replace(self, **cast(dict[str, Any], changes))

    def task_data(self, prefix: str) -> dict[str, Tensor]:
        """The tensors a policy-gradient loss needs, task dimension first, keys ``prefix + name``.

        Keys: ``observations (T, H, E, obs)``, ``actions``, ``mask``, ``log_probs``,
        ``advantages`` and ``old_<name>`` for each sampling distribution parameter. This is one
        half of a ``TaskBatch`` (see :func:`metarl.rl.objective.make_task_batch`).
        """
        if self.advantages is None:
            raise ValueError(
                "these episodes have no advantages yet; call "
                "metarl.rl.advantages.compute_advantages(episodes, ...) before building task data"
            )
        tensors = {
            "observations": self.observations,
            "actions": self.actions,
            "mask": self.mask,
            "log_probs": self.log_probs,
            "advantages": self.advantages,
            **{f"old_{name}": value for name, value in self.dist_params.items()},
        }
        return {prefix + name: value.movedim(1, 0) for name, value in tensors.items()}
