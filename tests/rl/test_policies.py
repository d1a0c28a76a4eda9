"""Policies against closed forms (float64): densities, KL, reparameterised draws, vmap."""

import math

import gymnasium
import numpy as np
import pytest
import torch
from torch.func import vmap

from metarl.rl.policies import (
    CategoricalMLPPolicy,
    GaussianMLPPolicy,
    kl,
    make_policy,
)

DTYPE = torch.float64


def gaussian_log_density(actions, mean, log_std):
    """sum_d log N(a_d; mu_d, sigma_d^2), written out."""
    var = torch.exp(2 * log_std)
    per_dim = -((actions - mean) ** 2) / (2 * var) - log_std - 0.5 * math.log(2 * math.pi)
    return per_dim.sum(-1)


def test_gaussian_log_prob_sums_the_closed_form_over_action_dims(gaussian_policy, detached_params):
    policy = gaussian_policy(3, 2, hidden=(5,))
    params = detached_params(policy)
    params["log_std"] = torch.tensor([-0.3, 0.4], dtype=DTYPE)
    obs = torch.randn(7, 3, dtype=DTYPE)
    actions = torch.randn(7, 2, dtype=DTYPE)
    hidden = torch.tanh(obs @ params["mean.0.weight"].T + params["mean.0.bias"])
    mean = hidden @ params["mean.2.weight"].T + params["mean.2.bias"]
    dist = policy.distribution(params, obs)
    torch.testing.assert_close(
        dist.log_prob(actions), gaussian_log_density(actions, mean, params["log_std"])
    )
    assert dist.log_prob(actions).shape == (7,)


def test_log_std_is_state_independent_and_clamped(gaussian_policy, detached_params):
    policy = gaussian_policy(2, 3)
    params = detached_params(policy)
    params["log_std"] = torch.tensor([0.1, -30.0, 2.0], dtype=DTYPE)
    out = policy.dist_params(params, torch.randn(4, 5, 2, dtype=DTYPE))
    assert out["log_std"].shape == (4, 5, 3)
    expected = torch.tensor([0.1, math.log(1e-6), 2.0], dtype=DTYPE)
    torch.testing.assert_close(out["log_std"], expected.expand(4, 5, 3))


def test_distribution_uses_the_given_params_not_the_module(gaussian_policy, detached_params):
    policy = gaussian_policy(2, 2)
    params = {k: v + 0.1 for k, v in detached_params(policy).items()}
    obs = torch.randn(3, 2, dtype=DTYPE)
    functional = policy.distribution(params, obs).mean
    with torch.no_grad():
        for name, p in policy.named_parameters():
            p.copy_(params[name])
    torch.testing.assert_close(functional, policy(obs)["mean"])


def test_wrong_parameter_names_are_an_error(gaussian_policy, detached_params):
    policy = gaussian_policy(2, 2)
    prefixed = {"model." + k: v for k, v in detached_params(policy).items()}
    with pytest.raises(RuntimeError, match=r"model\.log_std"):
        policy.distribution(prefixed, torch.zeros(1, 2, dtype=DTYPE))


@pytest.mark.parametrize("kind", ["gaussian", "categorical"])
def test_vmap_over_tasks_equals_a_loop(kind, gaussian_policy, categorical_policy, detached_params):
    """Per-task parameters under vmap: the batched policy call of the sampler and objective."""
    policy = gaussian_policy(3, 2) if kind == "gaussian" else categorical_policy(3, 4)
    stacked = {
        k: torch.stack([v + 0.05 * i for i in range(4)]) for k, v in detached_params(policy).items()
    }
    obs = torch.randn(4, 6, 3, dtype=DTYPE)
    dist_params = vmap(policy.dist_params)(stacked, obs)
    noise = policy.sample_noise((4, 6), torch.Generator().manual_seed(0), obs.device, DTYPE)
    actions = policy.actions_from_noise(dist_params, noise)
    batched = vmap(lambda p, o, a: policy.distribution(p, o).log_prob(a))(stacked, obs, actions)
    for i in range(4):
        single = {k: v[i] for k, v in stacked.items()}
        expected = policy.distribution(single, obs[i]).log_prob(actions[i])
        torch.testing.assert_close(batched[i], expected)


def test_gaussian_kl_closed_form(gaussian_policy, detached_params):
    policy = gaussian_policy(2, 3)
    old = detached_params(policy)
    new = {k: v + 0.2 * torch.randn_like(v) for k, v in old.items()}
    obs = torch.randn(5, 2, dtype=DTYPE)
    a, b = policy.dist_params(old, obs), policy.dist_params(new, obs)
    var_a, var_b = (2 * a["log_std"]).exp(), (2 * b["log_std"]).exp()
    expected = (
        b["log_std"] - a["log_std"] + (var_a + (a["mean"] - b["mean"]) ** 2) / (2 * var_b) - 0.5
    ).sum(-1)
    torch.testing.assert_close(policy.kl(old, new, obs), expected)
    torch.testing.assert_close(policy.kl(old, old, obs), torch.zeros(5, dtype=DTYPE))


