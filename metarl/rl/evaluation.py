"""Held-out adaptation curves for RL: average return after 0, 1, ..., k policy-gradient steps.

The protocol of the MAML paper's adaptation figure (Finn et al., 2017, fig. 5): for each new task
(drawn from a held-out seed), roll out the initial policy, take one policy-gradient step on those
episodes, roll out the adapted policy, step again on the new episodes, and so on. Every step is
the core's :func:`~metarl.core.adaptation.inner_step` on the task's inner policy-gradient loss (the
same primitive as training), vmapped over tasks; every rollout is one batched :class:`MetaSampler`
call. Returns are undiscounted episode returns averaged over a task's episodes, reported as the
mean over tasks with a 95% confidence interval (:func:`metarl.run.report.mean_and_ci95`).

The same evaluator scores the baselines on the same tasks and seeds: a freshly initialised policy
("random init"), an SB3 policy trained on the whole distribution ("pretrained"), both adapted with
the same steps, and an SB3 policy that sees the task ("oracle", not adapted: a horizontal line).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
from torch import Tensor

from metarl.core.adaptation import InnerLoopConfig
from metarl.core.functional import MODEL_PREFIX, Params, detach, model_params
from metarl.rl.advantages import compute_advantages
from metarl.rl.baseline import LinearFeatureBaseline
from metarl.rl.episodes import Episodes
from metarl.rl.objective import PolicyGradientProblem, adapt_on_fresh_episodes
from metarl.rl.policies import Policy
from metarl.rl.sampler import MetaSampler
from metarl.run.report import CurveData, Panel, curve_scalars, mean_and_ci95


@dataclass(frozen=True)
class ReturnCurve:
    """Average return on held-out tasks after each number of policy-gradient steps.

    Attributes:
        steps: policy-gradient steps taken, 0 .. adapt_steps.
        return_mean: mean over tasks of the average episode return after each number of steps.
        return_ci95: 95% confidence half-width of ``return_mean``.
        num_tasks: held-out tasks averaged over.
        per_task: ``[task][step]`` average episode return of every task.
        success_mean: mean over tasks of the fraction of successful episodes after each number
            of steps (envs that report ``info["success"]``: Meta-World); None otherwise.
        success_ci95: 95% confidence half-width of ``success_mean``.
        per_task_success: ``[task][step]`` success rate of every task.
        per_class_success: environment class -> its tasks' mean success rate after each number
            of steps (Meta-World: one row per class of the split).
    """

    steps: list[int]
    return_mean: list[float]
    return_ci95: list[float]
    num_tasks: int
    per_task: list[list[float]]
    success_mean: list[float] | None = None
    success_ci95: list[float] | None = None
    per_task_success: list[list[float]] | None = None
    per_class_success: dict[str, list[float]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ReturnSettings:
    """How episodes are turned into an inner policy-gradient step (the training settings).

    Attributes:
        gamma: discount factor of the returns.
        gae_lambda: GAE lambda of the advantages.
        normalize_advantages: normalise advantages per task.
        baseline_reg: ridge coefficient of the linear feature baseline.
    """

    gamma: float = 0.99
    gae_lambda: float = 1.0
    normalize_advantages: bool = True
    baseline_reg: float = 1e-5

    def advantages(self, episodes: Episodes) -> Episodes:
        """Returns, a per-task linear feature baseline and GAE advantages of ``episodes``."""
        return compute_advantages(
            episodes,
            self.gamma,
            self.gae_lambda,
            LinearFeatureBaseline(self.baseline_reg),
            self.normalize_advantages,
        )


class AdaptationEvaluator:
    """Scores initial policies by their return after 0..k policy-gradient steps on given tasks.

    Args:
        sampler: rollouts of the env family (its episodes per task and horizon are used).
        problem: the inner policy-gradient loss (``support_loss``).
        inner: step sizes (``lr``, learned rates when the meta-parameters hold them).
        settings: returns, advantages and baseline as in training.
        later_lr: fixed step size of every step after the first (the MAML paper's evaluation
            halves it); None keeps ``inner``'s.
        final_sampler: the sampler of the last rollout, which is only scored (Meta-World's
            protocol: 10 adaptation episodes, then 3 evaluation episodes); None uses ``sampler``.
    """

    def __init__(
        self,
        sampler: MetaSampler,
        problem: PolicyGradientProblem,
        inner: InnerLoopConfig,
        settings: ReturnSettings,
        later_lr: float | None = None,
        final_sampler: MetaSampler | None = None,
    ) -> None:
        self.sampler = sampler
        self.problem = problem
        self.inner = inner
        self.settings = settings
        self.later_lr = later_lr
        self.final_sampler = final_sampler

    def adapt(
        self,
        meta_params: Params,
        tasks: Sequence[Any],
        adapt_steps: int,
        seed: int,
        *,
        policy: Policy | None = None,
    ) -> tuple[Tensor, Tensor | None, Params]:
        """Roll out, step, roll out, ... from ``meta_params`` on every task.

        Args:
            meta_params: ``model.``-prefixed policy parameters, plus ``inner_lr.`` rates if the
                inner step sizes are learned.
            tasks: the held-out tasks.
            adapt_steps: policy-gradient steps k.
            seed: seeds the exploration noise and the env resets; the same seed gives the same
                rollouts, so different initialisations are compared on equal terms.
            policy: the policy module the parameters belong to (default: the problem's).

        Returns:
            ``(T, k + 1)`` average episode return of every task after 0..k steps, ``(T, k + 1)``
            success rates (None for envs without a success signal), and every task's
            parameters after k steps (leading task dimension).
        """
        if adapt_steps < 0:
            raise ValueError(f"adapt_steps must be >= 0, got {adapt_steps}")
        policy = policy if policy is not None else self.problem.policy
        problem = (
            self.problem
            if policy is self.problem.policy
            else PolicyGradientProblem(policy, self.problem.inner_loss)
        )
        frozen = detach(meta_params)
        theta = model_params(frozen)
        first = next(iter(theta.values()))
        generator = torch.Generator(device=first.device).manual_seed(seed)
        count = len(tasks)
        params = {name: value.expand(count, *value.shape).clone() for name, value in theta.items()}

        def sample(step: int, params: Params) -> Episodes:
            env_seed = seed + step * self.sampler.episodes_per_task * count
            last = step == adapt_steps
            sampler = self.final_sampler if last and self.final_sampler else self.sampler
            episodes = sampler.sample(policy, params, tasks, generator, env_seed, True)
            if last:  # the last rollout is only scored
                return episodes
            return self.settings.advantages(episodes)

        def inner_at(step: int) -> InnerLoopConfig:
            if step > 0 and self.later_lr is not None and self.inner.lr_mode == "fixed":
                return replace(self.inner, lr=self.later_lr)
            return self.inner

        rollouts, params = adapt_on_fresh_episodes(
            problem, params, frozen, inner_at, adapt_steps, sample
        )
        returns = [episodes.episode_returns().mean(dim=1) for episodes in rollouts]  # (T,) each
        rates = [episodes.success_rates() for episodes in rollouts]
        known = [rate for rate in rates if rate is not None]
        success = torch.stack(known, dim=1) if len(known) == len(rates) else None
        return torch.stack(returns, dim=1), success, params

    def curve(
        self,
        meta_params: Params,
        tasks: Sequence[Any],
        adapt_steps: int,
        seed: int,
        *,
        policy: Policy | None = None,
    ) -> ReturnCurve:
        """Mean and 95% CI over tasks of the return after 0..k steps (see :meth:`adapt`)."""
        returns, success, _ = self.adapt(meta_params, tasks, adapt_steps, seed, policy=policy)
        per_task = returns.double()  # (T, k + 1)
        mean, ci = mean_and_ci95(per_task)
        curve = ReturnCurve(
            steps=list(range(adapt_steps + 1)),
            return_mean=mean.tolist(),
            return_ci95=ci.tolist(),
            num_tasks=len(tasks),
            per_task=per_task.tolist(),
        )
        if success is None:
            return curve
        rates = success.double()
        success_mean, success_ci = mean_and_ci95(rates)
        return replace(
            curve,
            success_mean=success_mean.tolist(),
            success_ci95=success_ci.tolist(),
            per_task_success=rates.tolist(),
            per_class_success=per_class_means(tasks, rates),
        )


def per_class_means(tasks: Sequence[Any], values: Tensor) -> dict[str, list[float]] | None:
    """Mean of ``values`` (``(T, S)``) over the tasks of each environment class, for tasks that
    name one (``env_name``: Meta-World); None otherwise."""
    names = [getattr(task, "env_name", None) for task in tasks]
    if any(name is None for name in names):
        return None
    out: dict[str, list[float]] = {}
    for name in dict.fromkeys(names):
        rows = [i for i, other in enumerate(names) if other == name]
        out[str(name)] = values[rows].mean(dim=0).tolist()
    return out


def fixed_step_inner(inner: InnerLoopConfig) -> InnerLoopConfig:
    """The inner loop with a fixed step size, for initialisations without learned rates."""
    return replace(inner, lr_mode="fixed")


def prefixed(params: Params) -> Params:
    """Policy parameters as meta-parameters (``model.`` keys)."""
    return {MODEL_PREFIX + name: value for name, value in params.items()}


def return_panels(curves: dict[str, ReturnCurve]) -> list[Panel]:
    """The report's one panel, return against steps; a one-point curve (the oracle, never
    adapted) is drawn as a horizontal line across the others' steps."""
    longest = max((c.steps for c in curves.values()), key=len)
    drawn: dict[str, CurveData] = {}
    for label, curve in curves.items():
        if len(curve.steps) == 1 and len(longest) > 1:
            width = len(longest)
            drawn[label] = (longest, curve.return_mean * width, curve.return_ci95 * width)
        else:
            drawn[label] = (curve.steps, curve.return_mean, curve.return_ci95)
    panels: list[Panel] = [("average return", drawn)]
    success: dict[str, CurveData] = {
        label: (curve.steps, curve.success_mean, curve.success_ci95 or [])
        for label, curve in curves.items()
        if curve.success_mean is not None and len(curve.steps) > 1
    }
    if success:
        panels.append(("success rate", success))
    return panels


