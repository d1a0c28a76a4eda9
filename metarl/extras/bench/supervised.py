"""Speed and memory of second-order MAML on the MAML paper's sinusoid setting, in one table.

Setting: meta-batch 25, K = 10 support and 10 query points, MLP 40-40 ReLU, inner lr 0.01,
Adam 1e-3 (``experiments/sinusoid_maml.yaml``). One meta-iteration is a meta-gradient plus an Adam
step, on pre-sampled meta-batches (sampling is left out of every row alike). Implementations:

- ``metarl (vmap)``: MetaLearner + make_algorithm("maml") + SupervisedProblem on a TaskBatch, one
  vmapped call for the meta-batch;
- ``metarl (task list)``: the same on a list of tasks, the project's fallback for ragged tasks;
- ``metarl (compiled)``: the vmap row under ``compile: on`` (:class:`CompiledAlgorithm`, one
  ``torch.compile`` of the whole meta-step; its compile time, from the warm-up, is printed);
- ``bare vmap``: the same math written by hand with ``torch.func`` (``vmap`` of ``grad`` through
  ``functional_call``), eager, with none of the project's structure: the floor of eager dispatch;
- ``per-task loop``: for each task, inner steps with ``torch.autograd.grad(create_graph=True)``
  through ``functional_call``, then the mean query loss and one backward (the same math);
- ``higher`` and ``torchopt``: the per-task style of their MAML examples, when installed.

Before timing, every implementation's meta-gradient is checked against the per-task loop in
float64 (the compiled row compiles a float64 graph for that check). Then the peak memory of one
MAML and one iMAML meta-step for 1, 5, 20, 50 inner steps.

Run: ``python -m metarl.extras.bench.supervised`` (or ``metarl bench supervised``) [--threads 1]
[--device cpu] [--no-compile].
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import itertools
import statistics
import time
from collections.abc import Callable
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap
from torch.profiler import ProfilerActivity, profile

from metarl.core.adaptation import InnerLoopConfig, MetaLearner
from metarl.core.algorithms import make_algorithm
from metarl.core.compiled import CompiledAlgorithm, compiler_available
from metarl.core.problem import SupervisedProblem, TaskBatch, num_tasks, unstack_tasks
from metarl.supervised.models import ModelConfig, build_model
from metarl.supervised.tasks import SinusoidConfig, SinusoidTasks

META_BATCH = 25
INNER_LR = 0.01
OUTER_LR = 1e-3
GRADIENT_RTOL = 1e-9

MetaGradient = Callable[[TaskBatch], None]
"""Computes the meta-gradient of a meta-batch into the ``.grad`` of the model's parameters."""


COMPILE_SECONDS: dict[tuple[int, torch.dtype], float] = {}
"""Compile time of the compiled row's first call, by inner steps and dtype (filled as it runs)."""


def metarl_gradient(
    model: nn.Module, steps: int, vectorize: bool, compiled: bool = False
) -> MetaGradient:
    learner = MetaLearner(model, InnerLoopConfig(steps=steps, lr=INNER_LR))
    algorithm = make_algorithm("maml", learner.inner)
    if compiled:
        algorithm = CompiledAlgorithm(algorithm)
    problem = SupervisedProblem(learner.model, "mse")

    def gradient(tasks: TaskBatch) -> None:
        batch = tasks if vectorize else unstack_tasks(tasks)
        meta_params = learner.meta_params()
        result = algorithm.meta_step(meta_params, problem, batch)
        for name, param in meta_params.items():
            param.grad = result.meta_grads[name]
        if isinstance(algorithm, CompiledAlgorithm):
            if algorithm.failure is not None:
                raise RuntimeError(f"the compiled row fell back to eager: {algorithm.failure}")
            dtype = next(iter(meta_params.values())).dtype
            COMPILE_SECONDS.setdefault((steps, dtype), algorithm.compile_seconds)

    return gradient


