"""The model files of an export: ONNX and TFLite (fp32, int8), ``frontend.json`` and the device bundles."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sea.errors import ExportError
from sea.utils import read_json, write_json

from .config import ExportConfig

log = logging.getLogger("sea.export")

FRONTEND_JSON = "frontend.json"

__all__ = [
    "FRONTEND_JSON",
    "ExportNet",
    "build_net",
    "convert",
    "reference_outputs",
    "write_firmware_bundle",
    "write_frontend",
    "write_mcu",
    "write_pi",
]


@dataclass
class ExportNet:
    """The network as exported: the student, with the Conv1d-DFT front-end inside when ``with_frontend``.

    Attributes
    ----------
    student : torch.nn.Module
        The student ``[B, 1, 64, n_frames] -> [B, D]`` in eval mode.
    net : torch.nn.Module
        What is converted: ``student`` itself, or front-end + student ``[B, window_length] -> [B, D]``.
    with_frontend : bool
        Whether ``net`` takes raw 8 kHz audio.
    fe_params : dict
        The student front-end's constants (the checkpoint's ``frontend``: its window).
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
        return tuple(getattr(self.student, "input_shape", None) or self.fe_params["output_shape"])

    @property
    def in_shape(self) -> tuple[int, ...]:
        """The exported model's input shape without the batch axis."""
        return (int(self.fe_params["window_length"]),) if self.with_frontend else self.student_shape


