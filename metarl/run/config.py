"""Typed run configurations: one base of shared fields and checks, loaded from commented YAML.

A config file is a nested mapping whose keys are the fields of a frozen dataclass: a subclass of
:class:`RunConfig` chosen by the top-level ``kind`` (``supervised``:
:class:`metarl.supervised.config.SupervisedConfig`, ``rl``: :class:`metarl.rl.config.RLConfig`).
:class:`RunConfig` holds what every run has (name, seed, device, dtype, threads, algorithm,
iterations, meta-batch, inner loop, algorithm settings, the ``outer:`` step, logging) and checks it
once; each kind adds its task distribution, model and evaluation. Loading is strict: an unknown
key names the valid ones (with the closest match), a value of the wrong type names the expected
type, and each dataclass validates its values in ``__post_init__``, so every mistake surfaces as
one :class:`~metarl.errors.ConfigError` before any work starts. ``--set a.b=value`` overrides are
parsed with :func:`yaml.safe_load` and applied to the mapping before validation. The resolved
config is written back as YAML with each field's docstring as a comment above it. The generic
mapping <-> dataclass machinery is :mod:`metarl.run.config_schema`.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
import yaml

from metarl.core.adaptation import InnerLoopConfig
from metarl.core.algorithms import ALGORITHMS, HFMAMLConfig, IMAMLConfig, make_algorithm
from metarl.core.compiled import CompileMode
from metarl.errors import ConfigError
from metarl.outer import OuterConfig
from metarl.run.config_schema import (
    apply_overrides,
    from_mapping,
    plain_values,
    suggestion,
    yaml_lines,
)

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}


@dataclass(frozen=True)
class EvaluationConfig:
    """Held-out adaptation: the settings every kind of run shares."""

    tasks: int = 40
    """Number of held-out tasks."""
    seed: int = 1_000_003
    """Seed of the held-out tasks (and their rollouts), separate from the training seed."""
    every: int = 0
    """Also evaluate every this many iterations during training; 0 evaluates only at the end."""

    def __post_init__(self) -> None:
        if self.tasks < 1:
            raise ConfigError(f"evaluation.tasks must be >= 1, got {self.tasks}")
        if self.seed < 0:
            raise ConfigError(f"evaluation.seed must be >= 0, got {self.seed}")
        if self.every < 0:
            raise ConfigError(
                f"evaluation.every must be >= 0 (0: only at the end), got {self.every}"
            )


@dataclass(frozen=True)
class LoggingConfig:
    """Where runs are written and how often metrics and checkpoints are."""

    run_root: str = "runs"
    """Folder that holds the run folders ``<name>-<time>/``."""
    log_every: int = 10
    """Write training metrics to TensorBoard every this many iterations."""
    checkpoint_every: int = 1000
    """Write a checkpoint every this many iterations (and always after the last one)."""
    checkpoint_minutes: float = 5.0
    """Also write a checkpoint once this many minutes of training have passed since the last one,
    so an interrupted run never loses more than this; 0 checkpoints by count alone."""
    progress: bool = True
    """Show a progress bar with ETA and the latest meta-loss on the console."""

    def __post_init__(self) -> None:
        if not self.run_root:
            raise ConfigError("logging.run_root must be a folder path, got an empty string")
        if self.log_every < 1:
            raise ConfigError(f"logging.log_every must be >= 1, got {self.log_every}")
        if self.checkpoint_every < 1:
            raise ConfigError(f"logging.checkpoint_every must be >= 1, got {self.checkpoint_every}")
        if self.checkpoint_minutes < 0:
            raise ConfigError(
                "logging.checkpoint_minutes must be >= 0 (0: by count only), "
                f"got {self.checkpoint_minutes}"
            )


@dataclass(frozen=True)
class RunConfig:
    """What every meta-training run has; ``kind: supervised`` and ``kind: rl`` extend it."""

    name: str = "run"
    """Run name; the run folder is ``<logging.run_root>/<name>-<time>``."""
    seed: int = 0
    """Seed of the model initialisation, the training tasks and (RL) every rollout."""
    device: str = "cpu"
    """Torch device: ``cpu``, ``cuda`` or ``cuda:N`` (RL envs step on the CPU)."""
    dtype: Literal["float32", "float64"] = "float32"
    """Floating-point precision of the model, the tasks and the episodes."""
    threads: int = 0
    """CPU threads for torch's kernels (``torch.set_num_threads``, set for the whole process when
    the trainer is built); 0 keeps torch's default."""
    compile: CompileMode = "auto"
    """``torch.compile`` of the meta-step, once per run: ``on``; ``off``; ``auto`` compiles
    supervised runs of at least 1,000 iterations where a compiler backend is present
    (``metarl/core/compiled.py``). A failed compilation runs eager with one warning."""
    algorithm: str = "maml"
    """Meta-algorithm, one of ``metarl list``'s algorithms (maml, fomaml, metasgd, reptile, imaml,
    hfmaml)."""
    iterations: int = 70_000
    """Outer (meta) iterations, one meta-batch each."""
    meta_batch_size: int = 25
    """Tasks per meta-batch."""
    inner: InnerLoopConfig = field(default_factory=InnerLoopConfig)
    """Inner loop: steps, step size and whether it is learned."""
    imaml: IMAMLConfig = field(default_factory=IMAMLConfig)
    """iMAML settings (used when ``algorithm: imaml``)."""
    hfmaml: HFMAMLConfig = field(default_factory=HFMAMLConfig)
    """Hessian-free MAML settings (used when ``algorithm: hfmaml``)."""
    outer: OuterConfig = field(default_factory=OuterConfig)
    """Outer step: kind (adam, sgd, trpo, ppo), step size, clipping and the trpo / ppo settings."""
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    """Held-out adaptation evaluation at the end of training (and every ``evaluation.every``)."""
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    """Run folder, TensorBoard and checkpoint cadence."""

    problem_kind = "supervised"
    """What the outer step can rely on (``rl``: policies with a KL divergence); not a key."""

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.+-]+", self.name):
            raise ConfigError(
                "name must be a non-empty folder-safe name (letters, digits, _ . + -), "
                f"got {self.name!r}"
            )
        if self.seed < 0:
            raise ConfigError(f"seed must be >= 0, got {self.seed}")
        check_device(self.device)
        if self.threads < 0:
            raise ConfigError(f"threads must be >= 0 (0: torch's default), got {self.threads}")
        if self.algorithm not in ALGORITHMS:
            raise ConfigError(
                f"algorithm {self.algorithm!r} is unknown; choose one of {sorted(ALGORITHMS)}"
                + suggestion(self.algorithm, ALGORITHMS)
            )
        if self.iterations < 1:
            raise ConfigError(f"iterations must be >= 1, got {self.iterations}")
        if self.meta_batch_size < 1:
            raise ConfigError(f"meta_batch_size must be >= 1, got {self.meta_batch_size}")
        if self.evaluation.seed == self.seed:
            raise ConfigError(
                f"evaluation.seed equals seed ({self.seed}), so the test tasks would be the "
                "training tasks; give evaluation a seed of its own"
            )
        self.outer.check_algorithm(self.algorithm, self.problem_kind)
        try:
            make_algorithm(self.algorithm, self.inner, self.imaml, self.hfmaml)
        except ValueError as error:
            raise ConfigError(str(error)) from None

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]


