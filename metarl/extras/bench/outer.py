"""MAML-TRPO's outer step on HalfCheetahVel at the MAML paper's shape, by phase, with the
autograd-reference and the closed-form Fisher-vector product.

Setting (``experiments/halfcheetah_vel_maml_trpo.yaml``): 40 tasks x 20 episodes x 200 steps,
Gaussian MLP 100-100 ReLU (obs 17, act 6), one inner policy-gradient step of 0.1 on the LVC loss,
second-order MAML, TRPO with 10 CG iterations, damping 1e-5, 15 line-search steps x 0.8,
max KL 0.01. The episodes of one meta-iteration are sampled once by ``MetaSampler`` (seeded;
their sampling time is printed for comparison), then ``trpo_step`` runs from the same
parameters with :func:`~metarl.outer.trpo.fisher_vector_product_reference` (the KL's metric by
a double backward) and :func:`~metarl.outer.trpo.fisher_vector_product` (closed form), after a
check that the two steps agree.

The steps alternate (reference, new, reference, new, ...) so both see the same load; each phase
keeps its best of ``--repeats``: meta-gradient (``meta_step``), recording the Fisher graphs,
the Fisher products of all CG iterations, and the line search with the CG vector algebra. Wall
seconds and this process's CPU seconds (all threads; a shared machine disturbs them less).
Then where one product's time goes, and its FLOPs and the step's against the measured matmul
rate of the same threads: the time the matmuls alone would take.

Run: ``metarl bench outer`` (or ``python -m metarl.extras.bench.outer``) [--tasks 40]
[--threads 1] [--dtype float32] [--repeats 2] [--episodes 20 --horizon 200 to shrink].
"""

from __future__ import annotations

import argparse
import copy
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from torch.func import jvp
from torch.profiler import ProfilerActivity, profile

import envs
from metarl.core.adaptation import InnerLoopConfig, MetaLearner
from metarl.core.algorithms import MetaAlgorithm, MetaStepResult, make_algorithm
from metarl.core.functional import Params, detach, model_params, tree_dot
from metarl.core.problem import MetaProblem, TaskBatch, Tasks
from metarl.core.solvers import hessian_vector_product
from metarl.outer.trpo import (
    FisherProduct,
    TRPOConfig,
    fisher_vector_product,
    fisher_vector_product_reference,
    jacobian_products,
    kl_from_dist_params,
    kl_metric_product,
    map_adapted,
    query_dist_params,
    surrogate_and_kl,
    trpo_step,
)
from metarl.rl.advantages import compute_advantages
from metarl.rl.baseline import LinearFeatureBaseline
from metarl.rl.episodes import Episodes
from metarl.rl.objective import PolicyGradientProblem, make_task_batch
from metarl.rl.policies import Policy, make_policy
from metarl.rl.sampler import MetaSampler

ENV_ID = "metarl/HalfCheetahVel-v0"
HIDDEN = (100, 100)
INNER = InnerLoopConfig(steps=1, lr=0.1)
TRPO = TRPOConfig(max_kl=0.01, cg_iterations=10, cg_damping=1e-5)
PRODUCTS: dict[str, FisherProduct] = {
    "reference": fisher_vector_product_reference,
    "new": fisher_vector_product,
}
PHASES = ("meta-gradient", "Fisher graphs (once)", "Fisher products (all CG)", "line search + CG")
DTYPES = {"float32": torch.float32, "float64": torch.float64}
PRODUCT_AGREEMENT = 1e-9
"""Largest relative difference of the two products accepted (float64)."""
STEP_AGREEMENT = 1e-3
"""Largest relative difference of the two steps and their statistics accepted (float64): with
damping 1e-5 the Fisher system is so ill-conditioned that ten CG iterations amplify the products'
1e-16 rounding differences to ~1e-5 (tests/outer/test_trpo.py compares steps to 1e-10 at
damping 1e-3); the line search must also take the same number of backtracks."""


@dataclass
class Setup:
    """One meta-iteration's outer-step inputs."""

    learner: MetaLearner
    algorithm: MetaAlgorithm
    problem: PolicyGradientProblem
    tasks: TaskBatch
    sampling_seconds: float


