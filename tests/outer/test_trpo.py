"""TRPO outer step: conjugate gradient, Fisher-vector products through the adaptation, and the
trust-region line search, on a tiny linear-Gaussian meta-RL problem in float64."""

import pytest
import torch
from torch.autograd.functional import hessian

from metarl.core.adaptation import InnerLoopConfig, MetaLearner
from metarl.core.algorithms import MAML, MetaAlgorithm, MetaStepResult, make_algorithm
from metarl.core.functional import detach, model_params, tree_norm
from metarl.core.problem import unstack_tasks
from metarl.core.solvers import conjugate_gradient
from metarl.outer.trpo import (
    TRPOConfig,
    fisher_vector_product,
    fisher_vector_product_reference,
    subsample_tasks,
    surrogate_and_kl,
    trpo_step,
)
from metarl.rl.episodes import Episodes
from metarl.rl.objective import PolicyGradientProblem, make_task_batch, step_on_episodes
from metarl.rl.policies import CategoricalMLPPolicy, GaussianMLPPolicy, Policy

H, T, E, OBS, ACT = 8, 4, 3, 3, 2
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
    mask = torch.ones(H, T, E, dtype=DTYPE)
    mask[5:, 0, 0] = 0.0  # one episode ends early
    return Episodes(
        observations=obs,
        actions=actions,
        rewards=torch.zeros(H, T, E, dtype=DTYPE),
        mask=mask,
        log_probs=policy.make_distribution(dist_params).log_prob(actions),
        dist_params=dist_params,
        advantages=torch.randn(H, T, E, generator=generator, dtype=DTYPE) * mask,
    )


@pytest.fixture
def setup():
    """A meta-batch whose query episodes were sampled by each task's adapted policy."""
    policy = GaussianMLPPolicy(
        OBS, ACT, hidden=(4,), activation="tanh", generator=torch.Generator().manual_seed(0)
    ).to(DTYPE)
    with torch.no_grad():
        policy.log_std.fill_(-0.5)
    learner = MetaLearner(policy, InnerLoopConfig(steps=1, lr=0.1))
    algorithm = make_algorithm("maml", learner.inner)
    problem = PolicyGradientProblem(policy, "lvc")
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        theta = detach(model_params(learner.meta_params()))
        support = synthetic_episodes(policy, theta, False, g)
        adapted = algorithm.adapted_params(learner.meta_params(), problem, make_task_batch(support))
        query = synthetic_episodes(policy, adapted, True, g)
    return learner, algorithm, problem, make_task_batch(support, query)


def test_conjugate_gradient_solves_spd_system():
    g = torch.Generator().manual_seed(0)
    m = torch.randn(6, 6, generator=g, dtype=DTYPE)
    matrix = m @ m.T + 0.1 * torch.eye(6, dtype=DTYPE)
    rhs = torch.randn(6, generator=g, dtype=DTYPE)
    # Split the unknown over two "parameters" to exercise the dict algebra.
    solution = conjugate_gradient(
        lambda v: dict(
            zip("ab", (matrix @ torch.cat([v["a"], v["b"]])).split([2, 4]), strict=True)
        ),
        {"a": rhs[:2], "b": rhs[2:]},
        iterations=12,
    )
    expected = torch.linalg.solve(matrix, rhs)
    torch.testing.assert_close(torch.cat([solution["a"], solution["b"]]), expected)


@pytest.mark.parametrize("algorithm_name", ["maml", "fomaml"])
def test_fisher_vector_product_is_hessian_of_kl_through_adaptation(setup, algorithm_name):
    learner, _, problem, tasks = setup
    algorithm = make_algorithm(algorithm_name, learner.inner)
    meta_params = learner.meta_params()
    names = list(meta_params)
    shapes = [meta_params[n].shape for n in names]
    sizes = [meta_params[n].numel() for n in names]

    def kl_of_flat(flat):
        params = {
            n: chunk.reshape(s)
            for n, chunk, s in zip(names, flat.split(sizes), shapes, strict=True)
        }
        return surrogate_and_kl(algorithm, params, problem, tasks)[1]

    flat = torch.cat([meta_params[n].detach().reshape(-1) for n in names])
    full_hessian = hessian(kl_of_flat, flat)
    vector = torch.randn(flat.numel(), generator=torch.Generator().manual_seed(5), dtype=DTYPE)
    damping = 1e-3
    product = fisher_vector_product(algorithm, meta_params, problem, tasks, damping)(
        {n: c.reshape(s) for n, c, s in zip(names, vector.split(sizes), shapes, strict=True)}
    )
    got = torch.cat([product[n].reshape(-1) for n in names])
    torch.testing.assert_close(got, full_hessian @ vector + damping * vector)
    # At the sampling parameters the KL is zero and its Hessian is a Fisher matrix (PSD, nonzero).
    assert torch.linalg.eigvalsh(full_hessian).min() > -1e-10
    assert full_hessian.abs().max() > 1e-3


