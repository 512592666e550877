"""sea: Specialized Embedding Approximation for edge audio.

Distill the OpenL3 audio embedding into tiny, quantizable students specialised
to a target domain (urban sound), and ship them to ONNX / TFLite / MCUs.
Submodules are imported lazily so ``import sea`` stays light.
"""

from __future__ import annotations

import importlib

from ._version import __version__

_SUBMODULES = {
    "audio", "cache", "config", "constants", "distributed", "errors", "layout", "manifest", "progress", "runs",
    "splits", "store", "summary", "tables", "students", "targets", "teacher", "distill", "evaluate", "pipeline", "utils",
}  # fmt: skip
# modules that moved into the stage that owns them (sea.frontend -> sea.students.frontend, ...)
_MOVED = {"frontend": "students.frontend", "report": "evaluate.report", "dpp": "targets.dpp", "losses": "distill.losses"}

__all__ = ["__version__", *sorted(_SUBMODULES)]


def __getattr__(name: str):
    if name in _SUBMODULES or name in _MOVED:
        return importlib.import_module(f".{_MOVED.get(name, name)}", __name__)
    raise AttributeError(f"module 'sea' has no attribute {name!r}")
