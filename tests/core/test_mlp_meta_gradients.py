"""Meta-gradients of a small MLP: finite differences, vmap vs loop, and learned step sizes."""

import pytest
import torch
from torch import nn

from metarl.core.adaptation import InnerLoopConfig, MetaLearner
from metarl.core.algorithms import make_algorithm
from metarl.core.problem import SupervisedProblem, unstack_tasks

TASKS, POINTS = 4, 6


def make_learner(inner: InnerLoopConfig) -> MetaLearner:
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 1))
    return MetaLearner(model.double(), inner)


def regression_tasks(seed: int = 4) -> dict:
    g = torch.Generator().manual_seed(seed)
    amplitude = 0.5 + torch.rand(TASKS, 1, 1, generator=g, dtype=torch.float64)
    phase = torch.rand(TASKS, 1, 1, generator=g, dtype=torch.float64) * 3
    support_x = torch.rand(TASKS, POINTS, 1, generator=g, dtype=torch.float64) * 4 - 2
    query_x = torch.rand(TASKS, POINTS, 1, generator=g, dtype=torch.float64) * 4 - 2
    return {
        "support_x": support_x,
        "support_y": amplitude * torch.sin(support_x + phase),
        "query_x": query_x,
        "query_y": amplitude * torch.sin(query_x + phase),
    }


def meta_loss_at(learner, algorithm, problem, tasks, flat: torch.Tensor) -> float:
    params = learner.meta_params()
    sizes = [p.numel() for p in params.values()]
    pieces = torch.split(flat, sizes)
    shifted = {
        n: piece.view_as(p).clone().requires_grad_()
        for (n, p), piece in zip(params.items(), pieces, strict=True)
    }
    return float(algorithm.meta_step(shifted, problem, tasks).meta_loss)


@pytest.mark.parametrize("lr_mode", ["fixed", "per_parameter", "per_layer_per_step"])
def test_maml_three_steps_matches_finite_differences(lr_mode):
    inner = InnerLoopConfig(steps=3, lr=0.1, lr_mode=lr_mode)
    learner = make_learner(inner)
    algorithm = make_algorithm("maml", inner)
    problem = SupervisedProblem(learner.model, "mse")
    tasks = regression_tasks()
    result = algorithm.meta_step(learner.meta_params(), problem, tasks)
    flat_grad = torch.cat([result.meta_grads[n].flatten() for n in learner.meta_params()])
    flat = torch.cat([p.detach().flatten() for p in learner.meta_params().values()])
    g = torch.Generator().manual_seed(5)
    eps = 1e-6
    for _ in range(4):
        direction = torch.randn(flat.shape, generator=g, dtype=torch.float64)
        plus = meta_loss_at(learner, algorithm, problem, tasks, flat + eps * direction)
        minus = meta_loss_at(learner, algorithm, problem, tasks, flat - eps * direction)
        numeric = (plus - minus) / (2 * eps)
        assert abs(numeric - float(flat_grad @ direction)) < 1e-7 * max(1.0, abs(numeric))


@pytest.mark.parametrize("name", ["maml", "fomaml", "metasgd", "reptile", "imaml", "hfmaml"])
def test_vmap_and_loop_give_the_same_meta_gradient(name):
    inner = InnerLoopConfig(steps=2, lr=0.05)
    learner = make_learner(
        inner if name != "metasgd" else InnerLoopConfig(2, 0.05, False, "per_parameter")
    )
    algorithm = make_algorithm(name, learner.inner)
    problem = SupervisedProblem(learner.model, "mse")
    tasks = regression_tasks()
    batched = algorithm.meta_step(learner.meta_params(), problem, tasks)
    looped = algorithm.meta_step(learner.meta_params(), problem, unstack_tasks(tasks))
    assert batched.meta_grads.keys() == looped.meta_grads.keys()
    for key in batched.meta_grads:
        torch.testing.assert_close(
            batched.meta_grads[key], looped.meta_grads[key], rtol=1e-10, atol=1e-12
        )
    torch.testing.assert_close(batched.meta_loss, looped.meta_loss, rtol=1e-12, atol=1e-12)
    for key in batched.metrics:
        torch.testing.assert_close(
            batched.metrics[key], looped.metrics[key], rtol=1e-10, atol=1e-12
        )


def test_adaptation_lowers_the_support_loss_and_gradients_reach_theta():
    inner = InnerLoopConfig(steps=5, lr=0.1)
    learner = make_learner(inner)
    result = make_algorithm("maml", inner).meta_step(
        learner.meta_params(), SupervisedProblem(learner.model, "mse"), regression_tasks()
    )
    support = result.metrics["support_loss"]  # (tasks, steps)
    assert support.shape == (TASKS, 5)
    assert torch.all(support[:, -1] < support[:, 0])
    assert torch.all(result.metrics["query_loss_post"] < result.metrics["query_loss_pre"])
    assert all(torch.count_nonzero(g) > 0 for g in result.meta_grads.values())


def test_first_order_differs_from_second_order_by_terms_linear_in_the_step_size():
    problem_tasks = regression_tasks()

    def gap(lr: float) -> float:
        inner = InnerLoopConfig(steps=1, lr=lr)
        learner = make_learner(inner)
        problem = SupervisedProblem(learner.model, "mse")
        exact = make_algorithm("maml", inner).meta_step(
            learner.meta_params(), problem, problem_tasks
        )
        first = make_algorithm("fomaml", inner).meta_step(
            learner.meta_params(), problem, problem_tasks
        )
        assert torch.allclose(exact.meta_loss, first.meta_loss)
        return float(
            sum((exact.meta_grads[k] - first.meta_grads[k]).norm() for k in exact.meta_grads)
        )

    # The dropped term is alpha * H_support * grad L_query: it vanishes linearly with alpha.
    assert gap(0.1) > 1e-3
    assert gap(1e-3) / gap(1e-2) == pytest.approx(0.1, rel=0.1)
    assert gap(1e-4) / gap(1e-3) == pytest.approx(0.1, rel=0.02)


def test_learned_step_sizes_are_meta_parameters_with_the_right_shapes():
    learner = make_learner(InnerLoopConfig(steps=2, lr=0.05, lr_mode="per_layer_per_step"))
    params = learner.meta_params()
    lr_keys = [k for k in params if k.startswith("inner_lr.")]
    assert len(lr_keys) == 2 * len(list(learner.model.parameters()))
    assert all(params[k].shape == () for k in lr_keys)
    assert set(params.values()) == set(learner.parameters())
    sgd = make_learner(InnerLoopConfig(steps=2, lr=0.05, lr_mode="per_parameter")).meta_params()
    assert sgd["inner_lr.0.weight"].shape == sgd["model.0.weight"].shape


def test_algorithms_that_cannot_learn_step_sizes_say_so():
    for name in ("reptile", "imaml", "hfmaml"):
        with pytest.raises(ValueError, match="does not learn inner step sizes"):
            make_algorithm(name, InnerLoopConfig(lr_mode="per_parameter"))
    with pytest.raises(ValueError, match="unknown algorithm 'mamll'"):
        make_algorithm("mamll", InnerLoopConfig())