def build_net(student, with_frontend: bool, fe_params: dict | None = None) -> ExportNet:
    """Wrap a student for export.

    Parameters
    ----------
    student : torch.nn.Module
        The student ``[B, 1, 64, n_frames] -> [B, D]``.
    with_frontend : bool
        Put the float32 Conv1d-DFT front-end in front of it (raw-audio input).
    fe_params : dict, optional
        The front-end the student was trained with (the checkpoint's ``frontend``); default the 1-s front-end.

    Returns
    -------
    net : ExportNet

    Raises
    ------
    ExportError
        The front-end's output shape is not the student's input shape.
    """
    import torch

    from sea.students.frontend import StudentFrontend, frontend_params

    fe_params = dict(fe_params) if fe_params is not None else frontend_params(1.0)
    shape = getattr(student, "input_shape", None)
    if shape is not None and list(shape)[1:] != list(fe_params["output_shape"])[1:]:
        raise ExportError(
            f"the student takes {list(shape)} log-mels but its front-end makes {fe_params['output_shape']} "
            f"({fe_params.get('window_size')} s windows); the checkpoint's 'frontend' record does not fit its model"
        )

    class WithFrontend(torch.nn.Module):
        def __init__(self, fe, st):
            super().__init__()
            self.frontend, self.student = fe, st

        def forward(self, audio):
            return self.student(self.frontend(audio))

    student = student.eval()
    net = student
    if with_frontend:
        net = WithFrontend(StudentFrontend(mode="conv", dtype=torch.float32, params=fe_params), student).eval()
    return ExportNet(student, net, bool(with_frontend), fe_params)


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

    Raises
    ------
    ExportError
        The PyTorch model gives a non-finite value (the window and the column are named).
    """
    import torch

    with torch.no_grad():
        ref = np.concatenate([net.net(torch.from_numpy(x_held[i : i + 32])).numpy() for i in range(0, len(x_held), 32)])
        example = torch.from_numpy(np.ascontiguousarray((x_cal if x_cal is not None else x_held)[:2]))
    if not np.all(np.isfinite(ref)):
        row, col = (int(v) for v in np.argwhere(~np.isfinite(ref))[0])
        raise ExportError(
            f"the PyTorch model itself gives NaN/inf on held-out window {row} (embedding dimension {col}); "
            "check the checkpoint (re-create it with 'sea distill --overwrite')"
        )
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
        The formats to build (``mcu`` and ``firmware`` already dropped when there is no int8).

    Returns
    -------
    artifacts : dict of str to Path
        File name -> path, in the order they were written.
    """
    artifacts: dict[str, Path] = {}
    want_tflite = bool(formats & {"tflite", "mcu", "firmware", "pi"})
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
        except ExportError as exc:  # the documented failure: PT2E int8 of the Conv1d-DFT front-end
            if not net.with_frontend:
                raise
            log.warning(
                "int8 TFLite with the front-end inside failed (%s); use the default log-mel input for int8", exc
            )
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
    window_size = float(fe.get("window_size") or int(fe["window_length"]) / int(fe["sr"]))
    doc = {
        "format": "sea-frontend",
        "format_version": 1,
        "model_name": model_name,
        "model_input": net.in_kind,
        "input_shape": [1, *net.in_shape],
        "embedding_dim": int(embedding_dim),
        "frontend": fe,
        "window_size": window_size,
        "window_length": int(fe["window_length"]),
        "n_frames": int(fe["n_frames"]),
        "framing": {
            "sr": int(fe["sr"]),
            "frame_size": window_size,
            "center": True,
            "timestamps": "i * hop_size: the centre of window i (window i covers [i * hop_size - frame_size / 2, "
            "i * hop_size + frame_size / 2), zero-padded)",
        },
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


def write_mcu(out: Path, net: ExportNet, artifacts: dict[str, Path], *, quant: dict, footprint: dict,
              config: ExportConfig, model_name: str) -> list[Path]:  # fmt: skip
    """Write the ``mcu/`` bundle (TFLite Micro C arrays and config header) from the int8 TFLite model.

    Parameters
    ----------
    out : Path
        The export folder (``frontend.json`` already written).
    net : ExportNet
    artifacts : dict of str to Path
        The models written by :func:`convert` (``model_int8.tflite`` among them).
    quant : dict
        The TFLite I/O quantization returned by :func:`write_frontend`.
    footprint : dict
        The footprint report (its measured TFLM arena sizes the MCU arena).
    config : ExportConfig
    model_name : str
        The student's registry name.

    Returns
    -------
    files : list of Path
        The files written.
    """
    from .mcu import write_mcu_bundle

    bundle = write_mcu_bundle(
        out / "mcu",
        artifacts["model_int8.tflite"],
        io=quant["model_int8.tflite"],
        arena_bytes=footprint["artifacts"]["model_int8.tflite"]["tflm_arena_bytes"],
        arena_margin=config.arena_margin,
        frontend_params=net.fe_params,
        model_name=model_name,
        with_frontend=net.with_frontend,
    )
    return [out / "mcu" / f for f in bundle["files"]]


def write_firmware_bundle(out: Path, artifacts: dict[str, Path], *, model_name: str) -> list[Path]:
    """Write ``firmware/``: sea's dependency-free C99 project of the int8 model and its front-end.

    Parameters
    ----------
    out : Path
        The export folder (``frontend.json`` and ``model_int8.tflite`` already written).
    artifacts : dict of str to Path
        The models written by :func:`convert`.
    model_name : str
        The student's registry name.

    Returns
    -------
    files : list of Path
        The generated files (``firmware.json`` and the sources; build outputs are not part of the export).
    """
    from .firmware import FIRMWARE_JSON, write_firmware

    fw = write_firmware(artifacts["model_int8.tflite"], out / FRONTEND_JSON, out / "firmware", model_name=model_name)
    meta = read_json(fw / FIRMWARE_JSON)
    return [fw / FIRMWARE_JSON, *(fw / f for f in meta.get("files", []) if (fw / f).is_file())]


def write_pi(out: Path, artifacts: dict[str, Path], *, classifier: str | None, model_name: str) -> list[Path]:
    """Write the ``pi/`` bundle: the models, ``frontend.json``, ``sea_edge.py`` and its numpy front-end.

    Parameters
    ----------
    out : Path
        The export folder (``frontend.json`` already written).
    artifacts : dict of str to Path
        The models written by :func:`convert`.
    classifier : path or None
        A linear head ``.npz`` shipped as ``classifier.npz``.
    model_name : str
        The student's registry name.

    Returns
    -------
    files : list of Path
        The files written.
    """
    from .pi import write_pi_bundle

    pi_models = {n: p for n, p in artifacts.items() if n.endswith(".tflite") or n.endswith(".onnx")}
    bundle = write_pi_bundle(
        out / "pi",
        pi_models,
        out / FRONTEND_JSON,
        classifier=Path(classifier) if classifier else None,
        model_name=model_name,
    )
    return [out / "pi" / f for f in bundle["files"]]
