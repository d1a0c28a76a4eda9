"""The one meta-training loop, for supervised and RL runs alike.

One iteration reads top to bottom::

    batch  = experiment.draw(iteration)           # task distribution -> sampler -> adaptation
    update = outer_step.step(problem, batch.tasks) # meta-objective -> outer step (NaN/inf: stop)
    log every log_every, checkpoint every checkpoint_every or checkpoint_minutes, evaluate

What differs between kinds of runs sits behind the small :class:`Experiment` interface: a
supervised experiment draws a meta-batch of tasks; an RL experiment samples episodes, computes
advantages, adapts and samples again. The outer step (:mod:`metarl.outer`: Adam / SGD, TRPO, PPO)
and the meta-algorithm (:mod:`metarl.core.algorithms`) never know which kind they serve.

Everything random flows from ``config.seed`` through the experiment, whose state the checkpoint
keeps, so a run resumed from a checkpoint logs the same numbers as one that never stopped.
Metric tensors stay on the device until a log step converts them all in one transfer.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor
from tqdm import tqdm

from metarl.core.adaptation import MetaLearner
from metarl.core.algorithms import MetaAlgorithm
from metarl.core.compiled import CompiledAlgorithm, compile_decision
from metarl.core.problem import MetaProblem, Tasks
from metarl.errors import CheckpointError, NonFiniteError
from metarl.outer import MetaUpdate, make_outer_step, update_scalars
from metarl.run.checkpoint import load_checkpoint, save_checkpoint
from metarl.run.config import RunConfig, config_kind, config_to_dict, save_config
from metarl.run.distributed import DistributedContext, ShardedAlgorithm
from metarl.run.files import CHECKPOINT_NAME, CONFIG_NAME, EVALUATION_STEM
from metarl.run.interrupt import stop_at_iteration_end
from metarl.run.logger import RunLogger
from metarl.run.report import Report, write_report

EXPERIMENTS: dict[str, str] = {
    "supervised": "metarl.supervised.experiment:SupervisedExperiment",
    "rl": "metarl.rl.experiment:RLExperiment",
}
"""Config ``kind`` -> ``"module:Class"`` of its :class:`Experiment` (imported on first use)."""

Phase = Callable[[str], None]
"""Reports the phase an iteration is in (``sampling pre``, ``outer step``) to the progress line."""
PHASE_REDRAW_SECONDS = 0.5
"""Iterations at least this long redraw the progress line at every phase."""


@dataclass
class MetaBatch:
    """One iteration's meta-batch, as the experiment drew it.

    Attributes:
        tasks: the task data the outer step consumes (supervised: support and query sets; RL:
            support episodes of each inner step and the post-adaptation query episodes).
        seconds: wall-clock seconds of the phases that drew it (``sampling``, ``adaptation``).
        details: anything else the experiment needs back for its metrics and logs.
    """

    tasks: Tasks
    seconds: dict[str, float] = field(default_factory=dict)
    details: Any = None


@dataclass
class IterationResult:
    """What one iteration produced: the meta-batch, the outer step's report, phase seconds."""

    batch: MetaBatch
    update: MetaUpdate
    seconds: dict[str, float]
    experiment: Experiment

    @property
    def metrics(self) -> dict[str, Tensor]:
        """Every scalar of the iteration by TensorBoard name (tensors, still on the device)."""
        return {**update_scalars(self.update), **self.experiment.metrics(self)}


