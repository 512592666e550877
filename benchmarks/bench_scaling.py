"""Cost growth of the two long stages: teacher extraction and distillation at 1x, 2x and 4x data.

Each size runs in a fresh child process, so its peak RSS is its own. Linear scaling shows as a
time ratio close to the data ratio; bounded memory shows as a flat peak RSS (memory is bounded by
the batch, not by the dataset).

    python benchmarks/bench_scaling.py              # 8 / 16 / 32 clips of 4 s
    python benchmarks/bench_scaling.py --base 16    # 16 / 32 / 64 clips

The teacher is OpenL3 mel256/music/512 with untrained weights (same cost as the trained one);
distillation trains sea_mcu_s for a fixed number of epochs on 64-d PCA targets.
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

ROOT = Path(__file__).resolve().parents[1]


def _child(args) -> None:
    """Run one stage on one prepared run and print a JSON line with time and peak RSS."""
    sys.path.insert(0, str(ROOT))
    warnings.simplefilter("ignore")
    import logging

    logging.disable(logging.WARNING)
    os.environ["SEA_NO_PROGRESS"] = "1"
    import torch

    torch.set_num_threads(args.threads)
    from sea.store import FrameStore
    from sea.teacher.config import ExtractConfig
    from sea.teacher.stage import store_dir

    run = Path(args.run)
    teacher = ExtractConfig(hop_size=args.hop_size, untrained_teacher=True, batch_size=32)
    t0 = time.perf_counter()
    if args.child == "extract":
        from sea.teacher.stage import run as extract

        extract(run, teacher, overwrite=True)
        n = len(FrameStore(store_dir(run, teacher)))
    else:
        from sea.distill import DistillConfig
        from sea.distill import run as distill

        cfg = DistillConfig(student="sea_mcu_s", targets="pca64_random", epochs=args.epochs, patience=100, seed=0)
        distill(run, cfg, overwrite=True)
        n = len(FrameStore(store_dir(run, teacher))) * args.epochs
    dt = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"stage": args.child, "seconds": dt, "units": n, "peak_rss_mb": rss_mb}))


def _prepare(run: Path, n_clips: int, hop_size: float) -> None:
    sys.path.insert(0, str(ROOT))
    warnings.simplefilter("ignore")
    import logging

    logging.disable(logging.WARNING)
    import data_prep
    from data_prep import PrepareConfig

    data_prep.prepare_from_config(PrepareConfig(dataset="synthetic"), run, n_clips=n_clips, seed=0, duration=4.0)


def _run_child(stage: str, run: Path, args) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        stage,
        "--run",
        str(run),
        "--hop-size",
        str(args.hop_size),
        "--epochs",
        str(args.epochs),
        "--threads",
        str(args.threads),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SEA_OFFLINE": "1"}
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", type=int, default=8, help="clips at 1x (4-s synthetic clips)")
    ap.add_argument("--hop-size", type=float, default=0.5)
    ap.add_argument(
        "--epochs",
        type=int,
        default=10,
        help="distillation epochs per size (fixed costs such as model build and the fidelity pass dominate below ~10)",
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--stages", default="extract,distill")
    ap.add_argument("--child", choices=("extract", "distill"), help=argparse.SUPPRESS)
    ap.add_argument("--run", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args)
        return
    stages = [s for s in args.stages.split(",") if s]
    results: dict[str, list[dict]] = {s: [] for s in stages}
    sys.path.insert(0, str(ROOT))
    from sea.utils import machine_info

    m = machine_info()
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; {args.threads} torch threads per child; "
          f"load average {os.getloadavg()[0]:.1f} at start")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="sea_scaling_") as tmp:
        for mult in (1, 2, 4):
            run = Path(tmp) / f"x{mult}"
            _prepare(run, args.base * mult, args.hop_size)
            for stage in stages:
                if stage == "distill":
                    from sea.layout import RunLayout
                    from sea.targets import TargetsConfig, fit_targets

                    if not RunLayout(run).teacher_root.is_dir():
                        _run_child("extract", run, args)

                    fit_targets(run, TargetsConfig(dim=64))
                r = _run_child(stage, run, args)
                r["mult"] = mult
                results[stage].append(r)
                print(
                    f"{stage:8s} {mult}x: {r['units']:6d} {'windows' if stage == 'extract' else 'window-epochs'} "
                    f"in {r['seconds']:7.1f} s ({r['units'] / r['seconds']:7.1f}/s), peak RSS {r['peak_rss_mb']:.0f} MiB",
                    flush=True,
                )
    print()
    print("cost growth (time ratio vs data ratio; peak RSS ratio should stay ~1):")
    for stage, rows in results.items():
        base = rows[0]
        for r in rows:
            data_ratio = r["units"] / base["units"]
            print(
                f"  {stage:8s} {r['mult']}x data: data x{data_ratio:.2f}, time x{r['seconds'] / base['seconds']:.2f}, "
                f"peak RSS x{r['peak_rss_mb'] / base['peak_rss_mb']:.2f}"
            )


if __name__ == "__main__":
    main()
