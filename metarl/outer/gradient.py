"""The outer optimizer of the meta-gradient methods: Adam or SGD on the meta-parameters.

One place for the plain gradient outer step, shared by the supervised trainer (``outer:``) and the
RL trainer with ``outer: adam`` / ``outer: sgd`` (``optimizer:``)::

    grad(theta) = meta_grads            # from MetaAlgorithm.meta_step, already checked finite
    grad(theta) *= min(1, clip / ||grad||)                                   # if grad_clip
    theta <- optimizer.step(theta, grad)                                     # Adam or SGD
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor
from torch.nn.utils import clip_grads_with_norm_

OUTER_OPTIMIZERS: tuple[str, ...] = ("adam", "sgd")


def make_outer_optimizer(name: str, params: Iterable[Tensor], lr: float) -> torch.optim.Optimizer:
    """``torch.optim.Adam`` (the MAML paper's outer optimizer) or plain ``torch.optim.SGD``."""
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    raise ValueError(f"outer optimizer must be one of {OUTER_OPTIMIZERS}, got {name!r}")


def apply_meta_gradient(
    optimizer: torch.optim.Optimizer,
    meta_params: dict[str, Tensor],
    meta_grads: dict[str, Tensor],
    grad_norm: Tensor,
    grad_clip: float | None,
) -> None:
    """Write ``meta_grads`` into the parameters' ``.grad``, clip them to the global L2 norm
    ``grad_clip`` (given their norm ``grad_norm``) if set, and take one optimizer step.

    Parameters without a meta-gradient get ``grad = None``, so the optimizer leaves them alone.
    The tensors of ``meta_grads`` become the ``.grad`` themselves (no copy), so clipping scales
    them in place.
    """
    for name, param in meta_params.items():
        param.grad = meta_grads.get(name)
    if grad_clip is not None:
        clip_grads_with_norm_(
            [p for p in meta_params.values() if p.grad is not None], grad_clip, grad_norm
        )
    optimizer.step()
