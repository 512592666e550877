"""Decode-and-cache throughput of ``sea data prepare`` on the synthetic dataset, per resampler.

Generates a synthetic UrbanSound8K-layout set (mixed rates 8-96 kHz, 16/24/32-bit and float,
mono/stereo), then times the prepare stage (decode once in float64, validate, downmix, resample
each clip in one shot to every cache rate, append to the packed caches, md5, manifest, report,
size and hash records) with each resampler, in the same process, against a baseline: ``soxr_hq``
by default, the fastest. It prints clips/s, audio-seconds/s, the ratio to the baseline, peak
Python memory, the rerun (no-op) time, and the machine.

``kaiser_best`` (the default) is resampy 0.2.2's filter, exact to openl3's and edgel3's samples;
``soxr_vhq``/``soxr_hq`` are faster but not exact. The resampler's one-time start-up (numba
compilation) is paid before timing.

    python benchmarks/bench_data.py [--n-clips 120] [--cache-srs 48000,8000] [--res-types kaiser_best,soxr_vhq]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _time_prepare(raw: Path, run: Path, srs: tuple[int, ...], res_type: str, workers: int) -> dict:
    from data_prep.config import PrepareConfig
    from data_prep.stage import run as prepare
    from sea.manifest import read_manifest

    config = PrepareConfig(dataset="urbansound8k", raw_dir=str(raw), cache_srs=srs, res_type=res_type, workers=workers)
    tracemalloc.start()
    t0 = time.perf_counter()
    prepare(run, config, overwrite=True)
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    t0 = time.perf_counter()
    prepare(run, config)  # up to date: checks the records, decodes nothing
    noop = time.perf_counter() - t0
    recs = read_manifest(run)
    return {"seconds": seconds, "noop": noop, "peak": peak, "n": len(recs), "audio_s": sum(r.duration for r in recs)}


def _warm_up(res_types: list[str], srs: tuple[int, ...]) -> None:
    import numpy as np

    from sea.audio import resample

    y = np.random.default_rng(0).standard_normal(44100)
    for rt in res_types:
        for sr in srs:
            resample(y, 44100, sr, res_type=rt)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-clips", type=int, default=120)
    ap.add_argument("--cache-srs", default="48000,8000")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--res-types", default="kaiser_best,soxr_vhq", help="resamplers to time (comma-separated)")
    ap.add_argument("--baseline", default="soxr_hq", help="resampler the others are compared with")
    ap.add_argument("--workers", type=int, default=0, help="prepare's decode/resample threads (0: automatic)")
    ap.add_argument("--workdir", default=None, help="keep the data here (default: a temp dir)")
    args = ap.parse_args()
    os.environ.setdefault("SEA_NO_PROGRESS", "1")
    from data_prep import synthetic
    from sea.errors import SeaWarning
    from sea.utils import machine_info

    warnings.simplefilter("ignore", SeaWarning)
    srs = tuple(int(s) for s in args.cache_srs.split(","))
    res_types = [args.baseline] + [r for r in args.res_types.split(",") if r != args.baseline]
    m = machine_info()
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['platform']}, Python {m['python']}")
    print(f"load average before: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        t0 = time.perf_counter()
        raw = synthetic.generate(work / "raw", n_clips=args.n_clips, seed=args.seed)
        t_gen = time.perf_counter() - t0
        raw_mib = sum(p.stat().st_size for p in raw.rglob("*.wav")) / 2**20
        _warm_up(res_types, srs)
        results = {rt: _time_prepare(raw, work / f"run_{rt}", srs, rt, args.workers) for rt in res_types}
    first = results[args.baseline]
    print(f"synthetic set: {first['n']} clips, {first['audio_s']:.1f} s of audio, {raw_mib:.1f} MiB of wav "
          f"(generated in {t_gen:.2f} s)")  # fmt: skip
    from data_prep.engine import resolve_workers

    print(f"prepare to {','.join(map(str, srs))} Hz (decode + validate + downmix + resample + cache + records), "
          f"{resolve_workers(args.workers)} worker thread(s):")  # fmt: skip
    for rt, r in results.items():
        ratio = r["seconds"] / first["seconds"]
        print(f"  {rt:<12} {r['seconds']:7.2f} s  {r['n'] / r['seconds']:6.1f} clips/s  "
              f"{r['audio_s'] / r['seconds']:7.1f} audio-s/s  x{ratio:.2f} the time of {args.baseline}  "
              f"peak python {r['peak'] / 2**20:.0f} MiB  rerun (up to date) {r['noop'] * 1000:.0f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
