"""Distillation throughput against a bare PyTorch loop of the same student, measured in the same process.

Builds its own synthetic run (stand-in teacher store, 8 kHz cache, 64-d PCA targets) in a temporary directory, then
trains each student for a fixed number of steps with ``sea.distill.run`` and reads the figures the stage records
(``stage.json`` counts ``windows_per_s`` and ``data_wait_fraction``: time blocked on the next batch / time of the
training loop). The baseline is a bare loop in this process: the same student, Adam and MSE on random log-mel
features already in memory, so ``sea / bare`` is the share of the model's own speed that sea keeps once it cuts
windows from the cache, reads the targets and computes the log-mel front-end. Also times the data path alone.

    python benchmarks/bench_distill.py                       # ~1-2 min on 2 CPU cores
    python benchmarks/bench_distill.py --steps 40 --threads 2 --students sea_student_3_lin,sea_mcu_s,sea_mcu_xs
    python benchmarks/bench_distill.py --window-size 3        # BirdNET-length windows (150 mel frames)

Target: data wait < 10 % of step time on CPU. Figures on a shared machine are noisy; the ratios are steadier.
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


def build(run_dir: Path, n_clips: int, window_size: float) -> Path:
    """A synthetic run with a stand-in teacher store (1-s windows, or ``window_size`` s uncentred) and pca64."""
    from sea.evaluate.demo import make_demo_run
    from sea.layout import RunLayout
    from sea.runs import Stage
    from sea.targets import TargetsConfig, fit_targets

    run = RunLayout(run_dir)
    duration = max(2.0, window_size + 1.0)
    make_demo_run(run_dir, n_clips=n_clips, duration=duration, hop_size=0.1, teacher_dim=96, pca_dims=(64,),
                  students={})  # fmt: skip
    if window_size != 1.0:
        _rewindow(run, window_size)
    with Stage(run.teacher("standin"), "teacher", {"standin": True}).running():
        pass
    shutil.rmtree(run.targets("pca64"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_targets(run_dir, TargetsConfig(dim=64, name="pca64", n_points=100_000))
    return run_dir


def _rewindow(run, window_size: float) -> None:
    """Replace the stand-in store by one of ``window_size``-s uncentred windows (hop 0.1 s)."""
    import numpy as np
    import torch

    from sea.cache import AudioCache
    from sea.evaluate.demo import StandinTeacher
    from sea.framing import frame_starts
    from sea.manifest import read_manifest
    from sea.store import FrameStoreWriter

    shutil.rmtree(run.teacher("standin"))
    net, cache, length = StandinTeacher(96, seed=0), AudioCache(run.root, 48000), int(window_size * 48000)
    teacher = {"family": "standin", "name": "standin", "sr": 48000, "window_size": window_size, "hop_size": 0.1}
    meta = {"sr": 48000, "hop_size": 0.1, "center": False, "frame_size": window_size, "teacher": teacher}
    with FrameStoreWriter(run.teacher("standin"), 96, dtype="float32", meta=meta) as w:
        for r in read_manifest(run.root):
            starts = frame_starts(cache.n_samples(r.clip_id), 48000, hop_size=0.1, center=False,
                                  frame_size=window_size)  # fmt: skip
            win = np.stack([cache.window(r.clip_id, int(s), length) for s in starts])
            with torch.no_grad():
                emb = net(torch.from_numpy(win)).numpy()
            w.add([r.clip_id] * len(starts), np.arange(len(starts)), np.arange(len(starts)) * 0.1, emb)


def data_only(run_dir: Path, batch_size: int, n_batches: int) -> float:
    """Windows per second of the data path alone (cut from the cache + targets read), in this thread."""
    import numpy as np

    from sea.distill.data import WindowSource
    from sea.targets import open_targets

    src = WindowSource(run_dir, open_targets(run_dir, "pca64"))
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for _ in range(n_batches):
        src(rng.integers(0, src.n_rows, batch_size))
    return n_batches * batch_size / (time.perf_counter() - t0)


def bare_loop(name: str, steps: int, batch_size: int, n_frames: int, device: str) -> float:
    """Windows per second of a bare training loop: the student on random features in memory, Adam, MSE."""
    import torch

    from sea import students

    torch.manual_seed(0)
    kw = {"input_shape": [1, 64, n_frames]} if n_frames != 50 else {}
    model = students.create(name, out_dim=64, **kw).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = -80 * torch.rand(batch_size, 1, 64, n_frames, device=device)
    t = torch.randn(batch_size, 64, device=device)
    for i in range(steps + 3):
        if i == 3:  # warm-up steps excluded
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        loss = torch.mean((model(x) - t) ** 2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return steps * batch_size / (time.perf_counter() - t0)


def _machine_line(threads: int) -> str:
    from sea.utils import machine_info

    m = machine_info()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, torch {m.get('torch')}, "
            f"{threads} torch threads, load average {load:.1f} at start")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--students", default="sea_student_3_lin,sea_mcu_s", help="comma-separated registry names")
    ap.add_argument("--steps", type=int, default=40, help="training steps per student")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    ap.add_argument("--num-workers", type=int, default=2, help="data threads (0 = load in the training loop)")
    ap.add_argument("--clips", type=int, default=48, help="synthetic clips (hop 0.1 s)")
    ap.add_argument("--window-size", type=float, default=1.0, help="teacher window in seconds (3 = BirdNET)")
    ap.add_argument("--frontend-dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()

    import torch

    from sea.distill import DistillConfig
    from sea.distill import run as distill
    from sea.runs import read_stage
    from sea.students.frontend import frontend_params

    torch.set_num_threads(args.threads)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    n_frames = frontend_params(args.window_size)["n_frames"]
    print(_machine_line(args.threads))
    tmp = Path(tempfile.mkdtemp(prefix="bench_distill_"))
    try:
        t0 = time.perf_counter()
        run = build(tmp / "run", args.clips, args.window_size)
        print(f"synthetic run: {args.clips} clips, {args.window_size:g}-s windows ({n_frames} mel frames), built in "
              f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
        print(f"data path alone: {data_only(run, args.batch_size, 50):,.0f} windows/s (cut + targets, 1 thread)")
        print(f"torch threads {args.threads}, data workers {args.num_workers}, batch {args.batch_size}, "
              f"{args.steps} steps, front-end {args.frontend_dtype}, device {device}")  # fmt: skip
        print(f"{'student':30}{'sea win/s':>11}{'bare win/s':>12}{'sea/bare':>10}{'step ms':>9}{'data wait':>11}")
        names = args.students.split(",")
        # the last student once more with the data loaded inside the training loop (what the prefetch saves), and
        # once with a moving average of its weights updated after every step (what ema costs)
        plan = [(n, args.num_workers, 0.0) for n in names] + ([(names[-1], 0, 0.0)] if args.num_workers else [])
        plan.append((names[-1], args.num_workers, 0.998))
        bare: dict[str, float] = {}
        for name, workers, ema in plan:
            cfg = DistillConfig(student=name, student_args={"out_dim": 64}, targets="pca64", name=f"bench_{name}",
                                epochs=1, max_steps_per_epoch=args.steps, batch_size=args.batch_size,
                                val_fraction=0.05, bn_recalibrate=0, num_workers=workers,
                                frontend_dtype=args.frontend_dtype, device=device,
                                fidelity_max_frames=64, ema=ema)  # fmt: skip
            c = read_stage(distill(run, cfg, overwrite=True))["counts"]
            if name not in bare:  # the baseline right after sea's run of the same student, same process
                bare[name] = bare_loop(name, args.steps, args.batch_size, n_frames, device)
            wps = c["windows_per_s"]
            label = name if workers == args.num_workers else f"{name} (no prefetch)"
            label = f"{name} (ema {ema:g})" if ema else label
            print(f"{label:30}{wps:>11,.1f}{bare[name]:>12,.1f}{wps / bare[name]:>10.2f}"
                  f"{1000 * args.batch_size / wps:>9.1f}{c['data_wait_fraction']:>11.1%}")  # fmt: skip
        print("sea/bare: sea's training steps (windows cut, targets read, log-mel computed) vs the model alone")
        print("target: data wait < 10% of step time on CPU (figures on a shared box are noisy)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
