"""Distillation throughput: training windows/s and the share of step time spent waiting for data.

Builds its own synthetic run (stand-in teacher store, 8 kHz cache, 64-d PCA targets) in a temporary directory, then
trains each student for a fixed number of steps with ``sea.distill.run`` and reads the figures the stage records
(``stage.json`` counts ``windows_per_s`` and ``data_wait_fraction``: time blocked on the next batch / time of the
training loop). Also times the data path alone (windows cut + targets read per second), the headroom over the trainer.

    python benchmarks/bench_distill.py                       # ~1-2 min on 2 CPU cores
    python benchmarks/bench_distill.py --steps 40 --threads 2 --students sea_student_3_lin,sea_mcu_s,sea_mcu_xs

Target: data wait < 10 % of step time on CPU. Figures on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("SEA_NO_PROGRESS", "1")


def build(run_dir: Path, n_clips: int) -> Path:
    from sea.evaluate.demo import make_demo_run
    from sea.layout import RunLayout
    from sea.runs import Stage
    from sea.targets import TargetsConfig, fit_targets

    run = RunLayout(run_dir)
    make_demo_run(run_dir, n_clips=n_clips, hop_size=0.1, teacher_dim=96, pca_dims=(64,), students={})
    with Stage(run.teacher("standin"), "teacher", {"standin": True}).running():
        pass
    shutil.rmtree(run.targets("pca64"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_targets(run_dir, TargetsConfig(dim=64, name="pca64", n_points=100_000))
    return run_dir


def data_only(run_dir: Path, batch_size: int, n_batches: int) -> float:
    import numpy as np

    from sea.distill.data import WindowSource
    from sea.targets import open_targets

    src = WindowSource(run_dir, open_targets(run_dir, "pca64"))
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for _ in range(n_batches):
        src(rng.integers(0, src.n_rows, batch_size))
    return n_batches * batch_size / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--students", default="sea_student_3_lin,sea_mcu_s", help="comma-separated registry names")
    ap.add_argument("--steps", type=int, default=40, help="training steps per student")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    ap.add_argument("--num-workers", type=int, default=2, help="data threads (0 = load in the training loop)")
    ap.add_argument("--clips", type=int, default=48, help="synthetic clips (2 s each, hop 0.1 s: 21 frames per clip)")
    ap.add_argument("--frontend-dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()

    import torch

    from sea.distill import DistillConfig
    from sea.distill import run as distill
    from sea.runs import read_stage

    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="bench_distill_"))
    try:
        t0 = time.perf_counter()
        run = build(tmp / "run", args.clips)
        print(f"synthetic run: {args.clips} clips, built in {time.perf_counter() - t0:.1f} s ({run})")
        print(f"data path alone: {data_only(run, args.batch_size, 50):,.0f} windows/s (cut + targets, 1 thread)")
        print(
            f"torch threads {args.threads}, data workers {args.num_workers}, batch {args.batch_size}, "
            f"{args.steps} steps, front-end {args.frontend_dtype}"
        )
        print(f"{'student':30}{'windows/s':>12}{'step ms':>10}{'data wait':>11}{'device':>8}")
        names = args.students.split(",")
        # the last student once more with the data loaded inside the training loop: what the prefetch saves
        plan = [(n, args.num_workers) for n in names] + ([(names[-1], 0)] if args.num_workers else [])
        for name, workers in plan:
            cfg = DistillConfig(
                student=name,
                targets="pca64",
                name=f"bench_{name}",
                epochs=1,
                max_steps_per_epoch=args.steps,
                batch_size=args.batch_size,
                val_fraction=0.05,
                bn_recalibrate=0,
                num_workers=workers,
                frontend_dtype=args.frontend_dtype,
                device=args.device,
                fidelity_max_frames=64,
            )
            out = distill(run, cfg, overwrite=True)
            c = read_stage(out)["counts"]
            wps = c["windows_per_s"]
            dev = c.get("device", "?")
            label = name if workers == args.num_workers else f"{name} (no prefetch)"
            print(
                f"{label:30}{wps:>12,.1f}{1000 * args.batch_size / wps:>10.1f}{c['data_wait_fraction']:>11.1%}{dev:>8}"
            )
        print("target: data wait < 10% of step time on CPU (figures on a shared box are noisy)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
