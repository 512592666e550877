"""Consistent teaching: labelling windows in the loader threads against labelling them in the training loop.

With ``online_teacher`` every training window is labelled by the teacher as the student sees it (time-shifted,
mixed): the teacher's forward (edgel3's published ``sea_ust_64``, 122 M MACs per window) is most of a step. sea
labels the next batches in its loader threads while the trainer steps on the current one; the baseline, run in the
same process on the same synthetic run, labels each batch in the training loop (``num_workers=0``, how sea did it
before). Each thread count is measured separately: the overlap pays where intra-op threads leave cores idle. Both
runs must end with the same weights (the batches and their labels do not depend on the threads); checked.

    python benchmarks/bench_online.py                           # ~30 s on 2 CPU cores, needs the edgel3 weights
    python benchmarks/bench_online.py --threads 2 --steps 60 --student sea_mcu_xs --weights ~/sea_ust_64.h5.gz

Weights: ``--weights``, else ``../shared/models/edgel3_sea_ust_audio_emb_64.h5.gz`` beside the checkout, else the
cache or a pinned download (offline: a clear error).
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

SHARED_WEIGHTS = Path(__file__).resolve().parents[1].parent / "shared/models/edgel3_sea_ust_audio_emb_64.h5.gz"


def build(run_dir: Path, n_clips: int, weights: str | None) -> Path:
    """A synthetic run with an edgel3 ``sea_ust_64`` frame store (hop 0.1 s) and its identity targets."""
    from sea.evaluate.demo import make_demo_run
    from sea.targets import TargetsConfig, fit_targets
    from sea.teacher.config import ExtractConfig
    from sea.teacher.stage import run as extract

    make_demo_run(run_dir, n_clips=n_clips, duration=3.0, hop_size=0.5, teacher_dim=16, pca_dims=(8,), students={})
    extract(run_dir, ExtractConfig(model="edgel3:sea_ust_64", weights=weights, hop_size=0.1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_targets(run_dir, TargetsConfig(method="identity", teacher="edgel3_sea_ust_64", name="id64"))
    return run_dir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--student", default="sea_mcu_s", help="registry name of the student")
    ap.add_argument("--steps", type=int, default=40, help="training steps per run")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", default="2,1", help="torch intra-op thread counts to measure, comma-separated")
    ap.add_argument("--num-workers", type=int, default=2, help="loader threads of sea's run")
    ap.add_argument("--clips", type=int, default=32, help="synthetic 3-s clips")
    ap.add_argument("--weights", default=None, help="edgel3 sea_ust_64 .h5/.h5.gz (default: ../shared, the cache)")
    args = ap.parse_args()

    import torch

    from sea.checkpoint import load_checkpoint
    from sea.distill import DistillConfig
    from sea.distill import run as distill
    from sea.runs import read_stage
    from sea.utils import machine_info

    threads = [int(t) for t in str(args.threads).split(",")]
    weights = args.weights or (str(SHARED_WEIGHTS) if SHARED_WEIGHTS.is_file() else None)
    m = machine_info()
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, torch {m.get('torch')}")
    tmp = Path(tempfile.mkdtemp(prefix="bench_online_"))
    try:
        t0 = time.perf_counter()
        run = build(tmp / "run", args.clips, weights)
        print(f"synthetic run: {args.clips} clips of 3 s, edgel3 sea_ust_64 store, built in "
              f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
        print(f"student {args.student}, batch {args.batch_size}, {args.steps} steps, time shift 0.5 s, mixup 0.5")
        print(f"{'torch threads':>13}  {'labelling':34}{'windows/s':>11}{'step ms':>9}{'data wait':>11}")
        for n_threads in threads:
            torch.set_num_threads(n_threads)
            results = {}
            # a short warm-up run first: the first forward passes (allocations, the BN-folded teacher) would count
            # against whichever run went first
            plan = [("warm-up", 0, 3), ("in the training loop (baseline)", 0, args.steps)]
            plan.append((f"in {args.num_workers} loader threads", args.num_workers, args.steps))
            for label, workers, steps in plan:
                cfg = DistillConfig(student=args.student, targets="id64", name=f"workers{workers}",
                                    online_teacher=True, time_shift=0.5, mixup=0.5, epochs=1,
                                    max_steps_per_epoch=steps, batch_size=args.batch_size, val_fraction=0.1,
                                    bn_recalibrate=0, num_workers=workers, device="cpu",
                                    fidelity_max_frames=64)  # fmt: skip
                out = distill(run, cfg, overwrite=True)
                if label == "warm-up":
                    continue
                c = read_stage(out)["counts"]
                results[workers] = (c["windows_per_s"], load_checkpoint(out / "best.pt")["state_dict"])
                print(f"{n_threads:>13}  {label:34}{c['windows_per_s']:>11,.1f}"
                      f"{1000 * args.batch_size / c['windows_per_s']:>9.1f}{c['data_wait_fraction']:>11.1%}")  # fmt: skip
            (base, a), (sea, b) = results[0], results[args.num_workers]
            same = all(torch.equal(a[k], b[k]) for k in a)
            print(f"{n_threads:>13}  loader threads / training loop: {sea / base:.2f}x windows/s; same weights: "
                  f"{'yes' if same else 'NO'}")  # fmt: skip
            if not same:
                raise SystemExit("the two runs ended with different weights: labelling in threads changed training")
        print("when the teacher's convolutions already keep every core busy (2 threads on 2 cores) there is little")
        print("to overlap; with fewer intra-op threads than cores the loader threads fill them")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
