"""Every meta-gradient against its closed form on quadratic tasks, in float64.

Task i has support loss 1/2 (theta - c_i)^T A_i (theta - c_i) and query loss with (B_i, d_i).
"""

import pytest
import torch

from metarl.core.adaptation import InnerLoopConfig
from metarl.core.algorithms import (
    FOMAML,
    IMAML,
    MAML,
    HessianFreeMAML,
    HFMAMLConfig,
    IMAMLConfig,
    MetaSGD,
    Reptile,
)
from metarl.core.algorithms.imaml import adam_update
from metarl.core.problem import unstack_tasks

DIM, TASKS = 4, 3


class QuadraticProblem:
    @staticmethod
    def _quadratic(theta, matrix, centre):
        delta = theta - centre
        return 0.5 * delta @ matrix @ delta

    def support_loss(self, params, task, step=0):
        return self._quadratic(params["theta"], task["support_A"], task["support_c"])

    def query_loss(self, params, task):
        return self._quadratic(params["theta"], task["query_A"], task["query_c"])

    def query_metrics(self, params, task):
        return {}


def spd(generator, count):
    m = torch.randn(count, DIM, DIM, generator=generator, dtype=torch.float64)
    return m @ m.transpose(1, 2) / DIM + 0.5 * torch.eye(DIM, dtype=torch.float64)


@pytest.fixture
def quadratic_tasks():
    g = torch.Generator().manual_seed(1)
    return {
        "support_A": spd(g, TASKS),
        "support_c": torch.randn(TASKS, DIM, generator=g, dtype=torch.float64),
        "query_A": spd(g, TASKS),
        "query_c": torch.randn(TASKS, DIM, generator=g, dtype=torch.float64),
    }


@pytest.fixture
def theta():
    g = torch.Generator().manual_seed(2)
    return torch.randn(DIM, generator=g, dtype=torch.float64).requires_grad_()


def meta_params(theta):
    return {"model.theta": theta}


def inner_trajectory(theta, tasks, i, alpha, steps):
    a, c = tasks["support_A"][i], tasks["support_c"][i]
    phi = theta.detach()
    for _ in range(steps):
        phi = phi - alpha * a @ (phi - c)
    return phi


@pytest.mark.parametrize("steps", [1, 2, 5])
@pytest.mark.parametrize("batched", [True, False])
def test_maml_matches_product_of_inner_jacobians(quadratic_tasks, theta, steps, batched):
    alpha = 0.1
    tasks = quadratic_tasks if batched else unstack_tasks(quadratic_tasks)
    result = MAML(InnerLoopConfig(steps=steps, lr=alpha)).meta_step(
        meta_params(theta), QuadraticProblem(), tasks
    )
    expected = torch.zeros(DIM, dtype=torch.float64)
    eye = torch.eye(DIM, dtype=torch.float64)
    for i in range(TASKS):
        phi = inner_trajectory(theta, quadratic_tasks, i, alpha, steps)
        query_grad = quadratic_tasks["query_A"][i] @ (phi - quadratic_tasks["query_c"][i])
        jacobian = torch.linalg.matrix_power(eye - alpha * quadratic_tasks["support_A"][i], steps)
        expected += jacobian @ query_grad / TASKS
    torch.testing.assert_close(result.meta_grads["model.theta"], expected, rtol=0, atol=1e-8)


@pytest.mark.parametrize("batched", [True, False])
def test_first_order_maml_drops_the_jacobian(quadratic_tasks, theta, batched):
    alpha, steps = 0.1, 3
    tasks = quadratic_tasks if batched else unstack_tasks(quadratic_tasks)
    result = FOMAML(InnerLoopConfig(steps=steps, lr=alpha)).meta_step(
        meta_params(theta), QuadraticProblem(), tasks
    )
    expected = (
        sum(
            quadratic_tasks["query_A"][i]
            @ (
                inner_trajectory(theta, quadratic_tasks, i, alpha, steps)
                - quadratic_tasks["query_c"][i]
            )
            for i in range(TASKS)
        )
        / TASKS
    )
    torch.testing.assert_close(result.meta_grads["model.theta"], expected, rtol=0, atol=1e-8)


