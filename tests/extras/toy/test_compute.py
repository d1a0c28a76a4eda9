"""The numbers behind each figure, against closed forms on seed 000's quadratic (float64)."""

import itertools

import pytest
import torch

from metarl.core.adaptation import InnerLoopConfig
from metarl.core.algorithms import make_algorithm
from metarl.extras.toy import compute, variants
from metarl.extras.toy.tasks import (
    CENTRE,
    GaussianWellsProblem,
    QuadraticConfig,
    QuadraticProblem,
    QuadraticTasks,
    as_batch,
    quadratic_task,
    wells_task,
)

EYE = torch.eye(2, dtype=torch.float64)


def quadratic_batch(count=6, seed=0, query_offset_std=0.0):
    config = QuadraticConfig(curvature_min=0.3, query_offset_std=query_offset_std)
    return QuadraticTasks(config).sample(count, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("query_offset_std", [0.0, 0.7])
@pytest.mark.parametrize(("alpha", "k"), [(0.05, 1), (0.2, 3)])
def test_every_variant_matches_its_closed_form(query_offset_std, alpha, k, closed_forms):
    tasks = quadratic_batch(query_offset_std=query_offset_std)
    theta = torch.tensor([-1.5, 2.0], dtype=torch.float64)
    expected = closed_forms(tasks, theta, alpha, k, 1.0 / (k * alpha))
    smoothness = QuadraticTasks.smoothness(tasks)
    for name in variants.VARIANTS:
        variant = variants.Variant(name, alpha, k, smoothness)
        got = variant.gradient(QuadraticProblem(), tasks, theta)
        tolerance = 1e-8 if name in ("imaml", "hfmaml") else 1e-12
        torch.testing.assert_close(got, expected[name], rtol=tolerance, atol=tolerance)


def test_maml_is_the_squared_contraction_when_query_equals_support():
    tasks = quadratic_batch()
    theta, alpha, k = torch.tensor([0.3, -2.0], dtype=torch.float64), 0.15, 4
    curvature = tasks["curvature"]
    gradient = (curvature @ (theta - CENTRE)) + tasks["offset"]
    factor = torch.linalg.matrix_power(EYE - alpha * curvature, 2 * k)
    expected = (factor @ gradient.unsqueeze(-1)).squeeze(-1).mean(0)
    got = variants.Variant("maml", alpha, k, 2.0).gradient(QuadraticProblem(), tasks, theta)
    torch.testing.assert_close(got, expected)


def test_angles_and_ratios_match_the_closed_form(closed_forms):
    tasks = quadratic_batch(count=8, seed=1)
    theta = torch.tensor([-1.5, 2.0], dtype=torch.float64)
    alphas, steps = [0.01, 0.1, 0.25], [1, 3]
    comparison = compute.compare_meta_gradients(
        QuadraticProblem(), tasks, theta, alphas, steps, QuadraticTasks.smoothness(tasks)
    )
    for row, k in enumerate(steps):
        for column, alpha in enumerate(alphas):
            expected = closed_forms(tasks, theta, alpha, k, 1.0 / (k * alpha))
            for name in ("fomaml", "reptile", "imaml"):
                angle = compute.angle_degrees(expected[name], expected["maml"])
                ratio = expected[name].norm() / expected["maml"].norm()
                assert float(comparison.angle[name][row, column]) == pytest.approx(
                    float(angle), rel=1e-6, abs=1e-9
                )
                assert float(comparison.ratio[name][row, column]) == pytest.approx(
                    float(ratio), rel=1e-8
                )
            assert comparison.angle["hfmaml"][row, column] < 1e-9


def test_taylor_expansion_has_seed_003s_coefficients():
    tasks = quadratic_batch()
    theta, alpha, k = torch.tensor([1.0, 1.5], dtype=torch.float64), 0.01, 3
    gradient = tasks["curvature"] @ (theta - CENTRE) + tasks["offset"]
    avg_grad = gradient.mean(0)
    avg_grad_inner = (tasks["curvature"] @ gradient.unsqueeze(-1)).squeeze(-1).mean(0)
    taylor = compute.taylor_meta_gradients(QuadraticProblem(), tasks, theta, alpha, k)
    torch.testing.assert_close(taylor["maml"], avg_grad - 2 * k * alpha * avg_grad_inner)
    torch.testing.assert_close(taylor["fomaml"], avg_grad - k * alpha * avg_grad_inner)
    torch.testing.assert_close(
        taylor["reptile"], k * avg_grad - 0.5 * k * (k - 1) * alpha * avg_grad_inner
    )


def test_variants_separate_as_the_taylor_analysis_predicts():
    """First-order MAML and Reptile leave MAML like alpha, iMAML (lambda = 1/(k alpha)) like
    alpha^2, and at small alpha the angles equal the leading-order prediction."""
    tasks = quadratic_batch(count=8, seed=2)
    theta = torch.tensor([-1.5, 2.0], dtype=torch.float64)
    comparison = compute.compare_meta_gradients(
        QuadraticProblem(), tasks, theta, [5e-4, 1e-3], [2], QuadraticTasks.smoothness(tasks)
    )
    slope = {
        n: float(comparison.angle[n][0, 1] / comparison.angle[n][0, 0])
        for n in ("fomaml", "reptile", "imaml")
    }
    assert slope["fomaml"] == pytest.approx(2.0, rel=0.01)
    assert slope["reptile"] == pytest.approx(2.0, rel=0.01)
    assert slope["imaml"] == pytest.approx(4.0, rel=0.02)
    for name in ("fomaml", "reptile"):
        torch.testing.assert_close(
            comparison.angle[name], comparison.taylor_angle[name], rtol=0.01, atol=0.0
        )
        torch.testing.assert_close(
            comparison.ratio[name], comparison.taylor_ratio[name], rtol=1e-3, atol=0.0
        )
    assert comparison.ratio["reptile"][0, 0] == pytest.approx(2.0, rel=0.01)


def test_first_order_error_vanishes_at_zero_curvature_and_grows_with_it():
    *_, points = compute.grid_points((CENTRE, CENTRE), 2.5, 21, "cpu", torch.float64)
    offset = (0.5, -0.5)
    flat = compute.curvature_field((0.0, 0.0, 0.0), offset, points)
    assert flat.error == 0.0 and flat.relative_error == 0.0
    torch.testing.assert_close(flat.exact, flat.first_order)
    base = (1.5, 0.6, 0.8)
    fields = [
        compute.curvature_field(tuple(s * v for v in base), offset, points)
        for s in (0.05, 0.2, 0.5, 1.0, 2.0)
    ]
    errors = [f.error for f in fields]
    relative = [f.relative_error for f in fields]
    assert all(a < b for a, b in itertools.pairwise(errors))
    assert all(a < b for a, b in itertools.pairwise(relative))
    # The error is exactly the dropped term C (x - m), so it scales linearly with C.
    assert errors[-1] == pytest.approx(2 * errors[-2], rel=1e-12)
    curvature = quadratic_task(*base, offset)["curvature"]
    field = fields[3]
    torch.testing.assert_close(field.exact - field.first_order, (points - CENTRE) @ curvature)


def test_fomaml_direction_is_exact_for_isotropic_curvature():
    *_, points = compute.grid_points((CENTRE, CENTRE), 2.0, 5, "cpu", torch.float64)
    task = as_batch(quadratic_task(0.7, 0.0, 0.7, (0.5, -0.5)))
    maml, fomaml = (
        compute.meta_gradient_field(
            variants.Variant(n, 0.3, 1, 0.7), QuadraticProblem(), task, points
        )
        for n in ("maml", "fomaml")
    )
    assert compute.angle_degrees(fomaml, maml).max() < 1e-10
    torch.testing.assert_close(maml, (1 - 0.3 * 0.7) * fomaml)


def test_regularised_optimum_is_the_inner_minimum():
    problem = QuadraticProblem()
    task = quadratic_task(1.5, 0.6, 0.8, (0.5, -0.5))
    theta = torch.tensor([-1.5, 2.0], dtype=torch.float64)
    for lam in (0.3, 1.0, 4.0):
        got = compute.regularised_optimum(problem, task, theta, lam)
        expected = torch.linalg.solve(
            task["curvature"] + lam * EYE,
            task["curvature"] @ torch.full((2,), CENTRE, dtype=torch.float64)
            - task["offset"]
            + lam * theta,
        )
        torch.testing.assert_close(got, expected)
    wells = wells_task(
        [(-1.3, 2.0), (2.2, 1.6), (0.4, -1.4)], [1.5, 1.0, 1.2], [0.7, 0.6, 0.8], 0.1
    )
    start = torch.tensor([0.9, 0.5], dtype=torch.float64)
    distances = []
    for lam in (0.1, 0.3, 1.0, 4.0, 20.0):
        optimum = compute.regularised_optimum(GaussianWellsProblem(), wells, start, lam)
        residual = variants.inner_residual(
            GaussianWellsProblem(), as_batch(wells), start, lam, optimum[None]
        )
        assert residual.max() < 1e-8
        distances.append(float((optimum - start).norm()))
    assert all(a > b for a, b in itertools.pairwise(distances))


def test_imaml_solver_steps_double_until_the_inner_problems_are_solved(closed_forms):
    tasks = quadratic_batch()
    theta = torch.tensor([2.0, -1.0], dtype=torch.float64)
    smoothness = QuadraticTasks.smoothness(tasks)
    # A wrong (too optimistic) curvature floor makes the first guess far too short.
    variant = variants.Variant("imaml", 0.2, 2, smoothness, curvature_floor=0.99 * smoothness)
    first_guess = variant.solver_steps
    got = variant.gradient(QuadraticProblem(), tasks, theta)
    assert variant.solver_steps > first_guess
    assert variant.residual <= variant.tolerance
    expected = closed_forms(tasks, theta, 0.2, 2, 1.0 / 0.4)["imaml"]
    torch.testing.assert_close(got, expected, rtol=1e-8, atol=1e-8)


def test_meta_loss_grid_is_the_core_maml_meta_loss():
    tasks = quadratic_batch()
    inner = InnerLoopConfig(steps=2, lr=0.2)
    points = torch.tensor([[0.0, 0.0], [1.0, -2.0], [-1.5, 2.5]], dtype=torch.float64)
    values = compute.meta_loss_values(inner, QuadraticProblem(), tasks, points)
    algorithm = make_algorithm("maml", inner)
    for point, value in zip(points, values, strict=True):
        result = algorithm.meta_step(
            {"model.x": point.clone().requires_grad_()}, QuadraticProblem(), tasks
        )
        assert float(value) == pytest.approx(float(result.meta_loss), rel=1e-12)


def test_trajectories_end_at_each_variants_fixed_point():
    tasks = quadratic_batch(count=5, seed=3)
    smoothness = QuadraticTasks.smoothness(tasks)
    alpha, k = 0.25, 2
    trajectories = compute.meta_trajectories(
        QuadraticProblem(), tasks, (-2.0, 3.0), alpha, k, smoothness, lr=0.8, iterations=150
    )
    ends = {name: t.path[-1] for name, t in trajectories.items()}
    for name, end in ends.items():
        own = variants.Variant(name, alpha, k, smoothness).gradient(QuadraticProblem(), tasks, end)
        assert own.norm() < 1e-6, name
    torch.testing.assert_close(trajectories["hfmaml"].path, trajectories["maml"].path)
    losses = compute.meta_loss_values(
        InnerLoopConfig(steps=k, lr=alpha),
        QuadraticProblem(),
        tasks,
        torch.stack(list(ends.values())),
    )
    assert int(losses.argmin()) == list(ends).index("maml")
    assert trajectories["imaml"].inner_residual <= compute.PATH_TOLERANCE
