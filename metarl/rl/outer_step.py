"""The RL outer update (the meta-optimizer), one of ``outer:``

* ``trpo``: MAML-TRPO's natural-gradient step on the post-adaptation surrogate within a KL trust
  region (:func:`metarl.outer.trpo.trpo_step`);
* ``ppo``: ProMP's clipped-surrogate Adam epochs, adaptation recomputed each epoch
  (:func:`metarl.outer.ppo.ppo_step`);
* ``adam`` / ``sgd``: the algorithm's meta-gradient (``meta_step``) through the outer optimizer the
  supervised side uses too (:mod:`metarl.outer.gradient`).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn.utils import get_total_norm

from metarl.core.algorithms.base import MetaAlgorithm
from metarl.core.functional import Params
from metarl.core.problem import TaskBatch
from metarl.outer.gradient import apply_meta_gradient, make_outer_optimizer
from metarl.outer.ppo import ppo_step
from metarl.outer.trpo import trpo_step
from metarl.rl.config import RLConfig
from metarl.rl.objective import PolicyGradientProblem
from metarl.run.distributed import DistributedContext


def make_rl_optimizer(config: RLConfig, params: list[Tensor]) -> torch.optim.Optimizer | None:
    """The torch optimizer ``config.outer`` keeps between iterations; TRPO needs none."""
    if config.outer == "trpo":
        return None
    if config.outer == "ppo":
        return torch.optim.Adam(params, lr=config.ppo.lr)
    return make_outer_optimizer(config.outer, params, config.optimizer.lr)


def rl_outer_step(
    config: RLConfig,
    algorithm: MetaAlgorithm,
    meta_params: Params,
    problem: PolicyGradientProblem,
    batch: TaskBatch,
    optimizer: torch.optim.Optimizer | None,
    context: DistributedContext,
) -> dict[str, Tensor]:
    """Update ``meta_params`` in place with ``config.outer``; its statistics by TensorBoard name.

    Raises:
        FloatingPointError: a non-finite meta-loss or meta-gradient (adam / sgd; TRPO and PPO
            reject such steps themselves); nothing was applied.
    """
    if config.outer == "trpo":
        local_count = context.share_size(config.meta_batch_size)
        stats = trpo_step(
            algorithm,
            meta_params,
            problem,
            batch,
            config.trpo,
            average=lambda values: context.task_mean(values, local_count),
        )
        return {f"outer/{name}": value for name, value in stats.items()}
    if config.outer == "ppo":
        stats = ppo_step(algorithm, meta_params, problem, batch, config.ppo, optimizer)
        return {f"outer/{name}": value for name, value in stats.items()}
    result = algorithm.meta_step(meta_params, problem, batch)
    grad_norm = get_total_norm(list(result.meta_grads.values()))
    # One host synchronisation: a non-finite update must never be applied.
    if not bool(torch.isfinite(result.meta_loss) & torch.isfinite(grad_norm)):
        raise FloatingPointError(
            f"non-finite meta-loss ({result.meta_loss.item()}) or meta-gradient norm "
            f"({grad_norm.item()}); lower optimizer.lr or inner.lr, or set optimizer.grad_clip"
        )
    apply_meta_gradient(
        optimizer, meta_params, result.meta_grads, grad_norm, config.optimizer.grad_clip
    )
    return {"outer/meta_loss": result.meta_loss, "outer/grad_norm": grad_norm}
