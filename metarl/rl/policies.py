"""Functional MLP policies: a Gaussian one for continuous actions, a categorical one for discrete.

A policy is an ``nn.Module`` whose ``forward(obs)`` returns the *parameters of the action
distribution* as a dict of tensors (``{"mean", "log_std"}`` or ``{"logits"}``). Everything else is
functional over a parameter dict (:data:`~metarl.core.functional.Params`, names without the
``model.`` prefix), so the meta-parameters, one task's adapted parameters and, under
:func:`torch.func.vmap`, a whole meta-batch of adapted parameters all go through the same code::

    dist = policy.distribution(params, obs)       # torch.distributions.Distribution
    dist.log_prob(actions)                        # summed over action dimensions

Sampling is reparameterised on noise drawn up front from an explicit ``torch.Generator``
(:meth:`Policy.sample_noise`, :meth:`Policy.actions_from_noise`), so a batched rollout and a
one-env-at-a-time rollout that read the same noise take the same actions.
"""

from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence

import gymnasium
import torch
from torch import Tensor, nn
from torch.distributions import Categorical, Distribution, Independent, Normal, kl_divergence
from torch.func import functional_call, grad, jvp

from metarl.core.functional import Params

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU}
"""Hidden-layer nonlinearities by config name."""

DistParams = dict[str, Tensor]
"""The tensors that define an action distribution (what ``Policy.forward`` returns)."""