def return_scalars(curves: dict[str, ReturnCurve]) -> dict[str, float]:
    """``eval/<policy>/pre_adapt_return`` and ``eval/<policy>/post_adapt_return_k{s}``."""
    scalars: dict[str, float] = {}
    for label, curve in curves.items():
        key = label.replace(" ", "_").replace("-", "_")
        scalars |= curve_scalars(
            f"eval/{key}/pre_adapt_return",
            f"eval/{key}/post_adapt_return_k{{step}}",
            curve.steps,
            curve.return_mean,
        )
        if curve.success_mean is not None:
            scalars |= curve_scalars(
                f"eval/{key}/pre_adapt_success",
                f"eval/{key}/post_adapt_success_k{{step}}",
                curve.steps,
                curve.success_mean,
            )
    return scalars


def format_table(curves: dict[str, ReturnCurve]) -> str:
    """A plain-text table: one row per curve, one column per number of steps."""
    width = max(len(c.steps) for c in curves.values())
    label_width = max(len(label) for label in curves)
    header = f"{'':<{label_width}}  " + "  ".join(f"{f'step {s}':>18}" for s in range(width))
    rows = [header]
    for label, curve in curves.items():
        cells = [
            f"{m:>9.2f} +- {c:<5.2f}"
            for m, c in zip(curve.return_mean, curve.return_ci95, strict=True)
        ]
        rows.append(f"{label:<{label_width}}  " + "  ".join(f"{cell:>18}" for cell in cells))
    with_success = {k: c for k, c in curves.items() if c.success_mean and c.success_ci95}
    if with_success:
        rows.append("success rate (mean +- 95% CI over tasks)")
        for label, curve in with_success.items():
            cells = [
                f"{m:>8.1%} +- {c:<6.1%}"
                for m, c in zip(curve.success_mean or [], curve.success_ci95 or [], strict=True)
            ]
            rows.append(f"{label:<{label_width}}  " + "  ".join(f"{cell:>18}" for cell in cells))
    for label, curve in with_success.items():
        classes = curve.per_class_success or {}
        if len(classes) > 1:
            rows.append(f"{label}: success rate by class")
            name_width = max(map(len, classes))
            for name, rates in classes.items():
                line = "  ".join(f"{rate:>18.1%}" for rate in rates)
                rows.append(f"  {name:<{max(name_width, label_width - 2)}}  {line}")
    return "\n".join(rows)
