"""``write_firmware``: an int8 ``.tflite`` + ``frontend.json`` -> a self-contained C99 project."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from sea.errors import ExportError
from sea.utils import write_json

from .emit import emit_project
from .frontend_spec import load_frontend
from .graph import read_tflite
from .lower import lower_graph, plan_memory

__all__ = ["FIRMWARE_JSON", "GENERATOR_VERSION", "resolve_inputs", "write_firmware", "write_network"]

FIRMWARE_JSON = "firmware.json"
GENERATOR_VERSION = 1


def resolve_inputs(export_dir_or_tflite, frontend_json=None) -> tuple[Path, Path]:
    """``(model_int8.tflite, frontend.json)`` from an export folder or a ``.tflite`` path."""
    src = Path(export_dir_or_tflite)
    if src.is_dir():
        tfl = src / "model_int8.tflite"
        if not tfl.is_file():
            raise ExportError(
                f"{src}: no model_int8.tflite; the firmware needs the full-int8 model: run `sea export --int8` first"
            )
    elif src.is_file():
        tfl = src
    else:
        raise ExportError(f"{src}: no such export folder or .tflite file")
    fe = Path(frontend_json) if frontend_json is not None else tfl.parent / "frontend.json"
    return tfl, fe


def write_firmware(
    export_dir_or_tflite,
    frontend_json=None,
    out_dir=None,
    *,
    dsp: bool = True,
    int16_weight_budget: int = 48 * 1024,
    rounding: str = "litert",
    model_name: str | None = None,
) -> Path:
    """Generate the firmware project.

    Parameters
    ----------
    export_dir_or_tflite : path
        An export folder holding ``model_int8.tflite`` (and ``frontend.json``), or a ``.tflite`` file.
    frontend_json : path, optional
        Default: ``frontend.json`` next to the model.
    out_dir : path, optional
        Default: ``<export_dir>/firmware``. Generated files are overwritten; build outputs are left alone.
    dsp : bool
        Default of the Makefile's ``DSP`` variable (SMLAD inner loops on Cortex-M4/M7).
    int16_weight_budget : int
        Extra flash (bytes) that conv weights stored as int16 may take (faster inner loop); 0 keeps all int8.
    rounding : {"litert", "tflm"}
        Which reference the int8 outputs equal bit for bit: ai-edge-litert's reference kernels (default; its
        FULLY_CONNECTED rounds once) or TensorFlow Lite Micro (double rounding everywhere).
    model_name : str, optional
        Default: ``model_name`` of frontend.json, else the folder name.

    Returns
    -------
    Path
        ``out_dir``, holding the C sources, the Makefile, README.md and ``firmware.json`` (layers, MACs, the
        arena plan).

    Raises
    ------
    ExportError
        Unsupported ops or tensors, or a missing/corrupted/mismatched frontend.json (one-line message naming the
        file, the key, the rule and the fix).
    """
    tfl, fe_path = resolve_inputs(export_dir_or_tflite, frontend_json)
    out = Path(out_dir) if out_dir is not None else tfl.parent / "firmware"
    graph = read_tflite(tfl)
    tin = graph.t(graph.inputs[0])
    fe = load_frontend(fe_path, tin.shape, tin.qscale, tin.qzero)
    if model_name is None:
        try:
            model_name = str(json.loads(fe_path.read_text(encoding="utf-8")).get("model_name") or "")
        except (OSError, ValueError, AttributeError):
            model_name = ""
        model_name = model_name or tfl.parent.name or tfl.stem
    model_name = "".join(c if c.isalnum() or c in "._-" else "_" for c in model_name)
    prog = lower_graph(graph, int16_weight_budget=int16_weight_budget, rounding=rounding)
    plan = plan_memory(prog, 4 * fe.scratch_floats)
    files = emit_project(out, prog, plan, fe, model_name, dsp=dsp)
    layers = []
    for la in prog.layers:
        entry = {"index": la.index, "kind": la.kind, "op": la.op, "note": la.note, "macs": int(la.macs)}
        if la.kind == "conv":
            entry["weight_format"] = "int16" if la.params["w16"] else "int8"
            entry["weight_bytes"] = int(la.params["words"].size * 4)
            entry["k_pad"] = int(la.params["k_pad"])
        layers.append(entry)
    meta = {
        "format": "sea-firmware",
        "generator_version": GENERATOR_VERSION,
        "model_name": model_name,
        "tflite": tfl.name,
        "tflite_sha256": hashlib.sha256(tfl.read_bytes()).hexdigest(),
        "frontend_json": fe_path.name,
        "frontend_sha256": hashlib.sha256(fe_path.read_bytes()).hexdigest(),
        "macs_per_window": int(prog.macs),
        "input": {"shape": list(tin.shape), "scale": tin.qscale, "zero_point": tin.qzero},
        "output": {
            "shape": list(prog.output_tensor.shape),
            "scale": prog.output_tensor.qscale,
            "zero_point": prog.output_tensor.qzero,
        },
        "embedding_dim": int(prog.output_tensor.size),
        "window_samples": fe.window_length,
        "sample_rate": fe.sr,
        "dsp_default": bool(dsp),
        "int16_weight_budget": int(int16_weight_budget),
        "rounding": rounding,
        "layers": layers,
        "memory": {k: v for k, v in plan.items() if k != "offsets"},
        "frontend_scratch_bytes": 4 * fe.scratch_floats,
        "weight_bytes": int(sum(la.get("weight_bytes", 0) for la in layers)),
        "files": files,
    }
    write_json(out / FIRMWARE_JSON, meta)
    (out / FIRMWARE_JSON).chmod(0o644)
    return out


def write_network(tflite, out_dir, *, int16_weight_budget: int = 48 * 1024, rounding: str = "litert") -> Path:
    """Write only the network's C (``sea.h`` with ``sea_network``, model, data and kernels) for ``tflite``.

    No front-end and no examples: for per-layer tests and for projects that compute their own input features.
    Any int8 model with one input and one output works (no frontend.json needed).

    Returns
    -------
    Path
        ``out_dir``.
    """
    out = Path(out_dir)
    graph = read_tflite(tflite)
    prog = lower_graph(graph, int16_weight_budget=int16_weight_budget, rounding=rounding)
    plan = plan_memory(prog, 0)
    emit_project(out, prog, plan, None, Path(tflite).stem, dsp=False)
    return out
