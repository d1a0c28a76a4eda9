"""The linear feature baseline of rllab, the MAML code and pytorch-maml-rl, fitted per task.

Each step is described by the features (all zero on padded steps)

    phi(s_t, t) = [s_t, s_t^2, t/100, (t/100)^2, (t/100)^3, 1]        (2 obs_dim + 4 numbers)

and each task i gets its own weights, the ridge-regularised least-squares fit to the discounted
returns of that task's episodes:

    w_i = (X_i^T X_i + c I)^-1 X_i^T R_i,        V_i(s_t) = phi(s_t, t)^T w_i.

All tasks are solved in one batched Cholesky solve (in float64: the normal equations square the
condition number, and the cubic time feature spans six orders of magnitude). A task whose system
is not numerically positive definite, or whose solution is not finite, has its ridge coefficient
c raised tenfold and is solved again, as pytorch-maml-rl does, up to ``max_tries`` times.
"""

from __future__ import annotations

import torch
from torch import Tensor

from metarl.errors import check_finite
from metarl.rl.episodes import Episodes


def baseline_features(observations: Tensor, mask: Tensor) -> Tensor:
    """phi for every step, ``(H, T, E, obs)`` and ``(H, T, E)`` -> ``(H, T, E, 2 obs + 4)``."""
    horizon = observations.shape[0]
    m = mask.unsqueeze(-1)  # (H, T, E, 1)
    time = torch.arange(horizon, device=mask.device, dtype=mask.dtype).view(-1, 1, 1, 1) / 100.0
    time = time * m
    obs = observations * m
    return torch.cat([obs, obs**2, time, time**2, time**3, m], dim=-1)


class LinearFeatureBaseline:
    """V(s_t) = phi(s_t, t)^T w_task, refitted on every batch of episodes.

    Args:
        reg_coeff: initial ridge coefficient c (pytorch-maml-rl's 1e-5).
        max_tries: solves per task, raising c tenfold after each failure.
    """

    def __init__(self, reg_coeff: float = 1e-5, max_tries: int = 5) -> None:
        if not reg_coeff > 0:
            raise ValueError(f"baseline reg_coeff must be > 0, got {reg_coeff}")
        if max_tries < 1:
            raise ValueError(f"baseline max_tries must be >= 1, got {max_tries}")
        self.reg_coeff = reg_coeff
        self.max_tries = max_tries
        self.weights: Tensor | None = None
        """``(T, F)`` float64 weights of the last fit."""
        self.reg_used: Tensor | None = None
        """``(T,)`` ridge coefficient each task needed in the last fit."""

    def fit(self, episodes: Episodes) -> None:
        """Fit one weight vector per task to ``episodes.returns``."""
        if episodes.returns is None:
            raise ValueError(
                "the baseline fits discounted returns; pass episodes with returns set "
                "(metarl.rl.advantages.compute_advantages does this)"
            )
        check_finite(
            "observations", episodes.observations, "the environment returned a non-finite state"
        )
        check_finite("returns", episodes.returns, "the rewards overflow when discounted")
        features = baseline_features(episodes.observations, episodes.mask).double()
        targets = (episodes.returns * episodes.mask).double()
        gram = torch.einsum("htef,hteg->tfg", features, features)  # (T, F, F)
        moments = torch.einsum("htef,hte->tf", features, targets)  # (T, F)
        eye = torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
        reg = torch.full(gram.shape[:1], self.reg_coeff, dtype=gram.dtype, device=gram.device)
        for _ in range(self.max_tries):
            chol, info = torch.linalg.cholesky_ex(gram + reg.view(-1, 1, 1) * eye)
            weights = torch.cholesky_solve(moments.unsqueeze(-1), chol).squeeze(-1)
            solved = (info == 0) & torch.isfinite(weights).all(dim=-1)
            if bool(solved.all()):
                self.weights, self.reg_used = weights, reg
                return
            reg = torch.where(solved, reg, reg * 10.0)
        failed = (~solved).nonzero().flatten().tolist()
        scale = features.abs().amax().item()
        raise FloatingPointError(
            f"linear feature baseline: the ridge least squares of task(s) {failed} has no finite "
            f"solution even with reg_coeff raised to {reg.max().item():g} after {self.max_tries} "
            f"tries; the largest feature is {scale:g} (observations and their squares), so "
            "rescale the observations or start from a larger reg_coeff"
        )

    def predict(self, episodes: Episodes) -> Tensor:
        """V(s_t) for every step, ``(H, T, E)`` in the episodes' dtype (0 on padding)."""
        if self.weights is None:
            raise ValueError("the baseline has not been fitted; call fit(episodes) first")
        if self.weights.shape[0] != episodes.num_tasks:
            raise ValueError(
                f"the baseline was fitted on {self.weights.shape[0]} tasks but these episodes "
                f"have {episodes.num_tasks}; fit it on the same meta-batch it predicts"
            )
        features = baseline_features(episodes.observations, episodes.mask).double()
        values = torch.einsum("htef,tf->hte", features, self.weights)
        return values.to(episodes.rewards.dtype)