def test_surrogate_and_kl_at_old_params_is_zero_kl_and_unit_ratio(setup):
    learner, algorithm, problem, tasks = setup
    surrogate, kl = surrogate_and_kl(algorithm, learner.meta_params(), problem, tasks)
    torch.testing.assert_close(kl, torch.zeros((), dtype=DTYPE), atol=1e-12, rtol=0)
    mask = tasks["query_mask"]
    expected = -((tasks["query_advantages"] * mask).sum(dim=(1, 2)) / mask.sum(dim=(1, 2))).mean()
    torch.testing.assert_close(surrogate, expected)


def test_accepted_step_satisfies_kl_bound_and_improves_surrogate(setup):
    learner, algorithm, problem, tasks = setup
    config = TRPOConfig(max_kl=0.01)
    before = detach({n: p.clone() for n, p in learner.meta_params().items()})
    surrogate_before, _ = surrogate_and_kl(algorithm, before, problem, tasks)

    stats = trpo_step(algorithm, learner.meta_params(), problem, tasks, config)

    assert stats["accepted"].item() == 1.0
    after = detach(learner.meta_params())
    assert any(not torch.equal(before[n], after[n]) for n in before)
    surrogate_after, kl_after = surrogate_and_kl(algorithm, after, problem, tasks)
    assert kl_after.item() <= config.max_kl
    assert surrogate_after.item() < surrogate_before.item()
    torch.testing.assert_close(stats["surrogate_before"], surrogate_before)
    torch.testing.assert_close(stats["surrogate_after"], surrogate_after)
    torch.testing.assert_close(stats["kl"], kl_after)
    assert stats["improvement"].item() > 0
    # The full step is scaled so that the quadratic KL model equals max_kl; the exact KL of the
    # accepted fraction r^j of it is close to max_kl * r^(2j).
    expected = config.max_kl * config.line_search_ratio ** (2 * stats["line_search_steps"].item())
    assert 0.5 * expected < kl_after.item() <= config.max_kl


def test_ragged_task_list_gives_the_same_step(setup):
    learner, algorithm, problem, tasks = setup
    config = TRPOConfig()
    start = {n: p.detach().clone() for n, p in learner.meta_params().items()}
    batched = trpo_step(algorithm, learner.meta_params(), problem, tasks, config)
    batched_params = detach({n: p.clone() for n, p in learner.meta_params().items()})
    with torch.no_grad():
        for n, p in learner.meta_params().items():
            p.copy_(start[n])
    ragged = trpo_step(algorithm, learner.meta_params(), problem, unstack_tasks(tasks), config)
    for key in batched:
        torch.testing.assert_close(batched[key], ragged[key])
    for n, p in learner.meta_params().items():
        torch.testing.assert_close(p.detach(), batched_params[n])


class AscentMAML(MetaAlgorithm):
    """MAML whose 'gradient' points uphill, so no candidate of the line search can improve."""

    name = "ascent"

    def __init__(self, inner):
        super().__init__(inner)
        self._maml = MAML(inner)

    def meta_step(self, meta_params, problem, tasks):
        result = self._maml.meta_step(meta_params, problem, tasks)
        flipped = {n: -g for n, g in result.meta_grads.items()}
        return MetaStepResult(result.meta_loss, flipped, result.metrics, result.num_tasks)


def test_rejected_line_search_leaves_parameters_unchanged(setup):
    learner, _, problem, tasks = setup
    before = {n: p.detach().clone() for n, p in learner.meta_params().items()}
    stats = trpo_step(
        AscentMAML(learner.inner), learner.meta_params(), problem, tasks, TRPOConfig()
    )
    assert stats["accepted"].item() == 0.0
    assert stats["line_search_steps"].item() == TRPOConfig().line_search_steps
    assert stats["kl"].item() == 0.0
    for n, p in learner.meta_params().items():
        assert torch.equal(p.detach(), before[n])


