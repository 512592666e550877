"""What a wider band costs: the student front-end per window at 8 kHz (SEA's) and at wider rates, in one process.

The network after the front-end does not change with the rate (its input stays ``[64, frames]``), so the front-end
is the whole price of a wider band. Timed here:

* ``numpy``: :func:`sea.students.frontend_numpy.logmel_numpy`, what the Raspberry Pi runner computes per window;
* ``torch stft``: :class:`sea.students.frontend.StudentFrontend` in training mode (float64 FFT), per batch of 64;
* the front-end's largest table (the mel basis, ``[64, n_dft / 2 + 1]``) and its DFT size.

Ratios are against 8 kHz, measured in the same run. Usage::

    python benchmarks/bench_frontend.py                      # 1-s windows at 8, 16, 24, 48 kHz
    python benchmarks/bench_frontend.py --window-size 3 --rates 8000,24000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _median_ms(fn, repeats: int) -> float:
    fn()  # warm-up: FFT plans, allocations
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="8000,16000,24000,48000", help="comma list of student rates in Hz")
    ap.add_argument("--window-size", type=float, default=1.0, help="window in seconds (1 for edgel3, 3 for BirdNET)")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as on a Pi core)")
    args = ap.parse_args(argv)

    import torch

    from sea.students.frontend import StudentFrontend, frontend_params
    from sea.students.frontend_numpy import frontend_mel_basis, logmel_numpy

    torch.set_num_threads(args.threads)
    rates = [int(r) for r in args.rates.split(",")]
    if 8000 not in rates:
        rates = [8000, *rates]  # the baseline of every ratio
    rng = np.random.default_rng(0)
    rows = []
    for sr in rates:
        p = frontend_params(args.window_size, sr)
        y = (0.1 * rng.standard_normal(p["window_length"])).astype(np.float32)
        mel = frontend_mel_basis(p)
        t_np = _median_ms(lambda y=y, p=p, mel=mel: logmel_numpy(y, p, mel), args.repeats)
        fe = StudentFrontend(mode="stft", params=p)
        batch = torch.from_numpy(np.tile(y, (64, 1)))
        with torch.no_grad():
            t_torch = _median_ms(lambda fe=fe, batch=batch: fe(batch), max(3, args.repeats // 4)) / 64
        rows.append((sr, p["n_dft"], p["hop_length"], p["n_frames"], mel.size * 4 / 1024, t_np, t_torch))
    base = rows[0]
    print(f"student front-end, {args.window_size:g}-s windows, {args.threads} torch thread(s); ratios against 8 kHz, "
          "same run")  # fmt: skip
    print(f"{'rate':>7} {'n_dft':>6} {'hop':>5} {'frames':>6} {'mel basis':>10} {'numpy ms':>9} {'x 8 kHz':>8} "
          f"{'torch ms':>9} {'x 8 kHz':>8}")  # fmt: skip
    for sr, n_dft, hop, n_frames, kib, t_np, t_torch in rows:
        print(f"{sr:>7} {n_dft:>6} {hop:>5} {n_frames:>6} {kib:>7.0f} KiB {t_np:>9.2f} {t_np / base[5]:>7.2f}x "
              f"{t_torch:>9.3f} {t_torch / base[6]:>7.2f}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