def test_categorical_kl_and_log_prob_closed_form(categorical_policy, detached_params):
    policy = categorical_policy(2, 3)
    old = detached_params(policy)
    new = {k: v + 0.3 * torch.randn_like(v) for k, v in old.items()}
    obs = torch.randn(4, 2, dtype=DTYPE)
    p = torch.softmax(policy.dist_params(old, obs)["logits"], -1)
    q = torch.softmax(policy.dist_params(new, obs)["logits"], -1)
    torch.testing.assert_close(policy.kl(old, new, obs), (p * (p.log() - q.log())).sum(-1))
    actions = torch.tensor([0, 2, 1, 2])
    torch.testing.assert_close(
        policy.distribution(old, obs).log_prob(actions), p.log()[torch.arange(4), actions]
    )
    torch.testing.assert_close(
        kl(policy.distribution(old, obs), policy.distribution(new, obs)), policy.kl(old, new, obs)
    )


def test_gaussian_actions_from_noise_are_mean_plus_std_noise(gaussian_policy, detached_params):
    policy = gaussian_policy(2, 2)
    params = detached_params(policy)
    obs = torch.randn(3, 2, dtype=DTYPE)
    dist_params = policy.dist_params(params, obs)
    noise = policy.sample_noise((3,), torch.Generator().manual_seed(1), obs.device, DTYPE)
    assert noise.shape == (3, 2)
    expected = dist_params["mean"] + dist_params["log_std"].exp() * noise
    torch.testing.assert_close(policy.actions_from_noise(dist_params, noise), expected)


def test_categorical_inverse_cdf():
    policy = CategoricalMLPPolicy(1, 3, hidden=())
    logits = torch.log(torch.tensor([0.2, 0.5, 0.3], dtype=DTYPE)).expand(6, 3)
    noise = torch.tensor([0.0, 0.19, 0.21, 0.69, 0.71, 0.999999], dtype=DTYPE)
    actions = policy.actions_from_noise({"logits": logits}, noise)
    assert actions.tolist() == [0, 0, 1, 1, 2, 2]
    assert actions.dtype == torch.long


def test_categorical_draws_follow_the_probabilities():
    policy = CategoricalMLPPolicy(1, 3, hidden=())
    probs = torch.tensor([0.1, 0.6, 0.3], dtype=DTYPE)
    noise = policy.sample_noise((200_000,), torch.Generator().manual_seed(0), "cpu", DTYPE)
    actions = policy.actions_from_noise({"logits": probs.log().expand(200_000, 3)}, noise)
    frequencies = torch.bincount(actions, minlength=3).to(DTYPE) / 200_000
    torch.testing.assert_close(frequencies, probs, atol=5e-3, rtol=0)


def test_initialisation_is_reproducible_and_follows_the_generator():
    def weights(seed):
        policy = GaussianMLPPolicy(3, 2, (4,), generator=torch.Generator().manual_seed(seed))
        return torch.cat([p.detach().flatten() for p in policy.parameters()])

    torch.testing.assert_close(weights(0), weights(0))
    assert not torch.equal(weights(0), weights(1))
    policy = GaussianMLPPolicy(3, 2, (4,), init_std=0.5)
    torch.testing.assert_close(policy.log_std.detach(), torch.full((2,), math.log(0.5)))
    assert torch.count_nonzero(policy.mean[0].bias) == 0


def test_make_policy_picks_the_distribution_from_the_action_space():
    obs_space = gymnasium.spaces.Box(-1, 1, shape=(4,))
    gaussian = make_policy(obs_space, gymnasium.spaces.Box(-1, 1, shape=(2,)), (8, 8), "tanh")
    assert isinstance(gaussian, GaussianMLPPolicy) and gaussian.act_dim == 2
    layers = [m for m in gaussian.mean if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in layers] == [8, 8, 2]
    assert all(isinstance(m, torch.nn.Tanh) for m in gaussian.mean[1::2])
    categorical = make_policy(obs_space, gymnasium.spaces.Discrete(5), (8,), "relu")
    assert isinstance(categorical, CategoricalMLPPolicy) and categorical.num_actions == 5


@pytest.mark.parametrize(
    ("obs_space", "action_space", "activation", "match"),
    [
        (gymnasium.spaces.Box(-1, 1, (2, 2)), gymnasium.spaces.Discrete(2), "relu", "flat Box"),
        (gymnasium.spaces.Box(-1, 1, (2,)), gymnasium.spaces.MultiBinary(3), "relu", "no policy"),
        (gymnasium.spaces.Box(-1, 1, (2,)), gymnasium.spaces.Discrete(2, start=1), "relu", "start"),
        (gymnasium.spaces.Box(-1, 1, (2,)), gymnasium.spaces.Discrete(2), "swish", "activation"),
    ],
)
def test_make_policy_rejects_unsupported_input(obs_space, action_space, activation, match):
    with pytest.raises(ValueError, match=match):
        make_policy(obs_space, action_space, (4,), activation)


def test_linear_policy_without_hidden_layers():
    policy = GaussianMLPPolicy(2, 1, hidden=(), init_std=1.0).to(DTYPE)
    assert [name for name, _ in policy.named_parameters()] == [
        "log_std",
        "mean.0.weight",
        "mean.0.bias",
    ]
    obs = torch.tensor([[1.0, 2.0]], dtype=DTYPE)
    params = {
        "log_std": torch.zeros(1, dtype=DTYPE),
        "mean.0.weight": torch.tensor([[0.5, -1.0]], dtype=DTYPE),
        "mean.0.bias": torch.tensor([0.25], dtype=DTYPE),
    }
    torch.testing.assert_close(
        policy.dist_params(params, obs)["mean"], torch.tensor([[-1.25]], dtype=DTYPE)
    )
    assert np.isfinite(policy.distribution(params, obs).entropy().item())
