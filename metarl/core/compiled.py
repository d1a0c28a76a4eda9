"""Compiled meta-steps (``compile: auto | on | off``): one ``torch.compile`` of a meta-algorithm's
``meta_step`` per run, equal to the eager step up to rounding.

A supervised meta-iteration is a few hundred kFLOP (the sinusoid MLP): its time is Python and
operator dispatch, not arithmetic. Compiling the whole step (the vmapped inner loop, the query
losses and the meta-gradient's backward, ``torch.autograd.grad`` included, which dynamo traces
with ``trace_autograd_ops``) into one graph of fused kernels removes that overhead; it costs a few
seconds to tens of seconds of compilation once, so ``auto`` compiles only where that pays:

* a run of at least :data:`AUTO_MIN_ITERATIONS` meta-iterations (compilation takes 3-30 s here
  and saves about 2 ms per sinusoid meta-iteration);
* a supervised problem (an RL iteration spends its time in the sampler and TRPO's Fisher
  products, which this step does not cover);
* a compiler backend: a C++ compiler on the CPU, Triton on CUDA.

Shapes: the first meta-batch (a ``TaskBatch`` of equal-shaped tasks) fixes the compiled shapes;
a meta-batch of any other shape (a ragged final batch, a task list) runs the eager step, so the
run never recompiles. A compilation failure falls back to the eager step for the rest of the run
with one warning naming the reason, never a crash.
"""

from __future__ import annotations

import os
import shutil
import time
import warnings
from collections.abc import Callable
from typing import Any, Literal

import torch
from torch import Tensor

from metarl.core.algorithms.base import MetaAlgorithm, MetaStepResult
from metarl.core.functional import Params
from metarl.core.problem import MetaProblem, TaskData, Tasks, num_tasks

CompileMode = Literal["auto", "on", "off"]
COMPILE_MODES: tuple[str, ...] = ("auto", "on", "off")
AUTO_MIN_ITERATIONS = 1000
"""``auto`` compiles runs of at least this many meta-iterations."""

StepOutput = tuple[Tensor, Params, dict[str, Tensor]]
Signature = tuple[Any, ...]


def compiler_available(device: torch.device) -> str | None:
    """Why ``torch.compile`` cannot build kernels for ``device`` here, or ``None`` if it can."""
    if not hasattr(torch._dynamo.config, "trace_autograd_ops"):
        return f"torch {torch.__version__} cannot trace torch.autograd.grad (needs torch >= 2.10)"
    if device.type == "cuda":
        from torch.utils._triton import has_triton

        return None if has_triton() else "Triton is not installed (pip install triton)"
    compilers = [os.environ.get("CXX"), "g++", "c++", "clang++"]
    if any(shutil.which(name) for name in compilers if name):
        return None
    return "no C++ compiler on PATH (install g++ or set CXX)"


def compile_decision(
    mode: CompileMode, iterations: int, problem_kind: str, device: torch.device
) -> tuple[bool, str]:
    """Whether a run compiles its meta-step under ``mode``, and why (for the run's log)."""
    if mode == "off":
        return False, "compile: off"
    missing = compiler_available(device)
    if mode == "on":
        return True, "compile: on" + (f" (expect the eager fallback: {missing})" if missing else "")
    if problem_kind != "supervised":
        return False, "compile: auto does not compile RL runs (the meta-step is not their cost)"
    if iterations < AUTO_MIN_ITERATIONS:
        return False, (
            f"compile: auto leaves a run of {iterations} < {AUTO_MIN_ITERATIONS} iterations "
            "eager (compilation would cost more than it saves)"
        )
    if missing:
        return False, f"compile: auto runs eager: {missing}"
    return True, "compile: auto compiles the meta-step"


def batch_signature(meta_params: Params, tasks: Tasks) -> Signature | None:
    """What the compiled graph is specialised to; ``None`` for a task list (ragged shapes)."""
    if not isinstance(tasks, dict):
        return None
    return tuple(
        (key, tuple(value.shape), value.dtype, value.device)
        for group in (meta_params, tasks)
        for key, value in group.items()
    )


class CompiledAlgorithm(MetaAlgorithm):
    """``algorithm`` with its ``meta_step`` compiled once, on the first meta-batch's shapes.

    Everything else (adaptation, evaluation curves) is the wrapped algorithm's eager code.

    Attributes:
        compile_seconds: wall seconds the compilation took (the first compiled call), 0 before.
        failure: why compilation failed (the run then stays eager), ``None`` while it has not.
    """

    supports_learned_lr = True  # the wrapped algorithm has checked its own inner config

    def __init__(self, algorithm: MetaAlgorithm) -> None:
        super().__init__(algorithm.inner)
        self.algorithm = algorithm
        self.name = algorithm.name
        self.compile_seconds = 0.0
        self.failure: str | None = None
        self._signature: Signature | None = None
        self._compiled: Callable[[Params, MetaProblem, Tasks], StepOutput] = torch.compile(
            self._eager_step, dynamic=False
        )

    def _eager_step(self, meta_params: Params, problem: MetaProblem, tasks: Tasks) -> StepOutput:
        result = self.algorithm.meta_step(meta_params, problem, tasks)
        return result.meta_loss, result.meta_grads, result.metrics

    def meta_step(self, meta_params: Params, problem: MetaProblem, tasks: Tasks) -> MetaStepResult:
        signature = batch_signature(meta_params, tasks)
        if self._signature is None and signature is not None and self.failure is None:
            self._signature = signature
            start = time.perf_counter()
            output = self._call_compiled(meta_params, problem, tasks)
            self.compile_seconds = time.perf_counter() - start
        elif signature == self._signature and signature is not None and self.failure is None:
            output = self._call_compiled(meta_params, problem, tasks)
        else:
            output = self._eager_step(meta_params, problem, tasks)
        meta_loss, meta_grads, metrics = output
        return MetaStepResult(meta_loss, meta_grads, metrics, num_tasks(tasks))

    def _call_compiled(self, meta_params: Params, problem: MetaProblem, tasks: Tasks) -> StepOutput:
        try:
            with torch._dynamo.config.patch(trace_autograd_ops=True):
                return self._compiled(meta_params, problem, tasks)
        except Exception as error:  # any compiler failure falls back to eager
            # The eager step runs first: an error of the step itself (not of the compiler)
            # surfaces from it unchanged, without a misleading compiler warning.
            output = self._eager_step(meta_params, problem, tasks)
            reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
            self.failure = f"{type(error).__name__}: {reason}"[:300]
            warnings.warn(
                f"torch.compile of the {self.name} meta-step failed ({self.failure}); the run "
                "continues with the eager step (set compile: off to skip the attempt)",
                RuntimeWarning,
                stacklevel=3,
            )
            return output

    def adapt_task(self, meta_params: Params, problem: MetaProblem, task: TaskData) -> Params:
        return self.algorithm.adapt_task(meta_params, problem, task)

    def adapted_params(self, meta_params: Params, problem: MetaProblem, tasks: Tasks) -> Params:
        return self.algorithm.adapted_params(meta_params, problem, tasks)

    def adaptation_curve(
        self,
        meta_params: Params,
        problem: MetaProblem,
        tasks: Tasks,
        steps: int,
        score: Callable[[Params, TaskData], Any],
    ) -> Any:
        return self.algorithm.adaptation_curve(meta_params, problem, tasks, steps, score)
