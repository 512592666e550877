"""Benchmark of the targets stage: streaming PCA at scale and the point samplers.

Usage::

    python benchmarks/bench_targets.py                 # full sizes (500K x 512 PCA, N=1e5 samplers)
    python benchmarks/bench_targets.py --quick         # small sizes, seconds

What it measures (wall time, and peak Python/numpy heap via tracemalloc, which
numpy reports its allocations to; memmap pages are not heap):

1. ``PCAReducer(method="streaming").fit_batches`` over a float16 memmap of
   ``n × 512`` frames on disk (the frame store's dtype), batch 8192. Heap stays
   O(D² + batch·D), independent of n.
2. The samplers on ``N`` candidate frames of dimension 512 (non-negative, post-ReLU-like
   clustered data) in 20 buckets, as the stage runs them: random, spl (levels given;
   whole-bucket and sliding-window ranks over frame times at 10 frames/s), dpp_div and
   dpp (exact low-rank k-DPP per bucket, pool = 4x the bucket's quota) for several k and
   each kernel (``zscore``, the default; the paper's ``l1``; ``l2``). Times are printed
   as ratios to the random sampler's, diversity as report.json's measure (mean
   within-bucket pairwise distance in standardised space) divided by a uniform draw's
   with the same quotas, and ``t/k`` = the share of points drawn from the kernel's
   diversity term (the rest is uniform fill).
3. ``frame_levels`` over one hour of 48 kHz audio at hop 0.1 s.

Every ratio's baseline is measured in the same process. Figures on the shared
2-core development machine are noisy: several contributors run tests at the same time.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np


def _measure(fn):
    tracemalloc.start()
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return out, dt, peak / 2**20


def bench_pca(n: int, d: int, dim: int, batch: int, tmp: Path) -> None:
    from sea.targets import PCAReducer

    path = tmp / "frames.f16"
    mm = np.memmap(path, dtype=np.float16, mode="w+", shape=(n, d))
    rng = np.random.default_rng(0)
    W = rng.standard_normal((64, d)).astype(np.float32) / 8
    t0 = time.perf_counter()
    for i in range(0, n, 65536):
        b = min(n, i + 65536) - i
        mm[i : i + b] = np.maximum(rng.standard_normal((b, 64)).astype(np.float32) @ W, 0)
    mm.flush()
    del mm
    gen = time.perf_counter() - t0
    X = np.memmap(path, dtype=np.float16, mode="r", shape=(n, d))
    pca, dt_fit, peak = _measure(
        lambda: PCAReducer(dim, method="streaming").fit_batches(X[i : i + batch] for i in range(0, n, batch))
    )
    print(
        f"PCA streaming fit  n={n} D={d} d={dim} batch={batch}: {dt_fit:.2f} s "
        f"({n / dt_fit / 1e3:.0f}K frames/s), peak heap {peak:.1f} MiB "
        f"(data on disk {n * d * 2 / 2**20:.0f} MiB float16; generation {gen:.1f} s); "
        f"EV(d)={pca.explained_variance_ratio_.sum():.3f}"
    )
    Z, dt, peak = _measure(lambda: [pca.transform(X[i : i + batch]) for i in range(0, min(n, 100_000), batch)])
    m = min(n, 100_000)
    print(f"PCA transform      {m} frames: {dt:.2f} s ({m / dt / 1e3:.0f}K frames/s), peak heap {peak:.1f} MiB")
    if n * d <= 60_000_000:
        Xa = np.asarray(X, dtype=np.float32)
        _, dt_exact, peak = _measure(lambda: PCAReducer(dim, method="exact").fit(Xa))
        print(
            f"PCA exact (SVD)    n={n} D={d}: {dt_exact:.2f} s = x{dt_exact / dt_fit:.1f} the streaming fit, "
            f"peak heap {peak:.1f} MiB (needs X in RAM)"
        )
    path.unlink()


def bench_samplers(N: int, d: int, ks: list[int], n_buckets: int) -> None:
    from sea.targets.diversity import within_bucket_diversity
    from sea.targets.samplers import relevance_scores, sample_dpp, sample_random, sample_spl

    rng = np.random.default_rng(0)
    centers = np.maximum(rng.standard_normal((32, d)), 0)
    F = np.maximum(centers[rng.integers(0, 32, N)] + 0.3 * rng.standard_normal((N, d)), 0).astype(np.float32)
    levels = rng.normal(-30, 10, N)
    relevance_scores(levels[:10])  # warm-up: first scipy import
    groups = np.repeat(np.arange(n_buckets), -(-N // n_buckets))[:N]
    times = np.arange(N) * 0.1  # 10 frames/s
    for k in ks:
        _, t_rnd, _ = _measure(lambda k=k: sample_random(N, k, np.random.default_rng(1), groups=groups))
        _, t_spl, _ = _measure(lambda k=k: sample_spl(levels, k, np.random.default_rng(1), groups=groups))
        _, t_win, _ = _measure(
            lambda k=k: sample_spl(levels, k, np.random.default_rng(1), groups=groups, times=times, window=200.0)
        )
        print(
            f"N={N} k={k} buckets={n_buckets}: random {t_rnd * 1e3:.1f} ms (baseline); spl whole-bucket ranks "
            f"x{t_spl / t_rnd:.1f}; spl 200-s window (2000 frames) x{t_win / t_rnd:.1f}"
        )
        for name, q in (("dpp_div", None), ("dpp", rng.random(N))):
            for norm in ("zscore", "l1", "l2"):
                stats: list[dict] = []
                S, dt, peak = _measure(
                    lambda k=k, q=q, norm=norm, stats=stats: sample_dpp(
                        F,
                        k,
                        np.random.default_rng(1),
                        quality=q,
                        groups=groups,
                        pool_size=k,
                        norm=norm,
                        on_bucket=stats.append,
                    )  # fmt: skip
                )
                div = within_bucket_diversity(F, groups, S, np.random.default_rng(2))
                share = sum(b["t"] for b in stats) / k
                print(
                    f"  {name:8s} {norm:6s} x{dt / t_rnd:7.1f} time, peak heap {peak:4.0f} MiB, pools "
                    f"{stats[0]['pool']} for quotas {stats[0]['k']}; diversity / uniform {div['ratio']:.3f}; "
                    f"t/k {share:.2f}"
                )


def bench_levels(seconds: float, sr: int, tmp: Path) -> None:
    from sea.cache import AudioCache, CacheWriter
    from sea.framing import n_frames
    from sea.targets.samplers import frame_levels

    w = CacheWriter(tmp, sr)
    w.add("long", (0.1 * np.random.default_rng(0).standard_normal(int(seconds * sr))).astype(np.float32))
    w.close()
    cache = AudioCache(tmp, sr)
    nf = n_frames(cache.n_samples("long"), sr, hop_size=0.1)
    _, dt, peak = _measure(lambda: frame_levels(np.array(["long"] * nf), np.arange(nf), cache))
    print(f"frame_levels {seconds / 3600:.2f} h at {sr} Hz ({nf} frames): {dt:.2f} s, peak heap {peak:.0f} MiB")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes")
    ap.add_argument("--pca-n", type=int, default=None)
    ap.add_argument("--sampler-n", type=int, default=None)
    args = ap.parse_args()
    os.environ.setdefault("SEA_NO_PROGRESS", "1")
    pca_n = args.pca_n or (20_000 if args.quick else 500_000)
    sampler_n = args.sampler_n or (5_000 if args.quick else 100_000)
    ks = [100, 500] if args.quick else [500, 2000, 5000]
    print(f"machine: {_cpu_model()}, {os.cpu_count()} cores available")
    with tempfile.TemporaryDirectory() as tmp:
        bench_pca(pca_n, 512, 128, 8192, Path(tmp))
        bench_samplers(sampler_n, 512, ks, n_buckets=20)
        bench_levels(120.0 if args.quick else 3600.0, 48000, Path(tmp))


if __name__ == "__main__":
    main()
