"""Meta-RL (MAML-TRPO and its variants) as an :class:`~metarl.run.trainer.Experiment`.

One meta-iteration's meta-batch, top to bottom::

    tasks   = family.sample_tasks(meta_batch_size, rng(seed, iteration))   # task distribution
    support = sampler.sample(policy, theta, tasks)                         # before adaptation
    support = compute_advantages(support, baseline fitted per task)
    (k > 1 inner steps: step, sample again with the policy after each step, for each step)
    adapted = algorithm.adapted_params(theta, problem, support)            # inner PG step(s)
    query   = sampler.sample(policy, adapted, tasks, per_task_params=True) # after adaptation
    query   = compute_advantages(query, ...)

after which the shared loop takes the outer step (``outer.kind``: trpo, ppo, adam, sgd) on
``make_task_batch(supports, query)``. Every random number of iteration n comes from
``np.random.SeedSequence([config.seed, n])``: the tasks, the exploration noise and the env seeds.
The policy initialisation comes from ``config.seed``, so a run resumed from a checkpoint
(parameters, optimizer state, iteration) continues exactly as the uninterrupted run would have.

With ``inner.steps`` k > 1, inner step j descends on episodes sampled with the policy after j
steps (pytorch-maml-rl, ProMP, and the MAML paper's evaluation); the outer step differentiates
the adaptation through all k steps' losses, whose LVC/DiCE ratios carry the dependence of each
step's sampling policy on theta. An algorithm whose inner problem is one fixed objective
(iMAML: ``MetaAlgorithm.resamples_between_steps`` is false) solves it on the pre-adaptation
episodes alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import torch
from torch import Tensor

from metarl.core.adaptation import MetaLearner
from metarl.core.algorithms import make_algorithm
from metarl.core.functional import detach, model_params
from metarl.errors import ConfigError
from metarl.rl.config import RLConfig
from metarl.rl.episodes import Episodes
from metarl.rl.evaluation import ReturnCurve, ReturnSettings
from metarl.rl.held_out import HeldOutEvaluation
from metarl.rl.iteration_log import return_vs_task_figure
from metarl.rl.objective import PolicyGradientProblem, adapt_on_fresh_episodes, make_task_batch
from metarl.rl.policies import Policy, make_policy
from metarl.rl.rollout_video import check_offscreen_rendering
from metarl.rl.sampler import MetaSampler
from metarl.run.distributed import DistributedContext
from metarl.run.logger import RunLogger
from metarl.run.report import Report
from metarl.run.trainer import IterationResult, MetaBatch, Phase


def build_policy(config: RLConfig) -> Policy:
    """The policy of ``config`` for its env, initialised from ``config.seed``, on the config's
    device and dtype."""
    env = gymnasium.make(config.env.id)
    try:
        policy = make_policy(
            env.observation_space,
            env.action_space,
            config.policy.hidden,
            config.policy.activation,
            config.policy.init_std,
            generator=torch.Generator().manual_seed(config.seed),
        )
    finally:
        env.close()
    return policy.to(device=torch.device(config.device), dtype=config.torch_dtype)


@dataclass
class SampledTasks:
    """What an RL meta-batch holds besides the outer step's task data.

    Attributes:
        tasks: the meta-batch's tasks (every rank's, in order).
        supports: the support episodes of each inner step (this rank's share, with advantages).
        query: the post-adaptation episodes (this rank's share, with advantages).
        returns_pre: ``(T,)`` average episode return of each task before adaptation (all ranks).
        returns_post: ``(T,)`` after adaptation.
        success_pre: ``(T,)`` fraction of successful episodes of each task before adaptation
            (all ranks), for envs that report success (Meta-World); None otherwise.
        success_post: ``(T,)`` after adaptation, or None.
    """

    tasks: list[Any]
    supports: list[Episodes]
    query: Episodes
    returns_pre: Tensor
    returns_post: Tensor
    success_pre: Tensor | None = None
    success_post: Tensor | None = None


class RLExperiment:
    """Meta-trains a policy on ``config.env``'s task distribution."""

    def __init__(self, config: RLConfig, context: DistributedContext) -> None:
        import envs  # registers the metarl/ ids

        self.config = config
        self.context = context
        self.device = context.device
        self.family = envs.task_family(config.env.id)
        if config.evaluation.video:
            try:
                check_offscreen_rendering(config.env.id)
            except RuntimeError as error:
                raise ConfigError(f"evaluation.video: {error}, or leave the video off") from None
        self.sampler = MetaSampler(
            config.env.id,
            config.episodes_per_task,
            config.horizon,
            config.sampler_backend,
            sim_threads=config.sampler_threads or None,
        )
        self.algorithm = make_algorithm(config.algorithm, config.inner, config.imaml, config.hfmaml)
        self.policy = build_policy(config)
        # The algorithm's inner config, not config.inner: Meta-SGD switches on learned step sizes.
        self.learner = MetaLearner(self.policy, self.algorithm.inner)
        self.problem = PolicyGradientProblem(self.policy, config.inner_loss)
        self.returns = ReturnSettings(
            config.gamma, config.gae_lambda, config.normalize_advantages, config.baseline_reg
        )
        self.held_out = HeldOutEvaluation(
            config,
            self.sampler,
            self.problem,
            self.algorithm.inner,
            self.returns,
            dict(self.policy.named_parameters()),
            self.device,
        )

    # ---------------------------------------------------------------------------------------
    # One meta-batch
    # ---------------------------------------------------------------------------------------

    @property
    def sampled_steps(self) -> int:
        """Inner steps that get their own episodes: all k, or only the first for an algorithm
        whose inner problem is one fixed objective (iMAML)."""
        if not self.algorithm.resamples_between_steps:
            return 1
        return max(self.config.inner.steps, 1)

    def iteration_seeds(self, iteration: int) -> np.ndarray:
        """Independent seeds of meta-iteration ``iteration``: tasks, exploration noise, pre- and
        post-adaptation env resets, then the env resets of inner steps 1 .. k-1."""
        count = 4 + self.sampled_steps - 1
        return np.random.SeedSequence([self.config.seed, iteration]).generate_state(count)

    def draw(self, iteration: int, phase: Phase) -> MetaBatch:
        """Tasks, the support episodes of each inner step, the post-adaptation episodes (all
        with advantages), and phase timings."""
        config = self.config
        seeds = [int(s) for s in self.iteration_seeds(iteration)]
        task_seed, noise_seed, pre_seed, post_seed = seeds[:4]
        # Every rank draws the whole meta-batch and samples its own share of it.
        tasks = self.family.sample_tasks(config.meta_batch_size, np.random.default_rng(task_seed))
        shard = self.context.shard(config.meta_batch_size)
        generator = torch.Generator(device=self.device).manual_seed(noise_seed)
        meta_params = self.learner.meta_params()

        seconds = {"sampling": 0.0, "adaptation": 0.0}
        theta = detach(model_params(meta_params))
        step_seeds = [pre_seed, *seeds[4:]]

        def sample(step: int, params: dict[str, Tensor]) -> Episodes:
            phase("sampling pre-adaptation" if step == 0 else f"sampling after step {step}")
            start = time.perf_counter()
            episodes = self.sampler.sample(
                self.policy,
                params if step > 0 else theta,  # before the first step all tasks share theta
                tasks,
                generator,
                step_seeds[step],
                per_task_params=step > 0,
                shard=shard,
            )
            episodes = self.returns.advantages(episodes)
            seconds["sampling"] += time.perf_counter() - start
            if step + 1 < len(step_seeds):
                phase(f"adaptation step {step + 1}")
            return episodes

        start = time.perf_counter()
        count = len(range(config.meta_batch_size)[shard])
        supports, _ = adapt_on_fresh_episodes(
            self.problem,
            {name: value.expand(count, *value.shape) for name, value in theta.items()},
            meta_params,
            lambda step: self.algorithm.inner,
            len(step_seeds) - 1,
            sample,
        )
        self._synchronize()
        seconds["adaptation"] += time.perf_counter() - start - seconds["sampling"]
        sampled = time.perf_counter()
        phase("adaptation")
        with torch.no_grad():
            adapted = self.algorithm.adapted_params(
                meta_params, self.problem, make_task_batch(supports)
            )
        adapted = detach(adapted)
        self._synchronize()
        adapted_at = time.perf_counter()
        seconds["adaptation"] += adapted_at - sampled
        phase("sampling post-adaptation")
        query = self.sampler.sample(
            self.policy, adapted, tasks, generator, post_seed, per_task_params=True, shard=shard
        )
        query = self.returns.advantages(query)
        seconds["sampling"] += time.perf_counter() - adapted_at
        # (T,) over the whole meta-batch: every rank's share, in task order.
        returns_pre = self.context.gather(supports[0].episode_returns().mean(dim=1))
        returns_post = self.context.gather(query.episode_returns().mean(dim=1))
        success_pre, success_post = supports[0].success_rates(), query.success_rates()
        details = SampledTasks(
            tasks,
            supports,
            query,
            returns_pre,
            returns_post,
            None if success_pre is None else self.context.gather(success_pre),
            None if success_post is None else self.context.gather(success_post),
        )
        return MetaBatch(make_task_batch(supports, query), seconds, details)

    def _synchronize(self) -> None:
        # Timings of asynchronous CUDA work need the queue drained; free on the CPU.
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    # ---------------------------------------------------------------------------------------
    # What an iteration logs
    # ---------------------------------------------------------------------------------------

    def metrics(self, result: IterationResult) -> dict[str, Tensor]:
        """``train/`` returns before and after each adaptation step, episode lengths and, for envs
        that report it, the success rates (task means over every rank), ``perf/env_steps_per_s``
        and ``policy/std_mean``."""
        sampled: SampledTasks = result.batch.details
        support, query = sampled.supports[0], sampled.query
        returns_pre, returns_post = sampled.returns_pre, sampled.returns_post
        metrics = {
            "train/return_pre": returns_pre.mean(),
            "train/return_post": returns_post.mean(),
            "train/return_improvement": (returns_post - returns_pre).mean(),
            "train/episode_length_pre": support.lengths().mean(),
            "train/episode_length_post": query.lengths().mean(),
            **{
                f"train/return_step{step}": episodes.episode_returns().mean()
                for step, episodes in enumerate(sampled.supports[1:], start=1)
            },
        }
        if sampled.success_pre is not None and sampled.success_post is not None:
            # Gathered already: the whole meta-batch's mean, the same on every rank.
            success = {
                "train/success_pre": sampled.success_pre.mean(),
                "train/success_post": sampled.success_post.mean(),
            }
        else:
            success = {}
        names = list(metrics)
        local_count = self.context.share_size(self.config.meta_batch_size)
        reduced = self.context.task_mean([metrics[n] for n in names], local_count)
        metrics = dict(zip(names, reduced, strict=True)) | success
        (env_steps,) = self.context.task_sum(
            [sum(episodes.mask.sum() for episodes in sampled.supports) + query.mask.sum()]
        )
        metrics["perf/env_steps_per_s"] = env_steps / max(result.seconds["sampling"], 1e-9)
        log_std = dict(self.policy.named_parameters()).get("log_std")
        if log_std is not None:
            metrics["policy/std_mean"] = log_std.detach().exp().mean()
        return metrics

    def log_extras(
        self, logger: RunLogger, step: int, result: IterationResult, checkpointed: bool
    ) -> None:
        """Per-task return histograms; at checkpoints, return against the task parameter."""
        sampled: SampledTasks = result.batch.details
        logger.log_histogram(step, "tasks/return_post", sampled.returns_post)
        logger.log_histogram(step, "tasks/return_pre", sampled.returns_pre)
        if checkpointed:
            figure = return_vs_task_figure(sampled.tasks, sampled.returns_pre, sampled.returns_post)
            logger.log_figure(step, "tasks/return_vs_task", figure)

    def postfix(self, scalars: dict[str, float]) -> dict[str, str]:
        shown = {
            "pre": f"{scalars['train/return_pre']:.4g}",
            "post": f"{scalars['train/return_post']:.4g}",
        }
        if "train/success_post" in scalars:
            shown["success"] = (
                f"{scalars['train/success_pre']:.0%}->{scalars['train/success_post']:.0%}"
            )
        return shown

    # ---------------------------------------------------------------------------------------
    # Evaluation on held-out tasks
    # ---------------------------------------------------------------------------------------

    def evaluate(self) -> dict[str, ReturnCurve]:
        """The held-out adaptation curves of the current meta-parameters and the baselines."""
        return self.held_out.curves(self.learner.meta_params())

    def report(self, curves: dict[str, ReturnCurve], iteration: int) -> Report:
        """Return against steps for every policy; ``eval/<policy>/..._return`` scalars."""
        return self.held_out.report(curves, iteration)

    def finish(self, out_dir: Path) -> None:
        """The first held-out task before and after adaptation, if ``evaluation.video``."""
        if self.config.evaluation.video:
            self.held_out.record_rollouts(self.learner.meta_params(), out_dir)

    def summary(self, curves: dict[str, ReturnCurve]) -> str:
        """The evaluation table as text (one row per policy, one column per step)."""
        return self.held_out.summary(curves)

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None
