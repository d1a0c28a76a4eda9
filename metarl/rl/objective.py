"""Policy-gradient losses of one task, as the core :class:`~metarl.core.problem.MetaProblem`.

The RL task (seed 003) minimises L(theta) = -E_{tau ~ pi_theta}[sum_t r_t]. Its data are a task's
*support* episodes (sampled with the pre-adaptation policy pi_0, used by the inner loop; with k
inner steps, step j has its own, sampled with the policy after j steps) and
*query* episodes (sampled with the adapted policy, used by the outer step), each with per-step
advantages A_t and the sampling policy's log-probabilities log pi_0(a_t | s_t). Every loss is a
mean over the task's real (unmasked) steps, the convention of the MAML (rllab) and ProMP code: for
episodes that all run to the horizon H it estimates -J / H, and the inner step size means what it
means there.

Inner (support) losses; r_t(theta) = pi_theta(a_t | s_t) / pi_0(a_t | s_t) with pi_0 stored:

* ``reinforce`` (MAML, pytorch-maml-rl):  L = -mean_t log pi_theta(a_t | s_t) A_t.
  Its gradient is the policy gradient, but its Hessian, -mean A_t grad^2 log pi, leaves out the
  term that comes from the sampling distribution depending on theta, so second-order MAML
  differentiates a biased curvature.
* ``lvc`` (ProMP's low-variance curvature estimator, Rothfuss et al. 2019, eq. 7):
  L = -mean_t r_t(theta) A_t. At theta = theta_0 its value is -mean A, its gradient equals
  REINFORCE's and its Hessian is -mean A_t (grad^2 log pi_t + grad log pi_t grad log pi_t^T):
  the sampling-distribution term of each step, without the cross terms between different steps
  (biased, but with far lower variance than the unbiased estimator). Away from theta_0 it is the
  importance-weighted surrogate, so an inner step re-run at another theta (TRPO line search, PPO
  epochs, a second inner step) is still a policy-gradient step on the same samples.
* ``dice`` (DiCE, Foerster et al. 2018, with a baseline as in Mao et al. 2019):
  L = -mean_t exp(W_t(theta)) d_t,  W_t = sum_{t'<=t} log r_{t'}(theta),  d_t = A_t - A_{t+1}.
  Since sum_{t>=t'} d_t = A_{t'}, its gradient at theta_0 equals REINFORCE's on the same A; with
  gamma = 1, lambda = 1 and unnormalised advantages A_t = R_t - b(s_t), d_t = r_t + b(s_{t+1}) -
  b(s_t) and every derivative is unbiased (the baseline terms vanish in expectation at all
  orders). Unbiased, but the products of ratios over whole trajectories make it high-variance.

The default is ``lvc``: ProMP found its curvature estimate the best trade-off (DiCE's unbiased
Hessian is too noisy at practical batch sizes, REINFORCE's misses the sampling term entirely);
it changes nothing at first order (FOMAML, Reptile and the inner step's value are those of
REINFORCE) and its importance weight keeps re-adaptation at other parameters correct.

Outer (query) losses, with the stored post-adaptation sampling policy pi_old:
TRPO surrogate -mean_t r_t(phi) A_t (Schulman et al. 2015), PPO's clipped surrogate
-mean_t min(r_t A_t, clip(r_t, 1 - eps, 1 + eps) A_t), and the trust-region measure
mean_t KL(pi_old(. | s_t) || pi_phi(. | s_t)).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import torch
from torch import Tensor
from torch.func import vmap

from metarl.core.adaptation import InnerLoopConfig, adapt, inner_step
from metarl.core.functional import Params, detach
from metarl.core.problem import TaskBatch, TaskData
from metarl.rl.episodes import Episodes
from metarl.rl.policies import Policy, kl

InnerLoss = Literal["lvc", "dice", "reinforce"]
INNER_LOSSES: tuple[str, ...] = ("lvc", "dice", "reinforce")


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values`` over the entries where ``mask`` is 1; padded entries are never read,
    so a non-finite value there (e.g. exp of a large log-ratio) cannot leak in."""
    return torch.where(mask > 0, values, 0.0).sum() / mask.sum().clamp(min=1.0)