def check_device(device: str) -> None:
    """Reject a malformed device string, or a CUDA device this machine does not have."""
    match = re.fullmatch(r"cpu|cuda(?::(\d+))?", device)
    if match is None:
        raise ConfigError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if device == "cpu":
        return
    if not torch.cuda.is_available():
        raise ConfigError(
            f"device {device!r} was requested but no CUDA GPU is available here "
            "(torch.cuda.is_available() is False); use --set device=cpu"
        )
    index = int(match.group(1) or 0)
    if index >= torch.cuda.device_count():
        raise ConfigError(
            f"device {device!r} does not exist: this machine has {torch.cuda.device_count()} "
            "CUDA device(s); use cuda:0 .. cuda:N-1"
        )


# --------------------------------------------------------------------------------------------
# Config kinds: the top-level ``kind`` key picks the dataclass
# --------------------------------------------------------------------------------------------

CONFIG_KINDS: dict[str, str] = {
    "supervised": "metarl.supervised.config:SupervisedConfig",
    "rl": "metarl.rl.config:RLConfig",
}
"""``kind`` -> ``"module:Class"`` of its config dataclass (imported on first use)."""

DEFAULT_KIND = "supervised"


def config_class(kind: str) -> type:
    """The config dataclass registered for ``kind`` in :data:`CONFIG_KINDS`."""
    if kind not in CONFIG_KINDS:
        raise ConfigError(
            f"kind {kind!r} is unknown; use one of {sorted(CONFIG_KINDS)}"
            + suggestion(str(kind), CONFIG_KINDS)
        )
    module_name, _, class_name = CONFIG_KINDS[kind].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(f"kind {kind!r} is not available in this install: {error}") from None
    return getattr(module, class_name)