class Experiment(Protocol):
    """What one kind of run supplies to the shared loop (supervised or RL).

    The constructor ``Experiment(config, context)`` builds every object, so a bad setting fails
    before any file is written.
    """

    config: Any
    learner: MetaLearner
    algorithm: MetaAlgorithm
    problem: MetaProblem

    def draw(self, iteration: int, phase: Phase) -> MetaBatch:
        """The meta-batch of iteration ``iteration`` (0-based), reporting phases as it goes."""
        ...

    def metrics(self, result: IterationResult) -> dict[str, Tensor]:
        """The experiment's own scalars of one iteration (returns, episode lengths, ...)."""
        ...

    def log_extras(
        self, logger: RunLogger, step: int, result: IterationResult, checkpointed: bool
    ) -> None:
        """Histograms and figures beside the scalars (at log steps; ``checkpointed``: a
        checkpoint was just written)."""
        ...

    def postfix(self, scalars: dict[str, float]) -> dict[str, str]:
        """The few numbers the progress line shows."""
        ...

    def evaluate(self) -> dict[str, Any]:
        """Held-out adaptation curves of the current meta-parameters (and baselines)."""
        ...

    def report(self, curves: dict[str, Any], iteration: int) -> Report:
        """The curves' title, ``eval/`` scalars and PNG panels at ``iteration``."""
        ...

    def finish(self, out_dir: Path) -> None:
        """Work after the final evaluation (the RL rollout video, if configured)."""
        ...

    def summary(self, curves: dict[str, Any]) -> str:
        """The curves as a few lines of text for the console."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """The experiment's own state for checkpoints (its task generator, if it keeps one)."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` from a checkpoint's entries."""
        ...


def make_trainer(
    config: RunConfig, run_dir: str | Path, context: DistributedContext | None = None
) -> Trainer:
    """The trainer of ``config``'s kind: its :class:`Experiment` inside the shared loop."""
    context = context or DistributedContext(device=torch.device(config.device))
    if config.threads:
        # Process-wide: the run owns the process's CPU kernels from here on.
        torch.set_num_threads(config.threads)
    module_name, _, class_name = EXPERIMENTS[config_kind(config)].partition(":")
    experiment = getattr(importlib.import_module(module_name), class_name)(config, context)
    return Trainer(experiment, run_dir, context)


