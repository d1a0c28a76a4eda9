"""The supervised meta-training loop: sample tasks -> meta-step -> check -> outer step -> log.

One iteration reads top to bottom::

    tasks  = train_tasks.sample(meta_batch_size, generator)      # task distribution
    result = algorithm.meta_step(meta_params, problem, tasks)     # inner adaptation + meta-gradient
    norm   = check_finite(result)                                 # NaN/inf stops here, unapplied
    apply_gradients(result.meta_grads, norm)                      # outer optimizer
    log, checkpoint, evaluate                                     # every log_every / ...

:meth:`SupervisedTrainer.meta_step` and :meth:`SupervisedTrainer.apply_gradients` are separate so
a distributed wrapper can all-reduce the meta-gradients between them. Everything random flows
from ``config.seed`` (model initialisation, then one task generator whose state the checkpoint
keeps), so a run resumed from a checkpoint logs the same numbers as one that never stopped.
Metric tensors stay on the device until a log step converts them all in one transfer; the only
other host synchronisation is the per-iteration finiteness check, which must precede the update.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor
from torch.nn.utils import get_total_norm
from tqdm import tqdm

from metarl.core.adaptation import MetaLearner
from metarl.core.algorithms import MetaStepResult, make_algorithm
from metarl.core.problem import SupervisedProblem, Tasks, unstack_tasks
from metarl.outer.gradient import apply_meta_gradient, make_outer_optimizer
from metarl.run.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from metarl.run.config import SupervisedConfig, config_to_dict, save_config
from metarl.run.distributed import DistributedContext
from metarl.run.logger import RunLogger
from metarl.supervised.evaluation import AdaptationCurve, evaluate_adaptation, write_report
from metarl.supervised.models import build_model
from metarl.supervised.tasks import make_task_distribution

CHECKPOINT_NAME = "checkpoint.pt"
CONFIG_NAME = "config.yaml"
EVALUATION_STEM = "evaluation"


class NonFiniteError(RuntimeError):
    """A loss or gradient became NaN or infinite; the update that would carry it was not applied."""


class Trainer(Protocol):
    """What the CLI needs from a trainer of any config kind (supervised here, RL elsewhere)."""

    config: Any
    run_dir: Path

    def __init__(self, config: Any, run_dir: str | Path) -> None: ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a checkpoint's state (from :func:`metarl.run.checkpoint.load_checkpoint`)."""

    def train(self) -> dict[str, Any]:
        """Train to ``config.iterations``, checkpointing and logging; return the final curves."""

    def evaluate_to(self, out_dir: str | Path) -> dict[str, Any]:
        """Evaluate the current parameters and write the report into ``out_dir``."""

    def summary(self, curves: dict[str, Any]) -> str:
        """The curves as a few lines of text for the console."""


