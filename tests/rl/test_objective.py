"""Policy-gradient losses against closed forms and exact expectations (float64).

The exact-expectation tests use tiny discrete problems whose "sampled" episodes contain every
trajectory in proportion to its probability at theta_0, so a sample mean *is* the expectation and
the estimators' gradients and Hessians can be compared with the derivatives of the true
objective J(theta) = E_{pi_theta}[sum_t r_t] without any statistical tolerance.
"""

import math

import pytest
import torch
from torch.func import vmap

from metarl.core.adaptation import InnerLoopConfig, MetaLearner, inner_step
from metarl.core.algorithms import MAML, make_algorithm
from metarl.core.functional import model_params
from metarl.core.problem import unstack_tasks
from metarl.rl.episodes import Episodes
from metarl.rl.objective import (
    PolicyGradientProblem,
    adapt_on_fresh_episodes,
    make_task_batch,
    masked_mean,
    step_on_episodes,
)
from metarl.rl.policies import CategoricalMLPPolicy, GaussianMLPPolicy

DTYPE = torch.float64
LOSSES = ("reinforce", "lvc", "dice")


def flat_derivatives(loss, params):
    """Gradient and Hessian of ``loss(params)`` over the concatenation of all parameters."""
    names = list(params)
    shapes = [params[n].shape for n in names]
    sizes = [params[n].numel() for n in names]

    def flat_loss(vector):
        parts = torch.split(vector, sizes)
        return loss({n: p.view(s) for n, p, s in zip(names, parts, shapes, strict=True)})

    vector = torch.cat([params[n].flatten() for n in names])
    grad = torch.autograd.functional.jacobian(flat_loss, vector)
    hessian = torch.autograd.functional.hessian(flat_loss, vector)
    return grad, hessian


def sampled_episodes(policy, params, generator, horizon=6, tasks=2, episodes=3, per_task=False):
    """Episodes with random observations whose actions are drawn from ``params``; two episodes
    end early. Advantages are random (the losses accept any advantages)."""
    obs = torch.randn(horizon, tasks, episodes, policy.obs_dim, generator=generator, dtype=DTYPE)
    if per_task:
        dist_params = vmap(policy.dist_params, in_dims=(0, 1), out_dims=1)(params, obs)
    else:
        dist_params = policy.dist_params(params, obs)
    noise = policy.sample_noise((horizon, tasks, episodes), generator, obs.device, DTYPE)
    actions = policy.actions_from_noise(dist_params, noise)
    log_probs = policy.make_distribution(dist_params).log_prob(actions)
    mask = torch.ones(horizon, tasks, episodes, dtype=DTYPE)
    mask[3:, 0, 1] = 0.0
    mask[1:, 1, 2] = 0.0
    advantages = torch.randn(horizon, tasks, episodes, generator=generator, dtype=DTYPE) * mask
    keep = mask.unsqueeze(-1) > 0
    return Episodes(
        observations=torch.where(keep, obs, 0.0),
        actions=torch.where(keep, actions, 0.0),
        rewards=torch.zeros_like(mask),
        mask=mask,
        log_probs=(log_probs * mask).detach(),
        dist_params={k: (v * mask.unsqueeze(-1)).detach() for k, v in dist_params.items()},
        advantages=advantages,
    )


