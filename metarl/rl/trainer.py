"""The RL meta-training loop (MAML-TRPO and its variants), one meta-iteration top to bottom::

    tasks   = family.sample_tasks(meta_batch_size, rng(seed, iteration))   # task distribution
    support = sampler.sample(policy, theta, tasks)                         # before adaptation
    support = compute_advantages(support, baseline fitted per task)
    (k > 1 inner steps: step, sample again with the policy after each step, for each step)
    adapted = algorithm.adapted_params(theta, problem, support)            # inner PG step(s)
    query   = sampler.sample(policy, adapted, tasks, per_task_params=True) # after adaptation
    query   = compute_advantages(query, ...)
    stats   = rl_outer_step(trpo | ppo | adam | sgd)                       # meta-update
    log, checkpoint, evaluate

Every random number of iteration n comes from ``np.random.SeedSequence([config.seed, n])``: the
tasks, the exploration noise and the env seeds. The policy initialisation comes from
``config.seed``, so a run resumed from a checkpoint (parameters, optimizer state, iteration)
continues exactly as the uninterrupted run would have. Time is split into sampling (both rollouts
and their advantages), adaptation and the outer step, and logged with env steps per second.

With ``inner.steps`` k > 1, inner step j descends on episodes sampled with the policy after j
steps (pytorch-maml-rl, ProMP, and the MAML paper's evaluation); the outer step differentiates
the adaptation through all k steps' losses, whose LVC/DiCE ratios carry the dependence of each
step's sampling policy on theta. iMAML's inner problem is one fixed objective, so it solves it on
the pre-adaptation episodes alone.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from metarl.core.adaptation import MetaLearner
from metarl.core.algorithms import make_algorithm
from metarl.core.functional import detach, model_params
from metarl.core.problem import TaskBatch
from metarl.rl.advantages import compute_advantages
from metarl.rl.baseline import LinearFeatureBaseline
from metarl.rl.config import RLConfig
from metarl.rl.episodes import Episodes
from metarl.rl.evaluation import ReturnCurve, ReturnSettings
from metarl.rl.held_out import HeldOutEvaluation
from metarl.rl.iteration_log import IterationResult, log_iteration, return_vs_task_figure
from metarl.rl.objective import PolicyGradientProblem, make_task_batch, step_on_episodes
from metarl.rl.outer_step import make_rl_optimizer, rl_outer_step
from metarl.rl.policies import Policy, make_policy
from metarl.rl.rollout_video import check_offscreen_rendering
from metarl.rl.sampler import MetaSampler
from metarl.run.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from metarl.run.config import ConfigError, config_to_dict, save_config
from metarl.run.distributed import DistributedContext, ShardedAlgorithm
from metarl.run.logger import RunLogger
from metarl.supervised.trainer import CHECKPOINT_NAME, CONFIG_NAME, EVALUATION_STEM, NonFiniteError


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


class RLTrainer:
    """Meta-trains a policy on ``config.env`` and writes everything to ``run_dir``.

    The constructor builds every object (policy, sampler, algorithm, optimizer), so a bad env or
    setting fails before any file is written; :meth:`train` creates ``run_dir`` with the resolved
    ``config.yaml``, TensorBoard events, ``checkpoint.pt`` and the ``evaluation.json``/``.png``
    adaptation report.
    """

    def __init__(
        self,
        config: RLConfig,
        run_dir: str | Path,
        context: DistributedContext | None = None,
    ) -> None:
        import envs  # registers the metarl/ ids

        self.config = config
        self.run_dir = Path(run_dir)
        self.context = context or DistributedContext(device=torch.device(config.device))
        self.device = self.context.device
        if config.threads:
            # Process-wide: the run owns the process's CPU kernels from here on.
            torch.set_num_threads(config.threads)
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
        if self.context.is_distributed:
            # meta_step (TRPO's gradient, PPO's epochs, Adam/SGD) averages over all ranks' tasks.
            self.algorithm = ShardedAlgorithm(self.algorithm, self.context)
        self.policy = build_policy(config)
        # The algorithm's inner config, not config.inner: Meta-SGD switches on learned step sizes.
        self.learner = MetaLearner(self.policy, self.algorithm.inner)
        self.problem = PolicyGradientProblem(self.policy, config.inner_loss)
        self.optimizer = make_rl_optimizer(config, list(self.learner.parameters()))
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
        self.iteration = 0
        """Meta-iterations completed so far (the TensorBoard step of the latest one)."""

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / CHECKPOINT_NAME

    # ---------------------------------------------------------------------------------------
    # One meta-iteration
    # ---------------------------------------------------------------------------------------

    @property
    def sampled_steps(self) -> int:
        """Inner steps that get their own episodes: all k, except for iMAML (only the first)."""
        return 1 if self.config.algorithm == "imaml" else max(self.config.inner.steps, 1)

    def iteration_seeds(self, iteration: int) -> np.ndarray:
        """Independent seeds of meta-iteration ``iteration``: tasks, exploration noise, pre- and
        post-adaptation env resets, then the env resets of inner steps 1 .. k-1."""
        count = 4 + self.sampled_steps - 1
        return np.random.SeedSequence([self.config.seed, iteration]).generate_state(count)

    def advantages(self, episodes: Episodes) -> Episodes:
        """Returns, per-task linear baseline and GAE advantages, as configured."""
        settings = self.returns
        return compute_advantages(
            episodes,
            settings.gamma,
            settings.gae_lambda,
            LinearFeatureBaseline(settings.baseline_reg),
            settings.normalize_advantages,
        )

    def collect(
        self, iteration: int
    ) -> tuple[list[Any], list[Episodes], Episodes, dict[str, float]]:
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
        start = time.perf_counter()
        theta = detach(model_params(meta_params))
        support = self.sampler.sample(self.policy, theta, tasks, generator, pre_seed, shard=shard)
        supports = [self.advantages(support)]
        count = support.num_tasks
        params = {name: value.expand(count, *value.shape) for name, value in theta.items()}
        for step, env_seed in enumerate(seeds[4:]):
            sampled = time.perf_counter()
            seconds["sampling"] += sampled - start
            params = step_on_episodes(
                self.problem, params, supports[-1], meta_params, self.algorithm.inner, step
            )
            self._synchronize()
            start = time.perf_counter()
            seconds["adaptation"] += start - sampled
            support = self.sampler.sample(
                self.policy, params, tasks, generator, env_seed, per_task_params=True, shard=shard
            )
            supports.append(self.advantages(support))
        sampled = time.perf_counter()
        seconds["sampling"] += sampled - start
        with torch.no_grad():
            adapted = self.algorithm.adapted_params(
                meta_params, self.problem, make_task_batch(supports)
            )
        adapted = detach(adapted)
        self._synchronize()
        adapted_at = time.perf_counter()
        seconds["adaptation"] += adapted_at - sampled
        query = self.sampler.sample(
            self.policy, adapted, tasks, generator, post_seed, per_task_params=True, shard=shard
        )
        query = self.advantages(query)
        seconds["sampling"] += time.perf_counter() - adapted_at
        return tasks, supports, query, seconds

    def outer_step(self, batch: TaskBatch) -> dict[str, Tensor]:
        """The configured meta-update of the learner's parameters; its statistics by name."""
        return rl_outer_step(
            self.config,
            self.algorithm,
            self.learner.meta_params(),
            self.problem,
            batch,
            self.optimizer,
            self.context,
        )

    def train_iteration(self) -> IterationResult:
        """Sample, adapt and update once, advancing ``iteration``.

        Raises:
            NonFiniteError: NaN/inf in the rewards, advantages, losses or gradients; nothing of
                the iteration is applied and ``iteration`` is unchanged.
        """
        try:
            tasks, supports, query, seconds = self.collect(self.iteration)
            start = time.perf_counter()
            outer = self.outer_step(make_task_batch(supports, query))
            self._synchronize()
            seconds["outer"] = time.perf_counter() - start
        except FloatingPointError as error:
            raise NonFiniteError(
                f"{error} (meta-iteration {self.iteration + 1}; its update was not applied). "
                f"Resume from the last checkpoint ({self.checkpoint_path}) with a smaller step, "
                "or start a new run"
            ) from None
        # (T,) over the whole meta-batch: every rank's share, in task order.
        support = supports[0]
        returns_pre = self.context.gather(support.episode_returns().mean(dim=1))
        returns_post = self.context.gather(query.episode_returns().mean(dim=1))
        metrics = {
            "train/return_pre": returns_pre.mean(),
            "train/return_post": returns_post.mean(),
            "train/return_improvement": (returns_post - returns_pre).mean(),
            "train/episode_length_pre": support.lengths().mean(),
            "train/episode_length_post": query.lengths().mean(),
            **{
                f"train/return_step{step}": episodes.episode_returns().mean()
                for step, episodes in enumerate(supports[1:], start=1)
            },
            **outer,
        }
        names = list(metrics)
        local_count = self.context.share_size(self.config.meta_batch_size)
        metrics = dict(
            zip(
                names, self.context.task_mean([metrics[n] for n in names], local_count), strict=True
            )
        )
        (metrics["perf/env_steps"],) = self.context.task_sum(
            [sum(episodes.mask.sum() for episodes in supports) + query.mask.sum()]
        )
        log_std = dict(self.policy.named_parameters()).get("log_std")
        if log_std is not None:
            metrics["policy/std_mean"] = log_std.detach().exp().mean()
        self.iteration += 1
        return IterationResult(metrics, seconds, tasks, returns_pre, returns_post)

    def _synchronize(self) -> None:
        # Timings of asynchronous CUDA work need the queue drained; free on the CPU.
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    # ---------------------------------------------------------------------------------------
    # The loop
    # ---------------------------------------------------------------------------------------

    def train(self) -> dict[str, ReturnCurve]:
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
        logger = RunLogger(self.run_dir, enabled=main, purge_step=start + 1 if start > 0 else None)
        progress = tqdm(
            total=config.iterations,
            initial=start,
            desc=config.name,
            unit="it",
            disable=not (logging.progress and main),
            dynamic_ncols=True,
        )
        try:
            while self.iteration < config.iterations:
                result = self.train_iteration()
                progress.update(1)
                if self.iteration % logging.log_every == 0:
                    scalars = log_iteration(result, logger, self.iteration)
                    progress.set_postfix(
                        pre=f"{scalars['train/return_pre']:.4g}",
                        post=f"{scalars['train/return_post']:.4g}",
                    )
                checkpoint = (
                    self.iteration % logging.checkpoint_every == 0
                    or self.iteration == config.iterations
                )
                if checkpoint and main:
                    self.save_checkpoint()
                    figure = return_vs_task_figure(result)
                    logger.log_figure(self.iteration, "tasks/return_vs_task", figure)
                every = config.evaluation.every
                evaluate_now = every > 0 and self.iteration % every == 0
                if main and evaluate_now and self.iteration < config.iterations:
                    self.write_evaluation(self.evaluate(), self.run_dir, logger)
            if not main:
                return {}
            curves = self.evaluate()
            self.write_evaluation(curves, self.run_dir, logger)
            if config.evaluation.video:
                self.record_rollouts(self.run_dir)
        finally:
            progress.close()
            logger.close()
        return curves

    # ---------------------------------------------------------------------------------------
    # Evaluation on held-out tasks
    # ---------------------------------------------------------------------------------------

    def evaluate(self) -> dict[str, ReturnCurve]:
        """The held-out adaptation curves of the current meta-parameters and the baselines."""
        return self.held_out.curves(self.learner.meta_params())

    def write_evaluation(
        self,
        curves: dict[str, ReturnCurve],
        out_dir: str | Path,
        logger: RunLogger | None = None,
    ) -> tuple[Path, Path]:
        """Write ``evaluation.json`` / ``.png`` and, given a logger, ``eval/`` scalars."""
        return self.held_out.write(curves, out_dir, EVALUATION_STEM, self.iteration, logger)

    def evaluate_to(self, out_dir: str | Path) -> dict[str, ReturnCurve]:
        """Evaluate the current parameters into ``out_dir``: JSON, PNG, TensorBoard ``eval/``
        scalars at the checkpoint's iteration, and the before/after rollout if configured."""
        curves = self.evaluate()
        with RunLogger(out_dir) as logger:
            self.write_evaluation(curves, out_dir, logger)
        if self.config.evaluation.video:
            self.record_rollouts(out_dir)
        return curves

    def record_rollouts(self, out_dir: str | Path) -> Path:
        """The first held-out task before and after adaptation (GIF or trajectory plot)."""
        return self.held_out.record_rollouts(self.learner.meta_params(), out_dir)

    def summary(self, curves: dict[str, ReturnCurve]) -> str:
        """The evaluation table as text (one row per policy, one column per step)."""
        return self.held_out.summary(curves)

    # ---------------------------------------------------------------------------------------
    # Checkpoints
    # ---------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        state = {
            "iteration": self.iteration,
            "learner": self.learner.state_dict(),
            "config": config_to_dict(self.config),
        }
        if self.optimizer is not None:
            state["optimizer"] = self.optimizer.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        required = {"iteration", "learner"} | ({"optimizer"} if self.optimizer else set())
        missing = required - set(state)
        if missing:
            raise CheckpointError(
                f"the checkpoint lacks {sorted(missing)}; it was not written by RLTrainer with "
                f"outer: {self.config.outer}"
            )
        try:
            self.learner.load_state_dict(state["learner"])
            if self.optimizer is not None:
                self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as error:
            raise CheckpointError(
                f"the checkpoint does not fit this config's policy or optimizer ({error}); "
                "resume with the config the run was started with"
            ) from None
        self.iteration = int(state["iteration"])

    def save_checkpoint(self) -> None:
        save_checkpoint(self.checkpoint_path, self.state_dict())

    def restore(self, path: str | Path | None = None) -> None:
        """Load the checkpoint at ``path`` (default: this run's latest) into the trainer."""
        self.load_state_dict(load_checkpoint(path or self.checkpoint_path))