def bare_vmap_gradient(model: nn.Module, steps: int) -> MetaGradient:
    params: dict[str, Tensor] = dict(model.named_parameters())

    def mse(phi: dict[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
        return F.mse_loss(functional_call(model, phi, (x,)), y)

    def query_loss(phi: dict[str, Tensor], task: dict[str, Tensor]) -> Tensor:
        for _ in range(steps):
            grads = grad(mse)(phi, task["support_x"], task["support_y"])
            phi = {n: p - INNER_LR * grads[n] for n, p in phi.items()}
        return mse(phi, task["query_x"], task["query_y"])

    batched_query_loss = vmap(query_loss, in_dims=(None, 0))

    def gradient(tasks: TaskBatch) -> None:
        meta_loss = batched_query_loss(params, dict(tasks)).mean()
        grads = torch.autograd.grad(meta_loss, list(params.values()))
        for param, meta_grad in zip(params.values(), grads, strict=True):
            param.grad = meta_grad

    return gradient


def loop_gradient(model: nn.Module, steps: int) -> MetaGradient:
    params: dict[str, Tensor] = dict(model.named_parameters())

    def gradient(tasks: TaskBatch) -> None:
        query_losses = []
        for i in range(num_tasks(tasks)):
            phi = params
            for _ in range(steps):
                prediction = functional_call(model, phi, (tasks["support_x"][i],))
                support_loss = F.mse_loss(prediction, tasks["support_y"][i])
                grads = torch.autograd.grad(support_loss, list(phi.values()), create_graph=True)
                phi = {n: p - INNER_LR * g for (n, p), g in zip(phi.items(), grads, strict=True)}
            prediction = functional_call(model, phi, (tasks["query_x"][i],))
            query_losses.append(F.mse_loss(prediction, tasks["query_y"][i]))
        model.zero_grad(set_to_none=True)
        torch.stack(query_losses).mean().backward()

    return gradient


def higher_gradient(model: nn.Module, steps: int) -> MetaGradient:
    import higher

    inner_optimizer = torch.optim.SGD(model.parameters(), lr=INNER_LR)

    def gradient(tasks: TaskBatch) -> None:
        model.zero_grad(set_to_none=True)
        count = num_tasks(tasks)
        for i in range(count):
            with higher.innerloop_ctx(model, inner_optimizer, copy_initial_weights=False) as (
                fmodel,
                diffopt,
            ):
                for _ in range(steps):
                    diffopt.step(F.mse_loss(fmodel(tasks["support_x"][i]), tasks["support_y"][i]))
                query_loss = F.mse_loss(fmodel(tasks["query_x"][i]), tasks["query_y"][i])
                (query_loss / count).backward()

    return gradient


def torchopt_gradient(model: nn.Module, steps: int) -> MetaGradient:
    import torchopt

    inner_optimizer = torchopt.MetaSGD(model, lr=INNER_LR)

    def gradient(tasks: TaskBatch) -> None:
        model.zero_grad(set_to_none=True)
        model_state = torchopt.extract_state_dict(model)
        optimizer_state = torchopt.extract_state_dict(inner_optimizer)
        count = num_tasks(tasks)
        for i in range(count):
            for _ in range(steps):
                inner_optimizer.step(
                    F.mse_loss(model(tasks["support_x"][i]), tasks["support_y"][i])
                )
            query_loss = F.mse_loss(model(tasks["query_x"][i]), tasks["query_y"][i])
            (query_loss / count).backward()
            torchopt.recover_state_dict(model, model_state)
            torchopt.recover_state_dict(inner_optimizer, optimizer_state)

    return gradient


def implementations(compiled: bool = True) -> dict[str, Callable[[nn.Module, int], MetaGradient]]:
    """The rows of the table; ``higher`` and ``torchopt`` only when they are importable, the
    compiled row only with ``compiled``."""
    rows: dict[str, Callable[[nn.Module, int], MetaGradient]] = {
        "metarl (vmap)": lambda model, steps: metarl_gradient(model, steps, vectorize=True),
        "metarl (task list)": lambda model, steps: metarl_gradient(model, steps, vectorize=False),
        "per-task loop": loop_gradient,
        "bare vmap": bare_vmap_gradient,
    }
    if compiled:
        rows["metarl (compiled)"] = lambda model, steps: metarl_gradient(
            model, steps, vectorize=True, compiled=True
        )
    if importlib.util.find_spec("higher") is not None:
        rows["higher"] = higher_gradient
    if importlib.util.find_spec("torchopt") is not None:
        rows["torchopt"] = torchopt_gradient
    return rows


def sinusoid_model(seed: int) -> nn.Module:
    # nn.Linear initialises from the global RNG; fork it so the seed stays local to this call.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model(ModelConfig(kind="mlp", hidden=(40, 40), activation="relu"), (1,), 1)


def sample_batches(count: int, seed: int, device: torch.device, dtype: torch.dtype) -> list:
    tasks = SinusoidTasks(SinusoidConfig(support=10, query=10), device, dtype)
    generator = torch.Generator().manual_seed(seed)
    return [tasks.sample(META_BATCH, generator) for _ in range(count)]


def check_gradients(steps: int, seed: int, device: torch.device, compiled: bool = True) -> float:
    """Largest relative deviation of any implementation's float64 meta-gradient from the loop's."""
    reference_model = sinusoid_model(seed).to(device=device, dtype=torch.float64)
    (tasks,) = sample_batches(1, seed, device, torch.float64)
    gradients = {}
    for name, make in implementations(compiled).items():
        model = copy.deepcopy(reference_model)
        make(model, steps)(tasks)
        gradients[name] = [cast(Tensor, p.grad) for p in model.parameters()]  # make() set each
    reference = gradients["per-task loop"]
    worst = 0.0
    for name, grads in gradients.items():
        for got, want in zip(grads, reference, strict=True):
            error = float((got - want).abs().max() / want.abs().max().clamp_min(1e-300))
            worst = max(worst, error)
            if not error <= GRADIENT_RTOL:
                raise RuntimeError(
                    f"{name} and the per-task loop disagree on the {steps}-step meta-gradient "
                    f"(relative error {error:.2e} > {GRADIENT_RTOL:.0e}); the timings would "
                    "compare different computations"
                )
    return worst


def throughput(
    iteration: Callable[[], None], min_time: float, device: torch.device
) -> tuple[float, float]:
    """Meta-iterations per second of wall-clock time and of this process's CPU time, over at
    least ``min_time`` wall-clock seconds."""
    count, start, start_cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < min_time:
        iteration()
        count += 1
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return count / (time.perf_counter() - start), count / (time.process_time() - start_cpu)


def time_implementations(
    steps: int, seed: int, device: torch.device, min_time: float, repeats: int, compiled: bool
) -> dict[str, tuple[float, float]]:
    """Median wall-clock and CPU-time iterations/s of each implementation; repeats are interleaved
    across rows so that load from other processes affects every row alike."""
    batches = sample_batches(8, seed + 1, device, torch.float32)
    reference_model = sinusoid_model(seed).to(device)
    iterations = {}
    for name, make in implementations(compiled).items():
        model = copy.deepcopy(reference_model)
        gradient = make(model, steps)
        optimizer = torch.optim.Adam(model.parameters(), lr=OUTER_LR)
        cycle = itertools.cycle(batches)

        def iteration(gradient=gradient, optimizer=optimizer, cycle=cycle) -> None:
            gradient(next(cycle))
            optimizer.step()

        for _ in range(3):  # warm-up: lazy initialisation, allocator caches, compilation
            iteration()
        iterations[name] = iteration
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in iterations}
    for _ in range(repeats):
        for name, iteration in iterations.items():
            samples[name].append(throughput(iteration, min_time, device))
    return {
        name: (statistics.median(w for w, _ in values), statistics.median(c for _, c in values))
        for name, values in samples.items()
    }


def peak_step_memory(algorithm: str, steps: int, seed: int, device: torch.device) -> int:
    """Bytes allocated by torch during one meta-step beyond what was live before it (peak).

    CUDA: ``torch.cuda.max_memory_allocated``. CPU: the profiler's record of every allocation and
    free of torch's CPU allocator, replayed in time order.
    """
    model = sinusoid_model(seed).to(device)
    learner = MetaLearner(model, InnerLoopConfig(steps=steps, lr=INNER_LR))
    meta_algorithm = make_algorithm(algorithm, learner.inner)
    problem = SupervisedProblem(learner.model, "mse")
    (tasks,) = sample_batches(1, seed, device, torch.float32)

    def step() -> None:
        meta_algorithm.meta_step(learner.meta_params(), problem, tasks)

    step()  # warm-up, so one-off allocations are not counted
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        step()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    events = sorted(
        (event.start_ns(), event.nbytes())
        for event in prof.profiler.kineto_results.events()
        if event.name() == "[memory]"
    )
    live = peak = 0
    for _, nbytes in events:
        live += nbytes
        peak = max(peak, live)
    return peak


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metarl bench supervised",
        description="Meta-iterations/s of 2nd-order MAML on the sinusoid benchmark (metarl vs a "
        "per-task loop, higher, torchopt) and peak memory of MAML vs iMAML.",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 5], help="inner steps to time")
    parser.add_argument(
        "--memory-steps",
        type=int,
        nargs="*",
        default=[1, 5, 20, 50],
        help="inner steps for the memory table (none: skip it)",
    )
    parser.add_argument("--min-time", type=float, default=1.0, help="seconds per timing block")
    parser.add_argument("--repeats", type=int, default=3, help="timing blocks per row (median)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-compile",
        action="store_true",
        help="leave out the compiled row (it compiles for 10-60 s per inner-step count)",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.threads < 1:
        raise SystemExit(f"--threads must be >= 1, got {args.threads}")
    if args.min_time <= 0 or args.repeats < 1:
        raise SystemExit("--min-time must be > 0 and --repeats >= 1")
    if any(s < 1 for s in [*args.steps, *args.memory_steps]):
        raise SystemExit("--steps and --memory-steps must be >= 1")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {args.device} requested but CUDA is not available")
    torch.set_num_threads(args.threads)

    missing = [name for name in ("higher", "torchopt") if importlib.util.find_spec(name) is None]
    print(
        f"MAML (2nd order), sinusoid: meta-batch {META_BATCH}, K=10 support + 10 query, MLP 40-40 "
        f"ReLU, inner lr {INNER_LR}, Adam {OUTER_LR}; torch {torch.__version__}, {device}, "
        f"{args.threads} thread(s)"
    )
    if missing:
        print(f"not installed, rows left out: {', '.join(missing)}")
    on_cpu = device.type == "cpu"
    print(
        "one iteration = meta-gradient + Adam step; it/s = median of "
        f"{args.repeats} interleaved blocks of >= {args.min_time:g} s wall-clock"
        + (
            "; 'cpu' columns divide by this process's CPU time, which other processes' load "
            "on a shared machine does not inflate"
            if on_cpu
            else ""
        )
    )
    header = f"{'inner steps':>11}  {'implementation':<20}  {'it/s':>8}  {'vs loop':>8}"
    if on_cpu:
        header += f"  {'it/s cpu':>8}  {'vs loop':>8}"
    print(header + "  meta-gradient check")
    ratios: dict[int, tuple[float, float]] = {}
    compiled = not args.no_compile
    if compiled and (reason := compiler_available(device)) is not None:
        print(f"compiled row left out: {reason}")
        compiled = False
    compiled_ratios: dict[int, tuple[float, float]] = {}
    for steps in args.steps:
        error = check_gradients(steps, args.seed, device, compiled)
        rates = time_implementations(
            steps, args.seed, device, args.min_time, args.repeats, compiled
        )
        loop_wall, loop_cpu = rates["per-task loop"]
        for name, (wall, cpu) in rates.items():
            row = f"{steps:>11}  {name:<20}  {wall:>8.1f}  {wall / loop_wall:>7.2f}x"
            if on_cpu:
                row += f"  {cpu:>8.1f}  {cpu / loop_cpu:>7.2f}x"
            print(row + f"  float64, rel. err <= {error:.0e}")
        wall, cpu = rates["metarl (vmap)"]
        ratios[steps] = (wall / loop_wall, cpu / loop_cpu)
        if compiled:
            wall, cpu = rates["metarl (compiled)"]
            compiled_ratios[steps] = (cpu / loop_cpu, cpu / rates["bare vmap"][1])
            seconds = COMPILE_SECONDS[(steps, torch.float32)]
            print(f"{'':>11}  compiled row: compiled in {seconds:.1f} s on its first call")
    if on_cpu and args.threads == 1:
        verdict = "PASS" if all(cpu >= 5.0 for _, cpu in ratios.values()) else "FAIL"
        shown = ", ".join(
            f"{cpu:.1f}x cpu / {wall:.1f}x wall at {steps} step(s)"
            for steps, (wall, cpu) in ratios.items()
        )
        print(f"bar (metarl vmap >= 5x the per-task loop, 1 CPU thread): {verdict} ({shown})")
        if compiled_ratios:
            passed = all(loop >= 20.0 and bare > 1.0 for loop, bare in compiled_ratios.values())
            shown = ", ".join(
                f"{loop:.1f}x loop / {bare:.1f}x bare vmap at {steps} step(s)"
                for steps, (loop, bare) in compiled_ratios.items()
            )
            print(
                "bar (metarl compiled >= 20x the per-task loop and ahead of bare vmap, cpu "
                f"time, 1 thread): {'PASS' if passed else 'FAIL'} ({shown})"
            )

    if not args.memory_steps:
        return
    how = (
        "torch.cuda.max_memory_allocated"
        if device.type == "cuda"
        else "torch.profiler allocation/free events of the CPU allocator, replayed"
    )
    print()
    print(
        f"peak memory of one meta-step, MiB allocated beyond what was live before ({how}); "
        "iMAML: sgd inner solver, 5 CG steps"
    )
    print(f"{'inner steps':>11}  {'MAML':>9}  {'iMAML':>9}")
    for steps in args.memory_steps:
        maml = peak_step_memory("maml", steps, args.seed, device) / 2**20
        imaml = peak_step_memory("imaml", steps, args.seed, device) / 2**20
        print(f"{steps:>11}  {maml:>9.2f}  {imaml:>9.2f}")


if __name__ == "__main__":
    main()
