"""Few-shot linear regression: the task family the MAML theory is worked out on.

Each task is y = w^T x + b + noise with weights w ~ N(0, weight_std^2 I_d), bias b ~ N(0,
bias_std^2), inputs x ~ N(0, I_d) and Gaussian label noise of ``noise_std``. Its support loss is
a quadratic in (w, b) for a linear model, so its meta-gradients have closed forms, and with an MLP
it is the smallest regression family in which a meta-learned initialisation has to encode a
whole distribution of functions rather than one curve.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from metarl.core.problem import TaskBatch
from metarl.supervised.tasks.regression import FewShotRegressionConfig


@dataclass(frozen=True)
class LinearConfig(FewShotRegressionConfig):
    """The linear regression task family."""

    family = "linear"

    dim: int = 5
    """Input dimension d."""
    weight_std: float = 1.0
    """Standard deviation of each weight of w."""
    bias_std: float = 1.0
    """Standard deviation of the bias b."""
    noise_std: float = 0.0
    """Standard deviation of the Gaussian noise added to every label."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.dim < 1:
            raise ValueError(f"task.linear.dim must be >= 1, got {self.dim}")
        for key in ("weight_std", "bias_std", "noise_std"):
            if getattr(self, key) < 0:
                raise ValueError(f"task.linear.{key} must be >= 0, got {getattr(self, key)}")


class LinearTasks:
    """Samples meta-batches of linear regression tasks (one family for both splits: held-out
    tasks differ by the generator's seed)."""

    loss: Literal["mse"] = "mse"
    output_dim: int = 1

    def __init__(
        self,
        config: LinearConfig,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.config = config
        self.device = torch.device(device)
        self.dtype = dtype
        self.input_shape: tuple[int, ...] = (config.dim,)

    def sample(
        self, num_tasks: int, generator: torch.Generator, *, support: int | None = None
    ) -> TaskBatch:
        """Draw ``num_tasks`` tasks (in float64 on the generator's device, then moved, so one seed
        gives the same tasks in every dtype).

        Returns:
            ``support_x`` (T, K, d), ``support_y`` (T, K, 1), ``query_x`` (T, Q, d),
            ``query_y`` (T, Q, 1), ``weights`` (T, d), ``bias`` (T,).
        """
        cfg = self.config
        support = cfg.support_size(num_tasks, support)

        def normal(*shape: int) -> Tensor:
            return torch.randn(
                shape, generator=generator, device=generator.device, dtype=torch.float64
            )

        weights = cfg.weight_std * normal(num_tasks, cfg.dim)  # (T, d)
        bias = cfg.bias_std * normal(num_tasks)  # (T,)
        x = normal(num_tasks, support + cfg.query, cfg.dim)  # (T, K + Q, d)
        y = torch.einsum("tnd,td->tn", x, weights) + bias[:, None]
        y = (y + cfg.noise_std * normal(*y.shape)).unsqueeze(-1)  # (T, K + Q, 1)
        x, y, weights, bias = (
            t.to(device=self.device, dtype=self.dtype) for t in (x, y, weights, bias)
        )
        return {
            "support_x": x[:, :support],
            "support_y": y[:, :support],
            "query_x": x[:, support:],
            "query_y": y[:, support:],
            "weights": weights,
            "bias": bias,
        }
