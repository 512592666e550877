"""Fidelity against cost of the students: the trade-off curve of the MCU family next to the paper's Student 3.

    python benchmarks/bench_tradeoff.py                        # builds a small synthetic run, ~10 min on 2 cores
    python benchmarks/bench_tradeoff.py --run-dir RUN          # reuse a run that has teacher frames and targets
    python benchmarks/bench_tradeoff.py --plot tradeoff.png    # also draw fidelity against MACs and weights

Every student is distilled with the same settings onto the same targets, then the held-out
fidelity (``students/<name>/fidelity.json``: variance-weighted R2 and mean cosine against the
reduced teacher) is printed next to params, MACs per window, peak int8 activation bytes and int8
weight bytes from the registry. With an untrained teacher (no official weights here) the numbers
rank the students on a reproducible regression task; they are not SEA's accuracies.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import yaml

DEFAULT_STUDENTS = ("sea_student_3", "sea_student_3_lin", "sea_mcu_xs", "sea_mcu_s", "sea_mcu_m")


def build_run(run_dir: Path, n_clips: int, seed: int) -> None:
    """Synthetic data -> untrained-if-needed teacher (mel128/512, hop 0.5) -> 64-d PCA."""
    from sea.pipeline import load_run_config, run_pipeline

    cfg = {
        "run_dir": str(run_dir),
        "seed": seed,
        "data": {"dataset": "synthetic", "n_clips": n_clips, "duration": 4.0},
        "teacher": {"input_repr": "mel128", "content_type": "music", "embedding_size": 512, "hop_size": 0.5},
        "targets": {"method": "pca", "dim": 64, "sampler": "random", "n_points": 100000},
        "students": [],
        "evaluate": None,
        "export": None,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
        yaml.safe_dump(cfg, fh)
    try:
        run_pipeline(load_run_config(fh.name), stop="targets")
    finally:
        os.unlink(fh.name)


def tradeoff_table(rows: list[dict]) -> str:
    """One row per student: params, MACs, int8 activation and weight bytes (KiB), held-out R2 and cosine."""
    from sea.tables import fmt_bytes, render_table

    cells = [
        [r["student"], f"{r['params']:,}", f"{r['macs'] / 1e6:.1f}M", fmt_bytes(r["act"]),
         fmt_bytes(r["weights"]), f"{r['r2']:.3f}", f"{r['cosine']:.3f}"]
        for r in rows
    ]  # fmt: skip
    # minimum widths keep the columns of the earlier fixed-width layout (benchmarks/RESULTS.md)
    widths = (18, 10, 7, 10, 10, 6, 6)
    names = ("student", "params", "MACs", "act int8", "w int8", "R2 (w)", "cosine")
    header = [names[0].ljust(widths[0])] + [n.rjust(w) for n, w in zip(names[1:], widths[1:])]
    return render_table(header, cells, style="text", align="<>>>>>>")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dir", default=None, help="run with teacher frames and targets (default: build one)")
    ap.add_argument("--targets", default="pca64_random", help="target set under RUN/targets/")
    ap.add_argument("--students", default=",".join(DEFAULT_STUDENTS))
    ap.add_argument("--n-clips", type=int, default=120)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plot", default=None, help="write a PNG of fidelity against MACs and int8 weights")
    args = ap.parse_args()

    import torch

    from sea import students as registry
    from sea.distill import DistillConfig, distill
    from sea.layout import RunLayout
    from sea.students.cost import model_cost
    from sea.utils import read_json

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    if args.run_dir:
        run_dir = Path(args.run_dir)
    else:
        run_dir = Path(tempfile.mkdtemp(prefix="sea_tradeoff_")) / "run"
        t0 = time.perf_counter()
        build_run(run_dir, args.n_clips, args.seed)
        print(f"built {run_dir} ({args.n_clips} synthetic clips) in {time.perf_counter() - t0:.0f} s")

    rows = []
    for name in [s for s in args.students.split(",") if s]:
        out_dim = registry.create(name).embedding_dim
        tdim = int(read_json(RunLayout(run_dir).targets(args.targets) / "report.json").get("dim", out_dim))
        student_args = {"out_dim": tdim} if out_dim != tdim else None
        cfg = DistillConfig(
            student=name,
            student_args=student_args,
            targets=args.targets,
            epochs=args.epochs,
            patience=args.epochs,
            lr=args.lr,
            seed=args.seed,
            num_workers=0,
        )
        t0 = time.perf_counter()
        out = distill(run_dir, cfg)
        fid = read_json(Path(out) / "fidelity.json")
        cost = model_cost(registry.create(name, **(student_args or {})))
        rows.append(
            {
                "student": name,
                "params": cost["params"],
                "macs": cost["macs"],
                "act": cost.get("peak_activation_bytes_int8"),
                "weights": cost.get("weight_bytes_int8"),
                "r2": fid.get("r2_weighted"),
                "cosine": fid.get("cosine_mean"),
                "seconds": time.perf_counter() - t0,
            }
        )
        print(f"distilled {name} in {rows[-1]['seconds']:.0f} s", flush=True)

    from sea.utils import machine_info

    m = machine_info()
    print(f"\nrun {run_dir}, targets {args.targets}, {args.epochs} epochs, lr {args.lr}, seed {args.seed}")
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; seconds per student: "
          + ", ".join(f"{r['student']} {r['seconds']:.0f}" for r in rows))  # fmt: skip
    print(tradeoff_table(rows))
    # the baseline, distilled in this same process on the same targets: the paper's Student 3
    ref = next((r for r in rows if r["student"] == "sea_student_3"), None)
    if ref:
        for r in rows:
            if r is not ref:
                print(
                    f"{r['student']}: {ref['macs'] / r['macs']:.1f}x fewer MACs, {ref['act'] / r['act']:.1f}x less "
                    f"activation memory than sea_student_3; R2 {r['r2'] - ref['r2']:+.3f}, cosine "
                    f"{r['cosine'] - ref['cosine']:+.3f}"
                )
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for ax, key, label in ((axes[0], "macs", "MACs per window"), (axes[1], "weights", "int8 weight bytes")):
            for r in rows:
                ax.scatter(r[key], r["r2"])
                ax.annotate(r["student"], (r[key], r["r2"]), fontsize=8)
            ax.set_xscale("log")
            ax.set_xlabel(label)
            ax.set_ylabel("held-out R2 (variance-weighted)")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
