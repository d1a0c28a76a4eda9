"""TRPO as the outer optimiser of MAML (Finn et al., 2017, sec. 5.3; Schulman et al., 2015).

The meta-objective of one meta-batch is the post-adaptation surrogate

    L(theta) = mean_i  -E_{post-adaptation episodes of task i}[ pi_{U_i(theta)}(a|s) / q_i(a|s) A ]

with q_i the policy that sampled those episodes (task i's adapted policy at theta_old) and U_i the
inner policy-gradient adaptation. The step solves the trust-region problem

    min_d  g^T d   subject to   KL_bar(theta_old + d) <= delta,
    KL_bar(theta) = mean_i KL(pi_{U_i(theta_old)} || pi_{U_i(theta)})   (over valid query steps)

to second order: ``g = grad L`` comes from ``algorithm.meta_step`` (so MAML, first-order MAML or
Meta-SGD decide how the gradient flows through U_i), ``F`` is the Hessian of KL_bar at theta_old
(the Fisher matrix of the adapted policies pulled back through ``algorithm.adapted_params``,
applied to vectors in the exact Gauss-Newton form of :func:`fisher_vector_product`, with the
KL's Hessian in distribution-parameter space in closed form). Conjugate gradient gives
``s ~ (F + damping I)^-1 g``; the full step ``-s * sqrt(2 delta / s^T F s)`` has
quadratic-model KL equal to delta. A backtracking line search (step fractions ratio^j,
j = 0 .. steps-1) accepts the first candidate whose exact surrogate improves and whose exact KL is
within delta; if none does, the parameters are left unchanged (the hyper-parameters are those of
pytorch-maml-rl and the MAML paper: 10 CG iterations, damping 1e-5, 15 line-search steps of ratio
0.8, delta = 0.01).

``fvp_subsample < 1`` estimates F on the first fraction of the meta-batch's tasks (rllab's
``subsample_factor``): the tasks are drawn i.i.d., so any fixed subset is an unbiased sample, and
each product costs about that fraction of the exact one. The gradient and the line search's
surrogate and KL still use every task, so an accepted step stays within delta.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, cast

import torch
from torch import Tensor
from torch.func import vjp

from metarl.core.algorithms.base import MetaAlgorithm, map_adapted
from metarl.core.functional import Params, detach, tree_dot
from metarl.core.problem import MetaProblem, TaskData, Tasks, num_tasks
from metarl.core.solvers import conjugate_gradient_with_product, hessian_vector_product
from metarl.errors import require_finite
from metarl.outer.base import MetaUpdate, OuterStep
from metarl.outer.gradient import meta_step_values
from metarl.rl.objective import masked_mean
from metarl.rl.policies import DistParams, Policy, kl


@dataclass(frozen=True)
class TRPOConfig:
    """Trust-region outer step of MAML-TRPO.

    Attributes:
        max_kl: trust-region radius delta on the mean KL between the old and new post-adaptation
            policies.
        cg_iterations: conjugate-gradient iterations on Fisher-vector products.
        cg_damping: added to the Fisher-vector product (F + damping I) to keep it positive definite.
        line_search_steps: number of backtracking candidates tried before giving up.
        line_search_ratio: factor by which each backtracking step shrinks the previous one.
        fvp_subsample: fraction of the meta-batch's tasks (the first ``ceil(fraction * tasks)``)
            on which the Fisher-vector products are computed; 1.0 is the exact Fisher, smaller
            values make conjugate gradient proportionally cheaper (rllab's subsample_factor).
    """

    max_kl: float = 0.01
    cg_iterations: int = 10
    cg_damping: float = 1e-5
    line_search_steps: int = 15
    line_search_ratio: float = 0.8
    fvp_subsample: float = 1.0

    def __post_init__(self) -> None:
        if not self.max_kl > 0:
            raise ValueError(f"trpo.max_kl must be > 0, got {self.max_kl}")
        if self.cg_iterations < 1:
            raise ValueError(f"trpo.cg_iterations must be >= 1, got {self.cg_iterations}")
        if self.cg_damping < 0:
            raise ValueError(f"trpo.cg_damping must be >= 0, got {self.cg_damping}")
        if self.line_search_steps < 1:
            raise ValueError(f"trpo.line_search_steps must be >= 1, got {self.line_search_steps}")
        if not 0 < self.line_search_ratio < 1:
            raise ValueError(
                f"trpo.line_search_ratio must be in (0, 1), got {self.line_search_ratio}"
            )
        if not 0 < self.fvp_subsample <= 1:
            raise ValueError(
                f"trpo.fvp_subsample must be in (0, 1] (1 = exact Fisher), got {self.fvp_subsample}"
            )


class KLProblem(MetaProblem, Protocol):
    """An RL meta-problem that measures how far a policy moved from the one that sampled.

    Besides ``kl``, TRPO's Fisher products read the problem's ``policy`` (``dist_params``,
    ``make_distribution``) and the task keys ``query_observations``, ``query_mask`` and
    ``query_old_<name>`` (the sampling policy's distribution parameters), as built by
    :func:`metarl.rl.objective.make_task_batch`.
    """

    policy: Policy

    def kl(self, params: Params, task: TaskData) -> Tensor:
        """Mean KL(old post-adaptation policy || policy(params)) over valid query steps."""
        ...


OLD_PREFIX = "query_old_"


def query_dist_params(problem: KLProblem, params: Params, task: TaskData) -> DistParams:
    """The action-distribution parameters of policy(params) at the task's query observations."""
    return problem.policy.dist_params(params, task["query_observations"])


def kl_from_dist_params(problem: KLProblem, dist_params: DistParams, task: TaskData) -> Tensor:
    """Mean KL(sampling policy || the distribution with ``dist_params``) over valid query steps."""
    old = {k[len(OLD_PREFIX) :]: v for k, v in task.items() if k.startswith(OLD_PREFIX)}
    policy = problem.policy
    divergence = kl(policy.make_distribution(old), policy.make_distribution(dist_params))
    return masked_mean(divergence, task["query_mask"])


def subsample_tasks(tasks: Tasks, fraction: float) -> Tasks:
    """The first ``ceil(fraction * num_tasks)`` tasks (at least one) of a meta-batch."""
    count = num_tasks(tasks)
    # Rounded first so that e.g. 0.3 * 10 = 3.0000000000000004 keeps 3 tasks, not 4.
    keep = max(1, math.ceil(round(fraction * count, 9)))
    if keep == count:
        return tasks
    if isinstance(tasks, dict):
        return {key: value[:keep] for key, value in tasks.items()}
    return tasks[:keep]


def surrogate_and_kl(
    algorithm: MetaAlgorithm, meta_params: Params, problem: KLProblem, tasks: Tasks
) -> tuple[Tensor, Tensor]:
    """Mean post-adaptation surrogate and KL over the meta-batch, adapting from ``meta_params``.

    Differentiable with respect to ``meta_params`` wherever the algorithm's adaptation is.
    """
    adapted = algorithm.adapted_params(meta_params, problem, tasks)
    losses, kls = map_adapted(
        lambda params, task: (problem.query_loss(params, task), problem.kl(params, task)),
        adapted,
        tasks,
    )
    return losses.mean(), kls.mean()


FisherProduct = Callable[
    [MetaAlgorithm, Params, KLProblem, Tasks, float], Callable[[Params], Params]
]
"""Builds ``v -> (F + damping I) v`` from (algorithm, meta_params, problem, tasks, damping)."""


def jacobian_products(
    algorithm: MetaAlgorithm, meta_params: Params, problem: KLProblem, tasks: Tasks
) -> tuple[DistParams, Callable[[Params], DistParams], Callable[[DistParams], Params]]:
    """``g(theta)`` (every task's adapted distribution parameters at its query observations,
    detached) and the maps ``v -> J v`` and ``w -> J^T w``, J = dg/dtheta at ``meta_params``.

    Both maps are backward passes through graphs recorded once here: ``J^T w`` through the vjp
    of g, and ``J v`` through the graph of ``w -> J^T w`` (that map is linear, so its own vjp is
    ``v -> J v``). Forward mode (``torch.func.jvp`` through the adaptation) gives the same
    ``J v`` but re-runs the adaptation with tangents on every product, about twice the time of
    the recorded backward pass (``metarl bench outer`` measures both).
    """
    theta = detach(meta_params)

    def outputs(theta: Params) -> DistParams:
        adapted = algorithm.adapted_params(theta, problem, tasks)
        return map_adapted(lambda p, task: query_dist_params(problem, p, task), adapted, tasks)

    # Without has_aux, vjp returns (output, vjp_fn); torch annotates the union with the aux form.
    current, pull_back = cast(
        "tuple[DistParams, Callable[[DistParams], tuple[Params]]]", vjp(outputs, theta)
    )  # records the graph of g once
    zeros = {name: torch.zeros_like(value) for name, value in current.items()}
    _, push_forward = cast(
        "tuple[Params, Callable[[Params], tuple[DistParams]]]",
        vjp(lambda w: pull_back(w)[0], zeros),
    )
    return detach(current), lambda v: push_forward(v)[0], lambda w: pull_back(w)[0]


def kl_metric_product(
    problem: KLProblem, dist_params: DistParams, tangent: DistParams, tasks: Tasks
) -> DistParams:
    """``M u``: the Hessian of the mean KL over the meta-batch (mean over tasks of the masked
    mean over query steps) with respect to every task's distribution parameters, applied to
    ``tangent``, in the policy's closed form (:meth:`~metarl.rl.policies.Policy.kl_hessian_product`)
    weighted by each step's share of the mean; padded steps get 0."""
    # One dict for map_adapted (vmap over a TaskBatch, a loop over a task list).
    packed = {("at", k): v for k, v in dist_params.items()}
    packed.update({("u", k): v for k, v in tangent.items()})

    def one_task(values: dict[tuple[str, str], Tensor], task: TaskData) -> DistParams:
        at = {k: v for (kind, k), v in values.items() if kind == "at"}
        u = {k: v for (kind, k), v in values.items() if kind == "u"}
        old = {k[len(OLD_PREFIX) :]: v for k, v in task.items() if k.startswith(OLD_PREFIX)}
        product = problem.policy.kl_hessian_product(at, old, u)
        mask = task["query_mask"]
        weight = 1.0 / mask.sum().clamp(min=1.0)
        return {
            k: torch.where(mask.reshape(*mask.shape, *[1] * (v.dim() - mask.dim())) > 0, v, 0.0)
            * weight
            for k, v in product.items()
        }

    count = num_tasks(tasks)
    return {k: v / count for k, v in map_adapted(one_task, packed, tasks).items()}


def fisher_vector_product(
    algorithm: MetaAlgorithm,
    meta_params: Params,
    problem: KLProblem,
    tasks: Tasks,
    damping: float,
) -> Callable[[Params], Params]:
    """``v -> (F + damping I) v`` with F the Hessian of the mean post-adaptation KL at meta_params.

    Let ``g(theta)`` be the distribution parameters (mean and log-std, or logits) of every task's
    adapted policy at its query observations, and ``K(g)`` the mean KL from the sampling
    distributions. The Hessian of K(g(theta)) is ``J^T M J + sum_j dK/dg_j d^2 g_j/dtheta^2``
    with ``J = dg/dtheta`` and ``M`` the Hessian of K in distribution-parameter space. At
    theta_old the adapted policies are the sampling policies, where the KL is minimal and
    dK/dg = 0: the Hessian is exactly the Gauss-Newton form ``J^T M J``, the Fisher matrix pulled
    back through the adaptation. Each product is two backward passes through graphs recorded
    once here (``J v`` and ``J^T w``, :func:`jacobian_products`) around the closed-form metric
    product (``M u``, :func:`kl_metric_product`): second derivatives of the inner loss only,
    never the third derivatives that the double backward of the KL's gradient would take.
    Equal to :func:`fisher_vector_product_reference` up to rounding.
    """
    current, push_forward, pull_back = jacobian_products(algorithm, meta_params, problem, tasks)

    def matvec(vector: Params) -> Params:
        metric = kl_metric_product(problem, current, push_forward(vector), tasks)  # M J v
        product = pull_back(metric)  # J^T M J v
        return {name: product[name] + damping * vector[name] for name in product}

    return matvec


def fisher_vector_product_reference(
    algorithm: MetaAlgorithm,
    meta_params: Params,
    problem: KLProblem,
    tasks: Tasks,
    damping: float,
) -> Callable[[Params], Params]:
    """:func:`fisher_vector_product` with the metric product ``M u`` taken by automatic
    differentiation: a Hessian-vector product (double backward) of the mean KL in
    distribution-parameter space. The plain path that the closed form is tested against."""
    current, push_forward, pull_back = jacobian_products(algorithm, meta_params, problem, tasks)

    def mean_kl(dist_params: DistParams) -> Tensor:
        return map_adapted(
            lambda d, task: kl_from_dist_params(problem, d, task), dist_params, tasks
        ).mean()

    def matvec(vector: Params) -> Params:
        metric = hessian_vector_product(mean_kl, current, push_forward(vector))  # M J v
        product = pull_back(metric)  # J^T M J v
        return {name: product[name] + damping * vector[name] for name in product}

    return matvec


def trpo_step(
    algorithm: MetaAlgorithm,
    learner_params: Params,
    problem: KLProblem,
    tasks: Tasks,
    config: TRPOConfig,
    average: Callable[[list[Tensor]], list[Tensor]] | None = None,
    fisher_product: FisherProduct = fisher_vector_product,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Tensor]:
    """One MAML-TRPO meta-update of ``learner_params`` (in place, only if a step is accepted).

    Args:
        algorithm: gives the surrogate's meta-gradient (``meta_step``) and the differentiable
            adaptation (``adapted_params``) through which the KL is recomputed.
        learner_params: the meta-parameters (``MetaLearner.meta_params()``), leaf tensors that
            require grad.
        problem: the RL meta-problem; ``query_loss`` is the importance-weighted surrogate and
            ``kl`` the KL to the sampling post-adaptation policy.
        tasks: the meta-batch of task data (pre-adaptation support episodes and post-adaptation
            query episodes).
        config: trust-region and line-search settings.
        average: under ``torchrun``, combines per-rank means over the local tasks into means over
            all tasks (the Fisher-vector products and the line search's surrogate and KL; pass an
            algorithm whose ``meta_step`` averages the gradient too), so every rank takes the
            identical step. ``None`` on a single process.
        fisher_product: builds the Fisher-vector product conjugate gradient runs on
            (:func:`fisher_vector_product`; :func:`fisher_vector_product_reference` is the
            autograd reference).
        progress: told where the step is (``conjugate gradient 3/10``, ``line search 2``), for
            the progress line of a long step.

    Returns:
        Scalars: ``surrogate_before``, ``surrogate_after``, ``improvement`` (before - after),
        ``kl`` (of the accepted step, 0 if none), ``line_search_steps`` (backtracks before
        acceptance; ``config.line_search_steps`` when nothing was accepted), ``accepted`` (0/1),
        ``grad_norm`` and ``step_norm``.

    Raises:
        FloatingPointError: the surrogate or its meta-gradient is not finite (nothing is changed).
    """
    result = algorithm.meta_step(learner_params, problem, tasks)
    gradient = {
        name: result.meta_grads.get(name, torch.zeros_like(p)).detach()
        for name, p in learner_params.items()
    }
    surrogate_before = result.meta_loss.detach()
    grad_norm = torch.sqrt(tree_dot(gradient, gradient))
    # One host synchronisation: a non-finite gradient must stop the run before anything moves.
    require_finite(
        surrogate_before,
        grad_norm,
        lambda: meta_step_values(result),
        "(TRPO.) Check the rewards and advantages, or lower inner.lr.",
    )

    average = average or (lambda values: values)
    progress = progress or (lambda where: None)
    fisher_tasks = subsample_tasks(tasks, config.fvp_subsample)
    local_matvec = fisher_product(
        algorithm, learner_params, problem, fisher_tasks, config.cg_damping
    )
    products = 0

    def matvec(vector: Params) -> Params:
        nonlocal products
        products += 1
        progress(f"conjugate gradient {products}/{config.cg_iterations}")
        product = local_matvec(vector)
        return dict(zip(product, average(list(product.values())), strict=True))

    direction, fisher_direction = conjugate_gradient_with_product(
        matvec, gradient, config.cg_iterations
    )
    curvature = tree_dot(direction, fisher_direction)
    # Scale so that the quadratic model of the KL, 1/2 d^T F d, equals max_kl.
    scale = torch.sqrt(2.0 * config.max_kl / curvature.clamp_min(torch.finfo(curvature.dtype).tiny))
    full_step = {name: -scale * value for name, value in direction.items()}

    old = {name: p.detach().clone() for name, p in learner_params.items()}
    fraction = 1.0
    accepted = False
    surrogate_after, kl = surrogate_before, torch.zeros_like(surrogate_before)
    steps_taken = config.line_search_steps
    with torch.no_grad():
        for backtrack in range(config.line_search_steps):
            progress(f"line search {backtrack + 1}")
            candidate = {name: old[name] + fraction * full_step[name] for name in old}
            loss, candidate_kl = average(
                list(surrogate_and_kl(algorithm, candidate, problem, tasks))
            )
            # One host synchronisation per candidate: the acceptance test decides control flow.
            if bool((loss < surrogate_before) & (candidate_kl <= config.max_kl)):
                accepted, steps_taken = True, backtrack
                surrogate_after, kl = loss, candidate_kl
                for name, param in learner_params.items():
                    param.copy_(candidate[name])
                break
            fraction *= config.line_search_ratio

    dtype, device = surrogate_before.dtype, surrogate_before.device
    return {
        "surrogate_before": surrogate_before,
        "surrogate_after": surrogate_after.detach(),
        "improvement": (surrogate_before - surrogate_after).detach(),
        "kl": kl.detach(),
        "line_search_steps": torch.tensor(float(steps_taken), dtype=dtype, device=device),
        "accepted": torch.tensor(float(accepted), dtype=dtype, device=device),
        "grad_norm": grad_norm,
        "step_norm": torch.sqrt(tree_dot(full_step, full_step)) * (fraction if accepted else 0.0),
    }


class TRPOStep(OuterStep):
    """MAML-TRPO's trust-region step (``outer.trpo``); stateless between iterations."""

    needs_trust_region_algorithm = True
    needs_policy = True

    def step(self, problem: MetaProblem, tasks: Tasks) -> MetaUpdate:
        stats = trpo_step(
            self.algorithm,
            self.meta_params,
            cast(KLProblem, problem),
            tasks,
            self.config.trpo,
            average=self.average,
            progress=lambda where: self.show_phase(f"outer step (trpo): {where}"),
        )
        return MetaUpdate({f"outer/{name}": value for name, value in stats.items()})