def build(tasks: int, episodes: int, horizon: int, dtype: torch.dtype, threads: int) -> Setup:
    """The policy at its seeded initialisation and one meta-iteration's episodes, sampled as the
    trainer samples them (pre-adaptation, inner step, post-adaptation, advantages)."""
    sampler = MetaSampler(ENV_ID, episodes, horizon, sim_threads=threads, torch_threads=threads)
    generator = torch.Generator().manual_seed(0)
    policy = make_policy(
        sampler.observation_space, sampler.action_space, HIDDEN, "relu", generator=generator
    ).to(dtype)
    algorithm = make_algorithm("maml", INNER)
    learner = MetaLearner(policy, algorithm.inner)
    problem = PolicyGradientProblem(policy, "lvc")
    task_list = envs.task_family(ENV_ID).sample_tasks(tasks, np.random.default_rng(0))
    noise = torch.Generator().manual_seed(1)
    meta_params = learner.meta_params()

    def advantages(sampled: Episodes) -> Episodes:
        return compute_advantages(sampled, 0.99, 1.0, LinearFeatureBaseline(1e-5), True)

    start = time.perf_counter()
    theta = detach(model_params(meta_params))
    support = advantages(sampler.sample(policy, theta, task_list, noise, 2))
    with torch.no_grad():
        adapted = algorithm.adapted_params(meta_params, problem, make_task_batch(support))
    query = sampler.sample(policy, detach(adapted), task_list, noise, 3, per_task_params=True)
    query = advantages(query)
    sampling = time.perf_counter() - start
    sampler.close()
    return Setup(learner, algorithm, problem, make_task_batch(support, query), sampling)


class Clock:
    """Wall and CPU seconds accumulated per phase."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = dict.fromkeys(PHASES, 0.0)
        self.cpu: dict[str, float] = dict.fromkeys(PHASES, 0.0)

    def timed(self, phase: str, fn: Callable[[], object]) -> object:
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn()
        self.wall[phase] += time.perf_counter() - wall
        self.cpu[phase] += time.process_time() - cpu
        return out


class TimedMetaGradient(MetaAlgorithm):
    """The wrapped algorithm with its ``meta_step`` timed as the meta-gradient phase."""

    supports_learned_lr = True

    def __init__(self, algorithm: MetaAlgorithm, clock: Clock) -> None:
        super().__init__(algorithm.inner)
        self.algorithm, self.clock = algorithm, clock

    def meta_step(self, meta_params: Params, problem: MetaProblem, tasks: Tasks) -> MetaStepResult:
        step = lambda: self.algorithm.meta_step(meta_params, problem, tasks)  # noqa: E731
        return self.clock.timed("meta-gradient", step)  # type: ignore[return-value]

    def adapted_params(self, meta_params: Params, problem: MetaProblem, tasks: Tasks) -> Params:
        return self.algorithm.adapted_params(meta_params, problem, tasks)


def timed_product(product: FisherProduct, clock: Clock) -> FisherProduct:
    """``product`` with its recording and every matrix-vector product timed."""

    def build(*args: object) -> Callable[[Params], Params]:
        matvec = clock.timed("Fisher graphs (once)", lambda: product(*args))  # type: ignore[arg-type]

        def timed(vector: Params) -> Params:
            return clock.timed("Fisher products (all CG)", lambda: matvec(vector))  # type: ignore[operator,return-value]

        return timed

    return build


def run_step(setup: Setup, start: Params, product: FisherProduct) -> tuple[Clock, dict, Params]:
    """One ``trpo_step`` from ``start`` with ``product``: phase times, statistics, parameters."""
    meta_params = setup.learner.meta_params()
    with torch.no_grad():
        for name, param in meta_params.items():
            param.copy_(start[name])
    clock = Clock()
    algorithm = TimedMetaGradient(setup.algorithm, clock)
    wall, cpu = time.perf_counter(), time.process_time()
    stats = trpo_step(
        algorithm,
        meta_params,
        setup.problem,
        setup.tasks,
        TRPO,
        fisher_product=timed_product(product, clock),
    )
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rest = PHASES[-1]
    clock.wall[rest] = wall - sum(clock.wall.values())
    clock.cpu[rest] = cpu - sum(clock.cpu.values())
    return clock, stats, {name: p.detach().clone() for name, p in meta_params.items()}


def in_float64(setup: Setup) -> Setup:
    """The same meta-iteration in float64: the policy's parameters and the episodes converted."""
    learner = copy.deepcopy(setup.learner).to(torch.float64)
    tasks = {
        key: value.to(torch.float64) if value.is_floating_point() else value
        for key, value in setup.tasks.items()
    }
    problem = PolicyGradientProblem(cast(Policy, learner.model), setup.problem.inner_loss)
    return Setup(learner, setup.algorithm, problem, tasks, setup.sampling_seconds)