def _mlp(
    in_dim: int,
    out_dim: int,
    hidden: Sequence[int],
    activation: str,
    generator: torch.Generator,
) -> nn.Sequential:
    """Linear layers with ``activation`` between them; Xavier-uniform weights and zero biases
    (pytorch-maml-rl's initialisation), drawn from ``generator``."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
    sizes = [in_dim, *hidden, out_dim]
    if any(size < 1 for size in sizes):
        raise ValueError(f"layer sizes must be >= 1, got {sizes} (input, hidden..., output)")
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        linear = nn.Linear(fan_in, fan_out)
        nn.init.xavier_uniform_(linear.weight, generator=generator)
        nn.init.zeros_(linear.bias)
        layers.append(linear)
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def _default_generator(generator: torch.Generator | None) -> torch.Generator:
    # Fixed seed rather than torch's global RNG: initialisation is reproducible by default.
    return generator if generator is not None else torch.Generator().manual_seed(0)


class Policy(nn.Module, ABC):
    """An action distribution given an observation, usable with any parameter dict."""

    def distribution(self, params: Params, obs: Tensor) -> Distribution:
        """pi_params(. | obs), batched over the leading dimensions of ``obs``."""
        return self.make_distribution(self.dist_params(params, obs))

    def dist_params(self, params: Params, obs: Tensor) -> DistParams:
        """``forward(obs)`` run with ``params`` (every parameter of the module must be given)."""
        return functional_call(self, params, (obs,), strict=True)

    def kl(self, params_old: Params, params_new: Params, obs: Tensor) -> Tensor:
        """KL(pi_old(. | obs) || pi_new(. | obs)), one value per observation."""
        return kl(self.distribution(params_old, obs), self.distribution(params_new, obs))

    @abstractmethod
    def make_distribution(self, dist_params: DistParams) -> Distribution:
        """The distribution with the given parameters (``forward``'s output, possibly stored)."""

    def kl_hessian_product(
        self, dist_params: DistParams, old: DistParams, tangent: DistParams
    ) -> DistParams:
        """``H u`` per batch element, H the Hessian of KL(old || make_distribution(dist_params))
        with respect to ``dist_params`` and u = ``tangent``.

        TRPO's metric in distribution-parameter space. This generic version differentiates the
        KL twice (forward over reverse); the Gaussian and categorical policies of this module
        override it with the closed form.

        Args:
            dist_params: where the Hessian is taken (e.g. the current policy's outputs).
            old: the reference distribution's parameters, same shapes.
            tangent: the vector, same shapes.

        Returns:
            ``H u`` with the shapes of ``dist_params`` (no reduction over the batch).
        """

        def total_kl(params: DistParams) -> Tensor:
            # Each element's KL reads only its own parameters: the Hessian of the sum is the
            # per-element Hessian, block-diagonal over the batch.
            return kl(self.make_distribution(old), self.make_distribution(params)).sum()

        return jvp(grad(total_kl), (dist_params,), (tangent,))[1]

    @abstractmethod
    def sample_noise(
        self,
        shape: Sequence[int],
        generator: torch.Generator,
        device: torch.device,
        dtype: torch.dtype,
    ) -> Tensor:
        """Exploration noise for ``shape`` draws (e.g. ``(horizon, tasks, episodes)``)."""

    @abstractmethod
    def actions_from_noise(self, dist_params: DistParams, noise: Tensor) -> Tensor:
        """Deterministic map from noise to an action distributed as ``make_distribution``."""


class GaussianMLPPolicy(Policy):
    """pi(a | s) = N(mu_theta(s), diag(sigma^2)) with a state-independent ``log_std`` parameter.

    As in the MAML paper (hidden 100-100 ReLU) and pytorch-maml-rl (64-64 tanh): the MLP gives the
    mean, ``log_std`` is a free vector initialised to ``log(init_std)`` and clamped below at
    ``log(min_std)`` so the density stays finite.

    Args:
        obs_dim: observation size.
        act_dim: action size.
        hidden: hidden layer widths (``()`` gives a linear policy).
        activation: one of :data:`ACTIVATIONS`.
        init_std: initial standard deviation of every action dimension.
        min_std: lower bound of the standard deviation.
        generator: RNG of the initial weights (a fixed seed when omitted).
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        hidden: Sequence[int] = (100, 100),
        activation: str = "relu",
        init_std: float = 1.0,
        min_std: float = 1e-6,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if not init_std > 0 or not min_std > 0:
            raise ValueError(f"init_std and min_std must be > 0, got {init_std} and {min_std}")
        self.obs_dim, self.act_dim = obs_dim, act_dim
        self.hidden, self.activation, self.init_std = tuple(hidden), activation, init_std
        self.mean = _mlp(obs_dim, act_dim, hidden, activation, _default_generator(generator))
        self.log_std = nn.Parameter(torch.full((act_dim,), math.log(init_std)))
        self.min_log_std = math.log(min_std)

    def forward(self, obs: Tensor) -> DistParams:
        mean = self.mean(obs)  # (..., act_dim)
        log_std = self.log_std.clamp(min=self.min_log_std).expand_as(mean)
        return {"mean": mean, "log_std": log_std}

    def make_distribution(self, dist_params: DistParams) -> Distribution:
        # validate_args=False: argument checks branch on tensor values, which vmap forbids.
        normal = Normal(dist_params["mean"], dist_params["log_std"].exp(), validate_args=False)
        return Independent(normal, 1, validate_args=False)

    def kl_hessian_product(
        self, dist_params: DistParams, old: DistParams, tangent: DistParams
    ) -> DistParams:
        """Closed form of :meth:`Policy.kl_hessian_product` for the diagonal Gaussian.

        Per action dimension, with s = log sigma, d = mu - mu_old and
        KL = s - s_old + (sigma_old^2 + d^2) / (2 exp(2 s)) - 1/2, the Hessian in (mu, s) is
        ``exp(-2 s) [[1, -2 d], [-2 d, 2 (sigma_old^2 + d^2)]]``; at the old distribution (d = 0)
        it is the Fisher matrix diag(1 / sigma^2, 2).
        """
        inverse_var = torch.exp(-2.0 * dist_params["log_std"])
        shift = dist_params["mean"] - old["mean"]
        old_var = torch.exp(2.0 * old["log_std"])
        u_mean, u_log_std = tangent["mean"], tangent["log_std"]
        return {
            "mean": inverse_var * (u_mean - 2.0 * shift * u_log_std),
            "log_std": 2.0 * inverse_var * ((old_var + shift**2) * u_log_std - shift * u_mean),
        }

    def sample_noise(
        self,
        shape: Sequence[int],
        generator: torch.Generator,
        device: torch.device,
        dtype: torch.dtype,
    ) -> Tensor:
        """Standard normal noise, ``(*shape, act_dim)``."""
        return torch.randn((*shape, self.act_dim), generator=generator, device=device, dtype=dtype)

    def actions_from_noise(self, dist_params: DistParams, noise: Tensor) -> Tensor:
        """a = mu + sigma * eps."""
        return dist_params["mean"] + dist_params["log_std"].exp() * noise


class CategoricalMLPPolicy(Policy):
    """pi(a | s) = softmax(f_theta(s))_a over ``num_actions`` discrete actions.

    Args:
        obs_dim: observation size.
        num_actions: number of discrete actions.
        hidden: hidden layer widths (``()`` gives a linear policy).
        activation: one of :data:`ACTIVATIONS`.
        generator: RNG of the initial weights (a fixed seed when omitted).
    """

    def __init__(
        self,
        obs_dim: int,
        num_actions: int,
        hidden: Sequence[int] = (100, 100),
        activation: str = "relu",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.obs_dim, self.num_actions = obs_dim, num_actions
        self.hidden, self.activation = tuple(hidden), activation
        self.logits = _mlp(obs_dim, num_actions, hidden, activation, _default_generator(generator))

    def forward(self, obs: Tensor) -> DistParams:
        return {"logits": self.logits(obs)}  # (..., num_actions)

    def make_distribution(self, dist_params: DistParams) -> Distribution:
        return Categorical(logits=dist_params["logits"], validate_args=False)

    def kl_hessian_product(
        self, dist_params: DistParams, old: DistParams, tangent: DistParams
    ) -> DistParams:
        """Closed form of :meth:`Policy.kl_hessian_product` for the softmax.

        KL(p_old || softmax(z)) = sum_a p_old,a (log p_old,a - z_a) + (sum_a p_old,a) lse(z), so
        the Hessian in the logits is ``(sum_a p_old,a) (diag(p) - p p^T)`` with p = softmax(z)
        (the Fisher matrix; the factor is 1 up to rounding).
        """
        probs = torch.softmax(dist_params["logits"], dim=-1)
        old_mass = torch.softmax(old["logits"], dim=-1).sum(dim=-1, keepdim=True)
        u = tangent["logits"]
        return {"logits": old_mass * probs * (u - (probs * u).sum(dim=-1, keepdim=True))}

    def sample_noise(
        self,
        shape: Sequence[int],
        generator: torch.Generator,
        device: torch.device,
        dtype: torch.dtype,
    ) -> Tensor:
        """Uniform [0, 1) noise, ``shape``."""
        return torch.rand(tuple(shape), generator=generator, device=device, dtype=dtype)

    def actions_from_noise(self, dist_params: DistParams, noise: Tensor) -> Tensor:
        """Inverse CDF: the first action whose cumulative probability exceeds u (long)."""
        cdf = torch.softmax(dist_params["logits"], dim=-1).cumsum(dim=-1)
        # Rounding can leave cdf[-1] slightly below 1; the clamp sends such u to the last action.
        index = (cdf <= noise.unsqueeze(-1)).sum(dim=-1)
        return index.clamp(max=self.num_actions - 1)


def kl(dist_old: Distribution, dist_new: Distribution) -> Tensor:
    """KL(dist_old || dist_new), summed over action dimensions; one value per batch element."""
    return kl_divergence(dist_old, dist_new)


def make_policy(
    obs_space: gymnasium.Space,
    action_space: gymnasium.Space,
    hidden: Sequence[int] = (100, 100),
    activation: str = "relu",
    init_std: float = 1.0,
    generator: torch.Generator | None = None,
) -> Policy:
    """The policy for an environment: Gaussian for a ``Box`` action space, categorical for a
    ``Discrete`` one. The observation space must be a flat ``Box``."""
    if not isinstance(obs_space, gymnasium.spaces.Box) or len(obs_space.shape) != 1:
        raise ValueError(
            f"policies need a flat Box observation space, got {obs_space}; "
            "flatten the observation with gymnasium.wrappers.FlattenObservation"
        )
    obs_dim = obs_space.shape[0]
    if isinstance(action_space, gymnasium.spaces.Box) and len(action_space.shape) == 1:
        return GaussianMLPPolicy(
            obs_dim, action_space.shape[0], hidden, activation, init_std, generator=generator
        )
    if isinstance(action_space, gymnasium.spaces.Discrete):
        if action_space.start != 0:
            raise ValueError(
                f"Discrete action spaces must start at 0, got start={action_space.start}"
            )
        return CategoricalMLPPolicy(obs_dim, int(action_space.n), hidden, activation, generator)
    raise ValueError(
        f"no policy for action space {action_space}; supported: flat Box (Gaussian), Discrete"
    )