def test_gradient_is_the_algorithms_meta_gradient(setup):
    """The step direction starts from meta_step: at a tiny trust region the step is ~ -F^-1 g."""
    learner, algorithm, problem, tasks = setup
    meta_params = learner.meta_params()
    grads = algorithm.meta_step(meta_params, problem, tasks).meta_grads
    start = {n: p.detach().clone() for n, p in meta_params.items()}
    trpo_step(algorithm, meta_params, problem, tasks, TRPOConfig(max_kl=1e-8))
    step = {n: meta_params[n].detach() - start[n] for n in start}
    # A descent direction for the surrogate: <g, step> < 0.
    assert sum((grads[n] * step[n]).sum() for n in step).item() < 0


def test_subsample_tasks_keeps_the_leading_fraction(setup):
    _, _, _, tasks = setup
    half = subsample_tasks(tasks, 0.5)
    assert all(torch.equal(half[k], tasks[k][:2]) for k in tasks)
    assert subsample_tasks(tasks, 1.0) is tasks
    assert len(subsample_tasks(unstack_tasks(tasks), 0.1)) == 1  # at least one task
    assert len(subsample_tasks(unstack_tasks(tasks) * 5, 0.3)) == 6  # 0.3 * 20, not rounded up


def test_subsampled_fisher_step_solves_the_subsets_fisher_system(setup):
    learner, algorithm, problem, tasks = setup
    meta_params = learner.meta_params()
    start = {n: p.detach().clone() for n, p in meta_params.items()}
    config = TRPOConfig(fvp_subsample=0.5)
    gradient = algorithm.meta_step(meta_params, problem, tasks).meta_grads
    matvec = fisher_vector_product(
        algorithm, meta_params, problem, subsample_tasks(tasks, 0.5), config.cg_damping
    )
    direction = conjugate_gradient(matvec, detach(gradient), config.cg_iterations)
    exact = conjugate_gradient(
        fisher_vector_product(algorithm, meta_params, problem, tasks, config.cg_damping),
        detach(gradient),
        config.cg_iterations,
    )

    stats = trpo_step(algorithm, meta_params, problem, tasks, config)

    assert stats["accepted"].item() == 1.0
    assert stats["kl"].item() <= config.max_kl  # the line search still measures every task
    assert stats["improvement"].item() > 0
    step = torch.cat([(meta_params[n].detach() - start[n]).reshape(-1) for n in start])
    expected = -torch.cat([direction[n].reshape(-1) for n in start])
    cosine = torch.dot(step, expected) / (step.norm() * expected.norm())
    torch.testing.assert_close(cosine, torch.ones((), dtype=DTYPE))
    # The exact Fisher (all tasks) gives a different direction.
    exact_flat = -torch.cat([exact[n].reshape(-1) for n in start])
    assert torch.dot(exact_flat, expected) / (exact_flat.norm() * expected.norm()) < 0.999


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_kl", 0.0),
        ("cg_iterations", 0),
        ("cg_damping", -1.0),
        ("line_search_steps", 0),
        ("line_search_ratio", 1.0),
        ("fvp_subsample", 0.0),
        ("fvp_subsample", 1.5),
    ],
)
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=f"trpo.{field}"):
        TRPOConfig(**{field: value})


# ---------------------------------------------------------------------------------------------
# The closed-form Fisher-vector product equals the autograd reference
# ---------------------------------------------------------------------------------------------

NUM_ACTIONS = 3


def categorical_episodes(policy, params, per_task, generator):
    """``synthetic_episodes`` for a categorical policy (uniform noise, integer actions)."""
    obs = torch.randn(H, T, E, OBS, generator=generator, dtype=DTYPE)
    if per_task:
        dist_params = torch.func.vmap(policy.dist_params, in_dims=(0, 1), out_dims=1)(params, obs)
    else:
        dist_params = policy.dist_params(params, obs)
    actions = policy.actions_from_noise(
        dist_params, torch.rand(H, T, E, generator=generator, dtype=DTYPE)
    )
    mask = torch.ones(H, T, E, dtype=DTYPE)
    mask[5:, 0, 0] = 0.0
    return Episodes(
        observations=obs,
        actions=actions,
        rewards=torch.zeros(H, T, E, dtype=DTYPE),
        mask=mask,
        log_probs=policy.make_distribution(dist_params).log_prob(actions),
        dist_params=dist_params,
        advantages=torch.randn(H, T, E, generator=generator, dtype=DTYPE) * mask,
    )