def check_agreement(setup: Setup) -> str:
    """Raise unless, in float64, both products give the same Fisher product and the same TRPO
    step (in float32 the ten CG iterations amplify rounding too much to compare steps)."""
    setup = in_float64(setup)
    start = {n: p.detach().clone() for n, p in setup.learner.meta_params().items()}
    meta_params = setup.learner.meta_params()
    args = (setup.algorithm, meta_params, setup.problem, setup.tasks, TRPO.cg_damping)
    generator = torch.Generator().manual_seed(0)
    vector = {n: torch.randn(p.shape, generator=generator, dtype=p.dtype) for n, p in start.items()}
    reference = fisher_vector_product_reference(*args)(vector)
    new = fisher_vector_product(*args)(vector)
    product_error = _relative(new, reference)
    _, ref_stats, ref_params = run_step(setup, start, fisher_vector_product_reference)
    _, new_stats, new_params = run_step(setup, start, fisher_vector_product)
    step_error = _relative(
        {n: new_params[n] - start[n] for n in start}, {n: ref_params[n] - start[n] for n in start}
    )
    stats_error = max(
        abs(float(new_stats[k] - ref_stats[k])) / max(abs(float(ref_stats[k])), 1e-30)
        for k in ref_stats
    )
    backtracks = int(ref_stats["line_search_steps"])
    agree = product_error <= PRODUCT_AGREEMENT and max(step_error, stats_error) <= STEP_AGREEMENT
    if not (agree and backtracks == int(new_stats["line_search_steps"])):
        raise SystemExit(
            f"the two Fisher products disagree in float64: product rel. err {product_error:.1e} "
            f"(tolerance {PRODUCT_AGREEMENT:.0e}), step rel. err {step_error:.1e}, statistics "
            f"rel. err {stats_error:.1e} (tolerance {STEP_AGREEMENT:.0e}), backtracks "
            f"{backtracks} vs {int(new_stats['line_search_steps'])}; run tests/outer/test_trpo.py"
        )
    return (
        f"agreement in float64: one product rel. err {product_error:.1e}, TRPO step rel. err "
        f"{step_error:.1e}, statistics rel. err {stats_error:.1e} (accepted: "
        f"{bool(ref_stats['accepted'])}, {backtracks} backtracks)"
    )


def _relative(got: Params, expected: Params) -> float:
    difference = {n: got[n] - expected[n] for n in expected}
    return float(torch.sqrt(tree_dot(difference, difference) / tree_dot(expected, expected)))


