"""Decode-and-cache throughput of ``sea data prepare`` on the synthetic dataset.

Generates a synthetic UrbanSound8K-layout set (mixed rates 8-96 kHz, 16/24/32-bit and float,
mono/stereo), then times the prepare stage (decode once, validate, downmix, soxr resample to each
cache rate, append to the packed caches, md5, manifest + report) and prints clips/s,
audio-seconds/s and peak memory.

    python benchmarks/bench_data.py [--n-clips 300] [--cache-srs 48000,8000] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-clips", type=int, default=300)
    ap.add_argument("--cache-srs", default="48000,8000")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--res-type", default="soxr_vhq")
    ap.add_argument("--workdir", default=None, help="keep the data here (default: a temp dir)")
    args = ap.parse_args()
    os.environ.setdefault("SEA_NO_PROGRESS", "1")
    import warnings

    from data_prep import synthetic
    from data_prep.config import PrepareConfig
    from data_prep.stage import run
    from sea.errors import SeaWarning
    from sea.manifest import read_manifest

    warnings.simplefilter("ignore", SeaWarning)
    srs = tuple(int(s) for s in args.cache_srs.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        t0 = time.perf_counter()
        raw = synthetic.generate(work / "raw", n_clips=args.n_clips, seed=args.seed)
        t_gen = time.perf_counter() - t0
        raw_bytes = sum(p.stat().st_size for p in raw.rglob("*.wav"))
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        tracemalloc.start()
        t0 = time.perf_counter()
        config = PrepareConfig(dataset="urbansound8k", raw_dir=str(raw), cache_srs=srs, res_type=args.res_type)
        run(work / "run", config, overwrite=True)
        t_prep = time.perf_counter() - t0
        _, py_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        recs = read_manifest(work / "run")
        audio_s = sum(r.duration for r in recs)
        t0 = time.perf_counter()
        run(work / "run", config)
        t_noop = time.perf_counter() - t0
        cache_bytes = sum(p.stat().st_size for p in (work / "run" / "audio").rglob("samples.f32"))
    print(f"synthetic set: {len(recs)} clips, {audio_s:.1f} s of audio, {raw_bytes / 2**20:.1f} MiB of wav "
          f"(generated in {t_gen:.2f} s, {len(recs) / t_gen:.0f} clips/s)")  # fmt: skip
    print(f"prepare (decode + validate + downmix + resample to {','.join(map(str, srs))} Hz + cache, {args.res_type}):")
    print(f"  {t_prep:.2f} s  ->  {len(recs) / t_prep:.1f} clips/s, {audio_s / t_prep:.1f} audio-seconds/s")
    print(f"  peak python allocations (tracemalloc): {py_peak / 2**20:.1f} MiB")
    print(f"  peak RSS: {rss1 / 1024:.0f} MiB (before prepare {rss0 / 1024:.0f} MiB; ru_maxrss is process-wide)")
    print(f"  caches: {cache_bytes / 2**20:.1f} MiB; rerun (no-op): {t_noop * 1000:.0f} ms")


if __name__ == "__main__":
    main()
