"""Seed 003's Taylor analysis of the k = 2 case, checked numerically for small alpha.

With inner batch 1 and outer batch 2 (Nichol et al., 2018, eq. 25-27 and the expectations after):

    E[g_MAML]    = 1 AvgGrad - 2 alpha AvgGradInner + O(alpha^2)
    E[g_FOMAML]  = 1 AvgGrad - 1 alpha AvgGradInner + O(alpha^2)
    E[g_Reptile] = 2 AvgGrad - 1 alpha AvgGradInner + O(alpha^2)

AvgGrad = E[grad L(theta)], AvgGradInner = E[H_2 g_1]. The expectation over the two batches is
exact here: every pair of batches (A, B) appears in both orders. Reptile takes its two SGD steps
on the task's support loss, so for it both batches are the support batch (H_1 = H_2).
"""

import pytest
import torch
from torch.func import grad, hessian

from metarl.core.adaptation import InnerLoopConfig
from metarl.core.algorithms import make_algorithm

DIM, POINTS, PAIRS = 3, 5, 4


def batch_loss(theta, x, y):
    # Smooth and non-quadratic, so the O(alpha^2) remainder is really there.
    return torch.log(torch.cosh(x @ theta - y)).mean() + 0.05 * (theta**4).sum()


class LogCoshProblem:
    def support_loss(self, params, task, step=0):
        return batch_loss(params["theta"], task["support_x"], task["support_y"])

    def query_loss(self, params, task):
        return batch_loss(params["theta"], task["query_x"], task["query_y"])

    def query_metrics(self, params, task):
        return {}


@pytest.fixture(scope="module")
def setup():
    g = torch.Generator().manual_seed(7)
    xs = torch.randn(2 * PAIRS, POINTS, DIM, generator=g, dtype=torch.float64)
    ys = torch.randn(2 * PAIRS, POINTS, generator=g, dtype=torch.float64)
    first, second = torch.arange(0, 2 * PAIRS, 2), torch.arange(1, 2 * PAIRS, 2)
    inner_idx, outer_idx = torch.cat([first, second]), torch.cat([second, first])
    tasks = {
        "support_x": xs[inner_idx],
        "support_y": ys[inner_idx],
        "query_x": xs[outer_idx],
        "query_y": ys[outer_idx],
    }
    theta = torch.randn(DIM, generator=g, dtype=torch.float64)
    return tasks, theta


def averages(tasks, theta, same_batch: bool):
    outer_x = tasks["support_x"] if same_batch else tasks["query_x"]
    outer_y = tasks["support_y"] if same_batch else tasks["query_y"]
    avg_grad = torch.zeros(DIM, dtype=torch.float64)
    avg_grad_inner = torch.zeros(DIM, dtype=torch.float64)
    count = tasks["support_x"].shape[0]
    for i in range(count):
        g_inner = grad(batch_loss)(theta, tasks["support_x"][i], tasks["support_y"][i])
        g_outer = grad(batch_loss)(theta, outer_x[i], outer_y[i])
        h_outer = hessian(batch_loss)(theta, outer_x[i], outer_y[i])
        avg_grad += g_outer / count
        avg_grad_inner += h_outer @ g_inner / count
    return avg_grad, avg_grad_inner


def meta_direction(name, tasks, theta, alpha):
    steps = 2 if name == "reptile" else 1
    algorithm = make_algorithm(name, InnerLoopConfig(steps=steps, lr=alpha))
    params = {"model.theta": theta.clone().requires_grad_()}
    direction = algorithm.meta_step(params, LogCoshProblem(), tasks).meta_grads["model.theta"]
    # Reptile's direction is theta - phi; seed 003's g_Reptile is (phi_1 - phi_3) / alpha.
    return direction / alpha if name == "reptile" else direction


@pytest.mark.parametrize(
    ("name", "grad_coefficient", "inner_coefficient"),
    [("maml", 1, 2), ("fomaml", 1, 1), ("reptile", 2, 1)],
)
def test_taylor_expansion_coefficients(setup, name, grad_coefficient, inner_coefficient):
    tasks, theta = setup
    avg_grad, avg_grad_inner = averages(tasks, theta, same_batch=name == "reptile")

    def remainder(alpha, inner_coef=inner_coefficient):
        predicted = grad_coefficient * avg_grad - inner_coef * alpha * avg_grad_inner
        return float((meta_direction(name, tasks, theta, alpha) - predicted).norm())

    # The remainder is O(alpha^2): dividing alpha by 10 divides it by about 100.
    assert remainder(1e-3) / remainder(1e-2) == pytest.approx(0.01, rel=0.15)
    assert remainder(1e-2) < 1e-2 * float(avg_grad_inner.norm())
    # A wrong AvgGradInner coefficient leaves an O(alpha) remainder, so the check can fail.
    wrong = inner_coefficient + 1
    assert remainder(1e-3, wrong) / remainder(1e-2, wrong) == pytest.approx(0.1, rel=0.15)
