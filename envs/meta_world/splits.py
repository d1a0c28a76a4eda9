"""The train and test tasks of ML1 / ML10 / ML45, from Meta-World's own benchmark classes.

``metaworld.ML1(name, seed)``, ``ML10(seed)`` and ``ML45(seed)`` generate 50 goals per class and
split by their own rules: ML1 draws the test goals of the one class with seed + 1, ML10 and ML45
test on held-out classes. Generating them resets every class 50 times (13 s for ML10, about 45 s
for ML45 here), so the result is kept per process and on disk, keyed by the Meta-World version,
the benchmark and :data:`~envs.meta_world.catalog.BENCHMARK_SEED`
(``$METARL_CACHE_DIR``, by default ``~/.cache/metarl``; written atomically, regenerated if
unreadable).

A meta-batch of any size is drawn round-robin over the split's classes: the classes are shuffled,
slot ``i`` gets class ``i mod C``, and each class hands out its 50 goals in a shuffled order
(starting over after 50), so every class appears ``n // C`` or ``n // C + 1`` times and no goal
repeats within a meta-batch while a class has unused goals.
"""

from __future__ import annotations

import functools
import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, Literal

import numpy as np

from envs.meta_world.catalog import BENCHMARK_SEED, splits
from envs.meta_world.compat import load_metaworld, versions
from envs.tasks import MetaWorldTask

Split = Literal["train", "test"]
SPLITS: tuple[Split, ...] = ("train", "test")


def cache_dir() -> Path:
    """Where generated splits are kept: ``$METARL_CACHE_DIR`` or ``~/.cache/metarl``."""
    root = os.environ.get("METARL_CACHE_DIR") or Path.home() / ".cache" / "metarl"
    return Path(root) / "metaworld"


def _generate(benchmark: str, env_name: str | None) -> dict[str, list[MetaWorldTask]]:
    metaworld = load_metaworld()
    if benchmark == "ML1":
        source = metaworld.ML1(env_name, seed=BENCHMARK_SEED)
    else:
        source = getattr(metaworld, benchmark)(seed=BENCHMARK_SEED)
    out: dict[str, list[MetaWorldTask]] = {}
    for split, tasks in (("train", source.train_tasks), ("test", source.test_tasks)):
        out[split] = [
            MetaWorldTask(task.env_name, tuple(pickle.loads(task.data)["rand_vec"]))
            for task in tasks
        ]
    return out


def _cache_file(benchmark: str, env_name: str | None) -> Path:
    name = benchmark if env_name is None else f"{benchmark}-{env_name}"
    version = versions().split(",")[0].replace(" ", "-")
    return cache_dir() / f"{version}-{name}-seed{BENCHMARK_SEED}.json"


def _read(path: Path) -> dict[str, list[MetaWorldTask]] | None:
    try:
        data = json.loads(path.read_text())
        return {split: [MetaWorldTask(**task) for task in data[split]] for split in SPLITS}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write(path: Path, tasks: dict[str, list[MetaWorldTask]]) -> None:
    data = {
        split: [{"env_name": t.env_name, "rand_vec": list(t.rand_vec)} for t in tasks[split]]
        for split in SPLITS
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as f:
            json.dump(data, f)
        os.replace(f.name, path)
    except OSError:
        pass  # a read-only home only costs the regeneration next time


@functools.cache
def benchmark_tasks(benchmark: str, env_name: str | None = None) -> dict[str, list[MetaWorldTask]]:
    """``{"train": [...], "test": [...]}``: every task of the benchmark, in Meta-World's order
    (50 per class)."""
    splits(benchmark, env_name)  # checks the names
    path = _cache_file(benchmark, env_name)
    tasks = _read(path)
    if tasks is None:
        tasks = _generate(benchmark, env_name)
        _write(path, tasks)
    return tasks


def by_class(tasks: list[MetaWorldTask]) -> dict[str, list[MetaWorldTask]]:
    """The tasks grouped by environment name, classes in first-seen order."""
    grouped: dict[str, list[MetaWorldTask]] = {}
    for task in tasks:
        grouped.setdefault(task.env_name, []).append(task)
    return grouped


def sample_round_robin(
    tasks: list[MetaWorldTask], n: int, rng: np.random.Generator
) -> list[MetaWorldTask]:
    """``n`` tasks, round-robin over the classes of ``tasks`` (see the module docstring)."""
    grouped = by_class(tasks)
    names = list(grouped)
    order = [names[i] for i in rng.permutation(len(names))]
    queues: dict[str, list[int]] = {}
    out: list[MetaWorldTask] = []
    for i in range(n):
        name = order[i % len(order)]
        if not queues.get(name):
            queues[name] = rng.permutation(len(grouped[name])).tolist()
        out.append(grouped[name][queues[name].pop(0)])
    return out


def metaworld_task(task: MetaWorldTask) -> Any:
    """``task`` as Meta-World's own ``Task``, built as ``metaworld._make_tasks`` builds it for the
    ML benchmarks (the class's kwargs, the goal, and the goal hidden from the observation)."""
    metaworld = load_metaworld()
    env_dict = metaworld.env_dict
    kwargs = dict(env_dict.ML1_ARGS_KWARGS[task.env_name]["kwargs"])
    del kwargs["task_id"]
    kwargs.update(
        rand_vec=np.asarray(task.rand_vec, dtype=np.float64),
        env_cls=env_dict.ALL_V3_ENVIRONMENTS[task.env_name],
        partially_observable=True,
    )
    return metaworld.Task(env_name=task.env_name, data=pickle.dumps(kwargs))
