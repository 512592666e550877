"""sea: Specialized Embedding Approximation for edge audio.

Distill the OpenL3 audio embedding into tiny, quantizable students specialised
to a target domain (urban sound), and ship them to ONNX / TFLite / MCUs.
Submodules are imported lazily so ``import sea`` stays light.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = {
    "audio", "cache", "config", "errors", "frontend", "manifest", "progress", "runs",
    "store", "students", "targets", "teacher", "distill", "evaluate", "report", "pipeline", "utils",
}


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'sea' has no attribute {name!r}")