def make_meta_batch(policy_kind, algorithm_name, steps):
    """Learner, algorithm, problem and a meta-batch whose query episodes were sampled by each
    task's adapted policy (and, for k = 2, second-step support episodes by the policy after one
    step). Categorical meta-batches are task lists: torch's categorical KL indexes with a
    boolean mask, which vmap cannot batch."""
    g = torch.Generator().manual_seed(11)
    if policy_kind == "gaussian":
        policy = GaussianMLPPolicy(OBS, ACT, hidden=(5,), activation="tanh", generator=g)
        episodes = synthetic_episodes
    else:
        policy = CategoricalMLPPolicy(OBS, NUM_ACTIONS, hidden=(5,), activation="tanh", generator=g)
        episodes = categorical_episodes
    policy = policy.to(DTYPE)
    algorithm = make_algorithm(algorithm_name, InnerLoopConfig(steps=steps, lr=0.3))
    learner = MetaLearner(policy, algorithm.inner)
    problem = PolicyGradientProblem(policy, "lvc")
    with torch.no_grad():
        theta = detach(model_params(learner.meta_params()))
        supports = [episodes(policy, theta, False, g)]
        if steps == 2:
            params = {n: v.expand(T, *v.shape) for n, v in theta.items()}
            params = step_on_episodes(
                problem, params, supports[0], learner.meta_params(), algorithm.inner, 0
            )
            supports.append(episodes(policy, params, True, g))
        adapted = algorithm.adapted_params(
            learner.meta_params(), problem, make_task_batch(supports)
        )
        query = episodes(policy, adapted, True, g)
    tasks = make_task_batch(supports, query)
    return learner, algorithm, problem, tasks if policy_kind == "gaussian" else unstack_tasks(tasks)


def random_direction(params, seed):
    g = torch.Generator().manual_seed(seed)
    return {n: torch.randn(p.shape, generator=g, dtype=DTYPE) for n, p in params.items()}


def assert_trees_equal(got, expected, tolerance=1e-10):
    assert got.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=tolerance, atol=tolerance)


CASES = [
    (policy_kind, algorithm_name, steps)
    for policy_kind in ("gaussian", "categorical")
    for algorithm_name in ("maml", "fomaml", "metasgd")
    for steps in (1, 2)
]


@pytest.mark.parametrize(("policy_kind", "algorithm_name", "steps"), CASES)
def test_fisher_vector_product_equals_the_reference(policy_kind, algorithm_name, steps):
    learner, algorithm, problem, tasks = make_meta_batch(policy_kind, algorithm_name, steps)
    meta_params = learner.meta_params()
    fast = fisher_vector_product(algorithm, meta_params, problem, tasks, 1e-3)
    reference = fisher_vector_product_reference(algorithm, meta_params, problem, tasks, 1e-3)
    for seed in (1, 2):
        vector = random_direction(meta_params, seed)
        expected = reference(vector)
        assert_trees_equal(fast(vector), expected)
        # Not a trivially small product: the Fisher part dominates the damping.
        assert tree_norm(expected) > 10 * 1e-3 * tree_norm(vector)


def test_fisher_vector_product_equals_the_reference_away_from_the_sampling_policy():
    """Where the stored sampling distributions differ from the current ones (float32 rounding
    in practice, d = mu - mu_old != 0 here), both products take the KL's Hessian there."""
    learner, algorithm, problem, tasks = make_meta_batch("gaussian", "maml", 1)
    g = torch.Generator().manual_seed(4)
    tasks = dict(tasks)
    for key in ("query_old_mean", "query_old_log_std"):
        tasks[key] = tasks[key] + 0.3 * torch.randn(tasks[key].shape, generator=g, dtype=DTYPE)
    meta_params = learner.meta_params()
    vector = random_direction(meta_params, 3)
    expected = fisher_vector_product_reference(algorithm, meta_params, problem, tasks, 0.0)(vector)
    got = fisher_vector_product(algorithm, meta_params, problem, tasks, 0.0)(vector)
    assert_trees_equal(got, expected)


