"""A finished student's summary: :func:`distill_report` (the numbers) and :func:`report_text` (what ``sea distill`` prints)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ManifestError
from ..layout import RunLayout
from ..runs import read_stage
from ..tables import fmt_float, render_table
from ..utils import Pathlike, read_json

__all__ = ["distill_report", "report_text"]

_METRICS = ("r2_mean", "r2_weighted", "cosine_mean", "mse", "mae")


def _fidelity_path(student_dir: Path) -> Path:
    # RunLayout spells the path from the run; a student directory copied elsewhere keeps the same file name
    return student_dir / RunLayout(student_dir.parent.parent).fidelity(student_dir.name).name


def distill_report(student_dir: Pathlike) -> dict[str, Any]:
    """Read the summary of a finished distillation.

    Parameters
    ----------
    student_dir : path
        ``RUN/students/<name>``.

    Returns
    -------
    report : dict
        ``fidelity.json``'s keys, plus ``counts`` (the ``stage.json`` counts: epochs, steps, windows/s...) and
        ``status`` (the stage's status).
    """
    student_dir = Path(student_dir)
    f = _fidelity_path(student_dir)
    if not f.is_file():
        raise ManifestError(
            f"no fidelity.json in {str(student_dir)!r}; run 'sea distill RUN_DIR' first (or it has not finished)"
        )
    s = read_stage(student_dir) or {}
    return {**read_json(f), "counts": s.get("counts", {}), "status": s.get("status")}


def report_text(student_dir: Pathlike) -> str:
    """Render the fidelity of a finished student as ``sea distill`` prints it.

    Parameters
    ----------
    student_dir : path
        ``RUN/students/<name>``.

    Returns
    -------
    text : str
        A headline, a table of the trained and initial weights' fidelity, the training speed and, for an untrained
        teacher, a warning; lines joined by newlines, without a trailing newline.
    """
    r = distill_report(student_dir)
    init = r.get("initial") or {}
    lines = [
        f"student {r.get('name')} ({r.get('student')}) on targets {r.get('targets')}: {r.get('n_frames')} "
        f"{r.get('split')} frames, best epoch {r.get('best_epoch')}"
    ]
    teacher = r.get("teacher") or {}
    if teacher:
        lines.append(f"teacher {_teacher_line(teacher)}; student window {fmt_float(r.get('window_size'), 'g')} s")
    rows = [[k, fmt_float(r.get(k), ".4f"), fmt_float(init.get(k), ".4f")] for k in _METRICS]
    lines.append(_metric_table(rows))
    lines.extend(LEGEND)
    c = r.get("counts") or {}
    if c:
        lines.append(
            f"epochs {c.get('epochs')}, steps {c.get('steps')}, {c.get('windows_per_s')} windows/s, "
            f"data wait {fmt_float(c.get('data_wait_fraction'), '.1%')}"
        )
    if r.get("teacher_untrained"):
        lines.append("note: the teacher was UNTRAINED (random weights); these numbers show the pipeline, not SEA")
    return "\n".join(lines)


#: What the columns of the table mean (printed under it).
LEGEND = (
    "trained = the best epoch's weights, initial = the untrained student; both on held-out frames of the targets.",
    "r2_mean: the plain mean over target dimensions of R2 = 1 - SSE/SST; a dimension with little variance "
    "(PCA's last ones) can score far below 0 and drag the mean negative.",
    "r2_weighted: 1 - total SSE / total SST, i.e. the share of the targets' variance the student explains; "
    "dimensions count by their variance (the headline fidelity).",
    "cosine_mean: mean cosine of student output and target (1 = same direction); mse, mae: per coordinate.",
)


def _teacher_line(teacher: dict[str, Any]) -> str:
    """``name (family, window s, hop s)``, with UNTRAINED when the teacher had random weights."""
    name = teacher.get("name") or teacher.get("variant") or "?"
    parts = [str(teacher[k]) for k in ("family",) if teacher.get(k)]
    if teacher.get("window_size") is not None:
        parts.append(f"window {fmt_float(teacher.get('window_size'), 'g')} s")
    if teacher.get("untrained"):
        parts.append("UNTRAINED")
    return f"{name} ({', '.join(parts)})" if parts else str(name)


def _metric_table(rows: list[list[str]]) -> str:
    # value columns 10 characters wide, as sea printed them before the shared renderer (8 + 2 between columns)
    header = ["", "trained".rjust(8), "initial".rjust(8)]
    return render_table(header, rows, style="text", align="<>>")
