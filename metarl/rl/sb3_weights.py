"""Weight transfer between Stable-Baselines3 actors and our functional policies.

:func:`sb3_to_policy_params` and :func:`policy_params_to_sb3` are the one place where weights
cross between the two: the actor MLP layer by layer, the action head, and the state-independent
``log_std``. :func:`sb3_policy_kwargs` builds an SB3 ``MlpPolicy`` whose actor has exactly our
policy's architecture, so the transfer is exact.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

from metarl.core.functional import Params
from metarl.rl.config import PolicyConfig
from metarl.rl.policies import ACTIVATIONS, GaussianMLPPolicy, Policy

if TYPE_CHECKING:
    from stable_baselines3 import PPO
    from stable_baselines3.common.policies import ActorCriticPolicy


def _actor_of(sb3_model: PPO | ActorCriticPolicy) -> ActorCriticPolicy:
    # A PPO model holds its policy in .policy; a policy is passed as it is.
    return cast("ActorCriticPolicy", getattr(sb3_model, "policy", sb3_model))


def _our_layers(policy: Policy) -> tuple[list[tuple[str, nn.Linear]], list[type[nn.Module]]]:
    """Our policy's linear layers in order (with parameter-name prefixes) and its activations."""
    linears = [(name, m) for name, m in policy.named_modules() if isinstance(m, nn.Linear)]
    activations = [type(m) for m in policy.modules() if type(m) in ACTIVATIONS.values()]
    return linears, activations


def _sb3_layers(actor: ActorCriticPolicy) -> tuple[list[nn.Linear], list[type[nn.Module]]]:
    """SB3's actor path: the ``policy_net`` layers of the MLP extractor, then ``action_net``."""
    body = list(actor.mlp_extractor.policy_net)
    # SB3 types action_net as nn.Module; for a Box action space it is an nn.Linear.
    linears = [m for m in body if isinstance(m, nn.Linear)] + [cast(nn.Linear, actor.action_net)]
    activations = [type(m) for m in body if not isinstance(m, nn.Linear)]
    return linears, activations


def _matched_layers(
    sb3_model: PPO | ActorCriticPolicy, policy: Policy
) -> list[tuple[str, nn.Linear, nn.Linear]]:
    """Pairs ``(our name prefix, our layer, SB3 layer)``; a clear error if the nets differ."""
    actor = _actor_of(sb3_model)
    ours, our_activations = _our_layers(policy)
    theirs, their_activations = _sb3_layers(actor)
    our_shapes = [tuple(m.weight.shape) for _, m in ours]
    their_shapes = [tuple(m.weight.shape) for m in theirs]
    if our_shapes != their_shapes or our_activations != their_activations:
        raise ValueError(
            "the SB3 actor and our policy have different architectures: SB3 layers "
            f"{their_shapes} with {[a.__name__ for a in their_activations]}, ours {our_shapes} "
            f"with {[a.__name__ for a in our_activations]}; build the SB3 model with "
            "sb3_policy_kwargs(policy_config) for the same policy config"
        )
    gaussian = isinstance(policy, GaussianMLPPolicy)
    if gaussian != hasattr(actor, "log_std"):
        raise ValueError(
            f"our {type(policy).__name__} and the SB3 policy's action distribution "
            f"({type(actor.action_dist).__name__}) are of different kinds"
        )
    return [(name, our, their) for (name, our), their in zip(ours, theirs, strict=True)]


def sb3_to_policy_params(sb3_model: PPO | ActorCriticPolicy, policy: Policy) -> Params:
    """Our policy's parameters (names as in ``policy.named_parameters()``) from an SB3 actor.

    The result gives the same action distribution as the SB3 policy for every observation (SB3
    without observation normalisation: its ``FlattenExtractor`` is the identity on flat boxes).
    Tensors are copies on the policy's device and dtype.
    """
    reference = next(policy.parameters())
    params: Params = {}
    with torch.no_grad():
        for name, _, theirs in _matched_layers(sb3_model, policy):
            for kind in ("weight", "bias"):
                params[f"{name}.{kind}"] = (
                    getattr(theirs, kind)
                    .detach()
                    .to(device=reference.device, dtype=reference.dtype, copy=True)
                )
        if isinstance(policy, GaussianMLPPolicy):
            params["log_std"] = (
                _actor_of(sb3_model)
                .log_std.detach()
                .to(device=reference.device, dtype=reference.dtype, copy=True)
            )
    missing = set(dict(policy.named_parameters())) - set(params)
    if missing:
        raise ValueError(f"no SB3 counterpart for our policy parameters {sorted(missing)}")
    return params


def policy_params_to_sb3(
    params: Params, policy: Policy, sb3_model: PPO | ActorCriticPolicy
) -> None:
    """Write our policy's ``params`` into the SB3 actor in place (the inverse of
    :func:`sb3_to_policy_params`); the SB3 value network is left unchanged."""
    with torch.no_grad():
        for name, _, theirs in _matched_layers(sb3_model, policy):
            for kind in ("weight", "bias"):
                getattr(theirs, kind).copy_(params[f"{name}.{kind}"])
        if isinstance(policy, GaussianMLPPolicy):
            _actor_of(sb3_model).log_std.copy_(params["log_std"])


def sb3_policy_kwargs(policy: PolicyConfig) -> dict[str, Any]:
    """``policy_kwargs`` of an SB3 ``MlpPolicy`` whose actor matches ``policy``'s network."""
    return {
        "net_arch": {"pi": list(policy.hidden), "vf": list(policy.hidden)},
        "activation_fn": ACTIVATIONS[policy.activation],
        "log_std_init": math.log(policy.init_std),
    }
