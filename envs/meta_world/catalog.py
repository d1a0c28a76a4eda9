"""The Meta-World benchmarks' environment names and splits, without importing Meta-World.

These are Meta-World 3.1.1's own lists (``metaworld.env_dict``: ``ALL_V3_ENVIRONMENTS``,
``ML10_V3``, ``ML45_V3``) written out so that registering the ids, ``metarl list`` and config
checks work without the optional ``metaworld`` package; ``tests/envs/meta_world`` checks them
against the installed package.
"""

from __future__ import annotations

ENV_NAMES: tuple[str, ...] = (
    "assembly-v3",
    "basketball-v3",
    "bin-picking-v3",
    "box-close-v3",
    "button-press-topdown-v3",
    "button-press-topdown-wall-v3",
    "button-press-v3",
    "button-press-wall-v3",
    "coffee-button-v3",
    "coffee-pull-v3",
    "coffee-push-v3",
    "dial-turn-v3",
    "disassemble-v3",
    "door-close-v3",
    "door-lock-v3",
    "door-open-v3",
    "door-unlock-v3",
    "hand-insert-v3",
    "drawer-close-v3",
    "drawer-open-v3",
    "faucet-open-v3",
    "faucet-close-v3",
    "hammer-v3",
    "handle-press-side-v3",
    "handle-press-v3",
    "handle-pull-side-v3",
    "handle-pull-v3",
    "lever-pull-v3",
    "pick-place-wall-v3",
    "pick-out-of-hole-v3",
    "pick-place-v3",
    "plate-slide-v3",
    "plate-slide-side-v3",
    "plate-slide-back-v3",
    "plate-slide-back-side-v3",
    "peg-insert-side-v3",
    "peg-unplug-side-v3",
    "soccer-v3",
    "stick-push-v3",
    "stick-pull-v3",
    "push-v3",
    "push-wall-v3",
    "push-back-v3",
    "reach-v3",
    "reach-wall-v3",
    "shelf-place-v3",
    "sweep-into-v3",
    "sweep-v3",
    "window-open-v3",
    "window-close-v3",
)
"""Every Meta-World v3 environment, in ``ALL_V3_ENVIRONMENTS`` order: the ML1 choices."""

ML10_TRAIN: tuple[str, ...] = (
    "reach-v3",
    "push-v3",
    "pick-place-v3",
    "door-open-v3",
    "drawer-close-v3",
    "button-press-topdown-v3",
    "peg-insert-side-v3",
    "window-open-v3",
    "sweep-v3",
    "basketball-v3",
)
"""ML10's training classes (``ML10_V3["train"]``)."""

ML10_TEST: tuple[str, ...] = (
    "drawer-open-v3",
    "door-close-v3",
    "shelf-place-v3",
    "sweep-into-v3",
    "lever-pull-v3",
)
"""ML10's held-out test classes (``ML10_V3["test"]``)."""

ML45_TEST: tuple[str, ...] = (
    "bin-picking-v3",
    "box-close-v3",
    "hand-insert-v3",
    "door-lock-v3",
    "door-unlock-v3",
)
"""ML45's held-out test classes (``ML45_V3["test"]``)."""

ML45_TRAIN: tuple[str, ...] = tuple(name for name in ENV_NAMES if name not in ML45_TEST)
"""ML45's training classes (``ML45_V3["train"]``): every other environment (in ``ENV_NAMES``
order; Meta-World lists them in a slightly different one, which the splits keep)."""

MAX_PATH_LENGTH = 500
"""Meta-World's horizon (``SawyerXYZEnv.max_path_length``): a step past it raises in the env."""

BENCHMARK_SEED = 0
"""Seed of Meta-World's goal generation (``metaworld.ML1(name, seed=...)``, ``ML10(seed=...)``):
it fixes the 50 train and 50 test goals of every class. Meta-World's own default (None) draws
new goals in every process, so results would not be comparable between runs."""

BENCHMARK_NAMES: tuple[str, ...] = ("ML1", "ML10", "ML45")
"""The meta-learning benchmarks this project registers."""


def ml1_family(env_name: str) -> str:
    """The family name of ML1 on ``env_name``: ``ML1-push-v3`` (id ``metarl/ML1-push-v3-v0``)."""
    return f"ML1-{env_name}"


def splits(benchmark: str, env_name: str | None = None) -> dict[str, tuple[str, ...]]:
    """The classes of each split: ``{"train": (...), "test": (...)}``.

    ML1 trains and tests on one class (different goals); ML10 and ML45 test on held-out classes.
    """
    if benchmark == "ML1":
        if env_name not in ENV_NAMES:
            raise ValueError(f"unknown Meta-World environment {env_name!r}")
        return {"train": (env_name,), "test": (env_name,)}
    if benchmark == "ML10":
        return {"train": ML10_TRAIN, "test": ML10_TEST}
    if benchmark == "ML45":
        return {"train": ML45_TRAIN, "test": ML45_TEST}
    raise ValueError(f"unknown Meta-World benchmark {benchmark!r}; known: {BENCHMARK_NAMES}")
