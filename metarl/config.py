"""Typed run configurations: frozen dataclasses loaded from commented YAML files.

A config file is a nested mapping whose keys are the fields of a frozen dataclass
(:class:`SupervisedConfig` for ``kind: supervised``, the RL config for ``kind: rl``). Loading is
strict: an unknown key names the valid ones (with the closest match), a value of the wrong type
names the expected type, and each dataclass validates its values in ``__post_init__``, so every
mistake surfaces as one :class:`ConfigError` before any work starts. ``--set a.b=value``
overrides are parsed with :func:`yaml.safe_load` and applied to the mapping before validation.
The resolved config is written back as YAML with each field's docstring as a comment above it.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import importlib
import inspect
import itertools
import math
import re
import textwrap
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import torch
import yaml

from metarl.adaptation import InnerLoopConfig
from metarl.algorithms import ALGORITHMS, HFMAMLConfig, IMAMLConfig, make_algorithm
from metarl.models import ModelConfig
from metarl.tasks import TASK_FAMILIES
from metarl.tasks.omniglot import OmniglotConfig
from metarl.tasks.sinusoid import SinusoidConfig

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file, override or value is wrong; the message names the key and the fix."""


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
                f"choose one of {sorted(TASK_FAMILIES)}" + _suggestion(self.family, TASK_FAMILIES)
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
                + _suggestion(self.algorithm, ALGORITHMS)
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
    "supervised": "metarl.config:SupervisedConfig",
    "rl": "metarl.rl.config:RLConfig",
}
"""``kind`` -> ``"module:Class"`` of its config dataclass (imported on first use)."""

DEFAULT_KIND = "supervised"


