"""The model files of an export: ONNX and TFLite (fp32, int8), ``frontend.json`` and the device bundles."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sea.errors import ExportError
from sea.utils import write_json

from .config import ExportConfig

log = logging.getLogger("sea.export")

FRONTEND_JSON = "frontend.json"

__all__ = ["FRONTEND_JSON", "ExportNet", "build_net", "convert", "reference_outputs", "write_bundles", "write_frontend"]


@dataclass
class ExportNet:
    """The network as exported: the student, with the Conv1d-DFT front-end inside when ``with_frontend``.

    Attributes
    ----------
    student : torch.nn.Module
        The student ``[B, 1, 64, 50] -> [B, D]`` in eval mode.
    net : torch.nn.Module
        What is converted: ``student`` itself, or front-end + student ``[B, 8000] -> [B, D]``.
    with_frontend : bool
        Whether ``net`` takes raw 8 kHz audio.
    fe_params : dict
        The student front-end's constants (``frontend_params()``).
    """

    student: Any
    net: Any
    with_frontend: bool
    fe_params: dict

    @property
    def in_kind(self) -> str:
        """``"audio"`` or ``"logmel"``: the model input, also the ONNX input name."""
        return "audio" if self.with_frontend else "logmel"

    @property
    def student_shape(self) -> tuple[int, ...]:
        """The student's input shape without the batch axis."""
        return tuple(getattr(self.student, "input_shape", (1, 64, 50)))

    @property
    def in_shape(self) -> tuple[int, ...]:
        """The exported model's input shape without the batch axis."""
        return (int(self.fe_params["window_length"]),) if self.with_frontend else self.student_shape


def build_net(student, with_frontend: bool) -> ExportNet:
    """Wrap a student for export.

    Parameters
    ----------
    student : torch.nn.Module
        The student ``[B, 1, 64, 50] -> [B, D]``.
    with_frontend : bool
        Put the float32 Conv1d-DFT front-end in front of it (raw-audio input).

    Returns
    -------
    net : ExportNet
    """
    import torch

    from sea.students.frontend import StudentFrontend, frontend_params

    class WithFrontend(torch.nn.Module):
        def __init__(self, fe, st):
            super().__init__()
            self.frontend, self.student = fe, st

        def forward(self, audio):
            return self.student(self.frontend(audio))

    student = student.eval()
    net = student
    if with_frontend:
        net = WithFrontend(StudentFrontend(mode="conv", dtype=torch.float32), student).eval()
    return ExportNet(student, net, bool(with_frontend), frontend_params())


def reference_outputs(net: ExportNet, x_held: np.ndarray, x_cal: np.ndarray | None):
    """PyTorch fp32 embeddings of the held-out windows, and the example input of the converters.

    Parameters
    ----------
    net : ExportNet
    x_held : np.ndarray [shape=(n, *net.in_shape)]
        Held-out windows (parity).
    x_cal : np.ndarray [shape=(m, *net.in_shape)] or None
        Calibration windows; the example comes from them when given.

    Returns
    -------
    ref : np.ndarray [shape=(n, D)]
        The reference embeddings.
    example : torch.Tensor [shape=(2, *net.in_shape)]
        Two windows, to trace the model with.
    """
    import torch

    with torch.no_grad():
        ref = np.concatenate([net.net(torch.from_numpy(x_held[i : i + 32])).numpy() for i in range(0, len(x_held), 32)])
        example = torch.from_numpy(np.ascontiguousarray((x_cal if x_cal is not None else x_held)[:2]))
    if not np.all(np.isfinite(ref)):
        raise ExportError("the PyTorch model itself gives NaN/inf on the held-out windows; check the checkpoint")
    return ref, example


def convert(
    net: ExportNet, example, x_cal: np.ndarray | None, out: Path, config: ExportConfig, formats: set[str]
) -> dict[str, Path]:
    """Write the ONNX and TFLite models that ``formats`` need into ``out``.

    Parameters
    ----------
    net : ExportNet
    example : torch.Tensor [shape=(B, *net.in_shape)]
        Example input.
    x_cal : np.ndarray [shape=(m, *net.in_shape)] or None
        Calibration windows (needed when ``config.int8``).
    out : Path
        The export folder.
    config : ExportConfig
    formats : set of str
        The formats to build (``mcu`` already dropped when there is no int8).

    Returns
    -------
    artifacts : dict of str to Path
        File name -> path, in the order they were written.
    """
    artifacts: dict[str, Path] = {}
    want_tflite = bool(formats & {"tflite", "mcu", "pi"})
    if "onnx" in formats or ("pi" in formats and not want_tflite):
        artifacts.update(_onnx(net, example, x_cal, out, config))
    if want_tflite:
        artifacts.update(_tflite(net, example, x_cal, out, config))
    return artifacts