def product_profile(setup: Setup, repeats: int) -> list[tuple[str, float]]:
    """Best-of-``repeats`` wall seconds of each piece of one product, and of the alternatives."""
    algorithm, problem, tasks = setup.algorithm, setup.problem, setup.tasks
    theta = detach(setup.learner.meta_params())
    current, push_forward, pull_back = jacobian_products(algorithm, theta, problem, tasks)
    generator = torch.Generator().manual_seed(0)
    vector = {n: torch.randn(p.shape, generator=generator, dtype=p.dtype) for n, p in theta.items()}
    pushed = push_forward(vector)

    def outputs(params: Params) -> dict:
        adapted = algorithm.adapted_params(params, problem, tasks)
        return map_adapted(lambda p, task: query_dist_params(problem, p, task), adapted, tasks)

    def mean_kl(dist_params: dict) -> torch.Tensor:
        per_task = map_adapted(
            lambda d, task: kl_from_dist_params(problem, d, task), dist_params, tasks
        )
        return per_task.mean()

    pieces: list[tuple[str, Callable[[], object]]] = [
        (
            "record the graphs of J^T w and J v (once per step)",
            lambda: jacobian_products(algorithm, theta, problem, tasks),
        ),
        ("J v: backward through the recorded graph of J^T w", lambda: push_forward(vector)),
        ("J v: forward mode, torch.func.jvp (not used)", lambda: jvp(outputs, (theta,), (vector,))),
        (
            "M u: double backward of the KL (reference)",
            lambda: hessian_vector_product(mean_kl, current, pushed),
        ),
        ("M u: closed form (new)", lambda: kl_metric_product(problem, current, pushed, tasks)),
        ("J^T w: backward through the recorded graph", lambda: pull_back(pushed)),
    ]
    best = {name: float("inf") for name, _ in pieces}
    for _, fn in pieces:  # warm-up: the first forward-mode call builds its kernels' state
        fn()
    for _ in range(repeats):
        for name, fn in pieces:
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return list(best.items())


def counted_flops(fn: Callable[[], object]) -> float:
    """FLOPs torch's profiler attributes to ``fn`` (matrix products and elementwise ops)."""
    with profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
        fn()
    return float(sum(event.flops for event in prof.key_averages()))


def matmul_rate(rows: int, dtype: torch.dtype, repeats: int) -> tuple[float, float]:
    """FLOPs per wall second and per CPU second (all threads) of a (rows x 100) @ (100 x 100)
    product, the hidden layer's, on these threads; each the best of the repeats."""
    generator = torch.Generator().manual_seed(0)
    left = torch.randn(rows, HIDDEN[0], generator=generator, dtype=dtype)
    right = torch.randn(HIDDEN[0], HIDDEN[1], generator=generator, dtype=dtype)
    torch.mm(left, right)  # warm-up
    wall = cpu = float("inf")
    for _ in range(max(5, repeats)):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        torch.mm(left, right)
        wall = min(wall, time.perf_counter() - start_wall)
        cpu = min(cpu, time.process_time() - start_cpu)
    flops = 2.0 * rows * HIDDEN[0] * HIDDEN[1]
    return flops / wall, flops / max(cpu, 1e-9)


