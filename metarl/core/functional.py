"""Parameters as dictionaries: the functional view of an ``nn.Module`` that every stage shares.

Meta-parameters travel as ``dict[str, Tensor]``; a model is called on any such dict through
:func:`torch.func.functional_call`, so the same module serves the meta-parameters, each task's
adapted parameters, and a whole batch of tasks under :func:`torch.func.vmap`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import cast

import torch
from torch import Tensor, nn
from torch.func import functional_call

Params = dict[str, Tensor]

MODEL_PREFIX = "model."
INNER_LR_PREFIX = "inner_lr."


class BatchStatisticsNorm(nn.Module):
    """Batch normalisation with the current batch's statistics only, written in elementary ops.

    Stands in for every ``nn.BatchNorm*d`` of a meta-learned model (the MAML convention: each
    task normalises with its own batch, at training and at test time, and no running statistics
    leak between tasks). torch's fused ``batch_norm`` has wrong second derivatives under
    :func:`torch.func.vmap` (functorch issue #534), which second-order MAML differentiates
    through; mean, variance and affine map written out differentiate correctly to any order.
    The ``weight`` and ``bias`` parameters are the replaced module's own, under the same names.
    """

    def __init__(self, source: nn.modules.batchnorm._BatchNorm) -> None:
        super().__init__()
        self.eps = source.eps
        self.weight = source.weight
        self.bias = source.bias

    def forward(self, x: Tensor) -> Tensor:
        dims = [0, *range(2, x.dim())]  # every dimension but the channels
        mean = x.mean(dim=dims, keepdim=True)
        variance = x.var(dim=dims, correction=0, keepdim=True)
        normalised = (x - mean) * torch.rsqrt(variance + self.eps)
        if self.weight is None:
            return normalised
        shape = [1, -1] + [1] * (x.dim() - 2)
        return normalised * self.weight.view(shape) + self.bias.view(shape)


def prepare_model(model: nn.Module) -> nn.Module:
    """Make ``model`` safe for per-task functional calls, in place.

    Every BatchNorm layer becomes a :class:`BatchStatisticsNorm` with the same parameters.
    """
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(parent, name, BatchStatisticsNorm(child))
    return model


def model_forward(model: nn.Module) -> Callable[[Params, Tensor], Tensor]:
    """Return ``forward(params, x)``: ``model`` run with the given parameters and its buffers."""
    buffers = dict(model.named_buffers())

    def forward(params: Params, inputs: Tensor) -> Tensor:
        return functional_call(model, (params, buffers), (inputs,))

    return forward


def model_params(meta_params: Params) -> Params:
    """The network's parameters in a meta-parameter dict (keys without the ``model.`` prefix)."""
    start = len(MODEL_PREFIX)
    return {k[start:]: v for k, v in meta_params.items() if k.startswith(MODEL_PREFIX)}


def tree_map(fn: Callable[[Tensor], Tensor], params: Params) -> Params:
    return {name: fn(value) for name, value in params.items()}


def tree_zip(fn: Callable[[Tensor, Tensor], Tensor], left: Params, right: Params) -> Params:
    return {name: fn(left[name], right[name]) for name in left}


def tree_dot(left: Params, right: Params) -> Tensor:
    """Sum over all entries of ``left * right`` (per task when called under vmap)."""
    # sum() types as Tensor | Literal[0]; the 0 only for empty dicts, which no model has.
    return cast(Tensor, sum((left[name] * right[name]).sum() for name in left))


def tree_norm(params: Params) -> Tensor:
    return torch.sqrt(tree_dot(params, params))


def stack_trees(trees: Iterable[Params]) -> Params:
    """Stack a sequence of equally-keyed dicts along a new leading (task) dimension."""
    trees = list(trees)
    return {name: torch.stack([tree[name] for tree in trees]) for name in trees[0]}


def detach(params: Params) -> Params:
    return tree_map(torch.Tensor.detach, params)
