"""Meta-reinforcement learning on the core's adaptation primitive and algorithms.

Pipeline of one meta-iteration: tasks -> :class:`MetaSampler` (pre-adaptation episodes) ->
:func:`compute_advantages` with a :class:`LinearFeatureBaseline` -> adaptation by a core
:class:`~metarl.core.algorithms.MetaAlgorithm` on a :class:`PolicyGradientProblem` (the inner
policy-gradient loss) -> post-adaptation episodes with each task's parameters -> outer step on the
surrogate losses of the same problem (TRPO, PPO or a plain optimizer).
"""

from metarl.rl.advantages import (
    compute_advantages,
    discounted_returns,
    generalized_advantages,
    normalize,
)
from metarl.rl.baseline import LinearFeatureBaseline, baseline_features
from metarl.rl.episodes import Episodes
from metarl.rl.objective import INNER_LOSSES, PolicyGradientProblem, make_task_batch, masked_mean
from metarl.rl.policies import (
    ACTIVATIONS,
    CategoricalMLPPolicy,
    GaussianMLPPolicy,
    Policy,
    kl,
    make_policy,
)
from metarl.rl.sampler import (
    BACKENDS,
    GymnasiumBackend,
    MetaSampler,
    VectorBackend,
    reference_rollout,
)

__all__ = [
    "ACTIVATIONS",
    "BACKENDS",
    "INNER_LOSSES",
    "CategoricalMLPPolicy",
    "Episodes",
    "GaussianMLPPolicy",
    "GymnasiumBackend",
    "LinearFeatureBaseline",
    "MetaSampler",
    "Policy",
    "PolicyGradientProblem",
    "VectorBackend",
    "baseline_features",
    "compute_advantages",
    "discounted_returns",
    "generalized_advantages",
    "kl",
    "make_policy",
    "make_task_batch",
    "masked_mean",
    "normalize",
    "reference_rollout",
]
