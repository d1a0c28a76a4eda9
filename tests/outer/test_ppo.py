"""ProMP-style PPO outer step on synthetic episodes of a small Gaussian MLP policy (float64)."""

import pytest
import torch

from metarl.core.adaptation import InnerLoopConfig, MetaLearner
from metarl.core.algorithms import MAML, MetaStepResult, make_algorithm
from metarl.core.functional import model_params
from metarl.outer.ppo import ClippedObjective, PPOConfig, ppo_step
from metarl.rl.episodes import Episodes
from metarl.rl.objective import PolicyGradientProblem, make_task_batch
from metarl.rl.policies import GaussianMLPPolicy

H, T, E, OBS, ACT = 8, 3, 4, 3, 2
DTYPE = torch.float64


def synthetic_episodes(policy, params, per_task, generator):
    """Episodes whose actions are drawn from ``params`` (a task dim when ``per_task``)."""
    obs = torch.randn(H, T, E, OBS, generator=generator, dtype=DTYPE)
    if per_task:
        dist_params = torch.func.vmap(policy.dist_params, in_dims=(0, 1), out_dims=1)(params, obs)
    else:
        dist_params = policy.dist_params(params, obs)
    noise = torch.randn(H, T, E, ACT, generator=generator, dtype=DTYPE)
    actions = policy.actions_from_noise(dist_params, noise)
    log_probs = policy.make_distribution(dist_params).log_prob(actions)
    mask = torch.ones(H, T, E, dtype=DTYPE)
    mask[5:, 0, 0] = 0.0  # one episode ends early
    advantages = torch.randn(H, T, E, generator=generator, dtype=DTYPE) * mask
    return Episodes(
        observations=obs,
        actions=actions,
        rewards=torch.zeros(H, T, E, dtype=DTYPE),
        mask=mask,
        log_probs=log_probs.detach(),
        dist_params={k: v.detach() for k, v in dist_params.items()},
        advantages=advantages,
    )


@pytest.fixture
def setup():
    policy = GaussianMLPPolicy(
        OBS, ACT, hidden=(8,), activation="tanh", generator=torch.Generator().manual_seed(0)
    ).to(DTYPE)
    learner = MetaLearner(policy, InnerLoopConfig(steps=1, lr=0.1))
    algorithm = make_algorithm("maml", learner.inner)
    problem = PolicyGradientProblem(policy, "lvc")
    g = torch.Generator().manual_seed(1)
    theta = {k: v.detach() for k, v in model_params(learner.meta_params()).items()}
    support = synthetic_episodes(policy, theta, False, g)
    with torch.no_grad():
        adapted = algorithm.adapted_params(learner.meta_params(), problem, make_task_batch(support))
    query = synthetic_episodes(policy, adapted, True, g)
    return learner, algorithm, problem, make_task_batch(support, query)


def test_clipped_gradient_at_the_sampling_policy_is_the_surrogate_gradient(setup):
    """At theta_old every ratio is 1, inside the clip range: both objectives agree."""
    learner, algorithm, problem, tasks = setup
    clipped = algorithm.meta_step(learner.meta_params(), ClippedObjective(problem, 0.2), tasks)
    plain = algorithm.meta_step(learner.meta_params(), problem, tasks)
    torch.testing.assert_close(clipped.meta_loss, plain.meta_loss)
    for name, grad in plain.meta_grads.items():
        torch.testing.assert_close(clipped.meta_grads[name], grad)
    assert any(g.abs().max() > 1e-6 for g in plain.meta_grads.values())


class RecordingMAML(MAML):
    """MAML that records the meta-parameters every meta_step is called with."""

    def __init__(self, inner):
        super().__init__(inner)
        self.seen = []

    def meta_step(self, meta_params, problem, tasks):
        self.seen.append({k: v.detach().clone() for k, v in meta_params.items()})
        return super().meta_step(meta_params, problem, tasks)


def test_epochs_recompute_adaptation_and_lower_the_clipped_loss(setup):
    learner, _, problem, tasks = setup
    algorithm = RecordingMAML(learner.inner)
    config = PPOConfig(epochs=4)
    optimizer = torch.optim.Adam(learner.parameters(), lr=1e-2)
    stats = ppo_step(algorithm, learner.meta_params(), problem, tasks, config, optimizer)

    assert len(algorithm.seen) == config.epochs
    for before, after in zip(algorithm.seen[:-1], algorithm.seen[1:], strict=True):
        assert any(not torch.equal(before[k], after[k]) for k in before)
    assert stats["clipped_loss_after"] < stats["clipped_loss_before"]
    assert 0 < stats["kl"] < 0.5
    # The reported statistics are those of the final parameters.
    final = learner.meta_params()
    adapted = algorithm.adapted_params(final, problem, tasks)
    kl = torch.func.vmap(problem.kl)(adapted, tasks).mean()
    torch.testing.assert_close(stats["kl"], kl.detach())


def test_one_epoch_is_one_adam_step_on_the_meta_gradient(setup):
    learner, algorithm, problem, tasks = setup
    config, lr, max_grad_norm = PPOConfig(epochs=1), 1e-3, 1e-3
    grads = algorithm.meta_step(learner.meta_params(), ClippedObjective(problem, 0.2), tasks)
    norm = torch.sqrt(sum((g**2).sum() for g in grads.meta_grads.values()))
    start = {k: v.detach().clone() for k, v in learner.meta_params().items()}
    optimizer = torch.optim.Adam(learner.parameters(), lr=lr)
    stats = ppo_step(
        algorithm, learner.meta_params(), problem, tasks, config, optimizer, max_grad_norm
    )
    torch.testing.assert_close(stats["grad_norm"], norm)
    # The first Adam step moves by lr * g / (|g| + eps), g the gradient after norm clipping.
    clip = min(1.0, max_grad_norm / (norm.item() + 1e-6))
    for name, value in learner.meta_params().items():
        grad = grads.meta_grads[name] * clip
        expected = start[name] - lr * grad / (grad.abs() + 1e-8)
        torch.testing.assert_close(value.detach(), expected)


class NaNMAML(MAML):
    def meta_step(self, meta_params, problem, tasks):
        result = super().meta_step(meta_params, problem, tasks)
        grads = {k: torch.full_like(g, float("nan")) for k, g in result.meta_grads.items()}
        return MetaStepResult(result.meta_loss, grads, result.metrics, result.num_tasks)


def test_non_finite_gradient_stops_before_any_update(setup):
    learner, _, problem, tasks = setup
    start = {k: v.detach().clone() for k, v in learner.meta_params().items()}
    optimizer = torch.optim.Adam(learner.parameters(), lr=1e-3)
    with pytest.raises(FloatingPointError, match="PPO epoch 0"):
        ppo_step(
            NaNMAML(learner.inner), learner.meta_params(), problem, tasks, PPOConfig(), optimizer
        )
    for name, value in learner.meta_params().items():
        assert torch.equal(value.detach(), start[name])


@pytest.mark.parametrize(("field", "value"), [("epochs", 0), ("clip", 0.0)])
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=f"outer.ppo.{field}"):
        PPOConfig(**{field: value})