def support_prefix(step: int) -> str:
    """Task-data key prefix of the episodes inner step ``step`` descends on."""
    return "support_" if step == 0 else f"support_step{step}_"


def make_task_batch(
    support: Episodes | Sequence[Episodes], query: Episodes | None = None
) -> TaskBatch:
    """The meta-batch of :class:`PolicyGradientProblem`: ``support_*`` and ``query_*`` keys.

    ``support`` is the pre-adaptation episodes, or one set per inner step: the pre-adaptation
    episodes, then those sampled after each inner step (keys ``support_step<j>_*``). Every set
    needs advantages (:func:`metarl.rl.advantages.compute_advantages`). Without ``query`` the
    batch serves adaptation only (``support_loss``).
    """
    supports = [support] if isinstance(support, Episodes) else list(support)
    tasks: TaskBatch = {}
    for step, episodes in enumerate(supports):
        if episodes.num_tasks != supports[0].num_tasks:
            raise ValueError(
                f"support episodes of step {step} have {episodes.num_tasks} tasks but those of "
                f"step 0 have {supports[0].num_tasks}; sample every step for the same meta-batch"
            )
        tasks.update(episodes.task_data(support_prefix(step)))
    if query is not None:
        if query.num_tasks != supports[0].num_tasks:
            raise ValueError(
                f"support episodes have {supports[0].num_tasks} tasks but query episodes have "
                f"{query.num_tasks}; sample both for the same meta-batch"
            )
        tasks.update(query.task_data("query_"))
    return tasks


def step_on_episodes(
    problem: PolicyGradientProblem,
    params: Params,
    episodes: Episodes,
    meta_params: Params,
    inner: InnerLoopConfig,
    step: int,
) -> Params:
    """Every task's parameters after inner step ``step`` on its own episodes, without a graph.

    ``params`` holds each task's current parameters along a leading task dimension. This is the
    core's :func:`~metarl.core.adaptation.inner_step` vmapped over tasks, task by task: the
    reference that :func:`adapt_on_fresh_episodes` (one step on the gradient of the summed task
    losses) is tested against.
    """
    frozen = detach(meta_params)

    def one_task(task_params: Params, task: TaskData) -> Params:
        support_loss = lambda p: problem.support_loss(p, task)  # noqa: E731
        return inner_step(task_params, support_loss, frozen, inner, step)[0]

    with torch.no_grad():
        return vmap(one_task)(params, make_task_batch(episodes))


def adapt_on_fresh_episodes(
    problem: PolicyGradientProblem,
    params: Params,
    meta_params: Params,
    inner_at: Callable[[int], InnerLoopConfig],
    steps: int,
    sample: Callable[[int, Params], Episodes],
) -> tuple[list[Episodes], Params]:
    """The RL adaptation loop: roll out, step, roll out with the stepped policy, ... (``steps``).

    ``sample(j, params_j)`` returns the episodes (with advantages) of every task's policy after j
    steps; step j descends on those episodes with ``inner_at(j)`` (training: the run's inner loop;
    evaluation: a halved step size after the first). Training and evaluation both adapt here.

    Returns:
        The episodes after 0 .. ``steps`` steps and every task's parameters after ``steps``.
    """
    episodes = [sample(0, params)]
    frozen = detach(meta_params)

    def support_loss(batched: Params, step: int) -> Tensor:
        # The tasks' losses are independent: the gradient of their sum is each task's own.
        batch = make_task_batch(episodes[step])
        return vmap(lambda p, task: problem.support_loss(p, task))(batched, batch).sum()

    def resample(taken: int, adapted: Params) -> None:
        episodes.append(sample(taken, adapted))

    with torch.no_grad():
        adapted, _ = adapt(
            params,
            support_loss,
            frozen,
            inner_at(0),
            steps=steps,
            after_step=resample,
            step_config=inner_at,
        )
    return episodes, adapted


