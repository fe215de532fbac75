"""Typed configs: YAML files → frozen dataclasses, with strict one-line errors.

Every task config is a tree of frozen dataclasses. Loading checks each key against the
dataclass fields (unknown keys fail naming the dotted key and the allowed ones), each value
against the field's type (``Literal`` choices, ``int``, ``float``, ``bool``, ``str``,
``X | None``, ``tuple[X, ...]``, nested dataclasses) and each number against the range given
with :func:`param`. ``--set key=value`` overrides are parsed as YAML scalars and checked the
same way, so ``--set train.epochs=abc`` fails exactly like a bad file would.

Numbers must be finite (``.nan`` and ``.inf`` fail) and integers fit in 64 bits; a key given
twice in one mapping fails naming both lines (see :mod:`pipelines.spine.strict_yaml`).
Nothing here imports TensorFlow: the CLI checks a config completely before loading it.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

import yaml

from pipelines.spine import strict_yaml

T = TypeVar("T")
INT64_MAX = 2**63 - 1  # TensorFlow, NumPy and JSON readers all fail past it


class ConfigError(ValueError):
    """A config problem, reported as one line naming the file and dotted key."""


def param(
    default: Any,
    *,
    min: float | None = None,
    max: float | None = None,
    above: float | None = None,
    doc: str = "",
):
    """A dataclass field with an optional numeric range and a one-line doc: ``min`` and
    ``max`` inclusive, ``above`` an exclusive lower bound (``above=0.0``: positive)."""
    metadata = {"min": min, "max": max, "above": above, "doc": doc}
    return dataclasses.field(default=default, metadata=metadata)


def range_text(field: dataclasses.Field) -> str:
    """A field's allowed range in words (error messages), e.g. ``1 to 10`` or
    ``above 0.0 to 10.0``; empty when it has none."""
    lo, hi, above = (field.metadata.get(k) for k in ("min", "max", "above"))
    if lo is None and hi is None and above is None:
        return ""
    low = f"above {above}" if above is not None else ("-inf" if lo is None else str(lo))
    return f"{low} to {'inf' if hi is None else hi}"


def type_name(tp: Any) -> str:
    """How the README and error messages name a config type."""
    origin = get_origin(tp)
    if origin is Literal:
        return " | ".join(a if isinstance(a, str) else repr(a) for a in get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in get_args(tp))
    if origin is tuple:
        return f"list of {type_name(get_args(tp)[0])}"
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "mapping"
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Checks ``value`` against ``tp`` and returns it in canonical form (tuples for lists)."""
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, prefix=key)
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices:
            allowed = ", ".join(str(c) for c in choices)
            raise ConfigError(f"{key}: {value!r} is not allowed (allowed: {allowed})")
        return value
    if origin in (typing.Union, types.UnionType):
        args = get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise ConfigError(f"{key}: null is not allowed (expected {type_name(tp)})")
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{key}: expected a finite number, got {value!r}")
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"{key}: expected {type_name(tp)}, got {value!r}")
    if origin is tuple:
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        (item_tp, *_rest) = get_args(tp)
        return tuple(_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        if abs(value) > INT64_MAX:
            raise ConfigError(f"{key}: {value} does not fit in a 64-bit integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        try:
            number = float(value)
        except OverflowError:  # an int too large for a float
            raise ConfigError(f"{key}: {value} is too large for a number") from None
        if not math.isfinite(number):
            raise ConfigError(f"{key}: expected a finite number, got {value!r}")
        return number
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {tp!r} at {key}")  # a bug in a config class


def _check_range(value: Any, field: dataclasses.Field, key: str) -> None:
    lo, hi, above = (field.metadata.get(k) for k in ("min", "max", "above"))
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return
    if (
        (lo is not None and value < lo)
        or (hi is not None and value > hi)
        or (above is not None and value <= above)
    ):
        raise ConfigError(f"{key}: {value} is out of range (allowed: {range_text(field)})")


def from_dict(cls: type[T], data: Any, prefix: str = "") -> T:
    """Builds dataclass ``cls`` from a mapping, checking keys, types and ranges."""
    where = prefix or "config"
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping of keys, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = get_type_hints(cls)
    for key in data:
        if key not in fields:
            dotted = f"{prefix}.{key}" if prefix else str(key)
            allowed = ", ".join(fields)
            raise ConfigError(f"unknown key '{dotted}' (allowed in {where}: {allowed})")
    values = {}
    for name, field in fields.items():
        dotted = f"{prefix}.{name}" if prefix else name
        if name in data:
            value = _coerce(data[name], hints[name], dotted)
        elif dataclasses.is_dataclass(hints[name]):
            value = from_dict(hints[name], {}, prefix=dotted)
        elif field.default is not dataclasses.MISSING:
            value = field.default
        elif field.default_factory is not dataclasses.MISSING:
            value = field.default_factory()
        else:
            raise ConfigError(f"{dotted}: missing required key")
        _check_range(value, field, dotted)
        values[name] = value
    built = cls(**values)
    # Rules across keys: a section may define check() -> (key, problem) or None.
    problem = built.check() if hasattr(built, "check") else None
    if problem is not None:
        key, message = problem
        raise ConfigError(f"{prefix + '.' if prefix else ''}{key}: {message}")
    return built


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain-YAML form of a config (tuples become lists)."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        return value

    return plain(cfg)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"train.epochs=3"`` → (["train", "epochs"], 3); the value is read as a YAML scalar."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {text!r}: expected key=value with a dotted key")
    try:
        value = strict_yaml.load(raw) if raw.strip() else ""
    except yaml.YAMLError as err:
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"--set {key}: cannot read value {raw!r}: {problem}") from None
    return key.split("."), value


