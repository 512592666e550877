"""Student costs, front-end speed, windows of any length, the published students, and (optionally) TFLM memory.

    python benchmarks/bench_students.py                 # cost tables (1-s and 3-s windows) + timings
    python benchmarks/bench_students.py --tflm          # + PT2E int8 .tflite, flatbuffer peak and TFLM min arena
    python benchmarks/bench_students.py --edgel3-python ENV/bin/python   # + edgel3 0.2.1 itself on the same audio

Every timing is a ratio against a baseline measured in the same process (or, for edgel3, the same run):

- students: windows/s of each student on 1-s and 3-s windows, against ``sea_student_3`` on 1-s windows;
- published student (``sea_ust_64``, needs ``../shared/models`` or a cached download): ``get_embedding`` on a
  22.05 kHz recording (resampling, framing, front-end, CNN) against the bare network on the same pre-cut windows;
  with ``--edgel3-python``, edgel3's own ``get_embedding`` (TensorFlow 2.0) on the same audio, in a subprocess.

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


def _rate(fn, n_windows: int, repeats: int = 3) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n_windows / best


def bench_windows(batch: int) -> None:
    """Forward windows/s per student on 1-s and 3-s windows, relative to sea_student_3 on 1-s windows."""
    from sea.students.frontend import frontend_params

    print(f"\nstudents, batch {batch}, {torch.get_num_threads()} threads: windows/s (ratio to sea_student_3, 1 s)")
    base = None
    for name in ("sea_student_3", "sea_student_3_lin", "sea_mcu_s", "sea_mcu_m"):
        for ws in (1.0, 3.0):
            shape = tuple(frontend_params(ws)["output_shape"])
            m = students.create(name, input_shape=shape).eval()
            x = -80 * torch.rand(batch, *shape)
            with torch.inference_mode():
                rate = _rate(lambda m=m, x=x: m(x), batch)
            base = base or rate
            macs = students.model_cost(m, shape)["macs"]
            print(f"  {name:18s} {ws:3.0f} s ({shape[-1]:3d} frames) {macs / 1e6:8.1f} M MACs {rate:9.1f} w/s "
                  f"({rate / base:5.2f}x)")  # fmt: skip


def bench_published(seconds: float, edgel3_python: str | None) -> None:
    """sea_ust_64: get_embedding on a 22.05 kHz recording vs the bare network on the same windows (and edgel3)."""
    from pathlib import Path

    from sea.errors import WeightsError
    from sea.students.inference import _to_8k_mono, _windows

    shared = Path(__file__).resolve().parents[2] / "shared" / "models" / "edgel3_sea_ust_audio_emb_64.h5.gz"
    try:
        model, _ = students.load_published("sea_ust_64", shared if shared.is_file() else None)
    except WeightsError as exc:
        print(f"\npublished student: skipped ({exc})")
        return
    sr = 22050
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sr)) / sr
    y = 0.3 * np.sin(2 * np.pi * (200 + 300 * np.sin(0.3 * t)) * t) + 0.05 * rng.standard_normal(t.size)
    windows = np.array(_windows(_to_8k_mono(y, sr, "bench"), 800, True), dtype=np.float32)
    n = windows.shape[0]
    print(f"\npublished sea_ust_64 on {seconds:g} s of {sr} Hz audio, hop 0.1 s ({n} windows), "
          f"{torch.get_num_threads()} threads")  # fmt: skip

    def bare():
        with torch.inference_mode():
            for s in range(0, n, 32):
                model(torch.from_numpy(windows[s : s + 32]))

    bare_rate = _rate(bare, n, repeats=2)
    sea_rate = _rate(lambda: students.get_embedding(y, sr, model=model), n, repeats=2)
    print(f"  bare network (front-end + CNN) {bare_rate:9.1f} w/s (1.00x)")
    print(f"  sea.students.get_embedding     {sea_rate:9.1f} w/s ({sea_rate / bare_rate:4.2f}x: + resampling, framing)")
    if edgel3_python:
        rate = _edgel3_rate(edgel3_python, y, sr, n)
        if rate:
            print(f"  edgel3 0.2.1 get_embedding     {rate:9.1f} w/s (sea is {sea_rate / rate:4.2f}x edgel3)")


_EDGEL3_SCRIPT = """
import sys, time, warnings, os
warnings.simplefilter('ignore'); os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'
import numpy as np, soundfile as sf, edgel3
from edgel3.models import load_embedding_model
y, sr = sf.read(sys.argv[1])
m = load_embedding_model('sea', 64, 'ft', 95.45)
edgel3.get_embedding(y[: sr], sr, model=m, model_type='sea', emb_dim=64, verbose=0)
best = 1e9
for _ in range(2):
    t0 = time.perf_counter()
    e, ts = edgel3.get_embedding(y, sr, model=m, model_type='sea', emb_dim=64, verbose=0)
    best = min(best, time.perf_counter() - t0)
print(e.shape[0], best)
"""


def _edgel3_rate(python: str, y: np.ndarray, sr: int, n: int) -> float | None:
    import subprocess

    import soundfile as sf

    with tempfile.TemporaryDirectory() as tmp:
        wav = os.path.join(tmp, "bench.wav")
        sf.write(wav, y, sr, subtype="DOUBLE")
        res = subprocess.run([python, "-c", _EDGEL3_SCRIPT, wav], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        print(f"  edgel3: failed ({res.stderr.strip().splitlines()[-1] if res.stderr.strip() else res.returncode})")
        return None
    count, seconds = res.stdout.split()[-2:]
    if int(count) != n:
        print(f"  edgel3: {count} windows, sea {n}: not the same framing")
    return int(count) / float(seconds)


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
    ap.add_argument("--seconds", type=float, default=30.0, help="length of the published-student recording")
    ap.add_argument("--edgel3-python", metavar="PYTHON", help="interpreter of an edgel3 0.2.1 environment")
    args = ap.parse_args()
    from sea.utils import machine_info

    m = machine_info()
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['platform']}, Python {m['python']}")
    print(students.format_cost_table(students.student_cost_table()))
    print("per 3-s window (BirdNET's):")
    print(students.format_cost_table(students.student_cost_table(window_size=3.0)))
    bench_windows(32)
    bench_published(args.seconds, args.edgel3_python)
    bench_frontend(args.batch, "cpu")
    if torch.cuda.is_available():
        bench_frontend(args.batch * 4, "cuda", repeats=20)
    if args.tflm:
        bench_tflm(students.list_students("sea_mcu_*"))


if __name__ == "__main__":
    main()
