"""Sinusoid regression, exactly as in MAML (Finn, Abbeel and Levine, 2017, section 5.1).

Each task is y = A sin(x - phi) with amplitude A ~ U[0.1, 5.0] and phase phi ~ U[0, pi]; inputs
x ~ U[-5, 5]. A task gives K support points to adapt on and a separate set of query points drawn
from the same function, on which the adapted model is scored with the mean squared error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from metarl.core.problem import TaskBatch
from metarl.supervised.tasks.regression import FewShotRegressionConfig


@dataclass(frozen=True)
class SinusoidConfig(FewShotRegressionConfig):
    """The sinusoid task family (defaults: the MAML paper)."""

    family = "sinusoid"

    amplitude_min: float = 0.1
    """Lower end of the uniform amplitude range."""
    amplitude_max: float = 5.0
    """Upper end of the uniform amplitude range."""
    phase_min: float = 0.0
    """Lower end of the uniform phase range (radians)."""
    phase_max: float = math.pi
    """Upper end of the uniform phase range (radians)."""
    x_min: float = -5.0
    """Lower end of the uniform input range."""
    x_max: float = 5.0
    """Upper end of the uniform input range."""

    def __post_init__(self) -> None:
        super().__post_init__()
        for low, high in (
            ("amplitude_min", "amplitude_max"),
            ("phase_min", "phase_max"),
            ("x_min", "x_max"),
        ):
            if not getattr(self, low) <= getattr(self, high):
                raise ValueError(
                    f"task.sinusoid.{low} ({getattr(self, low)}) must be <= "
                    f"task.sinusoid.{high} ({getattr(self, high)})"
                )


class SinusoidTasks:
    """Samples meta-batches of sinusoid regression tasks.

    The train and test distributions are the same family; held-out evaluation tasks differ only
    by the generator's seed.
    """

    loss: Literal["mse"] = "mse"
    input_shape: tuple[int, ...] = (1,)
    output_dim: int = 1

    def __init__(
        self,
        config: SinusoidConfig,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.config = config
        self.device = torch.device(device)
        self.dtype = dtype

    def sample(
        self, num_tasks: int, generator: torch.Generator, *, support: int | None = None
    ) -> TaskBatch:
        """Draw ``num_tasks`` tasks with their support and query points.

        Random numbers are drawn in float64 on the generator's own device and then moved to the
        distribution's device and dtype, so one seed gives the same tasks whatever the dtype.

        Returns:
            ``support_x``, ``support_y`` (T, K, 1); ``query_x``, ``query_y`` (T, Q, 1);
            ``amplitude``, ``phase`` (T,).
        """
        cfg = self.config
        support = cfg.support_size(num_tasks, support)

        def uniform(low: float, high: float, *shape: int) -> Tensor:
            draw = torch.rand(
                shape, generator=generator, device=generator.device, dtype=torch.float64
            )
            return low + (high - low) * draw

        amplitude = uniform(cfg.amplitude_min, cfg.amplitude_max, num_tasks)  # (T,)
        phase = uniform(cfg.phase_min, cfg.phase_max, num_tasks)  # (T,)
        x = uniform(cfg.x_min, cfg.x_max, num_tasks, support + cfg.query, 1)  # (T, K + Q, 1)
        y = amplitude[:, None, None] * torch.sin(x - phase[:, None, None])
        x, y, amplitude, phase = (
            t.to(device=self.device, dtype=self.dtype) for t in (x, y, amplitude, phase)
        )
        return {
            "support_x": x[:, :support],
            "support_y": y[:, :support],
            "query_x": x[:, support:],
            "query_y": y[:, support:],
            "amplitude": amplitude,
            "phase": phase,
        }