def test_reinforce_inner_step_matches_the_closed_form_on_a_linear_gaussian():
    """One-step task, pi(a | s) = N(w s + b, sigma^2). With N samples,

    dL/db = -1/N sum A (a - mu) / sigma^2,  dL/dw = -1/N sum A (a - mu) s / sigma^2,
    dL/dlog sigma = -1/N sum A ((a - mu)^2 / sigma^2 - 1);  phi = theta - alpha grad L.
    """
    policy = GaussianMLPPolicy(1, 1, hidden=()).to(DTYPE)
    w, b, log_std = 0.7, -0.2, math.log(0.5)
    with torch.no_grad():
        policy.mean[0].weight.fill_(w)
        policy.mean[0].bias.fill_(b)
        policy.log_std.fill_(log_std)
    g = torch.Generator().manual_seed(0)
    s = torch.randn(1, 2, 5, 1, generator=g, dtype=DTYPE)
    a = torch.randn(1, 2, 5, 1, generator=g, dtype=DTYPE)
    adv = torch.randn(1, 2, 5, generator=g, dtype=DTYPE)
    mu, var = w * s + b, math.exp(2 * log_std)
    log_probs = (-((a - mu) ** 2) / (2 * var) - log_std - 0.5 * math.log(2 * math.pi)).squeeze(-1)
    ones = torch.ones(1, 2, 5, dtype=DTYPE)
    support = Episodes(s, a, torch.zeros_like(ones), ones, log_probs, advantages=adv)

    alpha = 0.1
    z = ((a - mu) / var).squeeze(-1)  # (1, T, E)
    grad_b = -(adv * z).mean(dim=(0, 2))
    grad_w = -(adv * z * s.squeeze(-1)).mean(dim=(0, 2))
    grad_log_std = -(adv * ((a - mu).squeeze(-1) ** 2 / var - 1)).mean(dim=(0, 2))

    learner = MetaLearner(policy, InnerLoopConfig(steps=1, lr=alpha))
    for inner_loss in LOSSES:
        problem = PolicyGradientProblem(policy, inner_loss)
        adapted = MAML(learner.inner).adapted_params(
            learner.meta_params(), problem, make_task_batch(support)
        )
        torch.testing.assert_close(adapted["mean.0.bias"], (b - alpha * grad_b).view(2, 1))
        torch.testing.assert_close(adapted["mean.0.weight"], (w - alpha * grad_w).view(2, 1, 1))
        torch.testing.assert_close(adapted["log_std"], (log_std - alpha * grad_log_std).view(2, 1))


def bandit_problem():
    """Two-armed bandit, pi = softmax(b + W x) with x = 1: pi_0 = (1/4, 3/4). Four episodes
    (one of arm 0, three of arm 1) make every sample mean an exact expectation at theta_0."""
    policy = CategoricalMLPPolicy(1, 2, hidden=()).to(DTYPE)
    with torch.no_grad():
        policy.logits[0].weight.zero_()
        policy.logits[0].bias.copy_(torch.tensor([0.0, math.log(3.0)]))
    params = {k: v.detach().clone() for k, v in policy.named_parameters()}
    arm_rewards = torch.tensor([1.5, -0.5], dtype=DTYPE)
    actions = torch.tensor([[[0, 1, 1, 1]]])  # (H=1, T=1, E=4)
    obs = torch.ones(1, 1, 4, 1, dtype=DTYPE)
    log_probs = policy.distribution(params, obs).log_prob(actions).detach()

    def exact_loss(p):
        """-J(theta) = -sum_a pi_theta(a) r(a), in closed form."""
        probs = torch.softmax(p["logits.0.bias"] + p["logits.0.weight"][:, 0], dim=-1)
        return -(probs * arm_rewards).sum()

    def episodes(baseline):
        advantages = arm_rewards[actions] - baseline
        ones = torch.ones(1, 1, 4, dtype=DTYPE)
        return Episodes(obs, actions, ones * 0, ones, log_probs, advantages=advantages)

    return policy, params, exact_loss, episodes


@pytest.mark.parametrize("baseline", [0.0, 0.8])
def test_bandit_gradients_and_sampling_curvature(baseline):
    """grad of every inner loss = grad(-J); the Hessian of LVC and DiCE = Hessian(-J) (they keep
    E[A grad log pi grad log pi^T], the sampling-distribution term), REINFORCE's misses it."""
    policy, params, exact_loss, episodes = bandit_problem()
    task = unstack_tasks(make_task_batch(episodes(baseline)))[0]
    exact_grad, exact_hessian = flat_derivatives(exact_loss, params)
    for inner_loss in LOSSES:
        loss = PolicyGradientProblem(policy, inner_loss).support_loss
        grad, hessian = flat_derivatives(lambda p, loss=loss: loss(p, task), params)
        torch.testing.assert_close(grad, exact_grad)
        if inner_loss == "reinforce":
            assert (hessian - exact_hessian).abs().max() > 0.01
        else:
            torch.testing.assert_close(hessian, exact_hessian)


