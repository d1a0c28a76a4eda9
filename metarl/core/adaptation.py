"""The one adaptation primitive: k differentiable gradient steps on a task's support loss.

    phi_0 = theta,    phi_{j+1} = phi_j - alpha_j * grad L_support(phi_j),    j = 0 .. k-1

Every algorithm (MAML, first-order MAML, Reptile, Hessian-free MAML, Meta-SGD), the supervised
evaluator (through :meth:`MetaAlgorithm.adaptation_curve`) and RL training and evaluation
(:func:`metarl.rl.objective.adapt_on_fresh_episodes`) run :func:`adapt`; its hook ``after_step``
sees the parameters after each step (the evaluator scores the query set there, Hessian-free MAML
records the trajectory, RL samples the next step's episodes with the policy adapted so far).

Gradients come from :func:`torch.func.grad`, so the steps compose with :func:`torch.func.vmap`
(one batched call for a meta-batch of tasks) and stay differentiable with respect to ``theta``
(exact second order) unless ``first_order`` is set, in which case the inner gradients are treated
as constants (``d phi / d theta = I``).

The step sizes ``alpha`` are fixed (``lr_mode="fixed"``), learned per parameter element
(Meta-SGD, Li et al. 2017: ``phi = theta - alpha (*) grad``) or learned per layer and per step
(MAML++, Antoniou et al. 2019). Learned step sizes live in the meta-parameter dict under
``inner_lr.`` keys and receive meta-gradients like any other meta-parameter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn
from torch.func import grad_and_value

from metarl.core.functional import INNER_LR_PREFIX, MODEL_PREFIX, Params, detach, prepare_model

LRMode = Literal["fixed", "per_parameter", "per_layer_per_step"]
LR_MODES: tuple[str, ...] = ("fixed", "per_parameter", "per_layer_per_step")


@dataclass(frozen=True)
class InnerLoopConfig:
    """How a task adapts the meta-parameters.

    Attributes:
        steps: number of inner gradient steps k.
        lr: inner step size alpha (the initial value when it is learned).
        first_order: treat inner gradients as constants (first-order MAML).
        lr_mode: ``fixed``; ``per_parameter`` (Meta-SGD); ``per_layer_per_step`` (MAML++).
    """

    steps: int = 1
    lr: float = 0.01
    first_order: bool = False
    lr_mode: LRMode = "fixed"

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ValueError(f"inner steps must be >= 0, got {self.steps}")
        if not self.lr > 0:
            raise ValueError(f"inner lr must be > 0, got {self.lr}")
        if self.lr_mode not in LR_MODES:
            raise ValueError(f"inner lr_mode must be one of {LR_MODES}, got {self.lr_mode!r}")


SupportLoss = Callable[[Params], Tensor]
"""The loss one inner step descends, as a function of the parameters."""
AfterStep = Callable[[int, Params], None]
"""``after_step(steps_taken, params)``: called with the parameters after each inner step."""
StepSupportLoss = Callable[[Params, int], Tensor]
"""``support_loss(params, step)``: the loss inner step ``step`` (0-based) descends. Supervised
problems use the same support set at every step; RL samples fresh episodes with the policy
adapted so far before each step."""


def _lr_key(step: int, name: str, config: InnerLoopConfig) -> str:
    if config.lr_mode == "per_parameter":
        return INNER_LR_PREFIX + name
    return f"{INNER_LR_PREFIX}step{min(step, config.steps - 1)}.{name}"


def step_size(meta_params: Params, config: InnerLoopConfig, step: int, name: str) -> Tensor | float:
    """The inner step size for parameter ``name`` at inner step ``step``.

    Beyond the trained number of steps (evaluation with more steps than training), the
    per-step learned rates reuse the last step's rate.
    """
    if config.lr_mode == "fixed":
        return config.lr
    return meta_params[_lr_key(step, name, config)]


def inner_step(
    params: Params,
    support_loss: SupportLoss,
    meta_params: Params,
    config: InnerLoopConfig,
    step: int,
) -> tuple[Params, Tensor]:
    """One gradient step on the support loss; returns the new parameters and the loss before it."""
    grads, loss = grad_and_value(support_loss)(params)
    if config.first_order:
        grads = detach(grads)
    updated = {
        name: value - step_size(meta_params, config, step, name) * grads[name]
        for name, value in params.items()
    }
    return updated, loss


def adapt(
    params: Params,
    support_loss: StepSupportLoss,
    meta_params: Params,
    config: InnerLoopConfig,
    *,
    steps: int | None = None,
    after_step: AfterStep | None = None,
    step_config: Callable[[int], InnerLoopConfig] | None = None,
) -> tuple[Params, list[Tensor]]:
    """Run ``steps`` (default ``config.steps``) inner steps from ``params``, step j on
    ``support_loss(., j)``, calling ``after_step(j + 1, phi_{j+1})`` after each.

    ``step_config(j)``, if given, replaces ``config`` for step j (the MAML paper's evaluation
    halves the step size after the first). ``params`` may hold many tasks along a leading
    dimension when ``support_loss`` is the sum of their independent losses: the gradient of the
    sum is then every task's own (RL adapts all tasks at once this way, resampling in
    ``after_step``).

    Returns:
        The adapted parameters phi_k and the support losses before each step.
    """
    support_losses = []
    for step in range(config.steps if steps is None else steps):
        step_loss = lambda p, step=step: support_loss(p, step)  # noqa: E731
        this_config = config if step_config is None else step_config(step)
        params, loss = inner_step(params, step_loss, meta_params, this_config, step)
        support_losses.append(loss)
        if after_step is not None:
            after_step(step + 1, params)
    return params, support_losses


class MetaLearner(nn.Module):
    """Holds everything the outer optimizer updates: the network and any learned inner step sizes.

    ``meta_params()`` returns them as one dict (``model.<name>`` and ``inner_lr.<...>`` keys) whose
    values are the module's own ``nn.Parameter`` objects, so meta-gradients keyed by the same names
    can be written straight into ``.grad`` for any torch optimizer.
    """

    def __init__(self, model: nn.Module, inner: InnerLoopConfig) -> None:
        super().__init__()
        self.model = prepare_model(model)
        self.inner = inner
        self.inner_lr = nn.ParameterDict()
        if inner.lr_mode == "fixed":
            return
        for name, param in model.named_parameters():
            if inner.lr_mode == "per_parameter":
                keys_and_shapes = [(name, param.shape)]
            else:
                keys_and_shapes = [(f"step{s}.{name}", torch.Size()) for s in range(inner.steps)]
            for key, shape in keys_and_shapes:
                init = torch.full(shape, inner.lr, dtype=param.dtype, device=param.device)
                self.inner_lr[key.replace(".", ":")] = nn.Parameter(init)

    def meta_params(self) -> Params:
        out: Params = {MODEL_PREFIX + name: p for name, p in self.model.named_parameters()}
        out.update({INNER_LR_PREFIX + k.replace(":", "."): p for k, p in self.inner_lr.items()})
        return out
