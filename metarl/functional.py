"""Parameters as dictionaries: the functional view of an ``nn.Module`` that every stage shares.

Meta-parameters travel as ``dict[str, Tensor]``; a model is called on any such dict through
:func:`torch.func.functional_call`, so the same module serves the meta-parameters, each task's
adapted parameters, and a whole batch of tasks under :func:`torch.func.vmap`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn
from torch.func import functional_call, replace_all_batch_norm_modules_

Params = dict[str, Tensor]

MODEL_PREFIX = "model."
INNER_LR_PREFIX = "inner_lr."


def prepare_model(model: nn.Module) -> nn.Module:
    """Make ``model`` safe for per-task functional calls.

    BatchNorm layers are switched to batch statistics only (the MAML convention): each task's
    forward pass normalises with its own batch, and no running statistics leak between tasks.
    """
    replace_all_batch_norm_modules_(model)
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
    return sum((left[name] * right[name]).sum() for name in left)


def tree_norm(params: Params) -> Tensor:
    return torch.sqrt(tree_dot(params, params))


def stack_trees(trees: Iterable[Params]) -> Params:
    """Stack a sequence of equally-keyed dicts along a new leading (task) dimension."""
    trees = list(trees)
    return {name: torch.stack([tree[name] for tree in trees]) for name in trees[0]}


def detach(params: Params) -> Params:
    return tree_map(torch.Tensor.detach, params)
