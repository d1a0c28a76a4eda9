"""Typed run configurations: frozen dataclasses loaded from commented YAML files.

A config file is a nested mapping whose keys are the fields of a frozen dataclass
(:class:`SupervisedConfig` for ``kind: supervised``, the RL config for ``kind: rl``). Loading is
strict: an unknown key names the valid ones (with the closest match), a value of the wrong type
names the expected type, and each dataclass validates its values in ``__post_init__``, so every
mistake surfaces as one :class:`ConfigError` before any work starts. ``--set a.b=value``
overrides are parsed with :func:`yaml.safe_load` and applied to the mapping before validation.
The resolved config is written back as YAML with each field's docstring as a comment above it.
The generic mapping <-> dataclass machinery is :mod:`metarl.run.config_schema`.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
import yaml

from metarl.core.adaptation import InnerLoopConfig
from metarl.core.algorithms import ALGORITHMS, HFMAMLConfig, IMAMLConfig, make_algorithm
from metarl.run.config_schema import (
    ConfigError,
    apply_overrides,
    from_mapping,
    plain_values,
    suggestion,
    yaml_lines,
)
from metarl.supervised.models import ModelConfig
from metarl.supervised.tasks import TASK_FAMILIES
from metarl.supervised.tasks.omniglot import OmniglotConfig
from metarl.supervised.tasks.sinusoid import SinusoidConfig

# --------------------------------------------------------------------------------------------
# The supervised run configuration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OuterConfig:
    """The outer (meta) optimizer that applies the meta-gradient to the meta-parameters."""

    optimizer: Literal["adam", "sgd"] = "adam"
    """Torch optimizer for the meta-parameters: ``adam`` (MAML paper) or plain ``sgd``."""
    lr: float = 1e-3
    """Outer learning rate beta (MAML paper: Adam with 1e-3)."""
    grad_clip: float | None = None
    """Clip the meta-gradient to this global L2 norm; ``null`` leaves it unclipped."""

    def __post_init__(self) -> None:
        if not self.lr > 0:
            raise ConfigError(f"outer.lr must be > 0, got {self.lr}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ConfigError(f"outer.grad_clip must be > 0 or null, got {self.grad_clip}")


@dataclass(frozen=True)
class TaskConfig:
    """Which task family to meta-train on, and the settings of each family."""

    family: str = "sinusoid"
    """Task family, one of ``metarl list``'s task families (``sinusoid``, ``omniglot``)."""
    sinusoid: SinusoidConfig = field(default_factory=SinusoidConfig)
    """Settings of the sinusoid regression family (used when ``family: sinusoid``)."""
    omniglot: OmniglotConfig = field(default_factory=OmniglotConfig)
    """Settings of the Omniglot classification family (used when ``family: omniglot``)."""

    def __post_init__(self) -> None:
        if self.family not in TASK_FAMILIES:
            raise ConfigError(
                f"task.family {self.family!r} is not a task family; "
                f"choose one of {sorted(TASK_FAMILIES)}" + suggestion(self.family, TASK_FAMILIES)
            )

    @property
    def family_config(self) -> Any:
        """The settings of the selected family (``self.sinusoid`` for ``family: sinusoid``)."""
        return getattr(self, self.family)


@dataclass(frozen=True)
class EvaluationConfig:
    """Held-out adaptation curves: loss (and accuracy) after 0..steps inner steps on new tasks."""

    tasks: int = 600
    """Number of held-out test tasks (MAML paper: 600)."""
    steps: int = 10
    """Inner steps at test time; the curve reports every step from 0 to this."""
    support_sizes: tuple[int, ...] = (5, 10, 20)
    """Support points (shots) per test task; one curve each (MAML paper: K = 5, 10, 20)."""
    seed: int = 1_000_003
    """Seed of the test-task generator, separate from the training seed (held-out tasks)."""
    every: int = 0
    """Also evaluate every this many iterations during training; 0 evaluates only at the end."""

    def __post_init__(self) -> None:
        if self.tasks < 1:
            raise ConfigError(f"evaluation.tasks must be >= 1, got {self.tasks}")
        if self.steps < 0:
            raise ConfigError(f"evaluation.steps must be >= 0, got {self.steps}")
        if not self.support_sizes or any(k < 1 for k in self.support_sizes):
            raise ConfigError(
                "evaluation.support_sizes must be a non-empty list of positive sizes, "
                f"got {list(self.support_sizes)}"
            )
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
    progress: bool = True
    """Show a progress bar with ETA and the latest meta-loss on the console."""

    def __post_init__(self) -> None:
        if not self.run_root:
            raise ConfigError("logging.run_root must be a folder path, got an empty string")
        if self.log_every < 1:
            raise ConfigError(f"logging.log_every must be >= 1, got {self.log_every}")
        if self.checkpoint_every < 1:
            raise ConfigError(f"logging.checkpoint_every must be >= 1, got {self.checkpoint_every}")


DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}


@dataclass(frozen=True)
class SupervisedConfig:
    """A supervised meta-learning run: task family, model, meta-algorithm and outer optimizer."""

    name: str = "run"
    """Run name; the run folder is ``<logging.run_root>/<name>-<time>``."""
    seed: int = 0
    """Seed of the model initialisation and of the training-task generator."""
    device: str = "cpu"
    """Torch device: ``cpu``, ``cuda`` or ``cuda:N``."""
    dtype: Literal["float32", "float64"] = "float32"
    """Floating-point precision of the model and the tasks."""
    threads: int = 0
    """CPU threads for torch's kernels (``torch.set_num_threads``, set for the whole process when
    the trainer is built); 0 keeps torch's default."""
    algorithm: str = "maml"
    """Meta-algorithm, one of ``metarl list``'s algorithms (maml, fomaml, metasgd, ...)."""
    iterations: int = 70_000
    """Outer (meta) iterations, one meta-batch each (MAML paper, sinusoid: 70,000)."""
    meta_batch_size: int = 25
    """Tasks per meta-batch (MAML paper, sinusoid: 25)."""
    vectorize: bool = True
    """Adapt all tasks of a meta-batch in one vmapped call (``false``: a Python loop)."""
    inner: InnerLoopConfig = field(default_factory=InnerLoopConfig)
    """Inner loop: steps, step size and whether it is learned (MAML paper: 1 step, 0.01)."""
    imaml: IMAMLConfig = field(default_factory=IMAMLConfig)
    """iMAML settings (used when ``algorithm: imaml``)."""
    hfmaml: HFMAMLConfig = field(default_factory=HFMAMLConfig)
    """Hessian-free MAML settings (used when ``algorithm: hfmaml``)."""
    outer: OuterConfig = field(default_factory=OuterConfig)
    """Outer optimizer (MAML paper: Adam, 1e-3)."""
    task: TaskConfig = field(default_factory=TaskConfig)
    """Task family and its settings."""
    model: ModelConfig = field(default_factory=ModelConfig)
    """Network (MAML paper, sinusoid: MLP with two hidden layers of 40 ReLU units)."""
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    """Held-out adaptation evaluation at the end of training."""
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    """Run folder, TensorBoard and checkpoint cadence."""

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.+-]+", self.name):
            raise ConfigError(
                f"name must be a non-empty folder-safe name (letters, digits, _ . + -), "
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
    "supervised": "metarl.run.config:SupervisedConfig",
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
    data = apply_overrides(data, overrides)
    kind = data.pop("kind", DEFAULT_KIND)
    return from_mapping(config_class(kind), data)


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
