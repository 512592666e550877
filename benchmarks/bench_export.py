"""Latency per window on this CPU: teacher fp32 vs student fp32/int8 in each runtime (batch 1, one thread).

    python benchmarks/bench_export.py [--student sea_student_3] [--repeats 30] [--keep DIR] [--window-size 1.0]

Exports a random-weight student (calibrated on real windows of a small synthetic run built in a temp
folder), then times torch, onnxruntime, ai-edge-litert and tflite-micro, and prints each against two baselines
measured in the same process: the OpenL3 teacher (teacher/this) and the student in torch fp32 (torch/this). The
machine (CPU model, cores) is printed with the table. Figures on a shared machine are noisy; tflite-micro uses
reference kernels, so its host time says nothing about an MCU.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--student", default="sea_student_3")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--tflm-repeats", type=int, default=3)
    ap.add_argument("--keep", help="export folder to keep (default: a temp folder)")
    ap.add_argument("--window-size", type=float, default=1.0, help="the student's window in seconds (3.0: BirdNET's)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    import torch

    from export import ExportConfig, export_student, teacher_latency_ms
    from export.footprint import time_fn
    from export.onnx import onnx_session
    from export.tflite import _no_stderr, litert_interpreter, tflm_interpreter
    from tests.conftest import make_run
    from tests.export.conftest import make_checkpoint

    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="sea-bench-"))
    run = make_run(tmp / "run", n_clips=6, srs=(8000,))
    ckpt = make_checkpoint(run, args.student, window_size=args.window_size)
    out = Path(args.keep) if args.keep else tmp / "export"
    cfg = ExportConfig(
        int8=True,
        calibration=str(run),
        n_calibration=64,
        n_parity=16,
        n_parity_tflm=2,
        formats=("onnx", "tflite"),
        latency=False,
        overwrite=True,
    )
    export_student(ckpt, out, cfg)

    from sea.checkpoint import load_student

    model, ckpt_doc = load_student(ckpt)
    fe = ckpt_doc["frontend"]
    x = torch.zeros(1, *fe["output_shape"]) - 40.0
    rows = []
    with torch.no_grad():
        rows.append(("student fp32", "torch", time_fn(lambda: model(x), repeats=args.repeats)["median_ms"]))
    xn = x.numpy()
    for name in ("model_fp32.onnx", "model_int8.onnx"):
        s = onnx_session(out / name, threads=1)
        n = s.get_inputs()[0].name
        rows.append(
            (
                f"student {name[6:10]}",
                "onnxruntime",
                time_fn(lambda s=s, n=n: s.run(None, {n: xn}), repeats=args.repeats)["median_ms"],
            )
        )
    for name in ("model_fp32.tflite", "model_int8.tflite"):
        it = litert_interpreter(out / name, threads=1)
        rows.append((f"student {name[6:10]}", "ai-edge-litert", time_fn(it.invoke, repeats=args.repeats)["median_ms"]))
    with _no_stderr():
        tm = tflm_interpreter(out / "model_int8.tflite", 8 * 1024 * 1024)
    d = tm.get_input_details(0)
    tm.set_input(np.zeros(d["shape"], d["dtype"]), 0)
    rows.append(
        (
            "student int8",
            "tflite-micro (ref. kernels)",
            time_fn(tm.invoke, repeats=args.tflm_repeats, warmup=1)["median_ms"],
        )
    )
    from sea.students.frontend_numpy import frontend_mel_basis, logmel_numpy

    y = np.random.default_rng(0).standard_normal(int(fe["window_length"])).astype(np.float32) * 0.1
    mel = frontend_mel_basis(fe)  # built once, as the Pi runner does
    ms = time_fn(lambda: logmel_numpy(y, fe, mel), repeats=args.repeats)["median_ms"]
    rows.append(("front-end (numpy)", "numpy", ms))
    timed = teacher_latency_ms(repeats=5)
    t_ms = timed[0] if timed else None
    print(f"\nlatency per {args.window_size:g}-s window, batch 1, one thread ({args.student}; shared CPU, noisy)")
    print(machine_line() + "\n")
    print(latency_table(rows, t_ms))
    return 0


def machine_line() -> str:
    """``machine: CPU model, N cores, M GiB`` (sea.utils.machine_info)."""
    from sea.utils import machine_info

    m = machine_info()
    return f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}, torch {m.get('torch')}"


def latency_table(rows: list[tuple[str, str, float]], t_ms: float | None) -> str:
    """The latency table: one row per (model, runtime, ms), the teacher first, with the teacher/this and
    torch/this ratios (baselines timed in the same process: the OpenL3 teacher, and the student in torch fp32)."""
    from sea.tables import render_table

    base = next((ms for who, rt, ms in rows if rt == "torch"), None)

    def ratio(ref, ms):
        if not ref:
            return "-"
        r = ref / ms
        return f"{r:.1f}" if r >= 0.1 else f"{r:.2g}"

    table = [["teacher fp32", "torch", f"{t_ms:.2f}" if t_ms is not None else "n/a", "1.0" if t_ms else "-",
              ratio(base, t_ms) if t_ms else "-"]]  # fmt: skip
    table += [[who, rt, f"{ms:.3f}", ratio(t_ms, ms), ratio(base, ms)] for who, rt, ms in rows]
    # minimum widths keep the columns of the earlier fixed-width layout (benchmarks/RESULTS.md)
    header = ["model".ljust(20), "runtime".ljust(28), "ms".rjust(10), "teacher/this".rjust(12), "torch/this".rjust(10)]
    text = render_table(header, table, style="text", align="<<>>>")
    return text if t_ms is not None else text + "\n(teacher: sea.teacher not importable)"


if __name__ == "__main__":
    sys.exit(main())
