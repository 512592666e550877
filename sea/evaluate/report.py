"""Evaluation reports: markdown tables, Pareto fronts and plots (the only module that imports matplotlib).

Figures are built on ``matplotlib.figure.Figure`` with the Agg canvas, never through ``pyplot``'s global
state, so reports render headless and the caller's backend is untouched; notebooks show them with
:func:`show`. matplotlib is imported inside the plotting functions only.

Inputs are the dicts of ``RUN/eval/<dataset>/report.json`` (:func:`sea.evaluate.load_report`) and the flat
rows of :func:`sea.evaluate.report_rows`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..layout import RunLayout, safe_name
from ..tables import fmt_bytes, fmt_count, fmt_float, render_table
from ..utils import Pathlike, write_json
from .results import REPORT_FILE, collect_reports, json_safe, report_rows

__all__ = [
    "COST_LABELS",
    "MARKDOWN_FILE",
    "classifier_table",
    "fmt_bytes",
    "fmt_count",
    "header_lines",
    "pareto_front",
    "plot_classifier_comparison",
    "plot_confusion",
    "plot_pareto",
    "plot_per_fold",
    "plot_score_vs_cost",
    "results_table",
    "score_lines",
    "show",
    "summary_markdown",
    "write_markdown",
    "write_plots",
    "write_run_summary",
]

#: The markdown report of one evaluation, and of the run-level summary, next to its ``report.json``.
MARKDOWN_FILE = "report.md"
SUMMARY_FORMAT = "sea-eval-summary"

COST_LABELS = {
    "weight_bytes_fp32": "weights fp32 (bytes)",
    "weight_bytes_int8": "weights int8 (bytes)",
    "macs": "MACs per window",
    "params": "parameters",
    "peak_activation_bytes_fp32": "peak activations fp32 (bytes)",
    "peak_activation_bytes_int8": "peak activations int8 (bytes)",
}
METRIC_LABELS = {
    "accuracy": "accuracy",
    "micro_auprc": "micro-AUPRC",
    "macro_auprc": "macro-AUPRC",
    "micro_f1": "micro-F1@0.5",
    "micro_ap": "micro-AP",
    "macro_ap": "macro-AP",
    "cosine": "cosine to reduced teacher",
    "r2": "R² to reduced teacher",
    "cka": "linear CKA to teacher",
    "agreement": "agreement with teacher",
    "score": "score",
}


# -- formatting -----------------------------------------------------------------------


def _pm(s: dict | None) -> str:
    if not s or s.get("mean") is None:
        return "-"
    if s.get("std") is None or len(s.get("per_fold") or []) < 2:
        return f"{s['mean']:.3f}"
    return f"{s['mean']:.3f} ± {s['std']:.3f}"


# -- tables ---------------------------------------------------------------------------


def results_table(report: dict) -> str:
    """Table-3-style markdown of one evaluation: a row per model, scores, cost and fidelity.

    Parameters
    ----------
    report : dict
        A ``report.json`` (:func:`sea.evaluate.load_report`).

    Returns
    -------
    table : str
        Markdown: the primary metric (± std over folds) of every classifier, then cost and
        fidelity columns.
    """
    metric = report["primary"]["metric"]
    models = report["models"]
    clfs = list(next(iter(models.values()))["classifiers"]) if models else []
    header = [
        "model",
        "dim",
        *[f"{c} {METRIC_LABELS.get(metric, metric)}" for c in clfs],
        "params",
        "MACs",
        "weights fp32",
        "weights int8",
        "peak act fp32",
        "peak act int8",
        "CKA",
        "cos",
        "R²",
        "agree",
    ]
    primary = report["primary"]["classifier"]
    rows = []
    for name, m in models.items():
        c = m.get("cost") or {}
        fid = m.get("fidelity") or {}
        rows.append(
            [
                f"`{name}`",
                str(m.get("dim", "-")),
                *[_pm(m["classifiers"][k]["scores"].get(metric)) for k in clfs],
                fmt_count(c.get("params")),
                fmt_count(c.get("macs")),
                fmt_bytes(c.get("weight_bytes_fp32")),
                fmt_bytes(c.get("weight_bytes_int8")),
                fmt_bytes(c.get("peak_activation_bytes_fp32")),
                fmt_bytes(c.get("peak_activation_bytes_int8")),
                fmt_float(fid.get("cka")),
                fmt_float(fid.get("cosine")),
                fmt_float(fid.get("r2")),
                fmt_float((fid.get("agreement") or {}).get(primary)),
            ]
        )
    return render_table(header, rows)


def classifier_table(report: dict, metric: str | None = None) -> str:
    """Markdown table of models x classifiers for one metric, with train seconds.

    Parameters
    ----------
    report : dict
        A ``report.json``.
    metric : str, optional
        A score key (``accuracy``, ``micro_auprc``...); default: the report's primary metric.

    Returns
    -------
    table : str
    """
    metric = metric or report["primary"]["metric"]
    models = report["models"]
    clfs = list(next(iter(models.values()))["classifiers"]) if models else []
    rows = [
        [
            f"`{n}`",
            *[
                f"{_pm(m['classifiers'][c]['scores'].get(metric))} ({m['classifiers'][c]['train_seconds']:.1f} s)"
                for c in clfs
            ],
        ]
        for n, m in models.items()
    ]
    return render_table(["model", *clfs], rows)


def _per_fold_table(report: dict) -> str:
    metric = report["primary"]["metric"]
    clf = report["primary"]["classifier"]
    folds = [str(s["test_fold"]) for s in report["dataset"]["splits"]]
    rows = []
    for name, m in report["models"].items():
        vals = m["classifiers"][clf]["scores"][metric]["per_fold"]
        rows.append([f"`{name}`", *[fmt_float(v) for v in vals]])
    return render_table(["model", *folds], rows)


#: What every column of the results table means (report.md prints it under the table).
RESULTS_LEGEND = (
    (
        "model",
        "`teacher`, `teacher_pca:<targets>` (the teacher followed by that PCA φ), `teacher_8k[:<targets>]` (the "
        "teacher on its input low-passed at 4 kHz: what an 8 kHz student hears, hence its ceiling), or a student "
        "checkpoint",
    ),
    ("dim", "embedding size the classifiers see"),
    ("<classifier> <metric>", "the downstream score of that classifier, mean ± std over the protocol's test folds"),
    ("params", "parameters of the model (teacher: its CNN; teacher_pca adds the PCA)"),
    ("MACs", "multiply-accumulates per window of the model's own length (1 s, or 3 s for BirdNET), front-end excluded"),
    ("weights fp32 / int8", "bytes of the weights in float32 / int8 (KiB = 1024 B)"),
    ("peak act fp32 / int8", "largest pair of live activations during one window, in float32 / int8 bytes"),
    ("CKA", "linear CKA between the model's frame embeddings and the teacher's (1 = same geometry)"),
    ("cos", "mean per-frame cosine between a student's embedding and its reduced-teacher target φ(teacher)"),
    ("R²", "variance-weighted R² of a student's embedding against φ(teacher) on the evaluated clips"),
    ("agree", "share of clips where the primary classifier predicts the same as on the teacher's embeddings"),
)


def _legend(entries) -> list[str]:
    return ["Columns:", ""] + [f"- **{k}**: {v}" for k, v in entries] + [""]


def _teacher_line(teacher: dict | None) -> str:
    """One line naming the teacher: family, name, weights hash, rate, window, and UNTRAINED when so."""
    if not teacher or not teacher.get("family"):
        return f"teacher: {(teacher or {}).get('note', 'unknown')}"
    name = teacher.get("name") or teacher.get("variant") or "?"
    line = f"teacher: {teacher['family']} `{name}`"
    if teacher.get("variant") and teacher["variant"] != name:
        line += f" (store `{teacher['variant']}`)"
    sha = teacher.get("weights_sha256")
    line += f"; weights sha256 {sha[:12]}…" if sha else "; weights sha256 not recorded"
    if teacher.get("sr"):
        line += f"; {teacher['sr']} Hz, {teacher.get('window_size') or 1.0:g}-s windows"
    if teacher.get("standin"):
        line += " (a test stand-in)"
    if teacher.get("untrained"):
        line += " — **UNTRAINED (random weights)**"
    return line


def header_lines(report: dict) -> list[str]:
    """The header every report of an evaluation carries: dataset, distillation corpus, teacher, protocol, notes.

    Parameters
    ----------
    report : dict
        A ``report.json``.

    Returns
    -------
    lines : list of str
        Markdown bullet lines.
    """
    ds = report["dataset"]
    corpus = report.get("distillation_corpus") or {}
    detail = ds.get("protocol_detail") or {}
    rec = f", {ds['n_recordings']} recordings" if ds.get("n_recordings") else ""
    lines = [
        f"- evaluated on: **{ds['name']}** ({ds.get('kind') or 'dataset'}, {ds['n_clips']} clips{rec}, "
        f"{ds['n_classes']} classes) at `{ds.get('path', '?')}`",
    ]
    if corpus:
        same = " — **the same audio** (transductive)" if corpus.get("evaluated_on_distillation_corpus") else ""
        lines.append(
            f"- specialised on: the {corpus.get('kind') or 'run'} corpus at `{corpus['path']}` "
            f"({corpus.get('n_clips')} clips): targets (PCA) and students were fitted there, its labels unused{same}"
        )
    lines.append(f"- {_teacher_line(report.get('teacher'))}")
    lines.append(
        f"- protocol: **{ds['protocol']}** ({len(ds['splits'])} run(s)): {detail.get('description', '')}".rstrip(": ")
    )
    if report.get("autopool"):
        lines.append(f"- {report['autopool']['description']}")
    lines += [f"- **note:** {n}" for n in report.get("notes") or []]
    return lines


def _overview_lines(report: dict) -> list[str]:
    ds = report["dataset"]
    metric = report["primary"]["metric"]
    return [
        f"# Downstream evaluation: {ds['name']}",
        "",
        *header_lines(report),
        f"- primary metric: {METRIC_LABELS.get(metric, metric)} (mean ± std over test folds) of the "
        f"`{report['primary']['classifier']}` classifier"
        + (f"; multi-label ({ds.get('label_level')})" if ds["multilabel"] else ""),
        f"- hop {report['config']['hop_size']} s, center={report['config']['center']}; "
        f"time: embedding {report['timing']['embed_seconds']:.1f} s, classifiers {report['timing']['train_seconds']:.1f} s",
        "",
        "## Results (Table 3 form) and cost",
        "",
        results_table(report),
        "",
        *_legend(RESULTS_LEGEND),
        "Cost: sea.students.cost.model_cost (teacher on its log-mel input, students on (1, 64, n_frames)); "
        "for TFLite/ONNX teachers counted from the graph.",
        "",
        "## Classifiers",
        "",
        classifier_table(report),
        "",
        *_legend(
            (
                ("model", "as above"),
                ("<classifier>", "its primary metric, mean ± std over test folds, and (training seconds)"),
            )
        ),
        f"## Per fold ({report['primary']['classifier']}, {METRIC_LABELS.get(metric, metric)})",
        "",
        _per_fold_table(report),
        "",
        *_legend(
            (
                ("model", "as above"),
                ("<fold>", "the score on that test fold (the spread behind each ± std)"),
            )
        ),
    ]


def _tagging_lines(report: dict) -> list[str]:
    """Render the multi-label section: every tagging metric of every (model, classifier)."""
    keys = ("micro_auprc", "macro_auprc", "micro_f1", "micro_ap", "macro_ap")
    rows = [
        [f"`{name}`", clf, *[_pm(res["scores"].get(k)) for k in keys]]
        for name, m in report["models"].items()
        for clf, res in m["classifiers"].items()
    ]
    return [
        "## Tagging metrics",
        "",
        render_table(
            ["model", "classifier", "micro-AUPRC", "macro-AUPRC", "micro-F1@0.5", "micro-AP", "macro-AP"], rows
        ),
        "",
        *_legend(
            (
                ("classifier", "`mlp_autopool` (AutoPool head), `mlp_mean` (mean of frame probabilities), logreg, svm"),
                (
                    "micro-AUPRC / macro-AUPRC",
                    "as the official DCASE-UST scorer: thresholds = distinct scores >= "
                    f"{report['config']['min_threshold']} plus 1.0, P-R points between (0,1) and (1,0), trapezoid; "
                    "micro pools every clip x class, macro averages all classes (a class without positives scores 0)",
                ),
                ("micro-F1@0.5", "micro-averaged F1 of the decisions score >= 0.5"),
                ("micro-AP / macro-AP", "scikit-learn's step-wise average precision (not the challenge metric)"),
            )
        ),
    ]


def write_markdown(path: Pathlike, report: dict) -> Path:
    """Write the ``report.md`` of one evaluation.

    Parameters
    ----------
    path : path
        The markdown file to write.
    report : dict
        The evaluation's ``report.json``.

    Returns
    -------
    path : Path
    """
    lines = _overview_lines(report)
    if report["dataset"]["multilabel"]:
        lines += _tagging_lines(report)
    figs = report.get("figures") or _figure_names(report)
    if figs:
        lines += ["## Figures", ""] + [f"![{f}]({f})" for f in figs] + [""]
    path = Path(path)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def summary_markdown(reports: list[dict]) -> str:
    """Run-level Table 3 in markdown: models x datasets, and cost.

    Parameters
    ----------
    reports : list of dict
        The reports of a run (:func:`sea.evaluate.collect_reports`).

    Returns
    -------
    markdown : str
        A title, each dataset's header (:func:`header_lines`: corpus, teacher, protocol, notes), and
        one table: per dataset the primary metric (± std) of its primary classifier, with a legend.
    """
    datasets = [r["dataset"]["name"] for r in reports]
    models: dict[str, dict] = {}
    for r in reports:
        for name, m in r["models"].items():
            models.setdefault(name, {"cost": m.get("cost"), "dim": m.get("dim")})
            models[name][r["dataset"]["name"]] = m["classifiers"][r["primary"]["classifier"]]["scores"].get(
                r["primary"]["metric"]
            )
    header = [
        "model",
        "dim",
        *[f"{d} ({r['primary']['metric']})" for d, r in zip(datasets, reports)],
        "params",
        "MACs",
        "weights int8",
        "peak act int8",
    ]
    rows = []
    for name, m in models.items():
        c = m.get("cost") or {}
        rows.append(
            [
                f"`{name}`",
                str(m.get("dim", "-")),
                *[_pm(m.get(d)) for d in datasets],
                fmt_count(c.get("params")),
                fmt_count(c.get("macs")),
                fmt_bytes(c.get("weight_bytes_int8")),
                fmt_bytes(c.get("peak_activation_bytes_int8")),
            ]
        )
    lines = ["# Downstream evaluation summary", ""]
    for r in reports:
        lines += [f"## {r['dataset']['name']}", "", *header_lines(r), ""]
    legend = (
        ("model", "`teacher`, `teacher_pca:<targets>`, `teacher_8k[:<targets>]` or a student"),
        ("dim", "embedding size"),
        ("<dataset> (<metric>)", "that dataset's primary metric of its primary classifier, mean ± std over test folds"),
        ("params / MACs", "parameters; multiply-accumulates per window of the model's length, front-end excluded"),
        ("weights int8 / peak act int8", "int8 weight bytes; largest live activations in int8 bytes (KiB = 1024 B)"),
    )
    return "\n".join([*lines, "## Results", "", render_table(header, rows), "", *_legend(legend)])


def score_lines(report: dict) -> str:
    r"""Render one line per model: the primary classifier's primary metric (``sea evaluate``'s output).

    Parameters
    ----------
    report : dict
        A ``report.json``.

    Returns
    -------
    text : str
        ``<model>\t<classifier> <metric> <mean>[ ± <std>]`` lines, then the report's caveats as
        ``note: ...`` lines (overlap allowed, untrained teacher, noisy CV, fast preset...).
    """
    metric = report["primary"]["metric"]
    clf = report["primary"]["classifier"]
    lines = []
    for name, m in report["models"].items():
        s = m["classifiers"][clf]["scores"][metric]
        std = f" ± {s['std']:.3f}" if s.get("std") is not None else ""
        mean = f"{s['mean']:.3f}" if s.get("mean") is not None else "-"
        lines.append(f"{name}\t{clf} {metric} {mean}{std}")
    lines += [f"note: {n}" for n in report.get("notes") or []]
    return "\n".join(lines)


def write_run_summary(run_dir: Pathlike) -> Path:
    """Write the run-level summary: every evaluated dataset of the run side by side.

    Parameters
    ----------
    run_dir : path
        The run directory.

    Returns
    -------
    path : Path
        ``RUN/eval/report.md``; ``RUN/eval/report.json`` holds the datasets and the flat rows
        of :func:`sea.evaluate.report_rows`.
    """
    run = RunLayout(run_dir)
    reports = collect_reports(run.root)
    rows = report_rows(reports)
    summary = {
        "format": SUMMARY_FORMAT,
        "datasets": {
            r["dataset"]["name"]: {"report": r["_path"], "primary": r["primary"], "protocol": r["dataset"]["protocol"]}
            for r in reports
        },
        "rows": rows,
    }
    write_json(run.eval_root / REPORT_FILE, json_safe(summary))
    path = run.eval_root / MARKDOWN_FILE
    path.write_text(summary_markdown(reports), encoding="utf-8")
    return path


# -- Pareto ---------------------------------------------------------------------------


def pareto_front(rows: list[dict], x: str, y: str, *, minimize_x: bool = True, maximize_y: bool = True) -> list[int]:
    """Find the rows not dominated in (``x``, ``y``).

    A row dominates another when it is at least as good on both keys and strictly better on one
    (smaller ``x`` and larger ``y`` by default). Rows missing either value are ignored.

    Parameters
    ----------
    rows : list of dict
        E.g. :func:`sea.evaluate.report_rows`.
    x, y : str
        The two keys compared.
    minimize_x, maximize_y : bool
        Which direction is better on each key.

    Returns
    -------
    front : list of int
        Indices into ``rows`` of the non-dominated rows, sorted by ``x``.
    """
    pts = [(i, r[x], r[y]) for i, r in enumerate(rows) if r.get(x) is not None and r.get(y) is not None]
    sx = 1 if minimize_x else -1
    sy = -1 if maximize_y else 1
    front = []
    for i, xi, yi in pts:
        dominated = any(
            (sx * xj <= sx * xi and sy * yj <= sy * yi) and (sx * xj < sx * xi or sy * yj < sy * yi)
            for j, xj, yj in pts
            if j != i
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: sx * rows[i][x])


# -- plots ----------------------------------------------------------------------------


def _figure(w: float = 6.0, h: float = 4.0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=100)
    FigureCanvasAgg(fig)
    return fig


#: Suptitle of every plot of an evaluation whose teacher had random weights.
UNTRAINED_MARK = "UNTRAINED TEACHER (random weights): dry-run numbers, not SEA's accuracy"


def _untrained(report_or_rows) -> bool:
    """Whether any report (or row) comes from an untrained teacher."""
    if isinstance(report_or_rows, dict):
        return bool((report_or_rows.get("teacher") or {}).get("untrained"))
    items = list(report_or_rows or [])
    if items and "models" in items[0]:
        return any(_untrained(r) for r in items)
    return any(r.get("teacher_untrained") for r in items)


def _finish(fig, report_or_rows) -> None:
    """Mark an untrained teacher's results on the figure (suptitle), then lay it out."""
    if _untrained(report_or_rows):
        fig.suptitle(UNTRAINED_MARK, color="C3", fontsize=9, fontweight="bold")
    fig.tight_layout()