class SupervisedTrainer:
    """Meta-trains ``config.algorithm`` on ``config.task`` and writes everything to ``run_dir``.

    The constructor builds every object (and so reports a bad data folder or model before any
    file is written); :meth:`train` creates ``run_dir`` with the resolved ``config.yaml``,
    TensorBoard events, ``checkpoint.pt`` and the ``evaluation.json`` / ``.png`` report.
    """

    def __init__(
        self,
        config: SupervisedConfig,
        run_dir: str | Path,
        context: DistributedContext | None = None,
    ) -> None:
        self.config = config
        self.run_dir = Path(run_dir)
        self.context = context or DistributedContext(device=torch.device(config.device))
        self.device = self.context.device
        if config.threads:
            # Process-wide: the run owns the process's CPU kernels from here on.
            torch.set_num_threads(config.threads)
        family, family_config = config.task.family, config.task.family_config
        self.train_tasks = make_task_distribution(
            family, family_config, "train", self.device, config.torch_dtype
        )
        self.test_tasks = make_task_distribution(
            family, family_config, "test", self.device, config.torch_dtype
        )
        self.algorithm = make_algorithm(config.algorithm, config.inner, config.imaml, config.hfmaml)
        # The model's initialisers draw from the global RNG; a forked, seeded copy keeps the
        # initialisation a function of config.seed without touching the caller's RNG.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            model = build_model(
                config.model, self.train_tasks.input_shape, self.train_tasks.output_dim
            )
        model = model.to(device=self.device, dtype=config.torch_dtype)
        # The algorithm's inner config, not config.inner: Meta-SGD switches on learned step sizes.
        self.learner = MetaLearner(model, self.algorithm.inner)
        self.problem = SupervisedProblem(self.learner.model, self.train_tasks.loss)
        self.optimizer = make_outer_optimizer(
            config.outer.optimizer, self.learner.parameters(), config.outer.lr
        )
        # Tasks are drawn on the CPU so one seed gives the same tasks on every device.
        self.generator = torch.Generator().manual_seed(config.seed)
        self.iteration = 0
        """Outer iterations completed so far (the TensorBoard step of the latest one)."""

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / CHECKPOINT_NAME

    # ---------------------------------------------------------------------------------------
    # One iteration
    # ---------------------------------------------------------------------------------------

    def sample_tasks(self) -> Tasks:
        """This process's share of the meta-batch (all of it unless run under ``torchrun``).

        Every rank draws the whole meta-batch from the same generator, so the shares of all
        ranks together are exactly the single-process meta-batch.
        """
        tasks = self.train_tasks.sample(self.config.meta_batch_size, self.generator)
        share = self.context.shard(self.config.meta_batch_size)
        tasks = {key: value[share] for key, value in tasks.items()}
        return tasks if self.config.vectorize else unstack_tasks(tasks)

    def meta_step(self, tasks: Tasks) -> MetaStepResult:
        result = self.algorithm.meta_step(self.learner.meta_params(), self.problem, tasks)
        return self.reduce_over_ranks(result)

    def reduce_over_ranks(self, result: MetaStepResult) -> MetaStepResult:
        """Task-weighted means over all ranks of the meta-loss, meta-gradient and metrics.

        Per-task metrics become their mean over all tasks (a task dimension of one).
        """
        if not self.context.is_distributed:
            return result
        grads, metrics = result.meta_grads, result.metrics
        local = [result.meta_loss, *grads.values(), *(m.mean(dim=0) for m in metrics.values())]
        reduced = self.context.task_mean(local, result.num_tasks)
        meta_loss, rest = reduced[0], reduced[1:]
        return MetaStepResult(
            meta_loss=meta_loss,
            meta_grads=dict(zip(grads, rest[: len(grads)], strict=True)),
            metrics={k: v.unsqueeze(0) for k, v in zip(metrics, rest[len(grads) :], strict=True)},
            num_tasks=self.config.meta_batch_size,
        )

    def check_finite(self, result: MetaStepResult) -> Tensor:
        """Return the meta-gradient's global norm; raise :class:`NonFiniteError` naming the first
        non-finite quantity (support loss, query loss, meta-loss or a parameter's gradient)."""
        grad_norm = get_total_norm(list(result.meta_grads.values()))
        if bool(torch.isfinite(result.meta_loss) & torch.isfinite(grad_norm)):
            return grad_norm
        raise NonFiniteError(
            f"{self._first_non_finite(result)} at iteration {self.iteration + 1}; the update was "
            "not applied. Lower inner.lr or outer.lr, or set outer.grad_clip, and resume from the "
            f"last checkpoint ({self.checkpoint_path}) or start a new run"
        )

    def _first_non_finite(self, result: MetaStepResult) -> str:
        support = result.metrics.get("support_loss")  # (tasks, inner steps)
        if support is not None:
            for step in range(support.shape[1]):
                bad = int((~torch.isfinite(support[:, step])).sum())
                if bad:
                    return f"non-finite inner support loss at inner step {step} in {bad} task(s)"
        for key in ("query_loss_pre", "query_loss_post"):
            values = result.metrics.get(key)
            if values is not None and not bool(torch.isfinite(values).all()):
                bad = int((~torch.isfinite(values)).sum())
                return f"non-finite {key.replace('_', ' ')} in {bad} task(s)"
        if not bool(torch.isfinite(result.meta_loss)):
            return f"non-finite meta-loss ({float(result.meta_loss)})"
        for name, grad in result.meta_grads.items():
            if not bool(torch.isfinite(grad).all()):
                return f"non-finite meta-gradient of {name}"
        return "non-finite meta-gradient norm (overflow)"

    def apply_gradients(self, meta_grads: dict[str, Tensor], grad_norm: Tensor) -> None:
        """Write the meta-gradients into ``.grad``, clip them if configured, take an outer step."""
        apply_meta_gradient(
            self.optimizer,
            self.learner.meta_params(),
            meta_grads,
            grad_norm,
            self.config.outer.grad_clip,
        )

    def iteration_metrics(self, result: MetaStepResult, grad_norm: Tensor) -> dict[str, Tensor]:
        """Scalar tensors to log, by TensorBoard name (still on the device)."""
        metrics = {"outer/meta_loss": result.meta_loss, "outer/grad_norm": grad_norm}
        for key, values in result.metrics.items():
            if key == "support_loss":  # (tasks, inner steps)
                for step, value in enumerate(values.mean(dim=0).unbind()):
                    metrics[f"inner/support_loss_step{step}"] = value
            else:
                metrics[f"outer/{key}"] = values.mean()
        learned = list(self.learner.inner_lr.values())
        if learned:
            metrics["inner/learned_lr_mean"] = torch.cat(
                [lr.detach().flatten() for lr in learned]
            ).mean()
        return metrics

    # ---------------------------------------------------------------------------------------
    # The loop
    # ---------------------------------------------------------------------------------------

    def train(self) -> dict[str, AdaptationCurve]:
        """Train from ``self.iteration`` to ``config.iterations``; evaluate; return the curves.

        Raises:
            NonFiniteError: a loss or gradient became NaN/inf (nothing of it was applied).
        """
        config, logging = self.config, self.config.logging
        main = self.context.is_main  # rank 0 alone writes files and the console progress
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config(config, self.run_dir / CONFIG_NAME)
        start = self.iteration
        # Resuming after `start` iterations hides events the interrupted run logged later.
        logger = RunLogger(self.run_dir, enabled=main, purge_step=start + 1 if start > 0 else None)
        progress = tqdm(
            total=config.iterations,
            initial=start,
            desc=config.name,
            unit="it",
            disable=not (logging.progress and main),
            dynamic_ncols=True,
        )
        last_log_time, last_log_iteration = time.perf_counter(), start
        try:
            while self.iteration < config.iterations:
                tasks = self.sample_tasks()
                result = self.meta_step(tasks)
                grad_norm = self.check_finite(result)
                self.apply_gradients(result.meta_grads, grad_norm)
                self.iteration += 1
                progress.update(1)

                if self.iteration % logging.log_every == 0:
                    metrics = self.iteration_metrics(result, grad_norm)
                    values = torch.stack([v.detach().double() for v in metrics.values()]).tolist()
                    scalars = dict(zip(metrics, values, strict=True))
                    now = time.perf_counter()
                    scalars["perf/iterations_per_s"] = (self.iteration - last_log_iteration) / (
                        now - last_log_time
                    )
                    last_log_time, last_log_iteration = now, self.iteration
                    logger.log_scalars(self.iteration, scalars)
                    progress.set_postfix(
                        meta_loss=f"{scalars['outer/meta_loss']:.4g}",
                        pre=f"{scalars.get('outer/query_loss_pre', math.nan):.4g}",
                    )
                if main and (
                    self.iteration % logging.checkpoint_every == 0
                    or self.iteration == config.iterations
                ):
                    self.save_checkpoint()
                every = config.evaluation.every
                evaluate_now = every > 0 and self.iteration % every == 0
                if main and evaluate_now and self.iteration < config.iterations:
                    self.write_evaluation(self.evaluate(), self.run_dir, logger)
            if not main:
                return {}
            curves = self.evaluate()
            self.write_evaluation(curves, self.run_dir, logger)
        finally:
            progress.close()
            logger.close()
        return curves

    # ---------------------------------------------------------------------------------------
    # Evaluation on held-out tasks
    # ---------------------------------------------------------------------------------------

    def evaluate(self) -> dict[str, AdaptationCurve]:
        """Adaptation curves on ``evaluation.tasks`` held-out tasks for each support size.

        The test-task generator is re-seeded with ``evaluation.seed`` every time, so repeated
        evaluations during training score the same tasks and never touch the training RNG.
        """
        evaluation = self.config.evaluation
        generator = torch.Generator().manual_seed(evaluation.seed)
        meta_params = {k: v.detach() for k, v in self.learner.meta_params().items()}
        curves = {}
        for support in evaluation.support_sizes:
            tasks = self.test_tasks.sample(evaluation.tasks, generator, support=support)
            curves[f"K={support}"] = evaluate_adaptation(
                self.algorithm, meta_params, self.problem, tasks, evaluation.steps
            )
        return curves

    def write_evaluation(
        self,
        curves: dict[str, AdaptationCurve],
        out_dir: str | Path,
        logger: RunLogger | None = None,
    ) -> tuple[Path, Path]:
        """Write ``evaluation.json`` / ``.png`` into ``out_dir`` and, given a logger, the curves
        as ``eval/pre_adapt_loss_k{K}`` and ``eval/post_adapt_loss_k{K}_step{s}`` scalars."""
        config = self.config
        title = (
            f"{config.name}: {config.algorithm} on {config.task.family}, "
            f"iteration {self.iteration}, {config.evaluation.tasks} held-out tasks"
        )
        if logger is not None:
            scalars = {}
            for label, curve in curves.items():
                k = label.removeprefix("K=")
                series = {"loss": curve.loss_mean, "accuracy": curve.accuracy_mean}
                for metric, means in series.items():
                    if means is None:
                        continue
                    scalars[f"eval/pre_adapt_{metric}_k{k}"] = means[0]
                    for step, value in zip(curve.steps[1:], means[1:], strict=True):
                        scalars[f"eval/post_adapt_{metric}_k{k}_step{step}"] = value
            logger.log_scalars(self.iteration, scalars)
        return write_report(curves, out_dir, title, stem=EVALUATION_STEM)

    def evaluate_to(self, out_dir: str | Path) -> dict[str, AdaptationCurve]:
        curves = self.evaluate()
        self.write_evaluation(curves, out_dir)
        return curves

    def summary(self, curves: dict[str, AdaptationCurve]) -> str:
        """Held-out query loss (and accuracy) before and after 1, 5, 10 and the last inner step."""
        lines = []
        for label, curve in curves.items():
            shown = [s for s in curve.steps if s in (0, 1, 5, 10) or s == curve.steps[-1]]
            loss = [
                f"step {s}: {curve.loss_mean[s]:.4g} +- {curve.loss_ci95[s]:.2g}" for s in shown
            ]
            lines.append(f"{label} ({curve.num_tasks} tasks) query loss  " + "  ".join(loss))
            if curve.accuracy_mean is not None and curve.accuracy_ci95 is not None:
                accuracy = [
                    f"step {s}: {curve.accuracy_mean[s]:.4f} +- {curve.accuracy_ci95[s]:.2g}"
                    for s in shown
                ]
                lines.append(f"{label} query accuracy  " + "  ".join(accuracy))
        return "\n".join(lines)

    # ---------------------------------------------------------------------------------------
    # Checkpoints
    # ---------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "iteration": self.iteration,
            "learner": self.learner.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "task_generator": self.generator.get_state(),
            "config": config_to_dict(self.config),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        missing = {"iteration", "learner", "optimizer", "task_generator"} - set(state)
        if missing:
            raise CheckpointError(
                f"the checkpoint lacks {sorted(missing)}; it was not written by SupervisedTrainer"
            )
        try:
            self.learner.load_state_dict(state["learner"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.generator.set_state(state["task_generator"])
        except (RuntimeError, ValueError, KeyError) as error:
            raise CheckpointError(
                f"the checkpoint does not fit this config's model or optimizer ({error}); "
                "resume with the config the run was started with"
            ) from None
        self.iteration = int(state["iteration"])

    def save_checkpoint(self) -> None:
        save_checkpoint(self.checkpoint_path, self.state_dict())

    def restore(self, path: str | Path | None = None) -> None:
        """Load the checkpoint at ``path`` (default: this run's latest) into the trainer."""
        state = load_checkpoint(path or self.checkpoint_path)
        self.load_state_dict(state)