def _onnx(net: ExportNet, example, x_cal, out: Path, config: ExportConfig) -> dict[str, Path]:
    from . import onnx as eonnx

    log.info("ONNX fp32 ...")
    made = {"model_fp32.onnx": eonnx.export_onnx(net.net, example, out / "model_fp32.onnx", input_name=net.in_kind)}
    if config.int8:
        log.info("ONNX int8 (onnxruntime static QDQ, %d calibration windows) ...", len(x_cal))
        made["model_int8.onnx"] = eonnx.quantize_onnx_int8(
            out / "model_fp32.onnx",
            out / "model_int8.onnx",
            x_cal,
            input_name=net.in_kind,
            per_channel=config.per_channel,
            method=config.calibrate_method,
            reduce_range=config.onnx_reduce_range,
        )
    return made


def _tflite(net: ExportNet, example, x_cal, out: Path, config: ExportConfig) -> dict[str, Path]:
    from . import tflite as etfl

    log.info("TFLite fp32 (litert-torch) ...")
    made = {"model_fp32.tflite": etfl.export_tflite_fp32(net.net, example, out / "model_fp32.tflite")}
    if config.int8:
        log.info("TFLite int8 (litert-torch PT2E, %d calibration windows) ...", len(x_cal))
        try:
            made["model_int8.tflite"] = etfl.export_tflite_int8(
                net.net, example, out / "model_int8.tflite", x_cal, per_channel=config.per_channel
            )
        except ExportError:
            if not net.with_frontend:
                raise
            log.warning("int8 TFLite with the front-end inside failed; use the default log-mel input for int8")
    return made


def write_frontend(out: Path, net: ExportNet, artifacts: dict[str, Path], *, model_name: str, embedding_dim: int):
    """Write ``frontend.json``: the front-end's constants, framing, and the models' I/O quantization.

    Parameters
    ----------
    out : Path
        The export folder.
    net : ExportNet
    artifacts : dict of str to Path
        The models written by :func:`convert`.
    model_name : str
        The student's registry name.
    embedding_dim : int
        D, the embedding size.

    Returns
    -------
    quant : dict
        ``{tflite file name: io_quantization(...)}`` of the TFLite models.
    """
    from . import tflite as etfl

    quant = {}
    for name in ("model_int8.tflite", "model_fp32.tflite"):
        if name in artifacts:
            quant[name] = etfl.io_quantization(artifacts[name])
    int8_in = quant.get("model_int8.tflite", {}).get("input")
    fe = net.fe_params
    doc = {
        "format": "sea-frontend",
        "format_version": 1,
        "model_name": model_name,
        "model_input": net.in_kind,
        "input_shape": [1, *net.in_shape],
        "embedding_dim": int(embedding_dim),
        "frontend": fe,
        "framing": {"sr": int(fe["sr"]), "frame_size": 1.0, "center": True, "timestamps": "i * hop_size"},
        "input_quantization": None
        if int8_in is None
        else {
            "dtype": int8_in["dtype"],
            "scale": int8_in["scale"],
            "zero_point": int8_in["zero_point"],
            "rule": "q = clip(round(x / scale) + zero_point, -128, 127)",
        },
        "tflite_io": quant,
        "onnx": {"input_name": net.in_kind, "output_name": "embedding", "int8": "float input; QDQ quantizes inside"},
    }
    write_json(out / FRONTEND_JSON, doc)
    return quant


def write_bundles(
    out: Path,
    net: ExportNet,
    artifacts: dict[str, Path],
    *,
    formats: set[str],
    quant: dict,
    footprint: dict,
    config: ExportConfig,
    model_name: str,
) -> None:
    """Write the ``mcu/`` (TFLite Micro C arrays) and ``pi/`` (``sea_edge.py``) bundles that ``formats`` ask for.

    Parameters
    ----------
    out : Path
        The export folder (``frontend.json`` already written).
    net : ExportNet
    artifacts : dict of str to Path
        The models written by :func:`convert`.
    formats : set of str
        The formats to build.
    quant : dict
        The TFLite I/O quantization returned by :func:`write_frontend`.
    footprint : dict
        The footprint report (its measured TFLM arena sizes the MCU arena).
    config : ExportConfig
    model_name : str
        The student's registry name.
    """
    if "mcu" in formats and "model_int8.tflite" in artifacts:
        from .mcu import write_mcu_bundle

        write_mcu_bundle(
            out / "mcu",
            artifacts["model_int8.tflite"],
            io=quant["model_int8.tflite"],
            arena_bytes=footprint["artifacts"]["model_int8.tflite"]["tflm_arena_bytes"],
            arena_margin=config.arena_margin,
            frontend_params=net.fe_params,
            model_name=model_name,
            with_frontend=net.with_frontend,
        )
    if "pi" in formats:
        from .pi import write_pi_bundle

        pi_models = {n: p for n, p in artifacts.items() if n.endswith(".tflite") or n.endswith(".onnx")}
        write_pi_bundle(
            out / "pi",
            pi_models,
            out / FRONTEND_JSON,
            classifier=Path(config.classifier) if config.classifier else None,
            model_name=model_name,
        )