def config_class(kind: str) -> type:
    """The config dataclass registered for ``kind`` in :data:`CONFIG_KINDS`."""
    if kind not in CONFIG_KINDS:
        raise ConfigError(
            f"kind {kind!r} is unknown; use one of {sorted(CONFIG_KINDS)}"
            + _suggestion(str(kind), CONFIG_KINDS)
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
# Mapping -> dataclass, strictly
# --------------------------------------------------------------------------------------------


def from_mapping(cls: type[T], data: Mapping[str, Any], where: str = "") -> T:
    """Build the (nested) frozen dataclass ``cls`` from a plain mapping, checking every key.

    Args:
        cls: a dataclass whose fields are scalars, ``Literal``s, ``X | None``, tuples, lists,
            dicts or further dataclasses.
        data: the values, e.g. from :func:`yaml.safe_load`; missing keys keep their defaults.
        where: dotted path of ``data`` inside the whole config, used in messages.

    Raises:
        ConfigError: an unknown key (with the valid keys and the closest match), a value of the
            wrong type, or a value the dataclass's own validation rejects.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{where or 'the config'} must be a mapping of keys to values, "
            f"got {type(data).__name__} {data!r}"
        )
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            section = f"in '{where}'" if where else "at the top level"
            close = difflib.get_close_matches(str(key), list(fields), n=1, cutoff=0.6)
            hint = f" (did you mean '{_join(where, close[0])}'?)" if close else ""
            raise ConfigError(
                f"unknown key '{_join(where, str(key))}'{hint}; "
                f"valid keys {section}: {', '.join(fields)}"
            )
        kwargs[key] = _convert(value, hints[key], _join(where, key))
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (ValueError, TypeError) as error:
        message = str(error)
        # Most validation messages already name the full key (``outer.lr must be > 0``).
        raise ConfigError(message if where in message else f"{where}: {message}") from None


def _convert(value: Any, annotation: Any, where: str) -> Any:
    """Check ``value`` against ``annotation`` and convert YAML lists to tuples where typed so."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return value
    if dataclasses.is_dataclass(annotation):
        return from_mapping(annotation, value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in (a for a in args if a is not type(None)):
            try:
                return _convert(value, option, where)
            except ConfigError:
                continue
        raise _type_error(value, annotation, where)
    if origin is Literal:
        if any(value == option and type(value) is type(option) for option in args):
            return value
        raise ConfigError(
            f"{where} must be one of {', '.join(repr(a) for a in args)}, got {value!r}"
            + _suggestion(str(value), [str(a) for a in args])
        )
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise _type_error(value, annotation, where)
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise ConfigError(f"{where} must have {len(args)} entries, got {list(value)!r}")
            items = [
                _convert(v, a, f"{where}[{i}]")
                for i, (v, a) in enumerate(zip(value, args, strict=True))
            ]
        else:
            item_type = args[0] if args else Any
            items = [_convert(v, item_type, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, Mapping):
            raise _type_error(value, annotation, where)
        key_type, value_type = args or (Any, Any)
        return {
            _convert(k, key_type, f"{where}.{k}"): _convert(v, value_type, f"{where}.{k}")
            for k, v in value.items()
        }
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise _type_error(value, annotation, where)
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _type_error(value, annotation, where)
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        # YAML 1.1 reads exponents without a dot (1e-3) as strings.
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise _type_error(value, annotation, where)
    if annotation is str:
        if isinstance(value, str):
            return value
        raise _type_error(value, annotation, where)
    if isinstance(annotation, type) and isinstance(value, annotation):
        return value
    raise _type_error(value, annotation, where)


def _type_error(value: Any, annotation: Any, where: str) -> ConfigError:
    return ConfigError(
        f"{where} must be {_describe(annotation)}, got {value!r} ({type(value).__name__})"
    )


def _describe(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _describe(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (tuple, list):
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return f"a list of {len(args)} values"
        return f"a list of {_describe(args[0]) if args else 'values'}"
    if origin is dict:
        return "a mapping"
    if dataclasses.is_dataclass(annotation):
        return "a mapping of keys to values"
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _suggestion(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


# --------------------------------------------------------------------------------------------
# Files and overrides
# --------------------------------------------------------------------------------------------


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with each ``a.b.c=value`` applied (value parsed as YAML)."""
    result = _deep_copy(data)
    for override in overrides:
        key, sep, text = override.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(
                f"--set {override!r} is not of the form key=value (for example --set outer.lr=1e-3)"
            )
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ConfigError(
                f"--set {override!r}: the value is not valid YAML ({error})"
            ) from None
        node = result
        parts = key.split(".")
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(
                    f"--set {override!r}: '{'.'.join(parts[: depth + 1])}' is a value, "
                    "not a section with keys"
                )
            node = child
        node[parts[-1]] = value
    return result


def _deep_copy(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in data.items()}


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
    return {"kind": config_kind(config), **_plain(config)}


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def save_config(config: Any, path: str | Path) -> None:
    """Write the resolved ``config`` as YAML, each key under a comment taken from its docstring.

    ``load_config(path)`` gives back an equal config.
    """
    lines = [
        "# Resolved configuration, written by metarl. Each comment is the field's docstring.",
        f"kind: {config_kind(config)}",
    ]
    lines += _yaml_lines(config, indent=0)
    Path(path).write_text("\n".join(lines) + "\n")


def _yaml_lines(config: Any, indent: int) -> list[str]:
    docs = field_docs(type(config))
    pad = " " * indent
    lines = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        for doc_line in textwrap.wrap(docs.get(f.name, ""), width=96 - indent):
            lines.append(f"{pad}# {doc_line}")
        if dataclasses.is_dataclass(value):
            lines.append(f"{pad}{f.name}:")
            lines += _yaml_lines(value, indent + 2)
        else:
            lines.append(f"{pad}{f.name}: {_yaml_scalar(_plain(value))}")
    return lines


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value):
        # repr gives the shortest string that reads back to the same float.
        text = repr(value)
        return text if "." in text or "e" not in text else text.replace("e", ".0e", 1)
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return text.removesuffix("...").strip()


def field_docs(cls: type) -> dict[str, str]:
    """Each field's documentation: its attribute docstring, or its entry under ``Attributes:``."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if dataclasses.is_dataclass(klass):
            docs.update(_attributes_section(inspect.getdoc(klass) or ""))
            docs.update(_attribute_docstrings(klass))
    return docs


def _attribute_docstrings(cls: type) -> dict[str, str]:
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    body = ast.parse(source).body[0].body  # type: ignore[attr-defined]
    docs = {}
    for node, following in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[node.target.id] = " ".join(following.value.value.split())
    return docs


def _attributes_section(docstring: str) -> dict[str, str]:
    docs: dict[str, str] = {}
    lines = docstring.splitlines()
    if "Attributes:" not in [line.strip() for line in lines]:
        return docs
    start = [line.strip() for line in lines].index("Attributes:") + 1
    current = None
    entry_indent = None
    for line in lines[start:]:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        match = re.match(r"\s*(\w+)(?:\s*\([^)]*\))?:\s*(.*)$", line)
        if match and (entry_indent is None or indent == entry_indent):
            entry_indent = indent
            current = match.group(1)
            docs[current] = match.group(2).strip()
        elif current is not None and entry_indent is not None and indent > entry_indent:
            docs[current] += " " + line.strip()
        else:
            break
    return docs
