import math

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from metarl.core.adaptation import InnerLoopConfig, MetaLearner
from metarl.core.algorithms import make_algorithm
from metarl.core.problem import SupervisedProblem, unstack_tasks
from metarl.supervised.evaluation import (
    evaluate_adaptation,
)
from metarl.supervised.models import ModelConfig, build_model
from metarl.supervised.tasks import SinusoidConfig, SinusoidTasks

STEPS = 4


@pytest.fixture
def sinusoid_tasks():
    tasks = SinusoidTasks(SinusoidConfig(), "cpu", torch.float64)
    return tasks.sample(7, torch.Generator().manual_seed(5))


def mlp_learner(inner=None, output_dim=1):
    torch.manual_seed(0)
    model = build_model(ModelConfig(hidden=(16, 16)), (1,), output_dim).double()
    return MetaLearner(model, inner or InnerLoopConfig(steps=1, lr=0.05))


def manual_predictions(model, task, lrs, steps, loss=F.mse_loss):
    """Plain gradient descent on one task with autograd; the query predictions after each step."""
    params = {n: p.detach().clone().requires_grad_() for n, p in model.named_parameters()}
    predictions = []
    for step in range(steps + 1):
        predictions.append(functional_call(model, params, (task["query_x"],)).detach())
        if step == steps:
            break
        support = loss(functional_call(model, params, (task["support_x"],)), task["support_y"])
        grads = torch.autograd.grad(support, list(params.values()))
        params = {
            n: (p - lrs(step, n) * g).detach().requires_grad_()
            for (n, p), g in zip(params.items(), grads, strict=True)
        }
    return predictions


def manual_curve(model, task, lrs, steps):
    predictions = manual_predictions(model, task, lrs, steps)
    return [float(F.mse_loss(p, task["query_y"])) for p in predictions]


def test_one_task_matches_a_manual_loop(sinusoid_tasks):
    learner = mlp_learner()
    task = {k: v[:1] for k, v in sinusoid_tasks.items()}
    curve = evaluate_adaptation(
        make_algorithm("maml", learner.inner),
        learner.meta_params(),
        SupervisedProblem(learner.model, "mse"),
        task,
        STEPS,
    )
    expected = manual_curve(learner.model, unstack_tasks(task)[0], lambda s, n: 0.05, STEPS)
    assert curve.steps == list(range(STEPS + 1)) and curve.num_tasks == 1
    assert curve.loss_mean == pytest.approx(expected, rel=1e-12)
    assert all(math.isnan(c) for c in curve.loss_ci95)  # no spread from one task
    assert curve.accuracy_mean is None and curve.accuracy_ci95 is None
    assert curve.loss_mean[STEPS] < curve.loss_mean[0]


def test_many_tasks_give_mean_and_ci_of_the_manual_curves(sinusoid_tasks):
    learner = mlp_learner()
    problem = SupervisedProblem(learner.model, "mse")
    algorithm = make_algorithm("fomaml", learner.inner)
    curve = evaluate_adaptation(algorithm, learner.meta_params(), problem, sinusoid_tasks, STEPS)
    manual = torch.tensor(
        [
            manual_curve(learner.model, task, lambda s, n: 0.05, STEPS)
            for task in unstack_tasks(sinusoid_tasks)
        ],
        dtype=torch.float64,
    )
    assert curve.loss_mean == pytest.approx(manual.mean(0).tolist(), rel=1e-10)
    half_width = 1.96 * manual.std(0) / math.sqrt(7)
    assert curve.loss_ci95 == pytest.approx(half_width.tolist(), rel=1e-8)
    # The same numbers in chunks of two tasks, and through the ragged task-list path.
    chunked = evaluate_adaptation(
        algorithm, learner.meta_params(), problem, sinusoid_tasks, STEPS, chunk_size=2
    )
    listed = evaluate_adaptation(
        algorithm, learner.meta_params(), problem, unstack_tasks(sinusoid_tasks), STEPS
    )
    for other in (chunked, listed):
        assert other.loss_mean == pytest.approx(curve.loss_mean, rel=1e-12)


def test_learned_step_sizes_are_used(sinusoid_tasks):
    learner = mlp_learner(InnerLoopConfig(steps=2, lr=0.05, lr_mode="per_layer_per_step"))
    with torch.no_grad():
        for key, rate in learner.inner_lr.items():
            rate.fill_(0.02 if key.startswith("step0") else 0.07)
    task = {k: v[:1] for k, v in sinusoid_tasks.items()}
    curve = evaluate_adaptation(
        make_algorithm("maml", learner.inner),
        learner.meta_params(),
        SupervisedProblem(learner.model, "mse"),
        task,
        STEPS,
    )
    # Steps beyond the trained two reuse the last step's rates.
    expected = manual_curve(
        learner.model, unstack_tasks(task)[0], lambda s, n: 0.02 if s == 0 else 0.07, STEPS
    )
    assert curve.loss_mean == pytest.approx(expected, rel=1e-12)


