"""Benchmark of the OpenL3 teacher (issue 3, item 5).

Prints, for mel256/512 and mel128/6144 on CPU (and CUDA when available):

* 1-s windows per second of the optimised teacher (front-end on the device,
  channels-last, BN folded, inference_mode) at the given batch size;
* peak RSS of the process that ran it (each measurement runs in its own
  subprocess, so peaks do not leak between rows);
* the ratio to openl3 0.4.x when ``openl3`` is importable, else to a plain
  PyTorch baseline: the same network, channels-first, unfolded BN, no
  inference_mode, same batch size;
* the fraction of the device's measured conv peak: conv MACs per window
  (from the layer shapes) x windows/s / MAC/s of large ``torch.conv2d`` calls
  on the same device;
* optional reduced precision (``--precision bfloat16`` on CPU; bfloat16/float16
  on CUDA) with its relative L2 error against float32 on the same windows.

``--long-file`` writes a synthetic 1-hour 44.1 kHz file and embeds it with
``sea teacher embed`` semantics (streamed), reporting peak RSS (use
``--long-hop 1.0`` to keep it short on CPU).

Numbers on a shared machine are noisy: run with nothing else busy and
compare only rows taken in the same run.

Usage::

    python benchmarks/bench_teacher.py [--device cpu|cuda|all] [--batch-size 32] [--windows 64]
        [--threads N] [--precision float32 bfloat16] [--no-baseline] [--long-file [--long-hop 1.0]]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

CONFIGS = (("mel256", 512), ("mel128", 6144))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


class _Naive:
    """Plain PyTorch baseline: channels-first, conv -> BN -> ReLU modules, torch.no_grad only."""

    def __init__(self, model) -> None:
        import copy

        import torch

        self.m = copy.deepcopy(model).to(memory_format=torch.contiguous_format)

    def __call__(self, x):
        import torch
        import torch.nn.functional as F

        m = self.m
        y = m.input_bn(m.frontend(x))
        for i in range(1, 9):
            y = getattr(m, f"conv{i}")(y)
            if i < 8:
                y = torch.relu(getattr(m, f"bn{i}")(y))
            if i in (2, 4, 6):
                y = F.max_pool2d(y, 2)
        y = F.max_pool2d(y, m.pool_size)
        return y.permute(0, 2, 3, 1).reshape(y.shape[0], -1)


def _time(fn, n_batches: int, device: str) -> float:
    fn()  # warm-up (oneDNN primitive creation, cuDNN autotune)
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(n_batches):
        fn()
    _sync(device)
    return time.perf_counter() - t0


def worker(job: dict) -> dict:
    """One measurement in a fresh process; returns a JSON-able dict."""
    import numpy as np
    import torch

    import sea.teacher as T
    from sea.teacher.model import conv_macs

    if job.get("threads"):
        torch.set_num_threads(job["threads"])
    device = job["device"]
    if device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True
    kind = job["kind"]
    bs, n_batches = job["batch_size"], max(1, job["windows"] // job["batch_size"])
    out = {"job": job}
    if kind == "conv_peak":
        best = 0.0
        # big 3x3 convs (the teacher's own widest layers, batch bs), channels-last, fp32
        for cin, cout, h, w in ((256, 256, 64, 49), (512, 512, 32, 24), (128, 128, 128, 99)):
            x = torch.randn(bs, cin, h, w, device=device).contiguous(memory_format=torch.channels_last)
            conv = torch.nn.Conv2d(cin, cout, 3, padding=1).to(device).to(memory_format=torch.channels_last)
            with torch.inference_mode():
                dt = _time(lambda conv=conv, x=x: conv(x), 3, device)
            best = max(best, 3 * bs * h * w * cin * cout * 9 / dt)
        out["macs_per_s"] = best
        return out
    if kind == "long_file":
        from sea.teacher import embed_files

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            outs = embed_files(
                [job["path"]],
                output_dir=job["out_dir"],
                overwrite=True,
                input_repr="mel256",
                embedding_size=512,
                hop_size=job["hop"],
                batch_size=bs,
                untrained=True,
                device=device,
                verbose=False,
            )
            out["seconds"] = time.perf_counter() - t0
        out["frames"] = int(np.load(outs[0])["embedding"].shape[0])
        out["peak_rss_mb"] = _peak_rss_mb()
        return out

    input_repr, size = job["config"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, _ = T.load_teacher(input_repr, "music", size, untrained=True, device=device)
    rng = np.random.default_rng(0)
    x = torch.from_numpy((0.1 * rng.standard_normal((bs, 48000))).astype(np.float32)).to(device)
    if kind == "openl3":
        import openl3

        m = openl3.models.load_audio_embedding_model(input_repr, "music", size)
        xn = x.cpu().numpy()[:, None, :]
        dt = _time(lambda: m.predict(xn, batch_size=bs, verbose=0), n_batches, "cpu")
    elif kind == "baseline":
        naive = _Naive(model)
        with torch.no_grad():
            dt = _time(lambda: naive(x), n_batches, device)
    else:
        dtype = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}[job["precision"]]
        with torch.inference_mode():
            ref = model(x) if dtype is not None else None
            model.autocast_dtype = dtype
            dt = _time(lambda: model(x), n_batches, device)
            if dtype is not None:
                y = model(x)
                err = torch.linalg.vector_norm(y - ref, dim=1) / torch.linalg.vector_norm(ref, dim=1)
                out["rel_l2_vs_fp32_median"] = float(err.median())
                out["rel_l2_vs_fp32_max"] = float(err.max())
    out["windows_per_s"] = n_batches * bs / dt
    out["macs_per_window"] = conv_macs(input_repr)
    out["peak_rss_mb"] = _peak_rss_mb()
    return out


def run_job(job: dict) -> dict:
    env = dict(
        os.environ, OMP_NUM_THREADS=str(job["threads"]) if job.get("threads") else os.environ.get("OMP_NUM_THREADS", "")
    )
    if not env["OMP_NUM_THREADS"]:
        env.pop("OMP_NUM_THREADS")
    p = subprocess.run(
        [sys.executable, __file__, "--_worker", json.dumps(job)], capture_output=True, text=True, env=env, check=False
    )
    if p.returncode != 0:
        return {"job": job, "error": p.stderr.strip().splitlines()[-1] if p.stderr.strip() else f"rc {p.returncode}"}
    return json.loads(p.stdout.strip().splitlines()[-1])


def _write_long_file(path: Path, seconds: float, sr: int = 44100) -> None:
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(0)
    with sf.SoundFile(str(path), "w", samplerate=sr, channels=1, subtype="PCM_16") as f:
        for start in range(0, int(seconds * sr), 60 * sr):
            n = min(60 * sr, int(seconds * sr) - start)
            t = (start + np.arange(n)) / sr
            f.write(0.3 * np.sin(2 * np.pi * (300 + 200 * np.sin(t)) * t) + 0.01 * rng.standard_normal(n))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="all", help="cpu, cuda or all (cuda only when available)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--windows", type=int, default=64, help="windows timed per row (multiple of the batch size)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    ap.add_argument("--precision", nargs="+", default=["float32", "bfloat16"], help="float32 bfloat16 float16")
    ap.add_argument("--no-baseline", action="store_true", help="skip the plain-PyTorch/openl3 comparison")
    ap.add_argument("--long-file", action="store_true", help="also embed a synthetic 1-hour file and report peak RSS")
    ap.add_argument("--long-seconds", type=float, default=3600.0)
    ap.add_argument("--long-hop", "--hop-size", dest="long_hop", type=float, default=1.0, help="hop for --long-file")
    ap.add_argument("--json", default=None, help="also write all results to this JSON file")
    ap.add_argument("--_worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._worker:
        print(json.dumps(worker(json.loads(args._worker))))
        return 0

    import importlib.util

    import torch

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    if args.device != "all":
        devices = [args.device]
    have_openl3 = importlib.util.find_spec("openl3") is not None
    base = {"batch_size": args.batch_size, "windows": args.windows, "threads": args.threads}
    results = []
    print(
        f"torch {torch.__version__}, threads {args.threads or torch.get_num_threads()}, batch {args.batch_size}, "
        f"{args.windows} windows per row; openl3 importable: {have_openl3}"
    )
    for device in devices:
        peak = run_job(dict(base, kind="conv_peak", device=device))
        results.append(peak)
        peak_macs = peak.get("macs_per_s", float("nan"))
        print(f"\n[{device}] measured conv peak (large 3x3 conv2d, fp32, channels-last): {peak_macs / 1e9:.1f} GMAC/s")
        print(f"{'config':<14}{'precision':<10}{'win/s':>8}{'GMAC/s':>8}{'%peak':>7}{'RSS MB':>8}{'vs ref':>8}  notes")
        for input_repr, size in CONFIGS:
            ref = None
            if not args.no_baseline:
                kind = "openl3" if (have_openl3 and device == "cpu") else "baseline"
                ref = run_job(dict(base, kind=kind, device=device, config=[input_repr, size]))
                results.append(ref)
                if "error" in ref:
                    print(f"{input_repr}/{size:<7}{'':<10} {kind} failed: {ref['error']}")
                else:
                    print(
                        f"{input_repr + '/' + str(size):<14}{kind:<10}{ref['windows_per_s']:>8.2f}"
                        f"{ref['windows_per_s'] * ref['macs_per_window'] / 1e9:>8.1f}"
                        f"{100 * ref['windows_per_s'] * ref['macs_per_window'] / peak_macs:>6.0f}%"
                        f"{ref['peak_rss_mb']:>8.0f}{'1.00':>8}  reference"
                    )
            for precision in args.precision:
                if device == "cpu" and precision == "float16":
                    continue
                r = run_job(dict(base, kind="teacher", device=device, config=[input_repr, size], precision=precision))
                results.append(r)
                if "error" in r:
                    print(f"{input_repr}/{size} {precision}: failed: {r['error']}")
                    continue
                macs = r["windows_per_s"] * r["macs_per_window"]
                ratio = r["windows_per_s"] / ref["windows_per_s"] if ref and "windows_per_s" in ref else float("nan")
                note = ""
                if "rel_l2_vs_fp32_median" in r:
                    note = f"rel L2 vs fp32: median {r['rel_l2_vs_fp32_median']:.1e}, max {r['rel_l2_vs_fp32_max']:.1e}"
                print(
                    f"{input_repr + '/' + str(size):<14}{precision:<10}{r['windows_per_s']:>8.2f}{macs / 1e9:>8.1f}"
                    f"{100 * macs / peak_macs:>6.0f}%{r['peak_rss_mb']:>8.0f}{ratio:>8.2f}  {note}"
                )
    if args.long_file:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "long.wav"
            _write_long_file(path, args.long_seconds)
            r = run_job(dict(base, kind="long_file", device=devices[0], path=str(path), out_dir=tmp, hop=args.long_hop))
            results.append(r)
            if "error" in r:
                print(f"\nlong file failed: {r['error']}")
            else:
                print(
                    f"\nlong file: {args.long_seconds / 3600:.2f} h at 44.1 kHz, mel256/512, hop {args.long_hop} s, "
                    f"batch {args.batch_size} on {devices[0]}: {r['frames']} frames in {r['seconds']:.0f} s, "
                    f"peak RSS {r['peak_rss_mb']:.0f} MB"
                )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
