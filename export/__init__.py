"""Export a distilled student to edge formats, with parity and footprint reports.

>>> from export import ExportConfig, export_student
>>> export_student("run/students/sea_student_3/best.pt", "run/export/sea_student_3",
...                ExportConfig(int8=True, calibration="run"))

or, for a student of a run (what ``sea run`` does), or one of the SEA paper's published students::

    >>> from export import run, export_published
    >>> run("run", ExportConfig(student="sea_student_3", int8=True))
    >>> export_published("sea_ust_64", "out/sea_ust_64", ExportConfig(calibration="recordings/"))

Artifacts: ``model_fp32.onnx``, ``model_int8.onnx`` (onnxruntime static QDQ), ``model_fp32.tflite``,
``model_int8.tflite`` (litert-torch PT2E, int8 I/O), ``frontend.json`` (the front-end and its window),
``parity.json``, ``footprint.json``, ``mcu/`` (C arrays and config header for TFLite Micro), ``firmware/``
(sea's dependency-free C99 of the int8 network and its front-end; :mod:`export.firmware`) and ``pi/``
(``sea_edge.py`` runner and its numpy front-end). Heavy toolchains (onnxruntime, litert-torch, tflite-micro)
are imported only inside the functions that use them, and kept quiet (:mod:`export.quiet`).

Modules: :mod:`export.stage` (``run``, ``export_student``, ``export_published``, ``export_model``),
:mod:`export.config`, :mod:`export.calibration` (windows), :mod:`export.artifacts` (models, ``frontend.json``,
bundles), :mod:`export.onnx` / :mod:`export.tflite` / :mod:`export.ops` (converters and runtimes),
:mod:`export.parity`, :mod:`export.footprint`, :mod:`export.mcu`, :mod:`export.firmware`, :mod:`export.pi`.
"""

from __future__ import annotations

from .config import VALID_FORMATS, ExportConfig

__all__ = ["VALID_FORMATS", "ExportConfig", "export_model", "export_published", "export_student", "run",
           "teacher_latency_ms"]  # fmt: skip

# The stage pulls in sea.runs and the export modules; `import export` (the CLI's parser) stays light.
_LAZY = {"export_model": "stage", "export_published": "stage", "export_student": "stage", "run": "stage",
         "teacher_latency_ms": "footprint"}  # fmt: skip


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'export' has no attribute {name!r}")
