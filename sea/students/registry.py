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

__all__ = [
    "check_input_shape",
    "suggest_student",
    "create",
    "get_factory",
    "list_students",
    "register_student",
    "student_description",
]

#: The smallest log-mel map every student's body accepts (three 2x2 poolings / stride-2 stages leave >= 1 cell).
MIN_INPUT_SIZE = 8

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


def check_input_shape(input_shape, owner: str = "student") -> tuple[int, int, int]:
    """Validate a student's ``input_shape`` ``(1, n_mels, n_frames)`` and return it as a tuple of ints.

    Parameters
    ----------
    input_shape : sequence of 3 ints
        ``(channels, n_mels, n_frames)``; the SEA front-end gives ``(1, 64, n_frames)`` with 50 frames for a 1-s
        window and 150 for a 3-s one (``sea.students.frontend.frontend_params(window_size)["output_shape"]``).
    owner : str
        Named in the error message.

    Returns
    -------
    shape : tuple of 3 ints

    Raises
    ------
    ConfigError
        Not three positive ints, or a map smaller than 8x8.
    """
    try:
        shape = tuple(int(s) for s in input_shape)
        ok = len(shape) == 3 and all(float(a) == b for a, b in zip(input_shape, shape))
    except (TypeError, ValueError):
        ok, shape = False, ()
    if not ok or shape[0] < 1 or min(shape[1:]) < MIN_INPUT_SIZE:
        raise ConfigError(
            f"{owner} input_shape={input_shape!r} must be (channels, n_mels, n_frames) with channels >= 1 and at least "
            f"{MIN_INPUT_SIZE} mel bands and frames, e.g. (1, 64, 50) for 1-s windows or (1, 64, 150) for 3-s ones "
            "(sea.students.frontend.frontend_params(window_size)['output_shape'])"
        )
    return shape


def list_students(pattern: str = "*") -> list[str]:
    """Registered student names matching a glob ``pattern``, in registration order."""
    return [n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern)]


def student_description(name: str) -> str:
    """One-line description of a registered student."""
    get_factory(name)
    return _DESCRIPTIONS.get(name, "")


def get_factory(name: str) -> Callable:
    """The factory registered under ``name``.

    Parameters
    ----------
    name : str

    Returns
    -------
    factory : callable

    Raises
    ------
    ConfigError
        Unknown name: the message suggests the nearest name of the same family (``sea_mcu_ss`` -> ``sea_mcu_s``)
        and lists every registered student.
    """
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        published = (
            "; the published SEA students (sea_ust_64 ...) load with sea.students.load_published(name)"
            if str(name).startswith("sea_ust")
            else ""
        )
        hint = "" if published else suggest_student(name, list(_REGISTRY))
        raise ConfigError(
            f"unknown student {name!r}{hint}; available students: {', '.join(_REGISTRY)}{published}"
        ) from None


def _shared_parts(a: str, b: str) -> int:
    n = 0
    for x, y in zip(str(a).split("_"), str(b).split("_")):
        if x != y:
            break
        n += 1
    return n


def suggest_student(name: str, choices: list[str]) -> str:
    """`` (did you mean 'x'?)`` for the nearest of ``choices`` within ``name``'s family, else among all.

    The family is the choices that share the most leading ``_``-parts with ``name`` (``sea_mcu_ss`` shares
    ``sea_mcu`` with the MCU sizes): a typo in a size suggests a size of that family, not one of the eight
    ``sea_student_*`` names that share only ``sea``. Nearness is :func:`sea.config.did_you_mean`'s.
    """
    from ..config import did_you_mean

    if not choices:
        return ""
    best = max(_shared_parts(name, c) for c in choices)
    family = [c for c in choices if _shared_parts(name, c) == best]
    return did_you_mean(name, family) or did_you_mean(name, choices)


def create(name: str, **kwargs):
    """Build the student ``name`` with ``kwargs``.

    Parameters
    ----------
    name : str
        A registered student (:func:`list_students`).
    **kwargs
        The factory's options; every student takes ``input_shape=(1, 64, n_frames)`` (default ``(1, 64, 50)``,
        a 1-s window; 150 frames for a 3-s window), JSON-serialisable so a checkpoint can rebuild it.

    Returns
    -------
    torch.nn.Module
        Input ``[B, 1, 64, n_frames]`` log-mel, output ``[B, D]``; attributes ``model_name``, ``model_args`` (a copy
        of ``kwargs``), ``input_shape`` and ``embedding_dim == D``.
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
