"""The README's result tables, generated from recorded runs (so the figures a user reads are the ones a run printed).

A *record* is the summary of one finished ``sea run`` (its rows, the machine, the wall and CPU time) plus the
command that made it, committed under ``benchmarks/records/<name>.json``. The README holds each table between
markers::

    <!-- figures: quickstart -->
    ...generated...
    <!-- /figures -->

Usage::

    python benchmarks/README_figures.py record runs/quickstart quickstart --command "sea run configs/quickstart.yaml"
    python benchmarks/README_figures.py render            # print every block
    python benchmarks/README_figures.py write             # rewrite the README's blocks from the records
    python benchmarks/README_figures.py check             # exit 1 when the README drifted from the records

``tests/test_readme_figures.py`` runs ``check`` in CI.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "benchmarks" / "records"
README = ROOT / "README.md"
BLOCK = re.compile(r"(<!-- figures: (?P<name>[\w.-]+) -->\n)(?P<body>.*?)(<!-- /figures -->)", re.S)


def record(run_dir: Path, name: str, command: str) -> Path:
    """Write ``benchmarks/records/<name>.json`` from a finished run's ``summary.json``."""
    summary = json.loads((Path(run_dir) / "summary.json").read_text())
    keep = ("config_file", "machine", "timing", "stage_seconds", "teacher_untrained", "allow_overlap", "stages",
            "rows", "evaluations")  # fmt: skip
    rec = {"name": name, "command": command, "recorded": time.strftime("%Y-%m-%d"), **{k: summary.get(k) for k in keep}}
    for rows in [rec["rows"] or [], *(rec["evaluations"] or {}).values()]:
        for row in rows:
            row.pop("export_dir", None)  # a path on the recording machine
    RECORDS.mkdir(parents=True, exist_ok=True)
    out = RECORDS / f"{name}.json"
    out.write_text(json.dumps(rec, indent=1, sort_keys=False) + "\n")
    return out


def _minutes(seconds) -> str:
    return "-" if seconds is None else f"{seconds / 60:.1f} min"


def render(name: str) -> str:
    """The Markdown block of one record: how it was made, then its table(s) and the legend."""
    sys.path.insert(0, str(ROOT))
    from sea.summary import LEGEND, summary_table

    rec = json.loads((RECORDS / f"{name}.json").read_text())
    m, t = rec.get("machine") or {}, rec.get("timing") or {}
    lines = [
        f"Recorded {rec['recorded']}: `{rec['command']}` on {m.get('cpu', '?')} ({m.get('cores', '?')} cores, "
        f"{m.get('memory_gib', '?')} GiB); wall {_minutes(t.get('wall_s'))}, CPU {_minutes(t.get('cpu_s'))}.",
        "",
    ]
    if rec.get("teacher_untrained"):
        lines += ["**The teacher was UNTRAINED (random weights): these figures show the pipeline, not SEA.**", ""]
    if rec.get("allow_overlap"):
        lines += ["**Transductive: evaluated on the audio it was specialised on.**", ""]
    evaluations = rec.get("evaluations") or {"": rec["rows"]}
    for eval_name, rows in evaluations.items():
        if len(evaluations) > 1:
            lines += [f"Evaluated on `{eval_name}`:", ""]
        lines += [summary_table(rows), ""]
    lines.append(LEGEND)
    return "\n".join(lines) + "\n"


def _replace(text: str) -> str:
    return BLOCK.sub(lambda m: m.group(1) + render(m.group("name")) + m.group(4), text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record", help="record a finished run")
    r.add_argument("run_dir", type=Path)
    r.add_argument("name")
    r.add_argument("--command", required=True, help="the command that made the run, as a user types it")
    sub.add_parser("render", help="print every README block from the records")
    sub.add_parser("write", help="rewrite the README's blocks from the records")
    sub.add_parser("check", help="exit 1 when the README's blocks differ from the records")
    args = p.parse_args(argv)
    if args.cmd == "record":
        print(record(args.run_dir, args.name, args.command))
        return 0
    text = README.read_text(encoding="utf-8")
    if args.cmd == "render":
        for m in BLOCK.finditer(text):
            print(f"--- {m.group('name')}\n{render(m.group('name'))}")
        return 0
    new = _replace(text)
    if args.cmd == "write":
        README.write_text(new, encoding="utf-8")
        return 0
    if new != text:
        print("README.md's figures differ from benchmarks/records; run 'python benchmarks/README_figures.py write'")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