def evaluation_overrides(overrides: Sequence[str]) -> list[str]:
    """``overrides`` when every key is under ``data.``; otherwise a :class:`ConfigError` naming
    the key (the model and what it learned come from the run and cannot change). A file path
    (``data.*_path``) without ``data.source`` means ``data.source=files``: a run trained on the
    bundled sample reads the file it is given."""
    keys = []
    for text in overrides:
        path, _ = parse_override(text)
        if path[0] != "data" or len(path) < 2:
            raise ConfigError(
                f"--set {'.'.join(path)}: evaluate takes data.* keys only (e.g. "
                f"data.test_path=FILE); the model and its vocabulary come from the run"
            )
        keys.append(".".join(path))
    if "data.source" not in keys and any(k.endswith("_path") for k in keys):
        return ["data.source=files", *overrides]
    return list(overrides)


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Returns a copy of raw config ``data`` with dotted ``key=value`` overrides applied."""
    result = _deep_copy(data)
    for text in overrides:
        path, value = parse_override(text)
        node = result
        for i, part in enumerate(path[:-1]):
            child = node.setdefault(part, {})
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                dotted = ".".join(path[: i + 1])
                raise ConfigError(f"--set {'.'.join(path)}: '{dotted}' is not a section")
            node = child
        node[path[-1]] = value
    return result


def _deep_copy(data: Any) -> Any:
    if isinstance(data, Mapping):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Reads a config file's YAML mapping. Every problem is one line naming the file (and
    the line where there is one): missing, a directory, unreadable, not UTF-8, invalid YAML,
    a duplicate key, empty, or not a mapping."""
    path = Path(path)
    text = _read_text(path)
    try:
        data = strict_yaml.load(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else "?"
        raise ConfigError(f"{path}:{line}: invalid YAML: {err.problem}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: invalid YAML: {str(err).splitlines()[0]}") from None
    if data is None:
        raise ConfigError(f"{path}: the config file is empty (expected a mapping of keys)")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: expected a mapping of keys at the top level, got a {_yaml_kind(data)}"
        )
    return data


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the config file ({err.strerror})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        byte = raw[err.start : err.start + 1].hex()
        raise ConfigError(f"{path}:{line}: not UTF-8 text (byte 0x{byte})") from None


def _yaml_kind(data: Any) -> str:
    if isinstance(data, list):
        return "list"
    if isinstance(data, str):
        return "string"
    return "number" if isinstance(data, int | float) else type(data).__name__


def load_config(cls: type[T], path: str | Path | None, overrides: Sequence[str] = ()) -> T:
    """Loads ``cls`` from a YAML file (or defaults when ``path`` is None) plus overrides."""
    data = read_yaml(path) if path is not None else {}
    data = apply_overrides(data, overrides)
    try:
        return from_dict(cls, data)
    except ConfigError as err:
        origin = str(path) if path is not None else "defaults"
        raise ConfigError(f"{origin}: {err}") from None


def save_config(cfg: Any, path: str | Path) -> None:
    """Writes the resolved config as YAML (readable again by :func:`load_config`), atomically."""
    from pipelines.spine import atomic

    atomic.write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))
