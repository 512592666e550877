"""Export a distilled student to edge formats, with parity and footprint reports.

>>> from export import ExportConfig, export_student
>>> export_student("run/students/sea_student_3/best.pt", "run/export/sea_student_3",
...                ExportConfig(int8=True, calibration="run"))

Artifacts: ``model_fp32.onnx``, ``model_int8.onnx`` (onnxruntime static QDQ), ``model_fp32.tflite``,
``model_int8.tflite`` (litert-torch PT2E, int8 I/O), ``frontend.json``, ``parity.json``, ``footprint.json``,
``mcu/`` (C arrays and config header for TFLite Micro) and ``pi/`` (``sea_edge.py`` runner). Heavy toolchains
(onnxruntime, litert-torch, tflite-micro) are imported only inside the functions that use them.
"""

from __future__ import annotations

from .config import VALID_FORMATS, ExportConfig

__all__ = ["VALID_FORMATS", "ExportConfig", "export_model", "export_student", "teacher_latency_ms"]


def __getattr__(name: str):
    if name in ("export_model", "export_student", "teacher_latency_ms"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'export' has no attribute {name!r}")
