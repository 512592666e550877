"""``sea targets info``: the fitted target sets of a run, as rows and as a table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..layout import RunLayout
from ..runs import read_stage
from ..tables import fmt_float, render_table
from ..utils import read_json
from .reader import INDEX_NAME, REPORT_NAME

__all__ = ["INFO_COLUMNS", "info_table", "targets_info"]

#: Columns of :func:`targets_info` rows, in table order.
INFO_COLUMNS = (
    "name", "status", "method", "dim", "sampler", "bucket", "n_points", "diversity", "fit_ev", "heldout_ev",
    "heldout_rel_mse", "applied",
)  # fmt: skip


def targets_info(run_dir: str | Path) -> list[dict[str, Any]]:
    """Summarise the fitted target sets of a run.

    Parameters
    ----------
    run_dir : path
        A run, with or without target sets.

    Returns
    -------
    rows : list of dict
        One per directory under ``RUN/targets/``, sorted by name, with the keys
        of :data:`INFO_COLUMNS`; a set without a report has ``name`` and ``status`` only.
    """
    root = RunLayout(run_dir).targets_root
    rows = []
    for d in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        rep_path = d / REPORT_NAME
        s = read_stage(d) or {}
        if not rep_path.is_file():
            rows.append({"name": d.name, "status": s.get("status", "incomplete")})
            continue
        rep = read_json(rep_path)
        rows.append(
            {
                "name": d.name,
                "status": s.get("status", "?"),
                "method": rep.get("method"),
                "dim": rep.get("dim"),
                "sampler": rep.get("sampler"),
                "bucket": (rep.get("sampling") or {}).get("bucket"),
                "n_points": rep.get("n_points"),
                "diversity": (rep.get("diversity") or {}).get("ratio"),
                "fit_ev": rep.get("fit", {}).get("explained_variance"),
                "heldout_ev": rep.get("heldout", {}).get("explained_variance"),
                "heldout_rel_mse": rep.get("heldout", {}).get("relative_mse"),
                "applied": (d / INDEX_NAME).is_file(),
            }
        )
    return rows


def info_table(run_dir: str | Path) -> str:
    """Render :func:`targets_info` as a text table (what ``sea targets info`` prints).

    Parameters
    ----------
    run_dir : path
        The run whose ``targets/`` to list.

    Returns
    -------
    table : str
        One line per target set under a header (floats to 4 decimals, ``-`` for
        missing values), or a one-line hint when the run has none.
    """
    rows = targets_info(run_dir)
    if not rows:
        return f"no target sets under {run_dir}/targets; run 'sea targets fit {run_dir}'"
    cells = [[fmt_float(r.get(c), ".4f") for c in INFO_COLUMNS] for r in rows]
    return render_table(INFO_COLUMNS, cells, style="text")
