"""Supervised meta-learning as an :class:`~metarl.run.trainer.Experiment` of the shared loop.

One iteration draws a meta-batch of tasks (support and query sets) from the training split; the
outer step adapts every task and takes the meta-gradient. Tasks are drawn on the CPU from one
generator seeded with ``config.seed`` (kept in checkpoints), so a seed gives the same tasks on
every device and a resumed run the same numbers. Held-out evaluation scores the query loss (and
accuracy) after 0..``evaluation.steps`` adaptation steps for each support size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from metarl.core.adaptation import MetaLearner
from metarl.core.algorithms import make_algorithm
from metarl.core.problem import SupervisedProblem, unstack_tasks
from metarl.run.distributed import DistributedContext
from metarl.run.logger import RunLogger
from metarl.run.report import Report
from metarl.run.trainer import IterationResult, MetaBatch, Phase
from metarl.supervised.config import SupervisedConfig
from metarl.supervised.evaluation import (
    AdaptationCurve,
    evaluate_adaptation,
    loss_panels,
    loss_scalars,
)
from metarl.supervised.models import build_model
from metarl.supervised.tasks import make_task_distribution


class SupervisedExperiment:
    """Meta-trains ``config.model`` on ``config.task``'s training split."""

    def __init__(self, config: SupervisedConfig, context: DistributedContext) -> None:
        self.config = config
        self.context = context
        device, dtype = context.device, config.torch_dtype
        family, family_config = config.task.family, config.task.family_config
        self.train_tasks = make_task_distribution(family, family_config, "train", device, dtype)
        self.test_tasks = make_task_distribution(family, family_config, "test", device, dtype)
        self.algorithm = make_algorithm(config.algorithm, config.inner, config.imaml, config.hfmaml)
        # The model's initialisers draw from the global RNG; a forked, seeded copy keeps the
        # initialisation a function of config.seed without touching the caller's RNG.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            model = build_model(
                config.model, self.train_tasks.input_shape, self.train_tasks.output_dim
            )
        model = model.to(device=device, dtype=dtype)
        # The algorithm's inner config, not config.inner: Meta-SGD switches on learned step sizes.
        self.learner = MetaLearner(model, self.algorithm.inner)
        self.problem = SupervisedProblem(self.learner.model, self.train_tasks.loss)
        self.generator = torch.Generator().manual_seed(config.seed)

    def draw(self, iteration: int, phase: Phase) -> MetaBatch:
        """This process's share of the meta-batch (all of it unless run under ``torchrun``).

        Every rank draws the whole meta-batch from the same generator, so the shares of all
        ranks together are exactly the single-process meta-batch.
        """
        tasks = self.train_tasks.sample(self.config.meta_batch_size, self.generator)
        share = self.context.shard(self.config.meta_batch_size)
        tasks = {key: value[share] for key, value in tasks.items()}
        return MetaBatch(tasks if self.config.vectorize else unstack_tasks(tasks))

    def metrics(self, result: IterationResult) -> dict[str, Tensor]:
        return {}

    def log_extras(
        self, logger: RunLogger, step: int, result: IterationResult, checkpointed: bool
    ) -> None:
        return None

    def postfix(self, scalars: dict[str, float]) -> dict[str, str]:
        return {
            "meta_loss": f"{scalars['outer/meta_loss']:.4g}",
            "pre": f"{scalars.get('outer/query_loss_pre', float('nan')):.4g}",
        }

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

    def report(self, curves: dict[str, AdaptationCurve], iteration: int) -> Report:
        """Query loss (and accuracy) panels; ``eval/pre_adapt_loss_k{K}`` and
        ``eval/post_adapt_loss_k{K}_step{s}`` scalars."""
        config = self.config
        title = (
            f"{config.name}: {config.algorithm} on {config.task.family}, "
            f"iteration {iteration}, {config.evaluation.tasks} held-out tasks"
        )
        return Report(title, loss_scalars(curves), loss_panels(curves), "inner steps")

    def finish(self, out_dir: Path) -> None:
        return None

    def summary(self, curves: dict[str, AdaptationCurve]) -> str:
        """Held-out query loss (and accuracy) before and after 1, 5, 10 and the last inner step."""
        lines = []
        for label, curve in curves.items():
            shown = [s for s in curve.steps if s in (0, 1, 5, 10) or s == curve.steps[-1]]
            loss = [_loss_at(curve, s) for s in shown]
            lines.append(f"{label} ({curve.num_tasks} tasks) query loss  " + "  ".join(loss))
            if curve.accuracy_mean is not None and curve.accuracy_ci95 is not None:
                accuracy = [
                    f"step {s}: {curve.accuracy_mean[s]:.4f} +- {curve.accuracy_ci95[s]:.2g}"
                    for s in shown
                ]
                lines.append(f"{label} query accuracy  " + "  ".join(accuracy))
        return "\n".join(lines)

    def state_dict(self) -> dict[str, Any]:
        return {"task_generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["task_generator"])


def _loss_at(curve: AdaptationCurve, step: int) -> str:
    """``step s: mean +- ci``; where tasks diverged, how many and the median of all tasks."""
    text = f"step {step}: {curve.loss_mean[step]:.4g} +- {curve.loss_ci95[step]:.2g}"
    diverged = curve.diverged_tasks[step]
    if diverged:
        text += f" ({diverged} of {curve.num_tasks} diverged, median {curve.loss_median[step]:.4g})"
    return text
