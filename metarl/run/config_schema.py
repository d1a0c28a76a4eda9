"""Mapping <-> frozen dataclass, strictly: the machinery under :mod:`metarl.run.config`.

:func:`from_mapping` builds a nested frozen dataclass from a plain mapping (YAML), naming an
unknown key's valid choices and closest match, and a wrong value's expected type.
:func:`apply_overrides` applies ``--set a.b=value`` strings (values parsed with
:func:`yaml.safe_load`). :func:`yaml_lines` writes a dataclass back as YAML with each field's
docstring (:func:`field_docs`) as a comment above it.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import inspect
import itertools
import math
import re
import textwrap
import types
import typing
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

import yaml

from metarl.errors import ConfigError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


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
        # An annotation is a class, never a dataclass instance.
        return from_mapping(cast("type[DataclassInstance]", annotation), value, where)
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
        if isinstance(value, bool) and {"on", "off"} <= set(args):
            return "on" if value else "off"  # YAML 1.1 reads a bare on / off as a boolean
        if any(value == option and type(value) is type(option) for option in args):
            return value
        raise ConfigError(
            f"{where} must be one of {', '.join(repr(a) for a in args)}, got {value!r}"
            + suggestion(str(value), [str(a) for a in args])
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


def suggestion(word: str, choices: Any) -> str:
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


# --------------------------------------------------------------------------------------------
# Dataclass -> YAML
# --------------------------------------------------------------------------------------------


def plain_values(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {f.name: plain_values(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [plain_values(v) for v in value]
    if isinstance(value, Mapping):
        return {k: plain_values(v) for k, v in value.items()}
    return value


def yaml_lines(config: Any, indent: int) -> list[str]:
    docs = field_docs(type(config))
    pad = " " * indent
    lines = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        for doc_line in textwrap.wrap(docs.get(f.name, ""), width=96 - indent):
            lines.append(f"{pad}# {doc_line}")
        if dataclasses.is_dataclass(value):
            lines.append(f"{pad}{f.name}:")
            lines += yaml_lines(value, indent + 2)
        else:
            lines.append(f"{pad}{f.name}: {_yaml_scalar(plain_values(value))}")
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
