"""The networks of the MAML paper's supervised experiments, as plain ``nn.Module`` s.

Nothing here is meta-learning specific: the core runs any module through
:func:`torch.func.functional_call`, and :class:`~metarl.core.adaptation.MetaLearner` switches
BatchNorm layers to per-task batch statistics (:func:`metarl.core.functional.prepare_model`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Literal

from torch import Tensor, nn

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh}


@dataclass(frozen=True)
class ModelConfig:
    """Which network to meta-learn."""

    kind: Literal["mlp", "conv4"] = "mlp"
    """``mlp`` (sinusoid regression) or ``conv4`` (the 4-block conv net for images)."""
    hidden: tuple[int, ...] = (40, 40)
    """Hidden layer widths of the MLP."""
    activation: str = "relu"
    """MLP nonlinearity: ``relu`` or ``tanh``."""
    filters: int = 64
    """Channels of every Conv4 block."""

    def __post_init__(self) -> None:
        if self.kind not in ("mlp", "conv4"):
            raise ValueError(f"model.kind must be 'mlp' or 'conv4', got {self.kind!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"model.activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}"
            )
        if any(width < 1 for width in self.hidden):
            raise ValueError(f"model.hidden widths must be >= 1, got {self.hidden}")
        if self.filters < 1:
            raise ValueError(f"model.filters must be >= 1, got {self.filters}")


class MLP(nn.Module):
    """in_dim -> hidden ... -> out_dim, with the activation between layers.

    Inputs of more than one dimension (images) are flattened after the batch dimension.
    """

    def __init__(
        self,
        input_shape: tuple[int, ...],
        output_dim: int,
        hidden: tuple[int, ...],
        activation: str = "relu",
    ) -> None:
        super().__init__()
        widths = [math.prod(input_shape), *hidden]
        layers: list[nn.Module] = [nn.Flatten()] if len(input_shape) > 1 else []
        for width_in, width_out in itertools.pairwise(widths):
            layers += [nn.Linear(width_in, width_out), ACTIVATIONS[activation]()]
        layers.append(nn.Linear(widths[-1], output_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class Conv4(nn.Module):
    """Four blocks of conv 3x3 (``filters`` channels) -> BatchNorm -> ReLU -> max-pool 2, then a
    linear classifier (Vinyals et al., 2016; MAML section 5.2). A 28x28 image leaves the blocks as
    1x1x``filters`` features."""

    def __init__(self, input_shape: tuple[int, ...], output_dim: int, filters: int = 64) -> None:
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(f"conv4 needs (channels, height, width) inputs, got {input_shape}")
        channels, height, width = input_shape
        blocks: list[nn.Module] = []
        for block in range(4):
            blocks += [
                nn.Conv2d(channels if block == 0 else filters, filters, 3, padding=1),
                nn.BatchNorm2d(filters),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            height, width = height // 2, width // 2
        if height < 1 or width < 1:
            raise ValueError(f"conv4 needs images of at least 16x16, got {input_shape}")
        self.features = nn.Sequential(*blocks, nn.Flatten())
        self.head = nn.Linear(filters * height * width, output_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))  # (N, C, H, W) -> (N, output_dim)


def build_model(config: ModelConfig, input_shape: tuple[int, ...], output_dim: int) -> nn.Module:
    """The network ``config`` describes, for ``input_shape`` inputs and ``output_dim`` outputs."""
    if config.kind == "mlp":
        return MLP(input_shape, output_dim, config.hidden, config.activation)
    return Conv4(input_shape, output_dim, config.filters)