def two_step_problem():
    """Two steps, two actions, pi = softmax(b + W s) with W = 0, b = (0, log 3) at theta_0, and
    s_0 = (1, 0), s_1 = (1, 1 + a_0). The 16 episodes hold the trajectories (a_0, a_1) with
    counts 1, 3, 3, 9: exactly their probabilities. Rewards depend on both actions."""
    policy = CategoricalMLPPolicy(2, 2, hidden=()).to(DTYPE)
    with torch.no_grad():
        policy.logits[0].weight.zero_()
        policy.logits[0].bias.copy_(torch.tensor([0.0, math.log(3.0)]))
    params = {k: v.detach().clone() for k, v in policy.named_parameters()}
    r0 = torch.tensor([0.3, -1.0], dtype=DTYPE)
    r1 = torch.tensor([[2.0, -0.5], [0.25, 1.0]], dtype=DTYPE)  # r1[a0, a1]
    pairs = [(0, 0)] + [(0, 1)] * 3 + [(1, 0)] * 3 + [(1, 1)] * 9
    a = torch.tensor(pairs).T.view(2, 1, 16)  # (H, T, E)

    def state(t, a0):
        return torch.tensor([1.0, 0.0 if t == 0 else 1.0 + a0], dtype=DTYPE)

    obs = torch.stack(
        [torch.stack([state(0, 0) for _ in pairs]), torch.stack([state(1, p[0]) for p in pairs])]
    ).view(2, 1, 16, 2)
    rewards = torch.stack([r0[a[0, 0]], r1[a[0, 0], a[1, 0]]]).view(2, 1, 16)
    log_probs = policy.distribution(params, obs).log_prob(a).detach()

    def exact_loss(p):
        """-J / H = -sum_{a0, a1} pi(a0 | s0) pi(a1 | s1(a0)) (r0(a0) + r1(a0, a1)) / 2: the
        losses average over the H = 2 steps of every episode."""
        total = 0.0
        pi0 = policy.distribution(p, state(0, 0)).probs
        for a0 in range(2):
            pi1 = policy.distribution(p, state(1, a0)).probs
            for a1 in range(2):
                total = total + pi0[a0] * pi1[a1] * (r0[a0] + r1[a0, a1])
        return -total / 2

    def episodes(values):
        """Advantages R_t - V(s_t), gamma = 1, with V(s_0) = values[0], V(s_1) = values[1 + a0]."""
        returns = torch.stack([rewards[0] + rewards[1], rewards[1]])
        v = torch.stack([torch.full((1, 16), values[0]), torch.tensor(values[1:])[a[0]]])
        ones = torch.ones(2, 1, 16, dtype=DTYPE)
        return Episodes(obs, a, rewards, ones, log_probs, advantages=(returns - v).to(DTYPE))

    return policy, params, exact_loss, episodes


@pytest.mark.parametrize("values", [(0.0, 0.0, 0.0), (0.7, -0.3, 1.1)])
def test_dice_is_exact_to_second_order_over_several_steps(values):
    """With exact expectations, DiCE's gradient and Hessian equal those of -J, with or without a
    state baseline; LVC drops the cross-step terms, REINFORCE the sampling term."""
    policy, params, exact_loss, episodes = two_step_problem()
    task = unstack_tasks(make_task_batch(episodes(values)))[0]
    exact_grad, exact_hessian = flat_derivatives(exact_loss, params)
    hessians = {}
    for inner_loss in LOSSES:
        loss = PolicyGradientProblem(policy, inner_loss).support_loss
        grad, hessians[inner_loss] = flat_derivatives(lambda p, loss=loss: loss(p, task), params)
        torch.testing.assert_close(grad, exact_grad)
    torch.testing.assert_close(hessians["dice"], exact_hessian)
    assert (hessians["lvc"] - exact_hessian).abs().max() > 0.05
    assert (hessians["reinforce"] - exact_hessian).abs().max() > 0.05


