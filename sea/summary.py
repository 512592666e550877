"""The summary of a run: one row per model, from the reports every stage left in the run directory.

``sea run`` ends with it (``RUN/summary.json``, ``RUN/summary.md`` and the table it prints);
notebooks can call :func:`summary_rows` on any finished run. It reads files only: nothing is
recomputed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .layout import RunLayout
from .tables import fmt_bytes, fmt_float, render_table
from .utils import Pathlike, machine_info, read_json, write_json

__all__ = ["LEGEND", "build_summary", "summary_rows", "summary_table"]

#: What each column of :func:`summary_table` means (printed under every summary table).
LEGEND = (
    "Columns: score = the primary downstream metric of the primary classifier (mean ± std over test folds); "
    "fidelity R2 / cosine = how well the model's embeddings reproduce its targets φ(teacher) on the evaluated clips "
    "(R2 variance-weighted over dimensions); distill R2 = the same on the distillation corpus's held-out clips; "
    "int8 cos = the worst mean cosine of an int8 artifact against the fp32 model; weights = bytes of the deployed "
    "file (int8 TFLite for students); arena = TFLite Micro arena; MACs/window = multiply-accumulates per window of "
    "the model's length (front-end excluded); latency = one window on one CPU thread in the named runtime."
)

# int8 artifacts in the order the summary prefers them for the weight and latency columns
_ARTIFACTS = (("model_int8.tflite", "int8"), ("model_fp32.tflite", "fp32"), ("model_fp32.onnx", "fp32"))


def _eval_report(run: RunLayout, eval_name: str | None) -> dict | None:
    if eval_name is not None:
        path = run.eval(eval_name) / "report.json"
        return read_json(path) if path.is_file() else None
    if not run.eval_root.is_dir():
        return None
    reports = sorted(p / "report.json" for p in run.eval_root.iterdir() if (p / "report.json").is_file())
    return read_json(reports[0]) if reports else None


def _first(d: dict, keys) -> Any:
    for k in keys:
        if d.get(k) is not None:
            return d[k]
    return None


def _base_row(name: str, m: dict, primary: dict) -> dict[str, Any]:
    clf = m.get("classifiers", {}).get(primary["classifier"]) or {}
    score = (clf.get("scores") or {}).get(primary["metric"]) or {}
    fid = m.get("fidelity") or {}
    cost = m.get("cost") or {}
    return {
        "model": name,
        "kind": m.get("kind"),
        "metric": primary["metric"],
        "classifier": primary["classifier"],
        "score": score.get("mean"),
        "std": score.get("std"),
        "fidelity_r2": fid.get("r2"),
        "fidelity_cosine": fid.get("cosine"),
        "distill_r2": None,
        "params": cost.get("params"),
        "macs": cost.get("macs"),
        "weight_bytes": cost.get("weight_bytes_fp32"),
        "weight_kind": "fp32" if cost.get("weight_bytes_fp32") else None,
        "arena_bytes": None,
        "latency_ms": None,
        "latency_runtime": None,
        "export_dir": None,
        "int8_cosine": None,
        "parity_passed": None,
    }


def _add_export(row: dict[str, Any], edir: Path) -> None:
    """Fill the footprint and parity columns from ``RUN/export/<name>``."""
    if (edir / "footprint.json").is_file():
        fp = read_json(edir / "footprint.json")
        row["export_dir"] = str(edir)
        row["params"] = fp.get("params", row["params"])
        row["macs"] = fp.get("macs", row["macs"])
        arts = fp.get("artifacts") or {}
        for art, kind in _ARTIFACTS:
            if art in arts:
                row["weight_bytes"] = arts[art].get("file_bytes")
                row["weight_kind"] = f"{kind} {art.rsplit('.', 1)[1]}"
                lat = fp.get("latency_ms") or {}
                key = next((k for k in lat if k.startswith(art + "|")), None)
                if key:
                    row["latency_ms"], row["latency_runtime"] = lat[key], key.split("|", 1)[1]
                break
        row["arena_bytes"] = (fp.get("mcu") or {}).get("arena_bytes")
    if (edir / "parity.json").is_file():
        par = read_json(edir / "parity.json")
        cos = [
            r["mean_cosine"]
            for k, r in (par.get("results") or {}).items()
            if "int8" in k and isinstance(r, dict) and r.get("mean_cosine") is not None
        ]
        row["int8_cosine"] = min(cos) if cos else None
        row["parity_passed"] = par.get("passed")


_TEACHER_KINDS = ("teacher", "teacher_pca", "teacher_band")


def summary_rows(run_dir: Pathlike, students: list[str] | None = None, eval_name: str | None = None) -> list[dict]:
    """One row per evaluated model of a run: accuracy, fidelity, footprint and latency.

    Parameters
    ----------
    run_dir : path
        A run directory.
    students : list of str, optional
        Students to list even when the evaluation did not cover them.
    eval_name : str, optional
        The ``RUN/eval/<name>`` report to read (default: the first one there).

    Returns
    -------
    rows : list of dict
        Keys ``model, kind, metric, classifier, score, std, fidelity_r2, fidelity_cosine, distill_r2, params,
        macs, weight_bytes, weight_kind, arena_bytes, latency_ms, latency_runtime, export_dir, int8_cosine,
        parity_passed`` (None where unknown). ``int8_cosine`` is the worst mean cosine of the int8 artifacts
        against fp32.
    """
    run = RunLayout(run_dir)
    report = _eval_report(run, eval_name)
    models: dict[str, dict] = dict(report["models"]) if report else {}
    for n in students or []:
        models.setdefault(n, {"kind": "student", "classifiers": {}})
    primary = report["primary"] if report else {"classifier": None, "metric": None}
    rows = []
    # teacher rows first (teacher, its reductions, its band-limited twin), then the students, each in report order
    order = sorted(models, key=lambda n: models[n].get("kind") not in _TEACHER_KINDS)
    for name in order:
        m = models[name]
        row = _base_row(name, m, primary)
        if run.fidelity(name).is_file():
            f = read_json(run.fidelity(name))
            # variance-weighted R2: dims with little held-out variance make the plain mean erratic
            row["distill_r2"] = _first(f, ("r2_weighted", "r2_mean", "r2", "mean_r2"))
        _add_export(row, run.export(name))
        rows.append(row)
    return rows


def summary_table(rows: list[dict[str, Any]]) -> str:
    """The summary rows as a Markdown table (also readable in a terminal).

    Parameters
    ----------
    rows : list of dict
        From :func:`summary_rows`.

    Returns
    -------
    table : str
    """
    metric = next((r["metric"] for r in rows if r.get("metric")), "score")
    head = [
        "model",
        metric,
        "fidelity R2",
        "cosine",
        "distill R2",
        "int8 cos",
        "weights",
        "arena",
        "MACs/window",
        "latency",
    ]
    cells = []
    for r in rows:
        score = "-" if r["score"] is None else f"{r['score']:.3f} ± {r['std'] or 0:.3f}"
        macs = (
            "-"
            if r["macs"] is None
            else (f"{r['macs'] / 1e9:.1f} G" if r["macs"] >= 1e9 else f"{r['macs'] / 1e6:.1f} M")
        )
        weights = fmt_bytes(r["weight_bytes"]) + (f" ({r['weight_kind']})" if r.get("weight_kind") else "")
        lat = "-" if r["latency_ms"] is None else f"{r['latency_ms']:.2f} ms ({r['latency_runtime']})"
        cells.append(
            [
                r["model"],
                score,
                fmt_float(r["fidelity_r2"], ".3f"),
                fmt_float(r["fidelity_cosine"], ".3f"),
                fmt_float(r["distill_r2"], ".3f"),
                fmt_float(r.get("int8_cosine"), ".4f") + (" FAIL" if r.get("parity_passed") is False else ""),
                weights,
                fmt_bytes(r["arena_bytes"]),
                macs,
                lat,
            ]
        )
    return render_table(head, cells)


def _paths(run: RunLayout, eval_names: list[str], export_students) -> dict[str, Any]:
    paths: dict[str, Any] = {"run_dir": str(run.root)}
    for i, name in enumerate(eval_names):
        edir = run.eval(name)
        if (edir / "report.md").is_file():
            tag = "" if i == 0 else f":{name}"
            paths[f"report{tag}"] = str(edir / "report.md")
            paths[f"plots{tag}"] = [str(x) for x in sorted(edir.glob("*.png"))]
    for name in export_students:
        e = run.export(name)
        if e.is_dir():
            paths[f"export:{name}"] = str(e)
            for sub in ("pi", "mcu"):
                if (e / sub).is_dir():
                    paths[f"{sub}:{name}"] = str(e / sub)
    return paths


def _teacher_untrained(run: RunLayout) -> bool | None:
    untrained = None
    if run.teacher_root.is_dir():
        for d in run.teacher_root.iterdir():
            s = RunLayout.stage_file(d)
            if s.is_file():
                meta = read_json(s)
                untrained = bool(_deep_get(meta, "untrained") or _deep_get(meta, "untrained_teacher"))
    return untrained


def _stage_seconds(run: RunLayout) -> dict[str, float]:
    """Seconds each finished stage took when it last ran (from its stage.json), by stage directory."""
    out = {}
    for f in sorted(run.root.rglob("stage.json")):
        rel = str(f.parent.relative_to(run.root)) or "."
        if rel.startswith("datasets") and rel.count("/") > 1:
            continue
        try:
            s = read_json(f)
        except (OSError, ValueError):
            continue
        if isinstance(s, dict) and s.get("status") == "done" and s.get("seconds") is not None:
            out["prepare" if rel == "." else rel] = s["seconds"]
    return out


def _deep_get(d: Any, key: str) -> Any:
    if isinstance(d, dict):
        if key in d and not isinstance(d[key], dict):
            return d[key]
        for v in d.values():
            r = _deep_get(v, key)
            if r is not None:
                return r
    return None


def _markdown(run: RunLayout, summary: dict) -> str:
    md = [f"# sea run summary: {run.root}", ""]
    if summary["teacher_untrained"]:
        md += ["**Teacher: UNTRAINED OpenL3 (random weights): figures show the pipeline, not SEA's accuracy.**", ""]
    evaluations = summary.get("evaluations") or {}
    if len(evaluations) > 1:
        for name, rows in evaluations.items():
            md += [f"## Evaluation on {name}", "", summary_table(rows), ""]
    else:
        md += [summary_table(summary["rows"]), ""]
    md += [LEGEND, ""]
    if summary.get("allow_overlap"):
        md += ["**Transductive run (allow_overlap: true): evaluation audio is also in the distillation corpus.**", ""]
    md += ["## Stages", ""]
    md += [f"- {k}: {v}" for k, v in summary["stages"].items()]
    md += ["", "## Paths", ""]
    for k, v in summary["paths"].items():
        if isinstance(v, list):
            md += [f"- {k}:"] + [f"  - {x}" for x in v]
        else:
            md.append(f"- {k}: {v}")
    return "\n".join(md)


def build_summary(
    run_dir: Pathlike,
    *,
    config_file: str,
    students: list[str],
    export_students: tuple[str, ...] | list[str],
    eval_names: list[str],
    stages: dict[str, str],
    allow_overlap: bool = False,
    timing: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Collect a run's reports into ``RUN/summary.json`` and ``RUN/summary.md``.

    Parameters
    ----------
    run_dir : path
        The run directory.
    config_file : str
        The ``sea run`` config the run came from (recorded).
    students : list of str
        Students of the run: a student that no evaluation covers gets a row (without scores) in every table.
    export_students : sequence of str
        Students whose export folders are listed under paths.
    eval_names : list of str
        The evaluations of the run; the summary's rows come from the first (the primary one).
    stages : dict
        What each stage did (``"done in 3.1 s"``, ``"up to date"``...).
    allow_overlap : bool
        The run evaluates on audio it was specialised on (said in the summary).
    timing : dict, optional
        ``wall_s`` and ``cpu_s`` of this ``sea run`` invocation.

    Returns
    -------
    summary : dict
        ``format, config_file, machine, timing, stage_seconds, teacher_untrained, allow_overlap, stages, rows,
        evaluations, paths, markdown``.
    """
    run = RunLayout(run_dir)
    evaluations = {n: summary_rows(run.root, eval_name=n) for n in eval_names}
    # a student appears in the evaluations of its own teacher; one evaluated nowhere is listed in every table
    evaluated = {r["model"] for rows in evaluations.values() for r in rows}
    missing = [s for s in students or [] if s not in evaluated]
    if missing:
        evaluations = {n: summary_rows(run.root, missing, eval_name=n) for n in eval_names}
    summary = {
        "format": "sea-run-summary",
        "config_file": config_file,
        "machine": machine_info(),
        "timing": dict(timing or {}),
        "stage_seconds": _stage_seconds(run),
        "teacher_untrained": _teacher_untrained(run),
        "allow_overlap": bool(allow_overlap),
        "stages": stages,
        "rows": next(iter(evaluations.values())) if evaluations else summary_rows(run.root, students),
        "evaluations": evaluations,
        "paths": _paths(run, eval_names, export_students),
    }
    write_json(run.summary_json, summary)
    markdown = _markdown(run, summary)
    run.summary_md.write_text(markdown + "\n", encoding="utf-8")
    summary["markdown"] = markdown
    return summary