def test_fisher_vector_product_on_a_task_list_equals_the_batched_one():
    learner, algorithm, problem, tasks = make_meta_batch("gaussian", "maml", 1)
    meta_params = learner.meta_params()
    vector = random_direction(meta_params, 6)
    batched = fisher_vector_product(algorithm, meta_params, problem, tasks, 1e-3)(vector)
    listed = fisher_vector_product(algorithm, meta_params, problem, unstack_tasks(tasks), 1e-3)
    assert_trees_equal(listed(vector), batched)


@pytest.mark.parametrize("policy_kind", ["gaussian", "categorical"])
def test_closed_form_kl_hessian_equals_autograd(policy_kind):
    g = torch.Generator().manual_seed(8)
    if policy_kind == "gaussian":
        policy = GaussianMLPPolicy(OBS, ACT, hidden=(4,), generator=g).to(DTYPE)
        shapes = {"mean": (7, ACT), "log_std": (7, ACT)}
    else:
        policy = CategoricalMLPPolicy(OBS, NUM_ACTIONS, hidden=(4,), generator=g).to(DTYPE)
        shapes = {"logits": (7, NUM_ACTIONS)}
    draw = lambda: {k: torch.randn(s, generator=g, dtype=DTYPE) for k, s in shapes.items()}  # noqa: E731
    at, old, tangent = draw(), draw(), draw()
    expected = Policy.kl_hessian_product(policy, at, old, tangent)  # the generic autograd one
    assert_trees_equal(policy.kl_hessian_product(at, old, tangent), expected)


def test_gaussian_kl_hessian_at_the_old_distribution_is_the_fisher_matrix():
    """In (mean, log_std) the Hessian of KL(old || new) at new = old is diag(1 / sigma^2, 2)."""
    policy = GaussianMLPPolicy(OBS, ACT, hidden=(4,)).to(DTYPE)
    g = torch.Generator().manual_seed(9)
    old = {k: torch.randn(5, ACT, generator=g, dtype=DTYPE) for k in ("mean", "log_std")}
    u = {k: torch.randn(5, ACT, generator=g, dtype=DTYPE) for k in ("mean", "log_std")}
    for product in (
        policy.kl_hessian_product(old, old, u),
        Policy.kl_hessian_product(policy, old, old, u),
    ):
        torch.testing.assert_close(product["mean"], u["mean"] / old["log_std"].exp() ** 2)
        torch.testing.assert_close(product["log_std"], 2.0 * u["log_std"])


def reference_and_new_steps(learner, algorithm, problem, tasks, config):
    """Statistics and parameters of trpo_step from the same start with either product.

    The tests use damping 1e-3: this tiny meta-batch's Fisher has rank below the parameter
    count, and at damping 1e-5 ten CG iterations amplify 1e-16 differences of the products to
    ~1e-5 in the step (at the published shape they stay at ~1e-14, ``metarl bench outer``)."""
    meta_params = learner.meta_params()
    start = {n: p.detach().clone() for n, p in meta_params.items()}
    results = []
    for product in (fisher_vector_product_reference, fisher_vector_product):
        with torch.no_grad():
            for n, p in meta_params.items():
                p.copy_(start[n])
        stats = trpo_step(algorithm, meta_params, problem, tasks, config, fisher_product=product)
        results.append((stats, {n: p.detach().clone() for n, p in meta_params.items()}))
    return results


@pytest.mark.parametrize(("policy_kind", "algorithm_name", "steps"), CASES)
def test_trpo_step_with_the_new_product_equals_the_reference_step(
    policy_kind, algorithm_name, steps
):
    learner, algorithm, problem, tasks = make_meta_batch(policy_kind, algorithm_name, steps)
    (reference, reference_params), (stats, params) = reference_and_new_steps(
        learner, algorithm, problem, tasks, TRPOConfig(cg_damping=1e-3)
    )
    assert reference["accepted"].item() == 1.0  # a real step, not "nothing moved" on both sides
    assert_trees_equal(stats, reference)
    assert_trees_equal(params, reference_params)


def test_subsampled_trpo_step_with_the_new_product_equals_the_reference_step():
    learner, algorithm, problem, tasks = make_meta_batch("gaussian", "maml", 1)
    (reference, reference_params), (stats, params) = reference_and_new_steps(
        learner, algorithm, problem, tasks, TRPOConfig(cg_damping=1e-3, fvp_subsample=0.5)
    )
    assert reference["accepted"].item() == 1.0
    assert_trees_equal(stats, reference)
    assert_trees_equal(params, reference_params)
