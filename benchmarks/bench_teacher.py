"""Benchmark of the OpenL3 teacher (issue 3, item 5).

Prints, for mel256/512 and mel128/6144 on CPU (and CUDA when available):

* 1-s windows per second of the optimised teacher (front-end on the device,
  channels-last, BN folded, inference_mode) at the given batch size;
* peak RSS of the process that ran it (each measurement runs in its own
  subprocess, so peaks do not leak between rows);
* the ratio to openl3 0.4.x (TensorFlow + kapre, one ``model.predict`` over all
  the windows at the same batch size, as openl3 runs a file) when it is available, here or in the environment named by
  ``--openl3-python``, and to a plain PyTorch baseline: the same network,
  channels-first, unfolded BN, no inference_mode, same batch size;
* with openl3, an end-to-end row: ``openl3.get_audio_embedding`` against
  ``sea.teacher.get_embedding`` on a 10-s 44.1 kHz clip (resampling, framing,
  batching included);
* the fraction of the device's measured conv peak: conv MACs per window
  (from the layer shapes) x windows/s / MAC/s of large ``torch.conv2d`` calls
  on the same device;
* optional reduced precision (``--precision bfloat16`` on CPU; bfloat16/float16
  on CUDA) with its relative L2 error against float32 on the same windows.

``--resample`` only times the resamplers: sea's ``kaiser_best`` (resampy 0.2.2 bit for bit, one
shot and streamed) against the installed resampy's and soxr, on a 60-s clip, in one process.

``--long-file`` writes a synthetic 1-hour 44.1 kHz file and embeds it with
``sea teacher embed`` semantics (streamed), reporting peak RSS (use
``--long-hop 1.0`` to keep it short on CPU).

Numbers on a shared machine are noisy: run with nothing else busy and
compare only rows taken in the same run.

Usage::

    python benchmarks/bench_teacher.py [--device cpu|cuda|all] [--batch-size 32] [--windows 64] [--repeats 3]
        [--threads N] [--precision float32 bfloat16] [--no-baseline] [--long-file [--long-hop 1.0]]
        [--openl3-python TFENV/bin/python --openl3-path openl3-0.4.2]

openl3 cannot be pip-installed offline (its setup.py downloads the weights), and
TensorFlow 2.15 needs numpy < 2. A separate environment works::

    python3 -m venv tfenv && tfenv/bin/pip install tensorflow-cpu==2.15.1 "numpy<2" librosa "resampy<0.3" \
        soundfile h5py scikit-learn && tfenv/bin/pip install --no-deps kapre==0.3.7
    # unpack the openl3 0.4.2 sdist from PyPI next to it, then
    python benchmarks/bench_teacher.py --openl3-python tfenv/bin/python --openl3-path openl3-0.4.2
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
    if device.startswith("cuda"):
        import torch

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


def _test_audio(seconds: float, sr: int = 44100):
    import numpy as np

    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sr)) / sr
    return 0.3 * np.sin(2 * np.pi * (300 + 200 * np.sin(t)) * t) + 0.05 * rng.standard_normal(t.size), sr


def openl3_worker(job: dict) -> dict:
    """openl3 0.4.x (TensorFlow + kapre) measurements; imports neither torch nor sea.

    The network is openl3's own ``_construct_*_audio_network`` with the pooling of
    ``load_audio_embedding_model_from_path``; its weights stay at Keras' random init,
    which does not change the speed.
    """
    import numpy as np
    import openl3
    import tensorflow as tf
    from openl3.models import AUDIO_MODELS, AUDIO_POOLING_SIZES

    if job.get("threads"):
        tf.config.threading.set_intra_op_parallelism_threads(job["threads"])
        tf.config.threading.set_inter_op_parallelism_threads(1)
    input_repr, size = job["config"]
    bs, n_batches = job["batch_size"], max(1, job["windows"] // job["batch_size"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = AUDIO_MODELS[input_repr](include_frontend=True)
        y = tf.keras.layers.MaxPooling2D(pool_size=AUDIO_POOLING_SIZES[input_repr][size], padding="same")(m.output)
        m = tf.keras.Model(inputs=m.input, outputs=tf.keras.layers.Flatten()(y))
    out = {"job": job, "openl3_version": openl3.__version__, "tensorflow_version": tf.__version__}
    if job["kind"] == "openl3_e2e":
        audio, sr = _test_audio(job["seconds"])
        openl3.get_audio_embedding(audio[: sr * 2], sr, model=m, hop_size=job["hop"], batch_size=bs, verbose=0)
        t0 = time.perf_counter()
        emb, _ = openl3.get_audio_embedding(audio, sr, model=m, hop_size=job["hop"], batch_size=bs, verbose=0)
        out["seconds"] = time.perf_counter() - t0
        out["frames"] = int(emb.shape[0])
    else:
        rng = np.random.default_rng(0)
        x = (0.1 * rng.standard_normal((n_batches * bs, 1, 48000))).astype(np.float32)
        m.predict(x[:bs], batch_size=bs, verbose=0)  # warm-up
        # One predict over all windows, as get_audio_embedding does per file: each predict call
        # costs TF a setup that per-batch calls would charge to openl3 again and again.
        t0 = time.perf_counter()
        m.predict(x, batch_size=bs, verbose=0)
        dt = time.perf_counter() - t0
        out["windows_per_s"] = n_batches * bs / dt
        out["macs_per_window"] = job["macs_per_window"]
    out["peak_rss_mb"] = _peak_rss_mb()
    return out


def worker(job: dict) -> dict:
    """One measurement in a fresh process; returns a JSON-able dict."""
    if job["kind"].startswith("openl3"):
        return openl3_worker(job)
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
    if kind == "teacher_e2e":
        audio, sr = _test_audio(job["seconds"])
        T.get_embedding(audio[: sr * 2], sr, model=model, hop_size=job["hop"], batch_size=bs, verbose=False)
        t0 = time.perf_counter()
        emb, _ = T.get_embedding(audio, sr, model=model, hop_size=job["hop"], batch_size=bs, verbose=False)
        out["seconds"] = time.perf_counter() - t0
        out["frames"] = int(emb.shape[0])
        out["peak_rss_mb"] = _peak_rss_mb()
        return out
    rng = np.random.default_rng(0)
    x = torch.from_numpy((0.1 * rng.standard_normal((bs, 48000))).astype(np.float32)).to(device)
    if kind == "baseline":
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
    if job.get("python"):  # openl3 lives in its own environment (TensorFlow pins numpy < 2)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [job.get("pythonpath"), env.get("PYTHONPATH")]))
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    p = subprocess.run(
        [job.get("python") or sys.executable, __file__, "--_worker", json.dumps(job)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
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


def _machine() -> str:
    import platform

    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return f"{cpu}, {cores} cores usable{load}"


def _best(fn, repeats: int) -> float:
    ts = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return min(ts)


def _resample_rows(x, sr_in: int, sr_out: int, resampy, repeats: int) -> list[tuple[str, float]]:
    """(resampler, best seconds) for one rate pair."""
    from sea import resample as sea_resample
    from sea.audio import resample as audio_resample

    rows = [
        ("sea kaiser_best (0.2.2 bits)", lambda: sea_resample.resample(x, sr_in, sr_out)),
        ("sea kaiser_best, 10-s blocks", lambda: list(sea_resample.resample_blocks(
            lambda lo, hi: x[lo:hi], x.shape[0], sr_in, sr_out, block=480_000))),
    ]  # fmt: skip
    if resampy is not None:
        rows.append((f"resampy {resampy.__version__} kaiser_best",
                     lambda: resampy.resample(x, sr_in, sr_out, filter="kaiser_best")))  # fmt: skip
    rows.append(("soxr VHQ", lambda: audio_resample(x, sr_in, sr_out, res_type="soxr_vhq")))
    return [(name, _best(fn, repeats)) for name, fn in rows]


def bench_resample(seconds: float, repeats: int) -> int:
    """Time the resamplers in this process on a ``seconds``-long float64 clip.

    sea's kaiser_best (resampy 0.2.2 bit for bit, one shot and streamed in 10-s blocks) against the
    installed resampy's kaiser_best (the baseline of the ratios) and soxr VHQ.
    """
    import importlib.util

    import numpy as np

    from sea import resample as sea_resample

    t0 = time.perf_counter()
    sea_resample.kaiser_best_table()
    t_table = time.perf_counter() - t0
    t0 = time.perf_counter()
    sea_resample.resample(np.zeros(1000), 44100, 48000)
    sea_resample.resample(np.zeros(1000), 44100, 8000)
    t_first = time.perf_counter() - t0
    resampy = importlib.import_module("resampy") if importlib.util.find_spec("resampy") else None
    print(f"machine: {_machine()}")
    print(f"sea kaiser_best: filter table {t_table:.2f} s once per process; first calls (numba load/compile) "
          f"{t_first:.2f} s")  # fmt: skip
    print(f"{'rates':<16}{'resampler':<34}{'s':>8}{'x realtime':>12}{'vs resampy':>12}")
    for sr_in, sr_out in ((44100, 48000), (22050, 48000), (44100, 8000)):
        x, _ = _test_audio(seconds, sr_in)
        times = _resample_rows(x, sr_in, sr_out, resampy, repeats)
        ref = next((t for name, t in times if name.startswith("resampy")), float("nan"))
        for name, t in times:
            print(f"{f'{sr_in}->{sr_out}':<16}{name:<34}{t:>8.3f}{seconds / t:>12.0f}{ref / t:>12.2f}")
    print(f"({seconds:.0f}-s clip, best of {repeats}; 'vs resampy' > 1 means faster than the installed resampy)")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="all", help="cpu, cuda or all (cuda only when available)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--windows", type=int, default=64, help="windows timed per row (multiple of the batch size)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    ap.add_argument("--precision", nargs="+", default=["float32", "bfloat16"], help="float32 bfloat16 float16")
    ap.add_argument("--no-baseline", action="store_true", help="skip the plain-PyTorch/openl3 comparison")
    ap.add_argument(
        "--openl3-python",
        default=os.environ.get("SEA_OPENL3_PYTHON"),
        help="python of an environment with openl3 0.4.x + TensorFlow + kapre (openl3 pins numpy < 2, so it "
        "rarely shares sea's environment); default: this python when openl3 imports here",
    )
    ap.add_argument(
        "--openl3-path",
        default=os.environ.get("SEA_OPENL3_PATH"),
        help="PYTHONPATH for --openl3-python (e.g. an unpacked openl3 sdist); env SEA_OPENL3_PYTHON/SEA_OPENL3_PATH",
    )
    ap.add_argument(
        "--configs",
        nargs="+",
        default=[f"{r}/{n}" for r, n in CONFIGS],
        help="INPUT_REPR/EMBEDDING_SIZE configs to time (default: mel256/512 mel128/6144)",
    )
    ap.add_argument("--repeats", type=int, default=3, help="interleaved runs per row; the median is shown")
    ap.add_argument("--e2e-seconds", type=float, default=10.0, help="clip length of the end-to-end API comparison")
    ap.add_argument("--long-file", action="store_true", help="also embed a synthetic 1-hour file and report peak RSS")
    ap.add_argument("--long-seconds", type=float, default=3600.0)
    ap.add_argument("--long-hop", "--hop-size", dest="long_hop", type=float, default=1.0, help="hop for --long-file")
    ap.add_argument("--json", default=None, help="also write all results to this JSON file")
    ap.add_argument(
        "--resample",
        action="store_true",
        help="only time the resamplers (sea's resampy-0.2.2 kaiser_best against resampy and soxr) and exit",
    )
    ap.add_argument("--_worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._worker:
        print(json.dumps(worker(json.loads(args._worker))))
        return 0
    if args.resample:
        return bench_resample(args.e2e_seconds * 6, args.repeats)
    configs = []
    for c in args.configs:
        r, _, n = c.partition("/")
        if r not in ("linear", "mel128", "mel256") or n not in ("512", "6144"):
            ap.error(f"--configs {c!r}: expected INPUT_REPR/EMBEDDING_SIZE with linear|mel128|mel256 and 512|6144")
        configs.append((r, int(n)))

    import importlib.util

    import torch

    from sea.teacher.model import conv_macs

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    if args.device != "all":
        devices = [args.device]
    openl3_env = {}
    if args.openl3_python:
        openl3_env = {"python": args.openl3_python, "pythonpath": args.openl3_path}
    elif importlib.util.find_spec("openl3") is not None and importlib.util.find_spec("tensorflow") is not None:
        openl3_env = {"python": sys.executable}
    base = {"batch_size": args.batch_size, "windows": args.windows, "threads": args.threads}
    results = []
    print(
        f"torch {torch.__version__}, threads {args.threads or torch.get_num_threads()}, batch {args.batch_size}, "
        f"{args.windows} windows per row; openl3 (TensorFlow): {openl3_env.get('python') or 'not available'}"
    )

    def row(label, kind, r, peak_macs, ratios, note=""):
        macs = r["windows_per_s"] * r["macs_per_window"]
        cells = "".join(f"{x:>9.2f}" if x == x else f"{'-':>9}" for x in ratios)
        print(
            f"{label:<14}{kind:<10}{r['windows_per_s']:>8.2f}{macs / 1e9:>8.1f}{100 * macs / peak_macs:>6.0f}%"
            f"{r['peak_rss_mb']:>8.0f}{cells}  {note}"
        )

    for device in devices:
        peak = run_job(dict(base, kind="conv_peak", device=device))
        results.append(peak)
        peak_macs = peak.get("macs_per_s", float("nan"))
        print(f"\n[{device}] measured conv peak (large 3x3 conv2d, fp32, channels-last): {peak_macs / 1e9:.1f} GMAC/s")
        print(
            f"{'config':<14}{'model':<10}{'win/s':>8}{'GMAC/s':>8}{'%peak':>7}{'RSS MiB':>8}{'vs openl3':>9}"
            f"{'vs plain':>9}  notes"
        )
        for input_repr, size in configs:
            label = f"{input_repr}/{size}"
            jobs = []  # (row label, kind key, job)
            if not args.no_baseline:
                if openl3_env and device == "cpu":
                    job = dict(base, kind="openl3", device=device, config=[input_repr, size])
                    jobs.append(("openl3-TF", "openl3", dict(job, **openl3_env, macs_per_window=conv_macs(input_repr))))
                jobs.append(
                    ("plain", "baseline", dict(base, kind="baseline", device=device, config=[input_repr, size]))
                )
            for precision in args.precision:
                if device == "cpu" and precision == "float16":
                    continue
                job = dict(base, kind="teacher", device=device, config=[input_repr, size], precision=precision)
                jobs.append(("sea " + precision[:4], precision, job))
            # Interleave the repeats (openl3, plain, sea, openl3, ...), so that a noisy neighbour on a shared
            # machine hits every model alike; report the median of each.
            runs: dict[str, list[dict]] = {key: [] for _, key, _ in jobs}
            for _ in range(args.repeats):
                for _, key, job in jobs:
                    r = run_job(job)
                    results.append(r)
                    if "error" in r:
                        print(f"{label:<14}{key:<10} failed: {r['error']}")
                    else:
                        runs[key].append(r)
            med = {}
            for key, rs in runs.items():
                if rs:
                    rs.sort(key=lambda r: r["windows_per_s"])
                    med[key] = rs[len(rs) // 2]
            refs = {k: med[k]["windows_per_s"] for k in ("openl3", "baseline") if k in med}
            for name, key, _ in jobs:
                if key not in med:
                    continue
                r = med[key]
                spread = ", ".join(f"{x['windows_per_s']:.2f}" for x in runs[key])
                note = f"runs {spread}" if len(runs[key]) > 1 else ""
                if key == "openl3":
                    note = f"openl3 {r['openl3_version']}, TF {r['tensorflow_version']}; {note}"
                if "rel_l2_vs_fp32_median" in r:
                    note += (
                        f"; rel L2 vs fp32: median {r['rel_l2_vs_fp32_median']:.1e}, max {r['rel_l2_vs_fp32_max']:.1e}"
                    )
                if key in ("openl3", "baseline"):
                    ratios = [float("nan")] * 2
                else:
                    ratios = [
                        r["windows_per_s"] / refs[k] if k in refs else float("nan") for k in ("openl3", "baseline")
                    ]
                row(label, name, r, peak_macs, ratios, note.strip("; "))
        if openl3_env and device == "cpu" and args.e2e_seconds > 0 and not args.no_baseline:
            # the whole array API (resampling, framing, batching), as a user calls it
            e2e = dict(base, device=device, config=["mel256", 512], seconds=args.e2e_seconds, hop=0.1)
            pairs = []
            for _ in range(min(args.repeats, 3)):  # interleaved, like the rows above
                o = run_job(dict(e2e, kind="openl3_e2e", **openl3_env))
                t = run_job(dict(e2e, kind="teacher_e2e"))
                results += [o, t]
                if "error" in o or "error" in t:
                    print(f"end to end failed: {o.get('error') or t.get('error')}")
                    break
                pairs.append((o, t))
            if pairs:
                o = sorted((p[0] for p in pairs), key=lambda r: r["seconds"])[len(pairs) // 2]
                t = sorted((p[1] for p in pairs), key=lambda r: r["seconds"])[len(pairs) // 2]
                runs = ", ".join(f"{p[0]['seconds']:.1f}/{p[1]['seconds']:.1f}" for p in pairs)
                print(
                    f"\nend to end, get_audio_embedding vs sea.teacher.get_embedding on a {args.e2e_seconds:.0f}-s "
                    f"44.1 kHz clip, mel256/512, hop 0.1 s ({t['frames']} windows), median of {len(pairs)}: openl3 "
                    f"{o['seconds']:.1f} s (peak RSS {o['peak_rss_mb']:.0f} MiB), sea {t['seconds']:.1f} s (peak RSS "
                    f"{t['peak_rss_mb']:.0f} MiB): {o['seconds'] / t['seconds']:.2f}x (runs openl3/sea s: {runs})"
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
                    f"peak RSS {r['peak_rss_mb']:.0f} MiB"
                )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
