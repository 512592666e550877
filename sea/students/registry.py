"""timm-style registry of student architectures.

A student factory is a function ``fn(**kwargs) -> nn.Module`` registered with :func:`register_student`.
:func:`create` calls it and stamps the module with ``model_name`` and ``model_args`` (the kwargs given to
``create``) so that a checkpoint can rebuild it with ``create(model.model_name, **model.model_args)``.
"""

from __future__ import annotations

import fnmatch
import inspect
import json
from collections.abc import Callable

from ..errors import ConfigError

__all__ = ["create", "get_factory", "list_students", "register_student", "student_description"]

_REGISTRY: dict[str, Callable] = {}
_DESCRIPTIONS: dict[str, str] = {}


def register_student(name: str | Callable | None = None, *, description: str | None = None):
    """Register a student factory under ``name`` (default: the function's name).

    Usable as ``@register_student``, ``@register_student()`` or ``@register_student("name")``.
    """

    def _register(fn: Callable, reg_name: str | None) -> Callable:
        reg_name = reg_name or fn.__name__
        if reg_name in _REGISTRY and _REGISTRY[reg_name] is not fn:
            raise ValueError(f"student {reg_name!r} is already registered")
        _REGISTRY[reg_name] = fn
        doc = description or (inspect.getdoc(fn) or "").split("\n")[0]
        _DESCRIPTIONS[reg_name] = doc
        return fn

    if callable(name):
        return _register(name, None)
    return lambda fn: _register(fn, name)


def list_students(pattern: str = "*") -> list[str]:
    """Registered student names matching a glob ``pattern``, in registration order."""
    return [n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern)]


def student_description(name: str) -> str:
    """One-line description of a registered student."""
    get_factory(name)
    return _DESCRIPTIONS.get(name, "")


def get_factory(name: str) -> Callable:
    """The factory registered under ``name``; unknown names raise :class:`ConfigError` listing the choices."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        near = [n for n in _REGISTRY if str(name).split("_")[0] in n][:8]
        raise ConfigError(
            f"unknown student {name!r}; available students: {', '.join(_REGISTRY)}"
            + (f" (did you mean one of {', '.join(near)}?)" if near and name not in near else "")
        ) from None


def create(name: str, **kwargs):
    """Build the student ``name`` with ``kwargs``.

    Returns
    -------
    torch.nn.Module
        Input ``[B, 1, 64, 50]`` log-mel, output ``[B, D]``; attributes ``model_name``, ``model_args`` (a copy of
        ``kwargs``), ``input_shape == (1, 64, 50)`` and ``embedding_dim == D``.
    """
    fn = get_factory(name)
    try:
        json.dumps(kwargs)
    except TypeError as exc:
        raise ConfigError(f"student {name!r} kwargs must be JSON-serialisable to go into checkpoints: {exc}") from None
    sig = inspect.signature(fn)
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
    unknown = [k for k in kwargs if k not in sig.parameters] if not accepts_any else []
    if unknown:
        allowed = [p for p in sig.parameters if sig.parameters[p].kind is not inspect.Parameter.VAR_POSITIONAL]
        raise ConfigError(
            f"student {name!r} has no option(s) {', '.join(unknown)}; allowed: {', '.join(allowed) or 'none'}"
        )
    model = fn(**kwargs)
    model.model_name = name
    model.model_args = dict(kwargs)
    for attr in ("input_shape", "embedding_dim"):
        if not hasattr(model, attr):
            raise TypeError(f"student factory {name!r} returned a module without .{attr}")
    return model
