"""Student costs, front-end speed and (optionally) real int8 TFLM memory of the MCU family.

    python benchmarks/bench_students.py                 # cost table + front-end timings
    python benchmarks/bench_students.py --tflm          # + PT2E int8 .tflite, flatbuffer peak and TFLM min arena

Timings on a shared machine are noisy; the memory figures are exact.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch

from sea import students
from sea.students.frontend import StudentFrontend, logmel_numpy, mel_filterbank_numpy


def bench_frontend(batch: int, device: str, repeats: int = 5) -> None:
    x = torch.randn(batch, 8000) * 0.1
    print(f"\nfront-end, batch {batch}, device {device}, {torch.get_num_threads()} threads (ms per window)")
    for mode in ("conv", "stft"):
        for dtype in (torch.float64, torch.float32):
            fe = StudentFrontend(mode=mode, dtype=dtype).to(device)
            xb = x.to(device)
            fe(xb)
            if device == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(repeats):
                fe(xb)
            if device == "cuda":
                torch.cuda.synchronize()
            dt = (time.perf_counter() - t0) / repeats / batch * 1e3
            print(f"  torch {mode:4s} {str(dtype):13s} {dt:8.4f}")
    mb = mel_filterbank_numpy()
    xn = x.numpy().astype(np.float64)
    t0 = time.perf_counter()
    for _ in range(repeats):
        logmel_numpy(xn, mel_basis=mb)
    print(f"  numpy twin (float64)     {(time.perf_counter() - t0) / repeats / batch * 1e3:8.4f}")


def _flatbuffer_peak(path: str) -> int:
    from ai_edge_litert import schema_py_generated as s

    buf = open(path, "rb").read()
    m = s.ModelT.InitFromObj(s.Model.GetRootAsModel(buf, 0))
    g = m.subgraphs[0]
    nbytes = {0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 7: 2, 9: 1, 10: 2}
    const = {
        i for i, t in enumerate(g.tensors) if m.buffers[t.buffer].data is not None and len(m.buffers[t.buffer].data)
    }
    first, last = dict.fromkeys(g.inputs, -1), {}
    for k, op in enumerate(g.operators):
        for i in op.inputs:
            if i >= 0 and i not in const:
                last[i] = k
        for o in op.outputs:
            first.setdefault(o, k)
    for o in g.outputs:
        last[o] = len(g.operators)
    size = {i: int(np.prod(g.tensors[i].shape)) * nbytes.get(g.tensors[i].type, 4) for i in first}
    return max(sum(size[i] for i in first if first[i] <= k <= last.get(i, first[i])) for k in range(len(g.operators)))


def bench_tflm(names: list[str]) -> None:
    from tflite_micro.python.tflite_micro import runtime

    from export.tflite import export_tflite_int8  # the exporter users get (scale floor, input BN as conv)

    print(
        "\nint8 (PT2E per-channel) .tflite: file bytes, flatbuffer peak activation, TFLM min arena (head+tail, 64-bit host)"
    )
    tmp = tempfile.mkdtemp()
    for name in names:
        m = students.create(name).eval()
        x1 = -80 * torch.rand(1, 1, 64, 50)
        calib = (-80 * torch.rand(8, 1, 64, 50)).numpy()
        path = os.path.join(tmp, f"{name}.tflite")
        export_tflite_int8(m, x1, path, calib)
        lo, hi = 1024, 4 * 1024 * 1024
        while hi - lo > 64:
            mid = (lo + hi) // 2
            try:
                runtime.Interpreter.from_file(path, arena_size=mid)
                hi = mid
            except Exception:
                lo = mid
        est = students.model_cost(m)["peak_activation_bytes_int8"]
        print(
            f"  {name:12s} file {os.path.getsize(path):>9,}  flatbuffer peak {_flatbuffer_peak(path):>9,} "
            f"(model_cost {est:>9,})  TFLM arena {hi:>9,}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--tflm", action="store_true", help="convert the MCU family to int8 and measure TFLM arenas")
    args = ap.parse_args()
    print(students.format_cost_table(students.student_cost_table()))
    bench_frontend(args.batch, "cpu")
    if torch.cuda.is_available():
        bench_frontend(args.batch * 4, "cuda", repeats=20)
    if args.tflm:
        bench_tflm(students.list_students("sea_mcu_*"))


if __name__ == "__main__":
    main()
