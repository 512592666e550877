"""Footprint: parameters, weight bytes, MACs, peak activations, TFLM arena, latency and device fit."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

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

__all__ = [
    "DEVICES",
    "count_macs",
    "device_fit",
    "format_table",
    "measure_arena",
    "onnx_weight_bytes",
    "tflite_liveness",
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
    except Exception:  # pragma: no cover - fallback parser
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


def measure_arena(path: str | Path, *, hi: int = 8 * MiB, tol: int = 256) -> int:
    """Smallest TFLM arena (bytes) that lets the interpreter allocate, by bisection.

    TFLM raises at construction when the arena is too small, so no invoke is needed.
    The figure comes from the host (64-bit pointers); on a 32-bit MCU the tail is a bit smaller.
    """
    from .tflite import _no_stderr, tflm_interpreter

    def ok(n: int) -> bool:
        try:
            with _no_stderr():
                tflm_interpreter(path, n)
            return True
        except Exception:
            return False

    if not ok(hi):
        raise RuntimeError(f"{path} does not fit a {hi} B TFLM arena")
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
    """Which device classes fit; margin > 0 is headroom, < 0 is how much it misses by (bytes)."""
    out = {}
    for key, d in devices.items():
        r = None if ram_needed is None else d["ram"] - ram_needed
        f = None if flash_needed is None else d["flash"] - flash_needed
        fits = r is not None and f is not None and r >= 0 and f >= 0
        out[key] = {
            "label": d["label"],
            "ram_bytes": d["ram"],
            "flash_bytes": d["flash"],
            "ram_needed": ram_needed,
            "flash_needed": flash_needed,
            "ram_margin_bytes": r,
            "flash_margin_bytes": f,
            "fits": bool(fits),
        }
    return out


def _kb(n) -> str:
    if n is None:
        return "-"
    return f"{n / 1e6:,.1f} MB" if abs(n) >= 10e6 else f"{n / 1000:,.1f} KB"


def format_table(fp: dict) -> str:
    """Human-readable footprint table for stdout."""
    lines = [
        f"model {fp['model_name']}: {fp['params']:,} params, {fp['macs'] / 1e6:,.1f} M MACs per 1-s window, "
        f"input {fp['input_kind']} {fp['input_shape']}",
        "",
        f"{'artifact':<22}{'file':>12}{'weights':>12}{'peak act.':>12}{'arena':>12}{'onnxruntime':>14}{'litert':>11}",
    ]
    lat = fp.get("latency_ms", {})
    for name, a in fp["artifacts"].items():
        ort_ms = lat.get(f"{name}|onnxruntime")
        lit_ms = lat.get(f"{name}|ai-edge-litert")
        lines.append(
            f"{name:<22}{_kb(a.get('file_bytes')):>12}{_kb(a.get('tensor_weight_bytes')):>12}"
            f"{_kb(a.get('peak_activation_bytes')):>12}{_kb(a.get('tflm_arena_bytes')):>12}"
            f"{(f'{ort_ms:.2f} ms' if ort_ms is not None else '-'):>14}{(f'{lit_ms:.2f} ms' if lit_ms is not None else '-'):>11}"
        )
    if "teacher_ms" in fp:
        lines.append("")
        lines.append(f"teacher fp32 (torch, 1 thread): {fp['teacher_ms']:.1f} ms per window")
        for k, r in fp.get("speedup_vs_teacher", {}).items():
            lines.append(f"  {k}: {r:,.1f}x faster than the teacher")
    lines.append("")
    lines.append(f"{'device':<28}{'RAM need':>12}{'RAM margin':>13}{'flash need':>12}{'flash margin':>14}  fits")
    for d in fp["devices"].values():
        lines.append(
            f"{d['label']:<28}{_kb(d['ram_needed']):>12}{_kb(d['ram_margin_bytes']):>13}{_kb(d['flash_needed']):>12}"
            f"{_kb(d['flash_margin_bytes']):>14}  {'yes' if d['fits'] else 'NO'}"
        )
    return "\n".join(lines)
