"""OpenL3 audio teacher in PyTorch, faithful to openl3 0.4.x (issue 3).

Public API
----------
- :class:`OpenL3Audio` -- the network with its front-end: [B, 48000] -> [B, D].
- :func:`get_audio_embedding`, :func:`process_audio_file`, :func:`load_audio_embedding_model`,
  :func:`load_audio_embedding_model_from_path`, :func:`get_output_path` -- openl3 0.4.2's audio API with
  its signatures and defaults (plus sea's keyword ``untrained_teacher=False`` for dry runs).
- :func:`load_teacher` -- model + weights (official ``.h5`` read with h5py, no TensorFlow).
- :func:`get_embedding` -- ``get_audio_embedding`` with sea's keyword names.
- :func:`embed_files` / :func:`embed_report` -- files to ``<stem>.npz`` with ``embedding``/``timestamps``.

The teacher stage of a run (``sea teacher extract``) is :func:`sea.teacher.stage.run`
with :class:`sea.teacher.config.ExtractConfig`; the frame store it writes is
built by :mod:`sea.teacher.store_writer`.

See ``docs``/openl3.md (shared reference) for every front-end and network detail.
"""

# Constants come from sea.constants; everything that needs torch is imported lazily (PEP 562),
# so that ``import sea.teacher.config`` and the CLI parser stay light.
from ..constants import TEACHER_SR as TARGET_SR
from ..constants import VALID_CONTENT_TYPES, VALID_EMBEDDING_SIZES, VALID_FRONTENDS, VALID_INPUT_REPRS

_LAZY = {
    "PRECISIONS": "core",
    "EmbedReport": "core",
    "embed_files": "core",
    "embed_report": "core",
    "get_audio_embedding": "core",
    "get_embedding": "core",
    "get_output_path": "core",
    "load_audio_embedding_model": "core",
    "load_audio_embedding_model_from_path": "core",
    "load_teacher": "core",
    "output_path": "core",
    "process_audio_file": "core",
    "variant_name": "core",
    "Frontend": "frontends",
    "amplitude_to_db": "frontends",
    "N_PARAMETERS": "model",
    "N_TRAINABLE": "model",
    "OpenL3Audio": "model",
    "conv_macs": "model",
    "convert_h5": "weights",
    "read_keras_h5": "weights",
    "resolve_weights": "weights",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


# Shorter aliases, kept for old callers.
INPUT_REPRS = VALID_INPUT_REPRS
CONTENT_TYPES = VALID_CONTENT_TYPES
EMBEDDING_SIZES = VALID_EMBEDDING_SIZES
FRONTENDS = VALID_FRONTENDS

__all__ = [
    "CONTENT_TYPES",
    "EMBEDDING_SIZES",
    "FRONTENDS",
    "INPUT_REPRS",
    "N_PARAMETERS",
    "N_TRAINABLE",
    "PRECISIONS",
    "TARGET_SR",
    "VALID_CONTENT_TYPES",
    "VALID_EMBEDDING_SIZES",
    "VALID_FRONTENDS",
    "VALID_INPUT_REPRS",
    "Frontend",
    "OpenL3Audio",
    "amplitude_to_db",
    "conv_macs",
    "convert_h5",
    "EmbedReport",
    "embed_files",
    "embed_report",
    "get_audio_embedding",
    "get_embedding",
    "get_output_path",
    "load_audio_embedding_model",
    "load_audio_embedding_model_from_path",
    "load_teacher",
    "output_path",
    "process_audio_file",
    "read_keras_h5",
    "resolve_weights",
    "variant_name",
]