@pytest.mark.parametrize("batched", [True, False])
def test_reptile_direction_is_theta_minus_adapted(quadratic_tasks, theta, batched):
    alpha, steps = 0.05, 4
    tasks = quadratic_tasks if batched else unstack_tasks(quadratic_tasks)
    result = Reptile(InnerLoopConfig(steps=steps, lr=alpha)).meta_step(
        meta_params(theta), QuadraticProblem(), tasks
    )
    expected = (
        sum(
            theta.detach() - inner_trajectory(theta, quadratic_tasks, i, alpha, steps)
            for i in range(TASKS)
        )
        / TASKS
    )
    torch.testing.assert_close(result.meta_grads["model.theta"], expected, rtol=0, atol=1e-8)
    # Handed to SGD with lr epsilon, the direction reproduces theta + eps * mean(phi - theta).
    epsilon = 0.3
    param = torch.nn.Parameter(theta.detach().clone())
    optimizer = torch.optim.SGD([param], lr=epsilon)
    param.grad = result.meta_grads["model.theta"]
    optimizer.step()
    phis = [inner_trajectory(theta, quadratic_tasks, i, alpha, steps) for i in range(TASKS)]
    reptile_update = theta.detach() + epsilon * (sum(phis) / TASKS - theta.detach())
    torch.testing.assert_close(param.detach(), reptile_update, rtol=0, atol=1e-12)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("batched", [True, False])
def test_imaml_implicit_gradient(quadratic_tasks, theta, optimizer, batched):
    lam = 2.0
    inner_lr = {"sgd": 0.1, "adam": 0.05, "lbfgs": 1.0}[optimizer]
    inner_steps = {"sgd": 400, "adam": 1500, "lbfgs": 60}[optimizer]
    tasks = quadratic_tasks if batched else unstack_tasks(quadratic_tasks)
    algorithm = IMAML(
        InnerLoopConfig(steps=inner_steps, lr=inner_lr),
        IMAMLConfig(lam=lam, cg_steps=DIM + 2, inner_optimizer=optimizer),
    )
    result = algorithm.meta_step(meta_params(theta), QuadraticProblem(), tasks)
    eye = torch.eye(DIM, dtype=torch.float64)
    expected = torch.zeros(DIM, dtype=torch.float64)
    for i in range(TASKS):
        a, c = quadratic_tasks["support_A"][i], quadratic_tasks["support_c"][i]
        phi = torch.linalg.solve(a + lam * eye, a @ c + lam * theta.detach())
        query_grad = quadratic_tasks["query_A"][i] @ (phi - quadratic_tasks["query_c"][i])
        expected += torch.linalg.solve(eye + a / lam, query_grad) / TASKS
    atol = 1e-8 if optimizer != "adam" else 1e-6
    torch.testing.assert_close(result.meta_grads["model.theta"], expected, rtol=0, atol=atol)


def test_imaml_functional_adam_is_torch_optim_adam():
    """The inner solver's out-of-place Adam (which torch.compile can trace) is torch.optim.Adam,
    step for step, on a problem whose gradients change sign and scale."""
    g = torch.Generator().manual_seed(3)
    start = {"w": torch.randn(5, 3, generator=g, dtype=torch.float64)}
    target = torch.randn(5, 3, generator=g, dtype=torch.float64)

    def loss(w):
        return ((w - target) ** 4).sum() + torch.sin(3 * w).sum()

    reference = torch.nn.Parameter(start["w"].clone())
    optimizer = torch.optim.Adam([reference], lr=0.03)
    params = dict(start)
    moments = {"w": (torch.zeros_like(start["w"]), torch.zeros_like(start["w"]))}
    for step in range(1, 26):
        optimizer.zero_grad()
        loss(reference).backward()
        optimizer.step()
        grads = {"w": torch.func.grad(loss)(params["w"])}
        params, moments = adam_update(params, grads, moments, step, lr=0.03)
        torch.testing.assert_close(params["w"], reference.detach(), rtol=0, atol=1e-13)
    assert not torch.allclose(params["w"], start["w"])


@pytest.mark.parametrize("steps", [1, 3])
@pytest.mark.parametrize("batched", [True, False])
def test_hessian_free_maml_matches_exact_maml(quadratic_tasks, theta, steps, batched):
    inner = InnerLoopConfig(steps=steps, lr=0.1)
    tasks = quadratic_tasks if batched else unstack_tasks(quadratic_tasks)
    exact = MAML(inner).meta_step(meta_params(theta), QuadraticProblem(), tasks)
    approx = HessianFreeMAML(inner, HFMAMLConfig(fd_eps=1e-4)).meta_step(
        meta_params(theta), QuadraticProblem(), tasks
    )
    torch.testing.assert_close(
        approx.meta_grads["model.theta"], exact.meta_grads["model.theta"], rtol=0, atol=1e-5
    )