def config_kind(config: Any) -> str:
    """The ``kind`` under which ``config``'s class is registered."""
    target = f"{type(config).__module__}:{type(config).__qualname__}"
    for kind, path in CONFIG_KINDS.items():
        if path == target:
            return kind
    raise ConfigError(f"{type(config).__name__} is not a registered config kind ({CONFIG_KINDS})")


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def config_from_dict(data: Mapping[str, Any], overrides: Sequence[str] = ()) -> Any:
    """Build a config from a plain mapping (with a ``kind`` key, default ``supervised``)."""
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"a config must be a mapping of keys to values, got {type(data).__name__}"
        )
    kind = data.get("kind", DEFAULT_KIND)
    cls = config_class(kind)
    data = migrate_legacy_keys(apply_overrides(migrate_legacy_keys(data, cls), overrides), cls)
    data.pop("kind", None)
    return from_mapping(cls, data)


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> Any:
    """Read a YAML config file (``yaml.safe_load``), apply ``--set`` overrides and validate it.

    Raises:
        ConfigError: a missing or malformed file, an unknown key, a wrong type or a bad value;
            the message starts with the file name.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"config file {str(path)!r} does not exist; pass a YAML file such as "
            "experiments/sinusoid_maml.yaml (`metarl list` shows the shipped ones)"
        )
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    try:
        return config_from_dict({} if data is None else data, overrides)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


def config_to_dict(config: Any) -> dict[str, Any]:
    """The config as plain YAML-safe values (tuples as lists), with its ``kind`` first."""
    return {"kind": config_kind(config), **plain_values(config)}


def save_config(config: Any, path: str | Path) -> None:
    """Write the resolved ``config`` as YAML, each key under a comment taken from its docstring.

    ``load_config(path)`` gives back an equal config.
    """
    lines = [
        "# Resolved configuration, written by metarl. Each comment is the field's docstring.",
        f"kind: {config_kind(config)}",
    ]
    lines += yaml_lines(config, indent=0)
    Path(path).write_text("\n".join(lines) + "\n")


# --------------------------------------------------------------------------------------------
# Configs of the schema before the shared ``outer:`` section (metarl 0.1)
# --------------------------------------------------------------------------------------------


def migrate_legacy_keys(data: Mapping[str, Any], cls: type) -> dict[str, Any]:
    """Rewrite the keys of the earlier schema into the shared ``outer:`` section, with a warning.

    ``outer: trpo`` (a bare kind) is kept as a shorthand for ``outer: {kind: trpo}``, so
    ``--set outer=ppo`` works. The earlier keys ``outer.optimizer`` (supervised), ``trpo:``,
    ``ppo:`` and ``optimizer:`` (RL) move to ``outer.kind``, ``outer.trpo``, ``outer.ppo`` and
    ``outer.lr`` / ``outer.grad_clip`` (PPO's ``lr`` and ``max_grad_norm`` too, when PPO is the
    outer step), so configs and checkpoints written before the change keep working unchanged.
    """
    data = dict(copy.deepcopy(dict(data)))
    outer: Any = data.get("outer")
    if isinstance(outer, str):
        data["outer"] = outer = {"kind": outer}
    moved: list[str] = []
    if isinstance(outer, dict) and "optimizer" in outer:
        outer["kind"] = outer.pop("optimizer")
        moved.append("outer.optimizer -> outer.kind")
    legacy = {key: data.pop(key) for key in ("trpo", "ppo", "optimizer") if key in data}
    if legacy:
        if not isinstance(outer, dict):
            outer = data["outer"] = {}
        kind = outer.get("kind", _default_outer_kind(cls))
        for key, section in legacy.items():
            section = dict(section) if isinstance(section, Mapping) else section
            if key == "optimizer" and isinstance(section, dict):
                if kind in ("adam", "sgd"):
                    outer.update(section)
                moved.append("optimizer.lr/grad_clip -> outer.lr/grad_clip")
                continue
            if key == "ppo" and isinstance(section, dict):
                lr, clip = section.pop("lr", None), section.pop("max_grad_norm", None)
                if kind == "ppo":
                    outer.update({"lr": lr} if lr is not None else {})
                    outer.update({"grad_clip": clip} if clip is not None else {})
                moved.append("ppo.lr/max_grad_norm -> outer.lr/grad_clip")
            outer[key] = section
            moved.append(f"{key} -> outer.{key}")
    if moved:
        warnings.warn(
            "config keys of the earlier schema were moved: "
            + "; ".join(moved)
            + " (write them there to silence this)",
            stacklevel=3,
        )
    return data


def _default_outer_kind(cls: type) -> str:
    outer = next(f for f in dataclasses.fields(cls) if f.name == "outer")
    factory = outer.default_factory
    return factory().kind if factory is not dataclasses.MISSING else OuterConfig().kind