def test_classification_reports_accuracy(sinusoid_tasks):
    learner = mlp_learner(output_dim=3)
    labels = torch.Generator().manual_seed(1)
    tasks = dict(sinusoid_tasks)
    tasks["support_y"] = torch.randint(0, 3, (7, 10), generator=labels)
    tasks["query_y"] = torch.randint(0, 3, (7, 10), generator=labels)
    curve = evaluate_adaptation(
        make_algorithm("maml", learner.inner),
        learner.meta_params(),
        SupervisedProblem(learner.model, "cross_entropy"),
        tasks,
        2,
    )
    losses, accuracies = [], []
    for task in unstack_tasks(tasks):
        predictions = manual_predictions(learner.model, task, lambda s, n: 0.05, 2, F.cross_entropy)
        losses.append([float(F.cross_entropy(p, task["query_y"])) for p in predictions])
        accuracies.append(
            [float((p.argmax(-1) == task["query_y"]).double().mean()) for p in predictions]
        )
    losses = torch.tensor(losses, dtype=torch.float64)
    accuracies = torch.tensor(accuracies, dtype=torch.float64)
    assert curve.loss_mean == pytest.approx(losses.mean(0).tolist(), rel=1e-10)
    assert curve.accuracy_mean == pytest.approx(accuracies.mean(0).tolist(), rel=1e-6)
    half_width = 1.96 * accuracies.std(0) / math.sqrt(7)
    assert curve.accuracy_ci95 == pytest.approx(half_width.tolist(), rel=1e-5)


def test_meta_parameters_receive_no_gradient(sinusoid_tasks):
    learner = mlp_learner()
    evaluate_adaptation(
        make_algorithm("maml", learner.inner),
        learner.meta_params(),
        SupervisedProblem(learner.model, "mse"),
        sinusoid_tasks,
        2,
    )
    assert all(p.grad is None for p in learner.parameters())


def test_bad_arguments_are_rejected(sinusoid_tasks):
    learner = mlp_learner()
    args = (
        make_algorithm("maml", learner.inner),
        learner.meta_params(),
        SupervisedProblem(learner.model, "mse"),
        sinusoid_tasks,
    )
    with pytest.raises(ValueError, match="max_steps"):
        evaluate_adaptation(*args, -1)
    with pytest.raises(ValueError, match="chunk_size"):
        evaluate_adaptation(*args, 1, chunk_size=0)


def manual_proximal_curve(model, task, lr, lam, steps):
    """SGD on iMAML's regularised inner loss L_S(phi) + lam/2 ||phi - theta||^2, by autograd."""
    theta = {n: p.detach().clone() for n, p in model.named_parameters()}
    params = {n: p.clone().requires_grad_() for n, p in theta.items()}
    losses = []
    for step in range(steps + 1):
        query = functional_call(model, params, (task["query_x"],)).detach()
        losses.append(float(F.mse_loss(query, task["query_y"])))
        if step == steps:
            break
        support = F.mse_loss(
            functional_call(model, params, (task["support_x"],)), task["support_y"]
        )
        proximal = sum(((params[n] - theta[n]) ** 2).sum() for n in params)
        grads = torch.autograd.grad(support + 0.5 * lam * proximal, list(params.values()))
        params = {
            n: (p - lr * g).detach().requires_grad_()
            for (n, p), g in zip(params.items(), grads, strict=True)
        }
    return losses


@pytest.mark.parametrize("vectorized", [True, False])
def test_imaml_is_evaluated_with_its_own_proximal_inner_solve(sinusoid_tasks, vectorized):
    from metarl.core.algorithms import IMAMLConfig

    inner = InnerLoopConfig(steps=2, lr=0.05)
    learner = mlp_learner(inner)
    lam = 5.0
    algorithm = make_algorithm("imaml", inner, IMAMLConfig(lam=lam))
    problem = SupervisedProblem(learner.model, "mse")
    tasks = sinusoid_tasks if vectorized else unstack_tasks(sinusoid_tasks)
    curve = evaluate_adaptation(algorithm, learner.meta_params(), problem, tasks, STEPS)
    per_task = [
        manual_proximal_curve(learner.model, task, 0.05, lam, STEPS)
        for task in unstack_tasks(sinusoid_tasks)
    ]
    expected = torch.tensor(per_task, dtype=torch.float64).mean(dim=0)
    torch.testing.assert_close(torch.tensor(curve.loss_mean, dtype=torch.float64), expected)
    # Plain SGD steps (what evaluation did before it adapted through the algorithm) differ.
    plain = evaluate_adaptation(
        make_algorithm("maml", inner), learner.meta_params(), problem, tasks, STEPS
    )
    assert abs(plain.loss_mean[STEPS] - curve.loss_mean[STEPS]) > 1e-6


def test_diverged_tasks_are_counted_and_the_median_ranks_them_last(sinusoid_tasks):
    learner = mlp_learner()
    tasks = dict(sinusoid_tasks)
    blown = torch.ones(7, 1, 1, dtype=torch.float64)
    blown[[0, 3]] = 1e300  # their first inner step overflows; the query sets are untouched
    tasks["support_y"] = tasks["support_y"] * blown
    curve = evaluate_adaptation(
        make_algorithm("maml", learner.inner),
        learner.meta_params(),
        SupervisedProblem(learner.model, "mse"),
        tasks,
        STEPS,
    )
    assert curve.diverged_tasks == [0] + [2] * STEPS
    assert math.isfinite(curve.loss_mean[0]) and not math.isfinite(curve.loss_mean[STEPS])
    healthy = [
        manual_curve(learner.model, task, lambda s, n: 0.05, STEPS)
        for i, task in enumerate(unstack_tasks(tasks))
        if i not in (0, 3)
    ]
    for step in range(1, STEPS + 1):
        # 7 tasks, the two diverged ranked last: the median is the 4th of the 5 healthy ones.
        expected = sorted(losses[step] for losses in healthy)[3]
        assert curve.loss_median[step] == pytest.approx(expected, rel=1e-12)
    everything = [
        manual_curve(learner.model, t, lambda s, n: 0.05, 0)[0] for t in unstack_tasks(tasks)
    ]
    assert curve.loss_median[0] == pytest.approx(sorted(everything)[3], rel=1e-12)