class PolicyGradientProblem:
    """A task's inner policy-gradient loss and outer surrogate losses for the core algorithms.

    Args:
        policy: the policy whose parameter dicts are adapted.
        inner_loss: ``lvc`` (default), ``dice`` or ``reinforce``; see the module docstring.
    """

    def __init__(self, policy: Policy, inner_loss: InnerLoss = "lvc") -> None:
        if inner_loss not in INNER_LOSSES:
            raise ValueError(f"inner_loss must be one of {INNER_LOSSES}, got {inner_loss!r}")
        self.policy = policy
        self.inner_loss = inner_loss

    def _log_probs(self, params: Params, task: TaskData, prefix: str) -> Tensor:
        _require(task, prefix, ("observations", "actions", "mask", "advantages", "log_probs"))
        dist = self.policy.distribution(params, task[prefix + "observations"])
        return dist.log_prob(task[prefix + "actions"])  # (H, E)

    def _log_ratio(self, params: Params, task: TaskData, prefix: str) -> Tensor:
        """log pi_params(a | s) - log pi_old(a | s), 0 on padded steps."""
        log_ratio = self._log_probs(params, task, prefix) - task[prefix + "log_probs"]
        return torch.where(task[prefix + "mask"] > 0, log_ratio, 0.0)

    def support_loss(self, params: Params, task: TaskData, step: int = 0) -> Tensor:
        """The inner policy-gradient loss (``inner_loss``) of inner step ``step``.

        Step j descends on the episodes sampled after j steps (``support_step<j>_*``) when the
        batch holds them, and on the pre-adaptation episodes (``support_*``) otherwise.
        """
        prefix = support_prefix(step)
        if prefix + "observations" not in task:
            prefix = support_prefix(0)
        mask, advantages = task[prefix + "mask"], task[prefix + "advantages"]
        if self.inner_loss == "reinforce":
            return -masked_mean(self._log_probs(params, task, prefix) * advantages, mask)
        log_ratio = self._log_ratio(params, task, prefix)
        if self.inner_loss == "lvc":
            return -masked_mean(log_ratio.exp() * advantages, mask)
        advantages = torch.where(mask > 0, advantages, 0.0)
        next_advantages = torch.cat([advantages[1:], torch.zeros_like(advantages[:1])])
        dice = log_ratio.cumsum(dim=0).exp()  # exp(W_t): cumulative ratio along each episode
        return -masked_mean(dice * (advantages - next_advantages), mask)

    def query_loss(self, params: Params, task: TaskData) -> Tensor:
        """TRPO surrogate -mean r_t(params) A_t on the query episodes."""
        ratio = self._log_ratio(params, task, "query_").exp()
        return -masked_mean(ratio * task["query_advantages"], task["query_mask"])

    def clipped_loss(self, params: Params, task: TaskData, clip: float) -> Tensor:
        """PPO's clipped surrogate -mean min(r A, clip(r, 1 - clip, 1 + clip) A) on the query."""
        ratio = self._log_ratio(params, task, "query_").exp()
        advantages = task["query_advantages"]
        clipped = ratio.clamp(1.0 - clip, 1.0 + clip)
        return -masked_mean(
            torch.minimum(ratio * advantages, clipped * advantages), task["query_mask"]
        )

    def kl(self, params: Params, task: TaskData) -> Tensor:
        """mean_t KL(pi_old(. | s_t) || pi_params(. | s_t)) over the real query steps."""
        prefix = "query_old_"
        old_params = {
            key[len(prefix) :]: value for key, value in task.items() if key.startswith(prefix)
        }
        if not old_params:
            raise KeyError(
                "task data has no query_old_* entries (the sampling policy's distribution "
                "parameters); build it with make_task_batch from MetaSampler episodes"
            )
        _require(task, "query_", ("observations", "mask"))
        old = self.policy.make_distribution(old_params)
        new = self.policy.distribution(params, task["query_observations"])
        return masked_mean(kl(old, new), task["query_mask"])

    def query_metrics(self, params: Params, task: TaskData) -> dict[str, Tensor]:
        """Mean policy entropy over the real query steps."""
        dist = self.policy.distribution(params, task["query_observations"])
        return {"entropy": masked_mean(dist.entropy(), task["query_mask"])}


def _require(task: TaskData, prefix: str, names: tuple[str, ...]) -> None:
    missing = [prefix + name for name in names if prefix + name not in task]
    if missing:
        raise KeyError(
            f"task data lacks {missing}; build it with metarl.rl.objective.make_task_batch from "
            "episodes with advantages (query episodes from MetaSampler carry old_* parameters)"
        )