def _place_labels(ax, points: list[tuple[float, float, str]], fontsize: int = 8) -> list:
    """Annotate points without overlapping labels: each takes the first free offset around its point.

    Call after the axes' limits and layout are final (the placement is measured in display space).
    """
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    offsets = [(4, 4, "left"), (4, -12, "left"), (-4, 4, "right"), (-4, -12, "right")]
    offsets += [(dx, dy, ha) for k in range(2, 8) for dx, dy, ha in ((4, 12 * k - 8, "left"), (4, -12 * k, "left"))]
    taken, texts = [], []
    for x, y, label in points:
        for dx, dy, ha in offsets:
            t = ax.annotate(label, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=fontsize, ha=ha)
            box = t.get_window_extent(renderer).expanded(1.05, 1.1)
            if not any(box.overlaps(b) for b in taken):
                break
            t.remove()
        else:
            t = ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=fontsize)
            box = t.get_window_extent(renderer)
        taken.append(box)
        texts.append(t)
    return texts


def _rows(report_or_rows) -> list[dict]:
    if isinstance(report_or_rows, dict):
        return report_rows(report_or_rows)
    if report_or_rows and "models" in report_or_rows[0]:
        return report_rows(report_or_rows)
    return list(report_or_rows)


def plot_score_vs_cost(
    report_or_rows, cost: str = "weight_bytes_int8", *, classifier: str | None = None, logx: bool = True
):
    """Plot the score against a cost key, one point per model.

    Parameters
    ----------
    report_or_rows : dict or list of dict
        A report, several reports, or their :func:`sea.evaluate.report_rows`.
    cost : str
        ``weight_bytes_fp32``, ``weight_bytes_int8``, ``macs``, ``params`` or ``peak_activation_bytes_*``.
    classifier : str, optional
        Rows of one classifier only; default: a report's primary classifier, else every row.
    logx : bool
        Logarithmic cost axis.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    rows = _rows(report_or_rows)
    if classifier is None and isinstance(report_or_rows, dict):
        classifier = report_or_rows["primary"]["classifier"]
    rows = [
        r
        for r in rows
        if (classifier is None or r["classifier"] == classifier) and r.get(cost) and r.get("score") is not None
    ]
    fig = _figure()
    ax = fig.subplots()
    for r in rows:
        ax.errorbar(
            r[cost], r["score"], yerr=r.get("std") or 0, fmt="o", capsize=3, label=f"{r['model']} ({r['dataset']})"
        )
    if logx:
        ax.set_xscale("log")
    metric = rows[0]["metric"] if rows else "score"
    ax.set_xlabel(COST_LABELS.get(cost, cost))
    ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    ax.set_title(
        f"{METRIC_LABELS.get(metric, metric)} vs {COST_LABELS.get(cost, cost)}"
        + (f" [{classifier}]" if classifier else "")
    )
    ax.grid(True, alpha=0.3)
    _finish(fig, report_or_rows)
    _place_labels(ax, [(r[cost], r["score"], r["model"]) for r in rows])
    return fig


def plot_confusion(report: dict, model: str, classifier: str | None = None, *, normalize: bool = True):
    """Plot one model's confusion matrix over its pooled test predictions (per-class AUPRC if multi-label).

    Parameters
    ----------
    report : dict
        A ``report.json``.
    model : str
        The model's report name.
    classifier : str, optional
        Default: the primary classifier.
    normalize : bool
        Colour by the fraction of each true class (the cells show counts).

    Returns
    -------
    fig : matplotlib.figure.Figure
        Rows: true class; columns: predicted class.
    """
    import numpy as np

    classifier = classifier or report["primary"]["classifier"]
    res = report["models"][model]["classifiers"][classifier]
    names = report["dataset"]["class_names"]
    fig = _figure(max(4.0, 0.45 * len(names) + 2), max(3.5, 0.45 * len(names) + 1.5))
    ax = fig.subplots()
    if "confusion" not in res:  # multi-label: per-class AUPRC bars instead
        vals = [v if v is not None else 0.0 for v in res.get("per_class_auprc") or []]
        ax.bar(range(len(vals)), vals)
        ax.set_xticks(range(len(vals)), names[: len(vals)], rotation=60, ha="right", fontsize=7)
        ax.set_ylabel("AUPRC")
        ax.set_title(f"{model} [{classifier}]: per-class AUPRC")
        _finish(fig, report)
        return fig
    cm = np.asarray(res["confusion"], dtype=float)
    show_m = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalize else cm
    im = ax.imshow(show_m, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    if len(names) <= 15:
        for i in range(cm.shape[0]):
            for j in range(cm.shape[1]):
                ax.text(
                    j,
                    i,
                    f"{int(cm[i, j])}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if show_m[i, j] > 0.5 * (show_m.max() or 1) else "black",
                )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{model} [{classifier}]")
    fig.colorbar(im, ax=ax, fraction=0.046)
    _finish(fig, report)
    return fig


def plot_per_fold(report: dict, classifier: str | None = None, metric: str | None = None):
    """Plot the per-fold score of every model (one line per model over the test folds).

    Parameters
    ----------
    report : dict
        A ``report.json``.
    classifier, metric : str, optional
        Default: the primary classifier and metric.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    classifier = classifier or report["primary"]["classifier"]
    metric = metric or report["primary"]["metric"]
    folds = [str(s["test_fold"]) for s in report["dataset"]["splits"]]
    fig = _figure()
    ax = fig.subplots()
    for name, m in report["models"].items():
        vals = m["classifiers"][classifier]["scores"][metric]["per_fold"]
        ax.plot(range(len(vals)), [v if v is not None else float("nan") for v in vals], "o-", label=name)
    ax.set_xticks(range(len(folds)), folds)
    ax.set_xlabel("test fold")
    ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    ax.set_title(f"per-fold {METRIC_LABELS.get(metric, metric)} [{classifier}]")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    _finish(fig, report)
    return fig


