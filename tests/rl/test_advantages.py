"""Returns, GAE, normalisation and the linear feature baseline against reference loops (float64)."""

import numpy as np
import pytest
import torch

from metarl.rl.advantages import (
    compute_advantages,
    discounted_returns,
    generalized_advantages,
    normalize,
)
from metarl.rl.baseline import LinearFeatureBaseline, baseline_features
from metarl.rl.episodes import Episodes

H, T, E, OBS = 12, 3, 4, 2
DTYPE = torch.float64


def random_batch(seed=0, horizon=H, tasks=T, episodes=E):
    """Rewards, values and a mask whose episodes end at random lengths (some at the horizon)."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, horizon + 1, (tasks, episodes), generator=g)
    lengths[0, 0] = horizon
    mask = (torch.arange(horizon).view(-1, 1, 1) < lengths).to(DTYPE)
    rewards = torch.randn(horizon, tasks, episodes, generator=g, dtype=DTYPE) * mask
    values = torch.randn(horizon, tasks, episodes, generator=g, dtype=DTYPE)
    return rewards, values, mask, lengths


def episode_loop(rewards, mask, fn):
    """Apply ``fn`` to every episode's real steps (a 1-D array); zeros elsewhere."""
    out = np.zeros(rewards.shape)
    for i in range(rewards.shape[1]):
        for e in range(rewards.shape[2]):
            length = int(mask[:, i, e].sum())
            out[:length, i, e] = fn(i, e, length)
    return torch.from_numpy(out)


@pytest.mark.parametrize("gamma", [1.0, 0.99, 0.5, 0.0])
def test_discounted_returns_match_a_loop(gamma):
    rewards, _, mask, _ = random_batch()
    r = rewards.numpy()

    def reference(i, e, length):
        return [sum(gamma**k * r[t + k, i, e] for k in range(length - t)) for t in range(length)]

    expected = episode_loop(rewards, mask, reference)
    torch.testing.assert_close(discounted_returns(rewards, mask, gamma), expected)


@pytest.mark.parametrize(("gamma", "lam"), [(0.99, 1.0), (0.99, 0.95), (0.9, 0.0), (1.0, 0.5)])
def test_gae_matches_a_loop(gamma, lam):
    """A_t = sum_l (gamma lam)^l delta_{t+l}, V = 0 after the last real step (pytorch-maml-rl)."""
    rewards, values, mask, _ = random_batch(1)
    r, v = rewards.numpy(), values.numpy()

    def reference(i, e, length):
        value = [v[t, i, e] if t < length else 0.0 for t in range(length + 1)]
        deltas = [r[t, i, e] + gamma * value[t + 1] - value[t] for t in range(length)]
        return [
            sum((gamma * lam) ** k * deltas[t + k] for k in range(length - t))
            for t in range(length)
        ]

    expected = episode_loop(rewards, mask, reference)
    torch.testing.assert_close(generalized_advantages(rewards, values, mask, gamma, lam), expected)


def test_gae_limits():
    rewards, values, mask, _ = random_batch(2)
    returns = discounted_returns(rewards, mask, 0.97)
    lam1 = generalized_advantages(rewards, values, mask, 0.97, 1.0)
    torch.testing.assert_close(lam1, (returns - values) * mask)
    next_values = torch.cat([(values * mask)[1:], torch.zeros(1, T, E, dtype=DTYPE)])
    lam0 = generalized_advantages(rewards, values, mask, 0.97, 0.0)
    torch.testing.assert_close(lam0, (rewards + 0.97 * next_values - values) * mask)


def test_normalize_is_per_task_over_real_steps():
    rewards, _, mask, _ = random_batch(3)
    x = rewards * 3.0 + 1.0
    out = normalize(x, mask)
    for i in range(T):
        real = x[:, i][mask[:, i] > 0].numpy()
        expected = (real - real.mean()) / (real.std() + 1e-8)  # population std
        np.testing.assert_allclose(out[:, i][mask[:, i] > 0].numpy(), expected, rtol=1e-12)
    assert torch.all(out[mask == 0] == 0)


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_discounts_outside_unit_interval_are_rejected(bad):
    rewards, values, mask, _ = random_batch()
    with pytest.raises(ValueError, match="gamma"):
        discounted_returns(rewards, mask, bad)
    with pytest.raises(ValueError, match="gae_lambda"):
        generalized_advantages(rewards, values, mask, 0.99, bad)


def make_episodes(seed=0, obs_scale=1.0, horizon=H):
    rewards, _, mask, _ = random_batch(seed, horizon)
    g = torch.Generator().manual_seed(seed + 100)
    obs = torch.randn(horizon, T, E, OBS, generator=g, dtype=DTYPE) * obs_scale
    obs = obs * mask.unsqueeze(-1)
    zeros = torch.zeros(horizon, T, E, dtype=DTYPE)
    return Episodes(obs, obs.clone(), rewards, mask, zeros)


def test_baseline_features_are_pytorch_maml_rls():
    episodes = make_episodes()
    features = baseline_features(episodes.observations, episodes.mask)
    assert features.shape == (H, T, E, 2 * OBS + 4)
    t, i, e = 5, 1, 2
    if episodes.mask[t, i, e] == 0:
        t = 0
    s = episodes.observations[t, i, e]
    time = t / 100.0
    expected = torch.cat([s, s**2, torch.tensor([time, time**2, time**3, 1.0], dtype=DTYPE)])
    torch.testing.assert_close(features[t, i, e], expected)
    assert torch.all(features[episodes.mask == 0] == 0)


