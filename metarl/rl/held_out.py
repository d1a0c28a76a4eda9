"""The held-out adaptation protocol of an RL run: which tasks, which policies, which report.

One object, like garage's ``MetaEvaluator``: it draws ``evaluation.tasks`` new tasks from the
held-out ``evaluation.seed``, scores every initial policy on the same tasks and rollout seeds with
:class:`~metarl.rl.evaluation.AdaptationEvaluator` (return after 0..``adapt_steps``
policy-gradient steps), and writes the report:

* **meta-learned**: the run's meta-parameters, adapted with the run's inner loop (learned rates
  included);
* **random init** (``evaluation.random_init``): the policy as initialised before training,
  adapted with fixed steps;
* **pretrained** / **oracle**: every SB3 baseline folder of ``evaluation.baselines`` and the
  default folders of ``metarl baseline``; the pretrained policy is adapted with the same fixed
  steps, the oracle (which sees the task) is scored as it is.

``RLTrainer`` evaluates at the end of training (and every ``evaluation.every`` iterations);
``metarl evaluate RUN_DIR`` does the same from a checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

import envs
from metarl.core.adaptation import InnerLoopConfig
from metarl.core.functional import Params, detach, model_params
from metarl.errors import ConfigError
from metarl.rl.config import RLConfig
from metarl.rl.evaluation import (
    AdaptationEvaluator,
    ReturnCurve,
    ReturnSettings,
    fixed_step_inner,
    format_table,
    prefixed,
    return_panels,
    return_scalars,
)
from metarl.rl.objective import PolicyGradientProblem
from metarl.rl.rollout_video import record_rollouts
from metarl.rl.sampler import MetaSampler
from metarl.rl.sb3_baselines import (
    BASELINE_KINDS,
    POLICY_FILE,
    default_baseline_dir,
    load_baseline,
    resolve_env_id,
)
from metarl.run.report import Report


class HeldOutEvaluation:
    """Scores a run's meta-parameters and its baselines on the held-out tasks.

    Args:
        config: the run's config (env, horizon, ``evaluation`` settings, sampler backend).
        sampler: the run's sampler, reused when the evaluation's episodes per task match.
        problem: the run's inner policy-gradient loss.
        inner: the run's inner loop (the algorithm's: Meta-SGD's learned rates included).
        returns: returns, advantages and baseline as in training.
        initial_params: the policy's parameters before training (the random-init baseline).
        device: where the baselines' parameters go.
    """

    def __init__(
        self,
        config: RLConfig,
        sampler: MetaSampler,
        problem: PolicyGradientProblem,
        inner: InnerLoopConfig,
        returns: ReturnSettings,
        initial_params: Params,
        device: torch.device,
    ) -> None:
        self.config = config
        self.sampler = sampler
        self.problem = problem
        self.inner = inner
        self.returns = returns
        # A copy: the live parameters change in place as training goes on.
        self.initial_params = {k: v.detach().clone() for k, v in initial_params.items()}
        self.device = device
        family = envs.task_family(config.env.id)
        # The test split: Meta-World's held-out goals and classes; the same distribution as
        # training for the MAML paper's families, drawn from another seed.
        self.tasks: list[Any] = family.sample_tasks(
            config.evaluation.tasks, config.evaluation.seed, split="test"
        )
        self.rollout_seed = config.evaluation.seed + 1
        """Seed of the exploration noise and env resets, the same for every policy."""

    @property
    def fixed_inner(self) -> InnerLoopConfig:
        """The inner loop with a fixed step size (baselines have no learned rates)."""
        return fixed_step_inner(self.inner)

    def _sampler(self, env_id: str, episodes: int | None = None) -> MetaSampler:
        config = self.config
        if episodes is None:
            episodes = config.evaluation.episodes_per_task or config.episodes_per_task
        if env_id == config.env.id and episodes == config.episodes_per_task:
            return self.sampler
        return MetaSampler(
            env_id,
            episodes,
            config.horizon,
            config.sampler_backend,
            sim_threads=config.sampler_threads or None,
        )

    def curves(self, meta_params: Params) -> dict[str, ReturnCurve]:
        """Return after 0..adapt_steps steps of ``meta_params`` and of every baseline."""
        config, evaluation = self.config, self.config.evaluation
        tasks, seed, steps = self.tasks, self.rollout_seed, evaluation.adapt_steps
        sampler = self._sampler(config.env.id)
        final = (
            None
            if evaluation.final_episodes is None
            else self._sampler(config.env.id, evaluation.final_episodes)
        )
        learned = AdaptationEvaluator(
            sampler, self.problem, self.inner, self.returns, evaluation.later_lr, final
        )
        fixed = AdaptationEvaluator(
            sampler, self.problem, self.fixed_inner, self.returns, evaluation.later_lr, final
        )
        curves = {"meta-learned": learned.curve(meta_params, tasks, steps, seed)}
        if evaluation.random_init:
            curves["random init"] = fixed.curve(prefixed(self.initial_params), tasks, steps, seed)
        for folder in self.baseline_folders():
            baseline = load_baseline(folder)
            if baseline.family_env_id != resolve_env_id(config.env.id):
                raise ConfigError(
                    f"baseline {folder} was trained on {baseline.family_env_id}, not on "
                    f"{config.env.id}; remove it from evaluation.baselines"
                )
            policy = baseline.build_policy().to(device=self.device, dtype=config.torch_dtype)
            params = prefixed(
                {k: v.to(self.device, config.torch_dtype) for k, v in baseline.params.items()}
            )
            if baseline.kind == "oracle":
                # The oracle sees the task and is not adapted: one point, drawn as a line.
                oracle_sampler = self._sampler(baseline.env_id)
                oracle = AdaptationEvaluator(
                    oracle_sampler, self.problem, self.fixed_inner, self.returns
                )
                curves["oracle"] = oracle.curve(params, tasks, 0, seed, policy=policy)
                oracle_sampler.close()
            else:
                curves[baseline.kind] = fixed.curve(params, tasks, steps, seed, policy=policy)
        for used in (sampler, final):
            if used is not None and used is not self.sampler:
                used.close()
        return curves

    def baseline_folders(self) -> list[Path]:
        """``evaluation.baselines``, then the default folders of ``metarl baseline`` if present."""
        config = self.config
        folders = [Path(folder) for folder in config.evaluation.baselines]
        for folder in folders:
            if not (folder / POLICY_FILE).is_file():
                raise ConfigError(
                    f"evaluation.baselines: {folder} holds no {POLICY_FILE}; train one with "
                    f"metarl baseline {{pretrained,oracle}} {config.env.id}"
                )
        for kind in BASELINE_KINDS:
            default = default_baseline_dir(config.logging.run_root, kind, config.env.id)
            if (default / POLICY_FILE).is_file() and default not in folders:
                folders.append(default)
        return folders

    def report(self, curves: dict[str, ReturnCurve], iteration: int) -> Report:
        """The report of ``curves`` at ``iteration``: title, ``eval/`` scalars, the return panel."""
        config = self.config
        title = (
            f"{config.algorithm}-{config.outer.kind} on {config.env.family}, iteration "
            f"{iteration} ({config.evaluation.tasks} held-out tasks)"
        )
        return Report(title, return_scalars(curves), return_panels(curves), "policy-gradient steps")

    def record_rollouts(self, meta_params: Params, out_dir: str | Path) -> Path:
        """The first held-out task before and after ``evaluation.adapt_steps`` steps: a GIF for
        MuJoCo envs, a trajectory plot for Navigation2D (see ``record_rollouts``)."""
        config, evaluation = self.config, self.config.evaluation
        task = self.tasks[:1]
        evaluator = AdaptationEvaluator(
            self.sampler, self.problem, self.inner, self.returns, evaluation.later_lr
        )
        _, _, adapted = evaluator.adapt(
            meta_params, task, evaluation.adapt_steps, self.rollout_seed
        )
        return record_rollouts(
            self.problem.policy,
            detach(model_params(meta_params)),
            {name: value[0] for name, value in adapted.items()},
            config.env.id,
            task[0],
            config.horizon,
            out_dir,
            self.rollout_seed,
        )

    @staticmethod
    def summary(curves: dict[str, ReturnCurve]) -> str:
        """The evaluation table as text (one row per policy, one column per step)."""
        tasks = next(iter(curves.values())).num_tasks
        return f"average return on {tasks} held-out tasks (mean +- 95% CI)\n" + format_table(curves)