def plot_classifier_comparison(report: dict, metric: str | None = None):
    """Plot grouped bars: models x classifiers, with ± std over folds.

    Parameters
    ----------
    report : dict
        A ``report.json``.
    metric : str, optional
        Default: the primary metric.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    import numpy as np

    metric = metric or report["primary"]["metric"]
    models = list(report["models"])
    clfs = list(report["models"][models[0]]["classifiers"]) if models else []
    fig = _figure(max(5.0, 1.2 * len(models) + 2), 4.0)
    ax = fig.subplots()
    width = 0.8 / max(len(clfs), 1)
    for k, c in enumerate(clfs):
        means = [report["models"][m]["classifiers"][c]["scores"][metric]["mean"] or 0 for m in models]
        stds = [report["models"][m]["classifiers"][c]["scores"][metric]["std"] or 0 for m in models]
        ax.bar(np.arange(len(models)) + k * width, means, width, yerr=stds, capsize=3, label=c)
    ax.set_xticks(np.arange(len(models)) + 0.4 - width / 2, models, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    ax.set_title(f"classifiers compared ({METRIC_LABELS.get(metric, metric)})")
    ax.legend(fontsize=8)
    _finish(fig, report)
    return fig


def plot_pareto(
    rows: list[dict], x: str = "weight_bytes_int8", y: str = "score", *, logx: bool = True, label: str = "model"
):
    """Scatter ``rows`` in (``x``, ``y``) with the Pareto front (smaller x, larger y) drawn as a step line.

    Parameters
    ----------
    rows : list of dict
        E.g. :func:`sea.evaluate.report_rows`.
    x, y : str
        Keys of the two axes.
    logx : bool
        Logarithmic ``x`` axis.
    label : str
        Key annotating each point.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    fig = _figure()
    ax = fig.subplots()
    pts = [r for r in rows if r.get(x) is not None and r.get(y) is not None]
    ax.scatter([r[x] for r in pts], [r[y] for r in pts], c="0.5", s=25, label="all")
    front = [rows[i] for i in pareto_front(rows, x, y)]
    if front:
        ax.step([r[x] for r in front], [r[y] for r in front], where="post", color="C3", label="Pareto front")
        ax.scatter([r[x] for r in front], [r[y] for r in front], color="C3", s=40, zorder=3)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(COST_LABELS.get(x, x))
    ax.set_ylabel(METRIC_LABELS.get(y, y))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    _finish(fig, rows)
    _place_labels(ax, [(r[x], r[y], str(r.get(label, ""))) for r in pts], fontsize=7)
    return fig


