"""Meta-World (Yu et al., CoRL 2019) ML1 / ML10 / ML45 under the project's task protocol.

Importing ``envs`` registers ``metarl/ML1-<name>-v0`` for each of the 50 environments,
``metarl/ML10-v0`` and ``metarl/ML45-v0``, each with Meta-World's 500-step horizon, without
importing Meta-World; making one needs the optional package (README, "Meta-World")::

    import gymnasium, envs

    family = envs.task_family("metarl/ML10-v0")
    tasks = family.sample_tasks(20, seed=0)               # training classes, round-robin
    held_out = family.sample_tasks(20, seed=1, split="test")
    env = gymnasium.make("metarl/ML10-v0")
    obs, info = env.reset(options={"task": tasks[0]})     # Meta-World's own env and goal

``envs.batched.make_batched`` steps N of them batched by class (``envs.meta_world.vector``).
"""

from envs.meta_world.catalog import (
    BENCHMARK_NAMES,
    BENCHMARK_SEED,
    ENV_NAMES,
    MAX_PATH_LENGTH,
    ML10_TEST,
    ML10_TRAIN,
    ML45_TEST,
    ML45_TRAIN,
)
from envs.meta_world.compat import MetaWorldUnavailable, load_metaworld
from envs.meta_world.env import FAMILIES, ML10, ML45, MetaWorldEnv

__all__ = [
    "BENCHMARK_NAMES",
    "BENCHMARK_SEED",
    "ENV_NAMES",
    "FAMILIES",
    "MAX_PATH_LENGTH",
    "ML10",
    "ML10_TEST",
    "ML10_TRAIN",
    "ML45",
    "ML45_TEST",
    "ML45_TRAIN",
    "MetaWorldEnv",
    "MetaWorldUnavailable",
    "load_metaworld",
]
