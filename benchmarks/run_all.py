"""Run every benchmark and write ``benchmarks/RESULTS.md`` with the machine description.

    python benchmarks/run_all.py               # the default (quick) settings, ~15-25 min on 2 cores
    python benchmarks/run_all.py --only teacher,scaling
    python benchmarks/run_all.py --out /tmp/RESULTS.md

Each benchmark runs in its own process (its peak memory is its own) with settings small enough
for a 2-core CPU; the exact command is recorded above its output, so any figure can be re-run.
A failing benchmark is recorded as failed, and the others still run.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# name -> arguments (quick settings for a 2-core CPU)
BENCHMARKS: dict[str, list[str]] = {
    "data": ["bench_data.py", "--n-clips", "120"],
    "teacher": ["bench_teacher.py", "--device", "all", "--windows", "64", "--long-file", "--long-seconds", "600"],
    "students": ["bench_students.py", "--tflm"],
    "targets": ["bench_targets.py", "--quick"],
    "distill": ["bench_distill.py"],
    "online": ["bench_online.py"],
    "evaluate": ["bench_evaluate.py", "--quick"],
    "export": ["bench_export.py", "--student", "sea_student_3", "--repeats", "20"],
    "scaling": ["bench_scaling.py"],
    "tradeoff": ["bench_tradeoff.py", "--epochs", "12"],
    "frontend": ["bench_frontend.py"],
}


def machine() -> list[str]:
    import torch

    from sea.utils import machine_info

    cpu = machine_info()["cpu"]
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return [
        f"- CPU: {cpu}, {os.cpu_count()} logical cores; RAM {mem}; GPU: {gpu}",
        f"- OS: {platform.platform()}",
        f"- Python {platform.python_version()}, torch {torch.__version__}, numpy {__import__('numpy').__version__}",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M %Z')}",
        f"- git: {_git()}",
    ]


def _git() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except Exception:
        return "?"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help=f"comma list of {', '.join(BENCHMARKS)}")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "RESULTS.md"))
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per benchmark")
    args = ap.parse_args()
    names = [n for n in args.only.split(",") if n] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        ap.error(f"unknown benchmark(s) {unknown}; choose from {', '.join(BENCHMARKS)}")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SEA_OFFLINE": "1", "SEA_NO_PROGRESS": "1"}
    sections = []
    for name in names:
        script, *rest = BENCHMARKS[name]
        cmd = [sys.executable, str(ROOT / "benchmarks" / script), *rest]
        shown = " ".join(["python", f"benchmarks/{script}", *rest])
        print(f"== {name}: {shown}", flush=True)
        t0 = time.perf_counter()
        try:
            p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=args.timeout)
            status = "ok" if p.returncode == 0 else f"FAILED (exit {p.returncode})"
            text = p.stdout + (("\n[stderr]\n" + p.stderr[-3000:]) if p.returncode else "")
        except subprocess.TimeoutExpired as exc:
            status = f"TIMED OUT after {args.timeout} s"
            text = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        dt = time.perf_counter() - t0
        print(text[-2000:], flush=True)
        print(f"-- {name}: {status} in {dt:.0f} s", flush=True)
        sections.append((name, shown, status, dt, text.strip()))
    lines = [
        "# sea benchmark results",
        "",
        "Written by `python benchmarks/run_all.py`. Figures are from the machine below; on a shared 2-core box",
        "they are noisy (other jobs share the cores), so read ratios measured in the same process rather than",
        "absolute times.",
        "",
        "## Machine",
        "",
        *machine(),
        "",
    ]
    for name, shown, status, dt, text in sections:
        lines += [f"## {name}", "", f"`{shown}`: {status}, {dt:.0f} s", "", "```", text, "```", ""]
    Path(args.out).write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0 if all(s[2] == "ok" for s in sections) else 1


if __name__ == "__main__":
    sys.exit(main())