class Trainer:
    """Meta-trains ``experiment`` with ``config.outer`` and writes everything to ``run_dir``.

    :meth:`train` creates ``run_dir`` with the resolved ``config.yaml``, TensorBoard events,
    ``checkpoint.pt`` (atomic) and the ``evaluation.json`` / ``.png`` report.
    """

    def __init__(self, experiment: Experiment, run_dir: str | Path, context: DistributedContext):
        self.experiment = experiment
        self.config: RunConfig = experiment.config
        self.run_dir = Path(run_dir)
        self.context = context
        self.device = context.device
        algorithm = experiment.algorithm
        compile_now, self.compile_note = compile_decision(
            self.config.compile, self.config.iterations, self.config.problem_kind, self.device
        )
        self.compiled = CompiledAlgorithm(algorithm) if compile_now else None
        if self.compiled is not None:
            algorithm = self.compiled
        if context.is_distributed:
            # Every rank adapts its share of the tasks; meta-gradients are task-weighted means.
            algorithm = ShardedAlgorithm(algorithm, context)
        local_tasks = context.share_size(self.config.meta_batch_size)
        self.outer = make_outer_step(
            self.config.outer,
            algorithm,
            experiment.learner.meta_params(),
            average=lambda values: context.task_mean(values, local_tasks),
        )
        self.outer.show_phase = self.show_phase
        self.iteration = 0
        """Iterations completed so far (the TensorBoard step of the latest one)."""
        self.last_checkpoint: tuple[int, float] | None = None
        """Iteration and ``time.time()`` of the last checkpoint this process wrote."""
        self._progress: tqdm | None = None
        self._redraw_phases = True  # until an iteration has shown how long one takes

    @property
    def learner(self) -> MetaLearner:
        """The meta-parameters being trained (the network and any learned inner step sizes)."""
        return self.experiment.learner

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / CHECKPOINT_NAME

    # ---------------------------------------------------------------------------------------
    # One iteration
    # ---------------------------------------------------------------------------------------

    def train_iteration(self) -> IterationResult:
        """Draw a meta-batch and take the outer step once, advancing ``iteration``.

        Raises:
            NonFiniteError: NaN/inf in the rewards, advantages, losses or gradients; nothing of
                the iteration is applied and ``iteration`` is unchanged.
        """
        try:
            batch = self.experiment.draw(self.iteration, self.show_phase)
            self.show_phase(f"outer step ({self.config.outer.kind})")
            start = time.perf_counter()
            compiling = self.compiled.compile_seconds if self.compiled else 0.0
            update = self.outer.step(self.experiment.problem, batch.tasks)
            self._synchronize()
            seconds = {**batch.seconds, "outer": time.perf_counter() - start}
            if self.compiled is not None and self.compiled.compile_seconds != compiling:
                # The compiling iteration: its outer time is the step's, the rest compile_s.
                seconds["compile"] = self.compiled.compile_seconds
                seconds["outer"] -= self.compiled.compile_seconds
        except FloatingPointError as error:
            if self.checkpoint_path.exists():
                advice = (
                    f"Resume from the last checkpoint ({self.checkpoint_path}) with a smaller "
                    "step, or start a new run"
                )
            else:
                advice = "Start again with a smaller step (no checkpoint was written yet)"
            raise NonFiniteError(f"{error} (iteration {self.iteration + 1}.) {advice}") from None
        self.iteration += 1
        return IterationResult(batch, update, seconds, self.experiment)

    def show_phase(self, phase: str) -> None:
        """Name the running phase on the progress line (a long RL iteration shows its stages).

        The line is redrawn at once only while iterations are slow: a redraw per phase of a
        millisecond iteration would write hundreds of bytes per iteration into a log file.
        """
        if self._progress is not None:
            label = f"{self.config.name} [{phase}]"
            self._progress.set_description_str(label, refresh=self._redraw_phases)

    def _synchronize(self) -> None:
        # Timings of asynchronous CUDA work need the queue drained; free on the CPU.
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _scalars(self, result: IterationResult, since: tuple[int, float]) -> dict[str, float]:
        """The iteration's scalars as floats (one device-to-host transfer) with ``perf/``."""
        metrics = result.metrics
        learned = list(self.experiment.learner.inner_lr.values())
        if learned:
            metrics["inner/learned_lr_mean"] = torch.cat(
                [lr.detach().flatten() for lr in learned]
            ).mean()
        names = list(metrics)
        values = torch.stack([metrics[n].detach().double().reshape(()) for n in names]).tolist()
        scalars = dict(zip(names, values, strict=True))
        scalars.update({f"perf/{phase}_s": s for phase, s in result.seconds.items()})
        scalars["perf/iteration_s"] = sum(result.seconds.values())
        if self.compiled is not None:  # this process's compilation, on every logged iteration
            scalars["perf/compile_s"] = self.compiled.compile_seconds
        last_iteration, last_time = since
        scalars["perf/iterations_per_s"] = (self.iteration - last_iteration) / max(
            time.perf_counter() - last_time, 1e-9
        )
        return scalars

    # ---------------------------------------------------------------------------------------
    # The loop
    # ---------------------------------------------------------------------------------------

    def train(self) -> dict[str, Any]:
        """Train from ``self.iteration`` to ``config.iterations``; evaluate; return the curves.

        Raises:
            NonFiniteError: a loss, advantage or gradient became NaN/inf (nothing was applied).
        """
        config, logging = self.config, self.config.logging
        main = self.context.is_main  # rank 0 alone writes files and the console progress
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config(config, self.run_dir / CONFIG_NAME)
        start = self.iteration
        # Resuming after `start` iterations hides events the interrupted run logged later.
        logger = RunLogger(self.run_dir, enabled=main, purge_step=start + 1 if start > 0 else None)
        self._progress = tqdm(
            total=config.iterations,
            initial=start,
            desc=config.name,
            unit="it",
            disable=not (logging.progress and main),
            dynamic_ncols=True,
        )
        checkpoint_seconds = 60.0 * logging.checkpoint_minutes
        since_log = (start, time.perf_counter())
        since_checkpoint = time.monotonic()
        postfix: dict[str, str] = {}
        try:
            # Ctrl-C stops at the end of an iteration (metarl/run/interrupt.py). torchrun ranks
            # keep Python's immediate KeyboardInterrupt: each would stop after a different
            # iteration and leave the others waiting in a collective.
            with stop_at_iteration_end(enabled=not self.context.is_distributed) as stop:
                while self.iteration < config.iterations:
                    result = self.train_iteration()
                    self._redraw_phases = sum(result.seconds.values()) >= PHASE_REDRAW_SECONDS
                    self.show_phase("logging")
                    due = (
                        self.iteration % logging.checkpoint_every == 0
                        or self.iteration == config.iterations
                        or 0 < checkpoint_seconds <= time.monotonic() - since_checkpoint
                    )
                    if due and main:
                        self.save_checkpoint()
                        since_checkpoint = time.monotonic()
                    if self.iteration % logging.log_every == 0:
                        scalars = self._scalars(result, since_log)
                        since_log = (self.iteration, time.perf_counter())
                        logger.log_scalars(self.iteration, scalars)
                        self.experiment.log_extras(logger, self.iteration, result, due and main)
                        postfix = self.experiment.postfix(scalars)
                    self._progress.set_postfix(postfix | self._checkpoint_note(), refresh=False)
                    self._progress.set_description_str(config.name, refresh=False)
                    self._progress.update(1)
                    if stop.requested:  # Ctrl-C: this iteration is whole; keep it, then stop
                        if main and not due:
                            self.save_checkpoint()
                        raise KeyboardInterrupt
                    every = config.evaluation.every
                    periodic = every > 0 and self.iteration % every == 0
                    if main and periodic and self.iteration < config.iterations:
                        self.show_phase("evaluation")
                        self.write_evaluation(self.experiment.evaluate(), self.run_dir, logger)
            if not main:
                return {}
            self.show_phase("final evaluation")
            curves = self.experiment.evaluate()
            self.write_evaluation(curves, self.run_dir, logger)
            self.experiment.finish(self.run_dir)
        finally:
            self._progress.close()
            self._progress = None
            logger.close()
        return curves

    def _checkpoint_note(self) -> dict[str, str]:
        if self.last_checkpoint is None:
            return {"ckpt": "none yet"}
        iteration, written = self.last_checkpoint
        minutes = (time.time() - written) / 60.0
        return {"ckpt": f"it {iteration}, {minutes:.0f} min ago"}

    # ---------------------------------------------------------------------------------------
    # Evaluation on held-out tasks
    # ---------------------------------------------------------------------------------------

    def evaluate(self) -> dict[str, Any]:
        return self.experiment.evaluate()

    def evaluate_to(self, out_dir: str | Path) -> dict[str, Any]:
        """Evaluate the current parameters into ``out_dir``: JSON, PNG, TensorBoard ``eval/``
        scalars at the checkpoint's iteration, and the before/after rollout if configured."""
        curves = self.experiment.evaluate()
        with RunLogger(out_dir) as logger:
            self.write_evaluation(curves, Path(out_dir), logger)
        self.experiment.finish(Path(out_dir))
        return curves

    def write_evaluation(
        self, curves: dict[str, Any], out_dir: Path, logger: RunLogger | None
    ) -> tuple[Path, Path]:
        """``evaluation.json`` / ``.png`` into ``out_dir``; given a logger, ``eval/`` scalars at
        the current iteration."""
        report = self.experiment.report(curves, self.iteration)
        if logger is not None:
            logger.log_scalars(self.iteration, report.scalars)
        return write_report(
            curves, report.panels, out_dir, report.title, stem=EVALUATION_STEM, xlabel=report.xlabel
        )

    def summary(self, curves: dict[str, Any]) -> str:
        return self.experiment.summary(curves)

    # ---------------------------------------------------------------------------------------
    # Checkpoints
    # ---------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        state = {
            "iteration": self.iteration,
            "learner": self.experiment.learner.state_dict(),
            "config": config_to_dict(self.config),
            **self.experiment.state_dict(),
        }
        outer_state = self.outer.state_dict()
        if outer_state is not None:
            state["optimizer"] = outer_state
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        required = {"iteration", "learner", *self.experiment.state_dict()}
        if self.outer.state_dict() is not None:
            required.add("optimizer")
        missing = required - set(state)
        if missing:
            raise CheckpointError(
                f"the checkpoint lacks {sorted(missing)}; it was not written by a "
                f"{config_kind(self.config)} run with outer.kind: {self.config.outer.kind}"
            )
        try:
            self.experiment.learner.load_state_dict(state["learner"])
            if "optimizer" in required:
                self.outer.load_state_dict(state["optimizer"])
            self.experiment.load_state_dict(state)
        except (RuntimeError, ValueError, KeyError) as error:
            raise CheckpointError(
                f"the checkpoint does not fit this config's model or outer step ({error}); "
                "resume with the config the run was started with"
            ) from None
        self.iteration = int(state["iteration"])

    def save_checkpoint(self) -> None:
        save_checkpoint(self.checkpoint_path, self.state_dict())
        self.last_checkpoint = (self.iteration, time.time())

    def restore(self, path: str | Path | None = None) -> None:
        """Load the checkpoint at ``path`` (default: this run's latest) into the trainer."""
        self.load_state_dict(load_checkpoint(path or self.checkpoint_path))