def test_lvc_hessian_is_the_per_step_curvature_formula():
    """Hess LVC = -1/N sum_t A_t (Hess log pi_t + grad log pi_t grad log pi_t^T) (ProMP eq. 7)."""
    policy, params, _, episodes = two_step_problem()
    data = episodes((0.7, -0.3, 1.1))
    task = unstack_tasks(make_task_batch(data))[0]
    problem = PolicyGradientProblem(policy, "lvc")
    _, hessian = flat_derivatives(lambda p: problem.support_loss(p, task), params)
    expected = torch.zeros_like(hessian)
    for t in range(2):
        for e in range(16):

            def log_prob(p, t=t, e=e):
                obs, action = data.observations[t, 0, e], data.actions[t, 0, e]
                return policy.distribution(p, obs).log_prob(action)

            grad, hess = flat_derivatives(log_prob, params)
            expected -= data.advantages[t, 0, e] * (hess + torch.outer(grad, grad)) / 32
    torch.testing.assert_close(hessian, expected)


def mlp_setup(seed=0):
    generator = torch.Generator().manual_seed(seed)
    policy = GaussianMLPPolicy(3, 2, (6,), "tanh", 0.7, generator=generator).to(DTYPE)
    theta = {k: v.detach().clone() for k, v in policy.named_parameters()}
    return policy, theta, generator


def test_lvc_and_dice_first_derivatives_equal_reinforce_on_an_mlp():
    policy, theta, g = mlp_setup()
    tasks = make_task_batch(sampled_episodes(policy, theta, g))
    grads = {}
    for inner_loss in LOSSES:
        problem = PolicyGradientProblem(policy, inner_loss)
        grads[inner_loss] = vmap(torch.func.grad(problem.support_loss), in_dims=(None, 0))(
            theta, tasks
        )
    for inner_loss in ("lvc", "dice"):
        for name, value in grads["reinforce"].items():
            torch.testing.assert_close(grads[inner_loss][name], value)
    assert all(v.abs().max() > 1e-3 for v in grads["reinforce"].values())


def test_reinforce_loss_is_the_masked_mean_over_real_steps():
    policy, theta, g = mlp_setup()
    support = sampled_episodes(policy, theta, g)
    problem = PolicyGradientProblem(policy, "reinforce")
    task = unstack_tasks(make_task_batch(support))[0]
    log_probs = policy.distribution(theta, support.observations[:, 0]).log_prob(
        support.actions[:, 0]
    )
    real = support.mask[:, 0] > 0
    expected = -(log_probs * support.advantages[:, 0])[real].sum() / real.sum()
    torch.testing.assert_close(problem.support_loss(theta, task), expected)
    lvc = PolicyGradientProblem(policy, "lvc").support_loss(theta, task)
    torch.testing.assert_close(lvc, -support.advantages[:, 0][real].mean())


def query_setup():
    policy, theta, g = mlp_setup(1)
    learner = MetaLearner(policy, InnerLoopConfig(steps=1, lr=0.1))
    problem = PolicyGradientProblem(policy)
    support = sampled_episodes(policy, theta, g)
    adapted = MAML(learner.inner).adapted_params(
        learner.meta_params(), problem, make_task_batch(support)
    )
    adapted = {k: v.detach() for k, v in adapted.items()}
    query = sampled_episodes(policy, adapted, g, per_task=True)
    return policy, learner, problem, support, query, adapted


def test_query_losses_and_kl_against_hand_formulas():
    policy, _, problem, support, query, adapted = query_setup()
    tasks = make_task_batch(support, query)
    task = unstack_tasks(tasks)[1]
    old = {k: v[1] for k, v in adapted.items()}
    new = {
        k: v + 0.3 * torch.randn(v.shape, generator=torch.Generator().manual_seed(2), dtype=DTYPE)
        for k, v in old.items()
    }
    obs, actions, mask, adv = (
        query.observations[:, 1],
        query.actions[:, 1],
        query.mask[:, 1],
        query.advantages[:, 1],
    )
    real = mask > 0
    ratio = (policy.distribution(new, obs).log_prob(actions) - query.log_probs[:, 1]).exp()
    torch.testing.assert_close(problem.query_loss(new, task), -(ratio * adv)[real].mean())
    torch.testing.assert_close(problem.query_loss(old, task), -adv[real].mean())
    assert ((ratio[real] - 1).abs() > 0.2).any()  # the clip below is active somewhere
    clipped = torch.minimum(ratio * adv, ratio.clamp(0.8, 1.2) * adv)
    torch.testing.assert_close(problem.clipped_loss(new, task, 0.2), -clipped[real].mean())
    torch.testing.assert_close(problem.kl(new, task), policy.kl(old, new, obs)[real].mean())
    torch.testing.assert_close(
        problem.kl(old, task), torch.zeros((), dtype=DTYPE), atol=1e-12, rtol=0
    )
    entropy = policy.distribution(new, obs).entropy()[real].mean()
    torch.testing.assert_close(problem.query_metrics(new, task)["entropy"], entropy)