def _figure_names(report: dict) -> list[str]:
    names = ["score_vs_weight_bytes.png", "score_vs_macs.png", "per_fold.png", "classifiers.png"]
    names += [f"confusion_{safe_name(m)}.png" for m in report["models"]]
    return names


def write_plots(out_dir: Pathlike, report: dict) -> list[Path]:
    """Write every PNG of one evaluation.

    Parameters
    ----------
    out_dir : path
        ``RUN/eval/<dataset>``.
    report : dict
        Its ``report.json``.

    Returns
    -------
    paths : list of Path
        Score vs weight bytes and vs MACs, per fold, classifiers, and one confusion plot per model.
    """
    out_dir = Path(out_dir)
    figs: list[tuple[str, Any]] = [
        ("score_vs_weight_bytes.png", plot_score_vs_cost(report, "weight_bytes_int8")),
        ("score_vs_macs.png", plot_score_vs_cost(report, "macs")),
        ("per_fold.png", plot_per_fold(report)),
        ("classifiers.png", plot_classifier_comparison(report)),
    ]
    figs += [(f"confusion_{safe_name(m)}.png", plot_confusion(report, m)) for m in report["models"]]
    paths = []
    for name, fig in figs:
        p = out_dir / name
        fig.savefig(p)
        paths.append(p)
    return paths


def show(fig) -> None:
    """Display a figure in a notebook (PNG), independent of the kernel's matplotlib backend.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        A figure of this module.
    """
    import io

    from IPython.display import Image, display

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    display(Image(buf.getvalue()))