def test_meta_sgd_learning_rate_gradient(quadratic_tasks, theta):
    """phi = theta - alpha (*) g_S, so dF/d alpha = -mean_i g_S,i(theta) (*) grad L_Q,i(phi_i)."""
    alpha = torch.full((DIM,), 0.1, dtype=torch.float64, requires_grad=True)
    params = {"model.theta": theta, "inner_lr.theta": alpha}
    result = MetaSGD(InnerLoopConfig(steps=1, lr=0.1)).meta_step(
        params, QuadraticProblem(), quadratic_tasks
    )
    expected_alpha = torch.zeros(DIM, dtype=torch.float64)
    expected_theta = torch.zeros(DIM, dtype=torch.float64)
    for i in range(TASKS):
        a, c = quadratic_tasks["support_A"][i], quadratic_tasks["support_c"][i]
        support_grad = a @ (theta.detach() - c)
        phi = theta.detach() - alpha.detach() * support_grad
        query_grad = quadratic_tasks["query_A"][i] @ (phi - quadratic_tasks["query_c"][i])
        expected_alpha += -support_grad * query_grad / TASKS
        jacobian = torch.eye(DIM, dtype=torch.float64) - torch.diag(alpha.detach()) @ a
        expected_theta += jacobian.T @ query_grad / TASKS
    torch.testing.assert_close(
        result.meta_grads["inner_lr.theta"], expected_alpha, atol=1e-8, rtol=0
    )
    torch.testing.assert_close(result.meta_grads["model.theta"], expected_theta, atol=1e-8, rtol=0)


class StepwiseQuadraticProblem(QuadraticProblem):
    """Inner step j descends its own quadratic (A_j, c_j): support data that change between
    steps, as RL's episodes resampled after each step do."""

    def support_loss(self, params, task, step=0):
        return self._quadratic(params["theta"], task["support_A"][step], task["support_c"][step])


STEPS = 3


@pytest.fixture
def stepwise_tasks():
    g = torch.Generator().manual_seed(3)
    return {
        "support_A": torch.stack([spd(g, STEPS) for _ in range(TASKS)]),  # (T, k, D, D)
        "support_c": torch.randn(TASKS, STEPS, DIM, generator=g, dtype=torch.float64),
        "query_A": spd(g, TASKS),
        "query_c": torch.randn(TASKS, DIM, generator=g, dtype=torch.float64),
    }


def stepwise_expectations(theta, tasks, alpha):
    """Per task: the adapted phi_k, the Jacobian prod_j (I - alpha A_j) and grad L_Q(phi_k)."""
    eye = torch.eye(DIM, dtype=torch.float64)
    for i in range(TASKS):
        phi, jacobian = theta.detach(), eye
        for step in range(STEPS):
            a, c = tasks["support_A"][i, step], tasks["support_c"][i, step]
            phi = phi - alpha * a @ (phi - c)
            jacobian = (eye - alpha * a) @ jacobian
        yield phi, jacobian, tasks["query_A"][i] @ (phi - tasks["query_c"][i])


@pytest.mark.parametrize("batched", [True, False])
def test_step_dependent_support_losses(stepwise_tasks, theta, batched):
    alpha = 0.1
    inner = InnerLoopConfig(steps=STEPS, lr=alpha)
    tasks = stepwise_tasks if batched else unstack_tasks(stepwise_tasks)
    problem, params = StepwiseQuadraticProblem(), meta_params(theta)
    expected = list(stepwise_expectations(theta, stepwise_tasks, alpha))

    maml = MAML(inner).meta_step(params, problem, tasks).meta_grads["model.theta"]
    maml_expected = sum(jacobian.T @ query_grad for _, jacobian, query_grad in expected) / TASKS
    torch.testing.assert_close(maml, maml_expected, rtol=0, atol=1e-8)

    fomaml = FOMAML(inner).meta_step(params, problem, tasks).meta_grads["model.theta"]
    torch.testing.assert_close(
        fomaml, sum(query_grad for *_, query_grad in expected) / TASKS, rtol=0, atol=1e-8
    )

    reptile = Reptile(inner).meta_step(params, problem, tasks).meta_grads["model.theta"]
    torch.testing.assert_close(
        reptile, sum(theta.detach() - phi for phi, *_ in expected) / TASKS, rtol=0, atol=1e-8
    )

    hf_maml = HessianFreeMAML(inner, HFMAMLConfig(fd_eps=1e-4)).meta_step(params, problem, tasks)
    torch.testing.assert_close(hf_maml.meta_grads["model.theta"], maml_expected, rtol=0, atol=1e-5)
    adapted = MAML(inner).adapted_params(params, problem, tasks)["theta"]
    torch.testing.assert_close(adapted, torch.stack([phi for phi, *_ in expected]))