def print_flop_bound(
    setup: Setup, start: Params, new: Clock, backtracks: int, repeats: int
) -> None:
    """FLOPs of one new product and of the new step (torch's profiler) against the matmul rate
    of the hidden layer's shape: the time the arithmetic alone would take, and its share of the
    measured time."""
    meta_params = setup.learner.meta_params()
    with torch.no_grad():
        for name, param in meta_params.items():
            param.copy_(start[name])
    algorithm, problem, tasks = setup.algorithm, setup.problem, setup.tasks
    vector = {n: torch.ones_like(p) for n, p in start.items()}
    matvec = fisher_vector_product(algorithm, meta_params, problem, tasks, TRPO.cg_damping)
    product_flops = counted_flops(lambda: matvec(vector))
    # The step's FLOPs from its pieces (profiling a whole step costs minutes of overhead).
    candidates = backtracks + 1
    with torch.no_grad():
        candidate_flops = counted_flops(
            lambda: surrogate_and_kl(algorithm, meta_params, problem, tasks)
        )
    step_flops = (
        counted_flops(lambda: algorithm.meta_step(meta_params, problem, tasks))
        + counted_flops(lambda: jacobian_products(algorithm, meta_params, problem, tasks))
        + TRPO.cg_iterations * product_flops
        + candidates * candidate_flops
    )
    rows = tasks["query_mask"].numel()
    wall_rate, cpu_rate = matmul_rate(rows, start[next(iter(start))].dtype, repeats)
    product = PHASES[2]
    measured = {
        "one product": (
            new.wall[product] / TRPO.cg_iterations,
            new.cpu[product] / TRPO.cg_iterations,
            product_flops,
        ),
        "whole step": (sum(new.wall.values()), sum(new.cpu.values()), step_flops),
    }
    print(
        f"\nmatmul ({rows} x 100) @ (100 x 100), {torch.get_num_threads()} thread(s): "
        f"{wall_rate / 1e9:.1f} GFLOP per wall s, {cpu_rate / 1e9:.1f} GFLOP per CPU s"
    )
    print(
        "| new product | GFLOP (profiler) | at the matmul rate s | measured s | share | "
        "at the rate cpu-s | measured cpu-s | share |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, (wall, cpu, flops) in measured.items():
        print(
            f"| {name} | {flops / 1e9:.1f} | {flops / wall_rate:.3f} | {wall:.3f} "
            f"| {flops / wall_rate / wall:.0%} | {flops / cpu_rate:.3f} | {cpu:.3f} "
            f"| {flops / cpu_rate / cpu:.0%} |"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=40, help="meta-batch size (paper: 40)")
    parser.add_argument("--episodes", type=int, default=20, help="episodes per task (paper: 20)")
    parser.add_argument("--horizon", type=int, default=200, help="steps per episode (paper: 200)")
    parser.add_argument("--threads", type=int, default=1, help="torch and MuJoCo threads")
    parser.add_argument("--dtype", choices=list(DTYPES), default="float32")
    parser.add_argument(
        "--repeats", type=int, default=2, help="interleaved rounds; each phase keeps its best"
    )
    args = parser.parse_args(argv)
    if min(args.tasks, args.episodes, args.horizon, args.threads, args.repeats) < 1:
        parser.error("--tasks, --episodes, --horizon, --threads and --repeats must be >= 1")
    torch.set_num_threads(args.threads)
    dtype = DTYPES[args.dtype]
    setup = build(args.tasks, args.episodes, args.horizon, dtype, args.threads)
    start = {n: p.detach().clone() for n, p in setup.learner.meta_params().items()}
    print(
        f"HalfCheetahVel MAML-TRPO outer step: {args.tasks} tasks x {args.episodes} episodes x "
        f"{args.horizon} steps, MLP 100-100 ReLU, 1 inner LVC step, {TRPO.cg_iterations} CG "
        f"iterations; {args.dtype}, {args.threads} thread(s), torch {torch.__version__}, load "
        f"average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"sampling this meta-iteration (both phases, MetaSampler): {setup.sampling_seconds:.2f} s"
    )
    print(check_agreement(setup))

    best: dict[str, Clock] = {}
    for _ in range(args.repeats):
        for name, product in PRODUCTS.items():
            clock, stats, _ = run_step(setup, start, product)
            if name not in best:
                best[name] = clock
                continue
            for phase in PHASES:
                best[name].wall[phase] = min(best[name].wall[phase], clock.wall[phase])
                best[name].cpu[phase] = min(best[name].cpu[phase], clock.cpu[phase])
    ref, new = best["reference"], best["new"]
    print(f"\nbest of {args.repeats} interleaved rounds per phase")
    print("| phase | reference s | new s | new / ref | reference cpu-s | new cpu-s | cpu ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for phase in (*PHASES, "whole trpo_step"):
        if phase == "whole trpo_step":
            walls = sum(ref.wall.values()), sum(new.wall.values())
            cpus = sum(ref.cpu.values()), sum(new.cpu.values())
        else:
            walls, cpus = (ref.wall[phase], new.wall[phase]), (ref.cpu[phase], new.cpu[phase])
        print(
            f"| {phase} | {walls[0]:.3f} | {walls[1]:.3f} | {walls[1] / walls[0]:.2f} "
            f"| {cpus[0]:.3f} | {cpus[1]:.3f} | {cpus[1] / cpus[0]:.2f} |"
        )

    print(f"\none Fisher-vector product, piece by piece (best of {args.repeats}, wall s)")
    for name, seconds in product_profile(setup, args.repeats):
        print(f"  {name:<54} {seconds:8.3f}")

    print_flop_bound(setup, start, new, int(stats["line_search_steps"]), args.repeats)
    print(f"sampling this meta-iteration: {setup.sampling_seconds:.2f} s wall")


if __name__ == "__main__":
    main()
