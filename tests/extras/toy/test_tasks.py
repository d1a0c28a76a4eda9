"""The toy task families: the core's task interface, seeded sampling, closed-form losses."""

import pytest
import torch
from torch.func import grad, hessian

from metarl.core.adaptation import InnerLoopConfig, MetaLearner
from metarl.core.algorithms import make_algorithm
from metarl.core.problem import unstack_tasks
from metarl.extras.toy.tasks import (
    CENTRE,
    GaussianWellsConfig,
    GaussianWellsTasks,
    QuadraticConfig,
    QuadraticTasks,
    ToyPoint,
    quadratic_task,
    wells_task,
)


def test_sampling_is_seeded_and_shaped():
    quadratic = QuadraticTasks(QuadraticConfig())
    first = quadratic.sample(5, torch.Generator().manual_seed(3))
    again = quadratic.sample(5, torch.Generator().manual_seed(3))
    other = quadratic.sample(5, torch.Generator().manual_seed(4))
    assert first["curvature"].shape == (5, 2, 2)
    assert first["offset"].shape == first["query_offset"].shape == (5, 2)
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not torch.equal(first["offset"], other["offset"])
    wells = GaussianWellsTasks(GaussianWellsConfig(wells=4)).sample(6, torch.Generator())
    assert wells["centres"].shape == wells["query_centres"].shape == (6, 4, 2)
    assert wells["depths"].shape == wells["widths"].shape == (6, 4)


def test_quadratic_curvature_has_the_configured_eigenvalues():
    config = QuadraticConfig(curvature_min=0.3, curvature_max=1.7)
    tasks = QuadraticTasks(config).sample(200, torch.Generator().manual_seed(0))
    eigenvalues = torch.linalg.eigvalsh(tasks["curvature"])
    torch.testing.assert_close(eigenvalues, tasks["eigenvalues"].sort(dim=-1).values)
    assert eigenvalues.min() >= 0.3 and eigenvalues.max() <= 1.7


def test_quadratic_loss_is_seed_000s_function():
    problem = QuadraticTasks(QuadraticConfig()).problem
    task = quadratic_task(1.5, 0.6, 0.8, (0.5, -0.5))
    x = torch.tensor([-1.0, 2.0], dtype=torch.float64)
    curvature, offset = task["curvature"], task["offset"]
    delta = x - CENTRE
    assert problem.support_loss({"x": x}, task) == pytest.approx(
        float(0.5 * delta @ curvature @ delta + offset @ x)
    )
    gradient = grad(lambda p: problem.support_loss({"x": p}, task))(x)
    torch.testing.assert_close(gradient, curvature @ delta + offset)
    torch.testing.assert_close(
        hessian(lambda p: problem.support_loss({"x": p}, task))(x), curvature
    )


def test_query_equals_support_unless_shifted():
    same = QuadraticTasks(QuadraticConfig()).sample(4, torch.Generator().manual_seed(0))
    torch.testing.assert_close(same["offset"], same["query_offset"])
    shifted = QuadraticTasks(QuadraticConfig(query_offset_std=0.5)).sample(
        4, torch.Generator().manual_seed(0)
    )
    assert (shifted["offset"] - shifted["query_offset"]).norm(dim=-1).min() > 0
    wells = GaussianWellsTasks(GaussianWellsConfig(query_jitter=0.3)).sample(4, torch.Generator())
    assert not torch.equal(wells["centres"], wells["query_centres"])


def test_wells_loss_and_smoothness_bound():
    task = wells_task([(-1.0, 1.0), (1.5, 0.0)], [1.0, 0.5], [0.6, 0.9], bowl=0.1)
    problem = GaussianWellsTasks(GaussianWellsConfig()).problem
    x = torch.tensor([-0.8, 0.9], dtype=torch.float64)
    expected = 0.05 * ((x - CENTRE) ** 2).sum()
    for centre, depth, width in zip(task["centres"], task["depths"], task["widths"], strict=True):
        expected = expected - depth * torch.exp(-((x - centre) ** 2).sum() / (2 * width**2))
    assert float(problem.support_loss({"x": x}, task)) == pytest.approx(float(expected))
    distribution = GaussianWellsTasks(GaussianWellsConfig())
    tasks = distribution.sample(8, torch.Generator().manual_seed(1))
    bound = distribution.smoothness(tasks)
    points = torch.rand(200, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    for task in unstack_tasks(tasks)[:3]:
        for point in 6 * points[:40] - 2.5:
            curvature = hessian(lambda p, t=task: problem.support_loss({"x": p}, t))(point)
            assert torch.linalg.matrix_norm(curvature, ord=2) <= bound


def test_toy_tasks_run_through_the_core_algorithms_batched_and_ragged():
    distribution = QuadraticTasks(QuadraticConfig())
    tasks = distribution.sample(3, torch.Generator().manual_seed(0))
    learner = MetaLearner(ToyPoint((1.0, -1.0)), InnerLoopConfig(steps=2, lr=0.1))
    for name in ("maml", "fomaml", "reptile", "imaml", "hfmaml"):
        algorithm = make_algorithm(name, learner.inner)
        batched = algorithm.meta_step(learner.meta_params(), distribution.problem, tasks)
        ragged = algorithm.meta_step(
            learner.meta_params(), distribution.problem, unstack_tasks(tasks)
        )
        torch.testing.assert_close(batched.meta_grads["model.x"], ragged.meta_grads["model.x"])
        assert batched.metrics["x0_post"].shape == (3,)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (lambda: QuadraticConfig(curvature_min=2.0, curvature_max=1.0), "curvature_min"),
        (lambda: QuadraticConfig(offset_std=-1.0), "offset_std"),
        (lambda: GaussianWellsConfig(wells=0), "wells"),
        (lambda: GaussianWellsConfig(width_min=0.0), "width_min"),
        (lambda: ToyPoint((1.0, 2.0, 3.0)), "2 coordinates"),
    ],
)
def test_bad_configuration_is_named(config, message):
    with pytest.raises(ValueError, match=message):
        config()


def test_sampling_zero_tasks_is_refused():
    with pytest.raises(ValueError, match="num_tasks"):
        QuadraticTasks(QuadraticConfig()).sample(0, torch.Generator())
