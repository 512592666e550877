"""Stage configuration: frozen dataclasses layered defaults -> YAML -> flags.

Each stage declares one frozen dataclass whose fields carry a default and a
one-line help text (``field(default=..., metadata={"help": ...})``). The same
declaration drives:

* :func:`load_config`, which applies a YAML file and then explicit overrides,
  rejecting unknown keys with the list of valid ones;
* :func:`add_config_arguments`, which exposes every field as a ``--flag`` so
  the CLI never repeats defaults or help strings.

Examples
--------
>>> from dataclasses import dataclass, field
>>> @dataclass(frozen=True)
... class DemoConfig:
...     dim: int = field(default=64, metadata={"help": "PCA dimensions"})
>>> load_config(DemoConfig, overrides={"dim": 128}).dim
128
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from .errors import ConfigError

C = TypeVar("C")

__all__ = [
    "add_config_arguments",
    "check_keys",
    "config_from_args",
    "config_hash",
    "config_to_dict",
    "did_you_mean",
    "load_config",
    "read_yaml",
]


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, with a clear error for a missing or malformed file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist; pass an existing YAML file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {str(path)!r} must hold a mapping of keys to values, got {type(data).__name__}"
        )
    return data


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _coerce(name: str, value: Any, tp: Any, cls_name: str) -> Any:
    """Coerce a YAML/CLI value to the declared field type, or raise ConfigError."""
    base, optional = _unwrap_optional(tp)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{cls_name}.{name}=None is not allowed; give a {getattr(base, '__name__', base)}")
    origin = typing.get_origin(base)
    try:
        if base is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on"):
                return True
            if isinstance(value, str) and value.lower() in ("false", "no", "0", "off"):
                return False
            raise ValueError
        if base is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if base is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if base is str:
            if isinstance(value, (dict, list)):
                raise ValueError
            return str(value)
        if origin is tuple:
            (item_tp, *_) = typing.get_args(base) or (str,)
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, (list, tuple)):
                value = [value]
            return tuple(_coerce(name, v, item_tp, cls_name) for v in value)
        if origin is typing.Literal:
            allowed = typing.get_args(base)
            if value not in allowed:
                raise ConfigError(
                    f"{cls_name}.{name}={value!r} is not allowed{did_you_mean(value, allowed)}; "
                    f"choose one of {', '.join(map(repr, allowed))}"
                )
            return value
    except ConfigError:
        raise
    except (TypeError, ValueError):
        raise ConfigError(
            f"{cls_name}.{name}={value!r} has the wrong type; expected {getattr(base, '__name__', str(base))}"
        ) from None
    return value


def load_config(
    cls: type[C],
    yaml_path: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    *,
    section: str | None = None,
) -> C:
    """Build a frozen config: dataclass defaults, then a YAML file, then overrides.

    Parameters
    ----------
    cls : dataclass type
        The stage's config class.
    yaml_path : path or None
        Optional YAML file whose keys override the defaults.
    overrides : dict or None
        Explicit values (usually from CLI flags); ``None`` values are ignored.
    section : str or None
        Read only this top-level mapping of the YAML file (``sea run`` configs).

    Returns
    -------
    config : cls
        The resolved, validated config.

    Raises
    ------
    ConfigError
        On an unknown key (the message lists the valid keys) or a value of the
        wrong type.
    """
    values: dict[str, Any] = {}
    if yaml_path is not None:
        data = read_yaml(yaml_path)
        if section is not None:
            data = data.get(section) or {}
        values.update(data)
    if overrides:
        values.update({k: v for k, v in overrides.items() if v is not None})
    return config_from_dict(cls, values)


def did_you_mean(value: str, choices) -> str:
    """`` (did you mean 'x'?)`` for the nearest of ``choices`` by edit distance, or an empty string."""
    import difflib

    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_keys(cls: type, values: dict[str, Any], *, extra: tuple[str, ...] = ()) -> None:
    """Raise :class:`ConfigError` for keys of ``values`` that are not fields of ``cls`` (nor ``extra``).

    The message suggests the nearest valid key and lists them all.
    """
    names = [f.name for f in dataclasses.fields(cls)] + list(extra)
    unknown = sorted(set(values) - set(names), key=str)
    if unknown:
        keys = ", ".join(f"{k!r}{did_you_mean(k, names)}" for k in unknown)
        raise ConfigError(f"unknown {cls.__name__} key(s) {keys}; valid keys are: {', '.join(names)}")


def config_from_dict(cls: type[C], values: dict[str, Any]) -> C:
    """Validate ``values`` against ``cls`` and instantiate it.

    Parameters
    ----------
    cls : dataclass type
    values : dict
        Field values; every key must be a field of ``cls``.

    Returns
    -------
    config : cls
    """
    check_keys(cls, values)
    hints = _field_types(cls)
    coerced = {k: _coerce(k, v, hints[k], cls.__name__) for k, v in values.items()}
    for f in dataclasses.fields(cls):
        choices = f.metadata.get("choices")
        if choices and f.name in coerced and coerced[f.name] is not None and coerced[f.name] not in choices:
            v = coerced[f.name]
            raise ConfigError(
                f"{cls.__name__}.{f.name}={v!r} is not allowed{did_you_mean(v, choices)}; "
                f"choose one of {', '.join(map(str, choices))}"
            )
    obj = cls(**coerced)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate()
    return obj


def config_to_dict(config: Any) -> dict[str, Any]:
    """Plain JSON-ready dict of a config (tuples become lists).

    A field added after runs were recorded carries ``metadata={"omit_default": True}``: it is left out while it
    holds its default, so the records and hashes of stages that never set it stay those of older runs (a finished
    stage does not look changed because sea gained an option).
    """
    out = {}
    for f in dataclasses.fields(config):
        v = getattr(config, f.name)
        if f.metadata.get("omit_default") and v == f.default:
            continue
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


def config_hash(config: Any) -> str:
    """Stable short hash of a config's resolved values (new fields at their default left out)."""
    blob = json.dumps(config_to_dict(config), sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def add_config_arguments(
    parser: argparse.ArgumentParser, cls: type, *, exclude: tuple[str, ...] = (), title: str | None = None
) -> argparse._ArgumentGroup:
    """Add one ``--flag`` per config field, with the field's help and default.

    Flags default to ``None`` so that only values the user typed override the
    YAML file; the dataclass default is shown in the help text (unless the help
    already says it). Field metadata may add ``choices`` (listed, validated),
    ``flags`` (more option strings, e.g. openl3's ``("--audio-hop-size", "-ah")``)
    and ``metavar``. Int and float fields are parsed as such, so a bad number is a
    usage error of the subcommand (exit 2).

    Parameters
    ----------
    parser : argparse.ArgumentParser
    cls : dataclass type
    exclude : tuple of str
        Fields not to expose.
    title : str, optional
        Title of the argument group (default: ``"<Config> options (also settable in --config YAML)"``).

    Returns
    -------
    group : argparse argument group
    """
    hints = _field_types(cls)
    group = parser.add_argument_group(title or f"{cls.__name__} options (also settable in --config YAML)")
    for f in dataclasses.fields(cls):
        if f.name in exclude:
            continue
        flags = ["--" + f.name.replace("_", "-"), *f.metadata.get("flags", ())]
        help_text = f.metadata.get("help", "")
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        )
        base, _ = _unwrap_optional(hints[f.name])
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        if "default" not in help_text and shown not in (None, ""):
            help_text = f"{help_text} (default: {shown})"
        choices = f.metadata.get("choices")
        kw: dict[str, Any] = {"dest": f.name, "default": None, "help": help_text}
        if base is bool:
            group.add_argument(*flags, action=argparse.BooleanOptionalAction, **kw)
        elif typing.get_origin(base) is typing.Literal:
            group.add_argument(*flags, choices=typing.get_args(base), **kw)
        elif choices:
            group.add_argument(*flags, choices=tuple(choices), **kw)
        else:
            metavar = f.metadata.get("metavar") or (f.name.upper() if typing.get_origin(base) is not tuple else "A,B,...")
            numeric = {int: int, float: float}.get(base)
            group.add_argument(*flags, metavar=metavar, type=numeric, **kw)
    return group


def config_from_args(cls: type[C], args: argparse.Namespace, *, extra: dict[str, Any] | None = None) -> C:
    """Resolve a config from ``--config`` (if any) and the flags added by :func:`add_config_arguments`."""
    names = {f.name for f in dataclasses.fields(cls)}
    overrides = {k: v for k, v in vars(args).items() if k in names}
    if extra:
        overrides.update(extra)
    return load_config(cls, getattr(args, "config", None), overrides)