def test_baseline_recovers_exact_linear_targets_per_task():
    """Returns that are exactly linear in the features are fitted exactly, task by task."""
    episodes = make_episodes(horizon=100)
    features = baseline_features(episodes.observations, episodes.mask)
    true_weights = torch.randn(
        T, 2 * OBS + 4, dtype=DTYPE, generator=torch.Generator().manual_seed(5)
    )
    returns = torch.einsum("htef,tf->hte", features, true_weights)
    baseline = LinearFeatureBaseline(reg_coeff=1e-12)
    baseline.fit(episodes.replace(returns=returns))
    torch.testing.assert_close(baseline.weights, true_weights, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(baseline.predict(episodes), returns, rtol=1e-8, atol=1e-8)


def test_batched_fit_equals_a_per_task_ridge_solve():
    """The one batched solve equals pytorch-maml-rl's per-task (flattened, unpadded) solve."""
    episodes = make_episodes(seed=4)
    returns = discounted_returns(episodes.rewards, episodes.mask, 0.9)
    baseline = LinearFeatureBaseline(reg_coeff=1e-3)
    baseline.fit(episodes.replace(returns=returns))
    features = baseline_features(episodes.observations, episodes.mask)
    for i in range(T):
        real = episodes.mask[:, i] > 0
        x, y = features[:, i][real], returns[:, i][real]
        a = x.T @ x + 1e-3 * torch.eye(x.shape[1], dtype=DTYPE)
        expected = torch.linalg.solve(a, x.T @ y)
        torch.testing.assert_close(baseline.weights[i], expected)
    predictions = baseline.predict(episodes.replace(returns=returns))
    assert torch.all(predictions[episodes.mask == 0] == 0)


def test_ridge_is_raised_only_for_the_task_that_needs_it():
    """A task with huge, collinear features is not numerically positive definite at c = 1e-5;
    the coefficient is raised tenfold until it is, the other tasks keep theirs."""
    episodes = make_episodes()
    obs = episodes.observations.clone()
    obs[:, 1] = 1e5 * episodes.mask[:, 1].unsqueeze(-1)  # constant: obs, obs^2 and 1 collinear
    returns = discounted_returns(episodes.rewards, episodes.mask, 1.0)
    baseline = LinearFeatureBaseline(reg_coeff=1e-5, max_tries=20)
    baseline.fit(episodes.replace(observations=obs, returns=returns))
    assert baseline.reg_used[0] == 1e-5 and baseline.reg_used[2] == 1e-5
    assert baseline.reg_used[1] > 1e-5
    assert torch.isfinite(baseline.weights).all()
    with pytest.raises(FloatingPointError, match=r"task\(s\) \[1\].*rescale the observations"):
        LinearFeatureBaseline(reg_coeff=1e-5, max_tries=2).fit(
            episodes.replace(observations=obs, returns=returns)
        )


def test_baseline_names_non_finite_inputs():
    episodes = make_episodes()
    obs = episodes.observations.clone()
    obs[0, 2, 1, 0] = float("nan")
    returns = discounted_returns(episodes.rewards, episodes.mask, 1.0)
    with pytest.raises(
        FloatingPointError, match=r"observations is nan at \[t=0, task=2, episode=1"
    ):
        LinearFeatureBaseline().fit(episodes.replace(observations=obs, returns=returns))
    with pytest.raises(ValueError, match="returns"):
        LinearFeatureBaseline().fit(episodes)
    with pytest.raises(ValueError, match="not been fitted"):
        LinearFeatureBaseline().predict(episodes)
    with pytest.raises(ValueError, match="reg_coeff"):
        LinearFeatureBaseline(reg_coeff=0.0)


def test_compute_advantages_pipeline():
    episodes = make_episodes(seed=6)
    baseline = LinearFeatureBaseline()
    out = compute_advantages(episodes, 0.99, 0.95, baseline, normalize_advantages=False)
    torch.testing.assert_close(
        out.returns, discounted_returns(episodes.rewards, episodes.mask, 0.99)
    )
    torch.testing.assert_close(out.values, baseline.predict(out))
    expected = generalized_advantages(episodes.rewards, out.values, episodes.mask, 0.99, 0.95)
    torch.testing.assert_close(out.advantages, expected)
    normalized = compute_advantages(episodes, 0.99, 0.95, baseline, normalize_advantages=True)
    torch.testing.assert_close(normalized.advantages, normalize(expected, episodes.mask))
    plain = compute_advantages(episodes, 1.0, 1.0, None, normalize_advantages=False)
    torch.testing.assert_close(plain.advantages, plain.returns)


def test_compute_advantages_names_a_non_finite_reward():
    episodes = make_episodes()
    rewards = episodes.rewards.clone()
    rewards[3, 0, 0] = float("inf")
    with pytest.raises(FloatingPointError, match=r"rewards is inf at \[t=3, task=0, episode=0\]"):
        compute_advantages(episodes.replace(rewards=rewards), 0.99, 1.0, LinearFeatureBaseline())
