"""Footprint: parameters, weight bytes, MACs, peak activations, TFLM arena, latency and device fit."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sea.errors import ExportError
from sea.tables import fmt_bytes, render_table

if TYPE_CHECKING:
    from .artifacts import ExportNet
    from .config import ExportConfig

log = logging.getLogger("sea.export")

KiB = 1024
MiB = 1024 * 1024

# Device classes of the issue (datasets.md §7). RAM/flash in bytes.
DEVICES = {
    "stm32h7": {"label": "STM32H7 (Cortex-M7)", "ram": 1 * MiB, "flash": 2 * MiB, "kind": "mcu"},
    "cortex_m4": {"label": "Cortex-M4 class (nRF52840)", "ram": 256 * KiB, "flash": 1 * MiB, "kind": "mcu"},
    "raspberry_pi": {"label": "Raspberry Pi 4/5", "ram": 1024 * MiB, "flash": 8 * 1024 * MiB, "kind": "pi"},
}

# dtype sizes of the TFLite schema's TensorType enum.
_TFL_DTYPE_BYTES = {
    0: 4,
    1: 2,
    2: 4,
    3: 1,
    4: 8,
    5: 8,
    6: 1,
    7: 2,
    9: 1,
    10: 8,
    11: 16,
    12: 8,
    13: 4,
    14: 1,
    15: 4,
    16: 2,
    17: 1,
}

_TEACHER_MS: dict[str, tuple[float, str] | None] = {}  # teacher latency per teacher, measured once per process

__all__ = [
    "DEVICES",
    "count_macs",
    "device_fit",
    "footprint_report",
    "format_table",
    "measure_arena",
    "onnx_weight_bytes",
    "teacher_latency_ms",
    "tflite_liveness",
    "threads",
    "time_fn",
]


def count_macs(model, example) -> int:
    """Multiply-accumulates of one forward pass at batch 1 (Conv1d/2d, Linear, matmul-free)."""
    import torch
    from torch import nn

    total = 0

    def hook(mod, inp, out):
        nonlocal total
        if isinstance(mod, (nn.Conv1d, nn.Conv2d)):
            k = int(np.prod(mod.kernel_size)) * (mod.in_channels // mod.groups)
            total += int(out[0].numel()) * k
        elif isinstance(mod, nn.Linear):
            total += int(out[0].numel()) * mod.in_features

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            model(example[:1])
    finally:
        for h in hs:
            h.remove()
    return total


def _schema():
    try:
        from ai_edge_litert import schema_py_generated as s

        return s, s.Model.GetRootAsModel
    except ImportError:  # pragma: no cover - an older ai-edge-litert: the tflite package's parser
        import tflite

        return tflite, tflite.Model.GetRootAsModel


def tflite_liveness(path: str | Path) -> dict:
    """Peak activation bytes of a .tflite by tensor liveness (what TFLM's planner needs).

    Every non-constant tensor lives from the op that writes it (graph inputs: op 0)
    to the last op that reads it (graph outputs: the last op); the peak is the largest
    sum of live sizes over ops. Also returns the constant (weight) bytes.
    """
    _, root = _schema()
    buf = Path(path).read_bytes()
    model = root(buf, 0)
    sg = model.Subgraphs(0)
    n_ops = sg.OperatorsLength()
    sizes, const = {}, {}
    for t in range(sg.TensorsLength()):
        ten = sg.Tensors(t)
        shape = ten.ShapeAsNumpy() if ten.ShapeLength() else np.array([], np.int64)
        nbytes = int(np.prod(np.abs(shape))) * _TFL_DTYPE_BYTES.get(ten.Type(), 4)
        b = model.Buffers(ten.Buffer())
        has_data = b is not None and (b.DataLength() > 0 or (hasattr(b, "Size") and b.Size() > 0))
        const[t] = has_data
        sizes[t] = nbytes
    first, last = {}, {}
    for t in sg.InputsAsNumpy():
        first[int(t)] = 0
        last[int(t)] = 0
    for i in range(n_ops):
        op = sg.Operators(i)
        for t in op.OutputsAsNumpy() if op.OutputsLength() else []:
            first.setdefault(int(t), i)
            last[int(t)] = max(last.get(int(t), i), i)
        for t in op.InputsAsNumpy() if op.InputsLength() else []:
            t = int(t)
            if t >= 0 and not const.get(t, False):
                first.setdefault(t, i)
                last[t] = i
    for t in sg.OutputsAsNumpy():
        last[int(t)] = n_ops - 1
    peak, peak_op = 0, 0
    for i in range(n_ops):
        live = sum(sizes[t] for t in first if not const.get(t, False) and first[t] <= i <= last[t])
        if live > peak:
            peak, peak_op = live, i
    weight_bytes = sum(sizes[t] for t in sizes if const.get(t, False))
    largest = max((sizes[t] for t in first if not const.get(t, False)), default=0)
    return {
        "peak_activation_bytes": int(peak),
        "peak_op_index": int(peak_op),
        "largest_activation_bytes": int(largest),
        "tensor_weight_bytes": int(weight_bytes),
        "n_ops": int(n_ops),
    }


def onnx_weight_bytes(path: str | Path) -> int:
    """Bytes of all initializers of an ONNX file (the raw tensor data)."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(path))
    return int(sum(numpy_helper.to_array(t).nbytes for t in m.graph.initializer))


#: What TensorFlow Lite Micro's Python interpreter raises when the model does not fit the arena.
_TFLM_ARENA_MESSAGE = "failed to allocate"


def _fits_arena(path: str | Path, n: int) -> bool:
    """Whether TFLM allocates ``path`` in ``n`` bytes; any error but "does not fit" is raised with its type."""
    from .tflite import _no_stderr, tflm_interpreter

    try:
        with _no_stderr():
            tflm_interpreter(path, n)
    except RuntimeError as exc:
        if _TFLM_ARENA_MESSAGE in str(exc).lower():
            return False
        raise ExportError(f"tflite-micro cannot load {str(path)!r}: {type(exc).__name__}: {exc}") from exc
    except Exception as exc:  # a corrupt model or a TFLM bug: never read as "does not fit"
        raise ExportError(f"tflite-micro cannot load {str(path)!r}: {type(exc).__name__}: {exc}") from exc
    return True


def measure_arena(path: str | Path, *, hi: int = 8 * MiB, tol: int = 256) -> int:
    """Smallest TFLM arena (bytes) that lets the interpreter allocate, by bisection.

    TFLM raises at construction when the arena is too small, so no invoke is needed.
    The figure comes from the host (64-bit pointers); on a 32-bit MCU the tail is a bit smaller.

    Parameters
    ----------
    path : path
        An int8 ``.tflite``.
    hi : int
        Upper bound of the search (bytes).
    tol : int
        Resolution of the search (bytes).

    Returns
    -------
    arena_bytes : int

    Raises
    ------
    ExportError
        The model does not fit ``hi`` bytes, or TFLM fails for another reason (named with its type: only
        TFLM's "failed to allocate" means "does not fit").
    """

    def ok(n: int) -> bool:
        return _fits_arena(path, n)

    if not ok(hi):
        raise ExportError(f"{path} does not fit a {fmt_bytes(hi)} TFLite Micro arena")
    lo = 0
    while hi - lo > tol:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return int(hi)


def time_fn(fn, *, repeats: int = 30, warmup: int = 3) -> dict:
    """Median/mean milliseconds of ``fn()`` (one window per call)."""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    return {
        "median_ms": float(np.median(ts)),
        "mean_ms": float(np.mean(ts)),
        "min_ms": float(np.min(ts)),
        "repeats": repeats,
    }


def device_fit(ram_needed: int | None, flash_needed: int | None, *, devices: dict = DEVICES) -> dict:
    """Which device classes fit; margin > 0 is headroom, < 0 is how much it misses by (bytes).

    ``fits`` is None when a need is unknown (no int8 model for a microcontroller, no TFLite model for the Pi).
    """
    out = {}
    for key, d in devices.items():
        r = None if ram_needed is None else d["ram"] - ram_needed
        f = None if flash_needed is None else d["flash"] - flash_needed
        fits = None if r is None or f is None else bool(r >= 0 and f >= 0)
        out[key] = {
            "label": d["label"],
            "ram_bytes": d["ram"],
            "flash_bytes": d["flash"],
            "ram_needed": ram_needed,
            "flash_needed": flash_needed,
            "ram_margin_bytes": r,
            "flash_margin_bytes": f,
            "fits": fits,
        }
    return out


@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    """Run the body with ``torch.set_num_threads(n)``, restoring the previous count after."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def teacher_latency_ms(repeats: int = 5, teacher: dict | None = None) -> tuple[float, str] | None:
    """Single-thread batch-1 latency of the student's teacher on one of its windows, cached per process.

    Parameters
    ----------
    repeats : int
        Timed forward passes of one window (the median is kept).
    teacher : dict, optional
        The teacher record of the student's checkpoint (``family``, ``name``, ``weights``...). OpenL3, or no
        record, times OpenL3 mel256/music/512 with untrained weights (the same network and cost as the
        trained one); any other family is loaded from its record (edgel3, BirdNET, a TFLite/ONNX model).

    Returns
    -------
    (ms, what) : (float, str) or None
        Median milliseconds per window and what was timed; None when the teacher cannot be built here.
    """
    family = (teacher or {}).get("family") or "openl3"
    key = "openl3" if family == "openl3" else f"{family}:{(teacher or {}).get('name')}:{(teacher or {}).get('weights_sha256')}"
    if key in _TEACHER_MS:
        return _TEACHER_MS[key]
    import warnings

    import numpy as np
    import torch

    from sea.errors import SeaError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if family == "openl3":
                from sea.teacher import load_teacher

                net, _ = load_teacher("mel256", "music", 512, untrained=True)
                x = torch.zeros(1, 48000)
                x[0, ::7] = 0.1
                fn, what = (lambda: net.eval()(x)), "OpenL3 mel256/music/512 (torch), one 1-s window at 48 kHz"
            else:
                from sea.teacher.registry import load_teacher_model

                model, spec = load_teacher_model(teacher, num_threads=1)
                w = np.zeros((1, spec.window_length), np.float32)
                w[0, ::7] = 0.1
                fn = lambda: model(w)  # noqa: E731
                what = f"{spec.family} {spec.name}, one {spec.window_length / spec.sr:g}-s window at {spec.sr} Hz"
    except (SeaError, ImportError, OSError) as exc:  # the teacher cannot be built here: ratios are left out
        log.info("teacher latency skipped: %s: %s", type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
        _TEACHER_MS[key] = None
        return None
    with threads(1), torch.no_grad():
        ms = time_fn(fn, repeats=repeats, warmup=1)["median_ms"]
    if family != "openl3":
        model.close()  # a BirdNET interpreter holds ~200 MB
    _TEACHER_MS[key] = (ms, what)
    return _TEACHER_MS[key]


def footprint_report(
    net: ExportNet, example, artifacts: dict[str, Path], config: ExportConfig, model_name: str,
    teacher: dict | None = None,
) -> dict:
    """Build the ``footprint.json`` document: size, memory and speed of every artifact, and the devices it fits.

    Parameters
    ----------
    net : ExportNet
        The exported network (see :func:`export.artifacts.build_net`).
    example : torch.Tensor [shape=(B, *net.in_shape)]
        Example input; its first window is timed.
    artifacts : dict of str to Path
        Model file name -> path.
    config : ExportConfig
        ``latency``, ``latency_repeats``, ``teacher_latency`` and ``arena_margin``.
    model_name : str
        The student's registry name.
    teacher : dict, optional
        The checkpoint's teacher record: the teacher timed for the speed-ups (:func:`teacher_latency_ms`).

    Returns
    -------
    doc : dict
        ``params``, ``macs``, ``artifacts`` (bytes, peak activations, TFLM arena), ``latency_ms``,
        teacher speed-ups, the ``mcu`` memory budget and ``devices`` (fit and margins).
    """
    params = int(sum(p.numel() for p in net.student.parameters()))
    cost = _student_cost(net.student, net.student_shape)
    macs = count_macs(net.net, example)
    arts = {name: _artifact_sizes(name, path) for name, path in artifacts.items()}
    latency = _latencies(net, example, artifacts, config.latency_repeats) if config.latency else {}
    fp: dict[str, Any] = {
        "model_name": model_name,
        "params": params,
        "macs": int(cost["macs"]) if cost and "macs" in cost else int(macs),
        "macs_with_frontend": int(macs) if net.in_kind == "audio" else None,
        "input_kind": net.in_kind,
        "input_shape": [1, *net.in_shape],
        "window_size": float(net.fe_params.get("window_size") or net.fe_params["window_length"] / net.fe_params["sr"]),
        "sr": int(net.fe_params["sr"]),
        "cost": cost,
        "artifacts": arts,
        "latency_ms": latency,
        "latency_note": "host CPU, batch 1, one thread, median; shared 2-core machine, so noisy",
    }
    if config.latency and config.teacher_latency:
        timed = teacher_latency_ms(teacher=teacher)
        if timed is not None:
            t_ms, fp["teacher_timed"] = timed
            fp["teacher_ms"] = t_ms
            fp["speedup_vs_teacher"] = {
                k: t_ms / v for k, v in latency.items() if v > 0 and not k.startswith("frontend")
            }
    fp["mcu"], fp["devices"] = _device_budget(arts, net, config.arena_margin)
    return fp


def _student_cost(student, input_shape: tuple[int, ...]) -> dict | None:
    from sea.students import model_cost

    if not getattr(student, "model_name", None):  # a model outside the registry: MACs are counted on the graph
        return None
    return model_cost(student, input_shape)


def _artifact_sizes(name: str, path: Path) -> dict:
    sizes: dict[str, Any] = {"file_bytes": Path(path).stat().st_size}
    if name.endswith(".onnx"):
        sizes["tensor_weight_bytes"] = onnx_weight_bytes(path)
    else:
        sizes.update(tflite_liveness(path))
        if "int8" in name:
            sizes["tflm_arena_bytes"] = measure_arena(path)
    return sizes


def _latencies(net: ExportNet, example, artifacts: dict[str, Path], repeats: int) -> dict[str, float]:
    """Median ms per window of torch, each artifact in its host runtime, and the numpy front-end."""
    import torch

    from sea.students.frontend_numpy import logmel_numpy

    from .onnx import onnx_session
    from .tflite import litert_interpreter

    latency: dict[str, float] = {}
    x1 = example[:1]
    with threads(1), torch.no_grad():
        latency["torch fp32"] = time_fn(lambda: net.net(x1), repeats=repeats)["median_ms"]
    xn = x1.numpy()
    for name, path in artifacts.items():
        if name.endswith(".onnx"):
            sess = onnx_session(path, threads=1)
            iname = sess.get_inputs()[0].name
            timing = time_fn(lambda s=sess, n=iname: s.run(None, {n: xn}), repeats=repeats)
            latency[f"{name}|onnxruntime"] = timing["median_ms"]
        else:
            it = litert_interpreter(path, threads=1)
            d = it.get_input_details()[0]
            it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
            latency[f"{name}|ai-edge-litert"] = time_fn(it.invoke, repeats=repeats)["median_ms"]
    y = np.zeros(int(net.fe_params["window_length"]), np.float32)
    latency["frontend numpy (logmel_numpy)"] = time_fn(lambda: logmel_numpy(y, net.fe_params), repeats=10)["median_ms"]
    return latency


def _device_budget(arts: dict[str, dict], net: ExportNet, arena_margin: float) -> tuple[dict, dict]:
    """Compute the MCU memory budget and every device's fit.

    MCU: the int8 model in flash; RAM = TFLM arena (+ margin) + the front-end's buffers.
    Pi: the fp32 TFLite model and its peak activations in RAM, every artifact on the SD card.
    """
    fe = net.fe_params
    i8 = arts.get("model_int8.tflite")
    n_dft = int(fe.get("n_dft", 1024))
    frontend_ram = 2 * int(fe["window_length"]) + 3 * n_dft * 4 + 4 * int(np.prod(net.fe_params["output_shape"]))
    frontend_flash = 4 * n_dft + 4 * 2 * (n_dft // 2 + 1)  # window + sparse mel weights (upper bound)
    if i8 is not None:
        arena = int(np.ceil(i8["tflm_arena_bytes"] * (1 + arena_margin) / 16) * 16)
        mcu_ram = arena + frontend_ram
        mcu_flash = i8["file_bytes"] + frontend_flash
    else:
        arena = mcu_ram = mcu_flash = None
    fp32 = arts.get("model_fp32.tflite") or {}
    pi_ram = (fp32.get("peak_activation_bytes", 0) + fp32.get("file_bytes", 0)) or None
    pi_flash = sum(a["file_bytes"] for a in arts.values()) or None
    fit = device_fit(mcu_ram, mcu_flash, devices={k: v for k, v in DEVICES.items() if v["kind"] == "mcu"})
    fit.update(device_fit(pi_ram, pi_flash, devices={k: v for k, v in DEVICES.items() if v["kind"] == "pi"}))
    mcu = {
        "arena_bytes": None if i8 is None else i8["tflm_arena_bytes"],
        "arena_with_margin": arena,
        "peak_activation_bytes_int8": None if i8 is None else i8["peak_activation_bytes"],
        "frontend_ram_bytes": frontend_ram,
        "frontend_flash_bytes": frontend_flash,
        "ram_needed": mcu_ram,
        "flash_needed": mcu_flash,
        "note": "flash excludes the TFLM library code (~50-100 KiB); arena measured on a 64-bit host",
    }
    return mcu, fit


def _kb(n) -> str:
    return fmt_bytes(n)


def _ms(v: float | None) -> str:
    return f"{v:.2f} ms" if v is not None else "-"


def _header(names_widths: tuple[tuple[str, int], ...], align: str) -> list[str]:
    # minimum column widths: the columns stay where they are whatever the cells hold
    return [n.ljust(w) if a == "<" else n.rjust(w) for (n, w), a in zip(names_widths, align)]


def format_table(fp: dict) -> str:
    """Human-readable footprint table for stdout.

    Parameters
    ----------
    fp : dict
        A :func:`footprint_report` document.

    Returns
    -------
    table : str
        The model line, one row per artifact (sizes and host latency), the teacher
        speed-ups when measured, and one row per device class (fit and margins).
    """
    lat = fp.get("latency_ms", {})
    rows = [
        [name, _kb(a.get("file_bytes")), _kb(a.get("tensor_weight_bytes")), _kb(a.get("peak_activation_bytes")),
         _kb(a.get("tflm_arena_bytes")), _ms(lat.get(f"{name}|onnxruntime")), _ms(lat.get(f"{name}|ai-edge-litert"))]
        for name, a in fp["artifacts"].items()
    ]  # fmt: skip
    cols = (("artifact", 22), ("file", 10), ("weights", 10), ("peak act.", 10), ("arena", 10), ("onnxruntime", 12))
    align = "<>>>>>>"
    lines = [
        f"model {fp['model_name']}: {fp['params']:,} params, {fp['macs'] / 1e6:,.1f} M MACs per "
        f"{fp.get('window_size', 1.0):g}-s window at {fp.get('sr', 8000) / 1000:g} kHz, input {fp['input_kind']} "
        f"{fp['input_shape']}",
        "",
        render_table(_header((*cols, ("litert", 9)), align), rows, style="text", align=align),
    ]
    if "teacher_ms" in fp:
        lines.append("")
        what = fp.get("teacher_timed", "OpenL3")
        lines.append(f"teacher ({what}), fp32, 1 thread: {fp['teacher_ms']:.1f} ms per window")
        for k, r in fp.get("speedup_vs_teacher", {}).items():
            lines.append(f"  {k}: {r:,.1f}x faster than the teacher")
    devices = [
        [d["label"], _kb(d["ram_needed"]), _kb(d["ram_margin_bytes"]), _kb(d["flash_needed"]),
         _kb(d["flash_margin_bytes"]), {True: "yes", False: "NO"}.get(d["fits"], "-")]
        for d in fp["devices"].values()
    ]  # fmt: skip
    cols = (("device", 28), ("RAM need", 10), ("RAM margin", 11), ("flash need", 10), ("flash margin", 12), ("fits", 4))
    align = "<>>>><"
    lines += ["", render_table(_header(cols, align), devices, style="text", align=align)]
    return "\n".join(lines)