def test_padding_is_never_read():
    """Garbage in padded entries (overflowing log-ratios, huge advantages) changes nothing."""
    policy, _, _, support, _, _ = query_setup()
    padded = support.mask == 0
    garbage = support.replace(
        log_probs=torch.where(padded, -1e4, support.log_probs),
        advantages=torch.where(padded, 1e6, support.advantages),
    )
    theta = {k: v.detach() for k, v in policy.named_parameters()}
    for inner_loss in LOSSES:
        problem = PolicyGradientProblem(policy, inner_loss)
        for episodes in (support, garbage):
            tasks = make_task_batch(episodes)
            value, grad = vmap(torch.func.grad_and_value(problem.support_loss), in_dims=(None, 0))(
                theta, tasks
            )[::-1]
            if episodes is support:
                reference = (value, grad)
        torch.testing.assert_close(value, reference[0])
        for name in grad:
            torch.testing.assert_close(grad[name], reference[1][name])


def assert_directional_derivative(objective, meta_grads, theta, seed):
    """The meta-gradient along a random direction equals a central finite difference."""
    direction = {
        k: torch.randn(v.shape, generator=torch.Generator().manual_seed(seed), dtype=DTYPE)
        for k, v in theta.items()
    }
    eps = 1e-5
    plus = objective({k: v + eps * direction[k] for k, v in theta.items()})
    minus = objective({k: v - eps * direction[k] for k, v in theta.items()})
    directional = sum((meta_grads["model." + k] * direction[k]).sum() for k in theta)
    torch.testing.assert_close(directional, (plus - minus) / (2 * eps), rtol=1e-6, atol=1e-9)


def test_vmapped_meta_step_equals_the_task_loop_and_finite_differences():
    """MAML through the LVC inner step: the vmapped TaskBatch, the ragged list of tasks and a
    central finite difference of the meta-objective agree."""
    _, learner, problem, support, query, _ = query_setup()
    tasks = make_task_batch(support, query)
    algorithm = make_algorithm("maml", learner.inner)
    batched = algorithm.meta_step(learner.meta_params(), problem, tasks)
    looped = algorithm.meta_step(learner.meta_params(), problem, unstack_tasks(tasks))
    for name, grad in batched.meta_grads.items():
        torch.testing.assert_close(looped.meta_grads[name], grad)

    def objective(theta):
        def per_task(task):
            adapted, _ = inner_step(
                theta, lambda p: problem.support_loss(p, task), {}, learner.inner, 0
            )
            return problem.query_loss(adapted, task)

        return torch.stack([per_task(task) for task in unstack_tasks(tasks)]).mean()

    theta = model_params({k: v.detach() for k, v in learner.meta_params().items()})
    assert_directional_derivative(objective, batched.meta_grads, theta, seed=3)


def test_task_batch_layout_and_errors(gaussian_policy, detached_params):
    policy, _, problem, support, query, _ = query_setup()
    tasks = make_task_batch(support, query)
    assert tasks["support_observations"].shape == (2, 6, 3, 3)  # (T, H, E, obs)
    assert tasks["query_old_mean"].shape == (2, 6, 3, 2)
    assert set(tasks) >= {
        "support_log_probs",
        "query_advantages",
        "query_mask",
        "query_old_log_std",
    }
    with pytest.raises(ValueError, match="compute_advantages"):
        make_task_batch(support.replace(advantages=None))
    with pytest.raises(ValueError, match="tasks"):
        make_task_batch(
            support, sampled_episodes(policy, detached_params(policy), torch.Generator(), tasks=3)
        )
    support_only = unstack_tasks(make_task_batch(support))[0]
    with pytest.raises(KeyError, match="query_"):
        problem.query_loss(detached_params(policy), support_only)
    with pytest.raises(KeyError, match="query_old"):
        problem.kl(
            detached_params(policy),
            {k: v for k, v in unstack_tasks(tasks)[0].items() if "old" not in k},
        )
    with pytest.raises(ValueError, match="inner_loss"):
        PolicyGradientProblem(policy, "ppo")


