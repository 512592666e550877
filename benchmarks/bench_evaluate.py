"""Benchmark of ``sea evaluate``: one model on a 10-fold synthetic dataset, embedding vs classifier time.

Usage::

    python benchmarks/bench_evaluate.py              # 200 clips x 4 s, 10 folds, hop 0.1 s, the paper's MLP (512-128)
    python benchmarks/bench_evaluate.py --quick      # 60 clips x 2 s, hop 0.5 s, a few epochs: seconds
    python benchmarks/bench_evaluate.py --model student|teacher|untrained_openl3 [--device cuda]

The dataset is :func:`sea.evaluate.demo.make_demo_run` (tones per class, folds 1..10, the US8K layout).
Models: ``student`` (a random-weight ``sea_student_3_lin`` checkpoint through the 8 kHz front-end, the
default), ``teacher`` (the cheap stand-in teacher, nn.Module), ``untrained_openl3`` (the real OpenL3 CNN with
random weights, mel128/512: the realistic teacher cost). The embedding cache is disabled (``overwrite``) so
embedding time is measured. Printed: the machine and its load, total evaluation time, the time spent
embedding, the time spent training/predicting the classifiers (per classifier), their shares, and every
phase as a ratio to the baseline measured in the same process: the linear probe (``logreg``, always run
first). A second block times the SONYC-UST metric (official DCASE-UST AUPRC, micro + macro, on 443 clips x 8
classes like the v1 validate split) against scikit-learn's ``average_precision_score`` on the same arrays.

Figures on the shared 2-core development machine are noisy: several contributors run tests at the same time.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--model", default="student", choices=("student", "teacher", "untrained_openl3"))
    ap.add_argument("--classifiers", default="mlp,logreg")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    os.environ.setdefault("SEA_NO_PROGRESS", "1")
    import torch

    torch.set_num_threads(args.threads)
    from sea.constants import TEACHER_SR
    from sea.evaluate import EvalConfig, evaluate, load_report, model_from_callable
    from sea.evaluate.demo import StandinTeacher, make_demo_run
    from sea.layout import RunLayout
    from sea.utils import machine_info

    m = machine_info()
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['platform']}, Python {m['python']}")
    print(f"load average before: {', '.join(f'{x:.1f}' for x in os.getloadavg())}; torch threads {args.threads}")
    clfs = ["logreg"] + [c for c in args.classifiers.split(",") if c != "logreg"]  # the baseline first

    if args.quick:
        n_clips, duration, hop, epochs, patience = 60, 2.0, 0.5, 5, 5
    else:
        n_clips, duration, hop, epochs, patience = 200, 4.0, 0.1, 30, 10
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run = make_demo_run(
            Path(tmp) / "run",
            n_clips=n_clips,
            n_folds=10,
            duration=duration,
            hop_size=hop,
            pca_dims=(8,),
            students={"s3": ("sea_student_3_lin", 8)},
        )
        print(
            f"dataset: {n_clips} clips x {duration} s, 10 folds, hop {hop} s (built in {time.perf_counter() - t0:.1f} s)"
        )
        injected, spec, extra = {}, args.model, {}
        if args.model == "student":
            spec = "s3"
        elif args.model == "teacher":
            injected = {
                "teacher": model_from_callable(
                    "teacher", StandinTeacher(32), sr=TEACHER_SR, kind="teacher", device=args.device
                )
            }
        else:
            import shutil

            shutil.rmtree(RunLayout(run).teacher_root)
            spec, extra = "teacher", {"untrained_teacher": True, "input_repr": "mel128", "embedding_size": 512}
        cfg = EvalConfig(
            models=(spec,),
            hop_size=hop,
            classifiers=tuple(clfs),
            mlp_epochs=epochs,
            mlp_patience=patience,
            fidelity=False,
            plots=False,
            device=args.device,
            **extra,
        )
        t0 = time.perf_counter()
        evaluate(run, cfg, models=injected or None, overwrite=True)
        total = time.perf_counter() - t0
        rep = load_report(run)
        m = rep["models"][spec]
        embed = m["embed_seconds"]
        train = m["train_seconds"]
        print(f"model {spec}: {m['n_frames']} frames of dim {m['dim']}")
        print(f"total evaluate() time     {total:8.2f} s")
        print(
            f"  embedding               {embed:8.2f} s  ({100 * embed / total:5.1f} %)  {m['n_frames'] / max(embed, 1e-9):.0f} frames/s"
        )
        print(f"  classifiers (10 folds)  {train:8.2f} s  ({100 * train / total:5.1f} %)")
        for clf, res in m["classifiers"].items():
            acc = res["scores"]["accuracy"]
            print(f"    {clf:8s} {res['train_seconds']:8.2f} s   accuracy {acc['mean']:.3f} ± {acc['std']:.3f}")
        other = total - embed - train
        print(f"  other (cost, reports)   {other:8.2f} s  ({100 * other / total:5.1f} %)")
        base = max(m["classifiers"]["logreg"]["train_seconds"], 1e-9)
        print("ratios to the baseline (logreg probe, same process):")
        print(f"  embedding               {embed / base:8.2f} x")
        for clf, res in m["classifiers"].items():
            print(f"  {clf:8s}                {res['train_seconds'] / base:8.2f} x")
        print(f"  whole evaluation        {total / base:8.2f} x")
    _bench_auprc()
    return 0


def _bench_auprc(n_clips: int = 443, n_classes: int = 8, repeat: int = 20) -> None:
    """Official DCASE-UST AUPRC (micro + macro) against scikit-learn's average precision on the same arrays."""
    import numpy as np
    from sklearn.metrics import average_precision_score

    from sea.evaluate.metrics import auprc_dcase

    rng = np.random.default_rng(0)
    y = (rng.random((n_clips, n_classes)) < 0.25).astype(int)
    s = np.clip(y * 0.3 + rng.random((n_clips, n_classes)) * 0.7, 0, 1)

    def timed(fn) -> float:
        t0 = time.perf_counter()
        for _ in range(repeat):
            fn()
        return (time.perf_counter() - t0) / repeat

    base = timed(
        lambda: (average_precision_score(y, s, average="micro"), average_precision_score(y, s, average="macro"))
    )
    ours = timed(lambda: (auprc_dcase(y, s, average="micro"), auprc_dcase(y, s, average="macro")))
    print(
        f"SONYC-UST metric on {n_clips} x {n_classes}: DCASE-UST AUPRC micro+macro {1e3 * ours:.2f} ms, "
        f"sklearn AP micro+macro (baseline) {1e3 * base:.2f} ms, ratio {ours / base:.2f} x"
    )


if __name__ == "__main__":
    raise SystemExit(main())