def test_masked_mean():
    values = torch.tensor([[1.0, float("inf")], [3.0, 5.0]])
    mask = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    assert masked_mean(values, mask).item() == 3.0


def test_two_inner_steps_each_on_episodes_sampled_after_the_previous_step():
    """Step 1 descends on episodes sampled with the policy after step 0 (keys support_step1_*);
    MAML's meta-gradient through both steps matches a central finite difference."""
    policy, theta, g = mlp_setup(2)
    learner = MetaLearner(policy, InnerLoopConfig(steps=2, lr=0.1))
    problem = PolicyGradientProblem(policy)
    meta_params = learner.meta_params()
    support = sampled_episodes(policy, theta, g)
    start = {k: v.expand(2, *v.shape) for k, v in theta.items()}
    after_one = step_on_episodes(problem, start, support, meta_params, learner.inner, 0)
    support_step1 = sampled_episodes(policy, after_one, g, per_task=True)
    algorithm = MAML(learner.inner)
    adapted = algorithm.adapted_params(
        meta_params, problem, make_task_batch([support, support_step1])
    )
    after_two = step_on_episodes(problem, after_one, support_step1, meta_params, learner.inner, 1)
    for name, value in after_two.items():
        torch.testing.assert_close(adapted[name].detach(), value)
    reused = algorithm.adapted_params(meta_params, problem, make_task_batch(support))
    assert any(not torch.allclose(reused[k], adapted[k]) for k in adapted)

    query = sampled_episodes(policy, {k: v.detach() for k, v in adapted.items()}, g, per_task=True)
    tasks = make_task_batch([support, support_step1], query)
    assert tasks["support_step1_observations"].shape == tasks["support_observations"].shape
    batched = algorithm.meta_step(meta_params, problem, tasks)
    looped = algorithm.meta_step(meta_params, problem, unstack_tasks(tasks))
    for name, grad in batched.meta_grads.items():
        torch.testing.assert_close(looped.meta_grads[name], grad)

    def objective(theta):
        def per_task(task):
            params = theta
            for step in range(2):
                loss = lambda p, step=step: problem.support_loss(p, task, step)  # noqa: E731
                params, _ = inner_step(params, loss, {}, learner.inner, step)
            return problem.query_loss(params, task)

        return torch.stack([per_task(task) for task in unstack_tasks(tasks)]).mean()

    assert_directional_derivative(objective, batched.meta_grads, theta, seed=4)


def test_the_batched_adaptation_loop_equals_vmapped_steps_task_by_task():
    """``adapt_on_fresh_episodes`` steps all tasks on the gradient of their summed losses and
    samples between steps; in float64 it equals the vmapped per-task step after each step."""
    policy, theta, g = mlp_setup(2)
    learner = MetaLearner(policy, InnerLoopConfig(steps=2, lr=0.1))
    problem = PolicyGradientProblem(policy)
    meta_params = learner.meta_params()
    start = {k: v.expand(2, *v.shape) for k, v in theta.items()}
    seen: list[dict] = []

    def sample(step, params):
        seen.append({k: v.clone() for k, v in params.items()})
        return sampled_episodes(policy, params, g, per_task=True)

    episodes, adapted = adapt_on_fresh_episodes(
        problem, start, meta_params, lambda step: learner.inner, 2, sample
    )
    assert len(episodes) == 3
    reference = start
    for step in range(2):
        reference = step_on_episodes(
            problem, reference, episodes[step], meta_params, learner.inner, step
        )
        for name, value in reference.items():
            torch.testing.assert_close(seen[step + 1][name], value, rtol=1e-12, atol=1e-12)
    for name, value in reference.items():
        torch.testing.assert_close(adapted[name], value, rtol=1e-12, atol=1e-12)
