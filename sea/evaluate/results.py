"""Evaluation results on disk: the ``report.json`` format, reading reports back, flat rows.

The evaluate stage (:mod:`sea.evaluate.stage`) writes one ``RUN/eval/<dataset>/report.json`` per
evaluated dataset; this module reads them (:func:`load_report`, :func:`collect_reports`) and flattens
them into rows (:func:`report_rows`) for the tables and plots of :mod:`sea.evaluate.report` and for
notebooks. It renders nothing and imports neither the stage nor the report writers.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ManifestError
from ..layout import RunLayout
from ..utils import Pathlike, read_json

__all__ = [
    "COST_KEYS",
    "DEFAULT_RUN_DIR",
    "NothingToShowError",
    "notebook_reports",
    "resolve_run_dir",
    "REPORT_FILE",
    "REPORT_FORMAT",
    "REPORT_VERSION",
    "collect_reports",
    "eval_dir",
    "json_safe",
    "load_report",
    "report_rows",
]

REPORT_FORMAT = "sea-eval-report"
REPORT_VERSION = 1
#: The report of one evaluation inside ``RUN/eval/<dataset>/``.
REPORT_FILE = "report.json"
#: Cost keys of a model entry (``sea.students.cost.model_cost``), copied into every row.
COST_KEYS = (
    "params",
    "macs",
    "weight_bytes_fp32",
    "weight_bytes_int8",
    "peak_activation_bytes_fp32",
    "peak_activation_bytes_int8",
)


#: The run the notebooks read by default: the one ``make demo`` (``sea run configs/quickstart.yaml``) writes.
DEFAULT_RUN_DIR = "runs/quickstart"
_WHAT_TO_RUN = (
    "run 'make demo' (or 'sea run configs/quickstart.yaml') from the repository root to create runs/quickstart, "
    "or set SEA_RUN_DIR to a run that 'sea evaluate' has finished"
)


class NothingToShowError(ManifestError):
    """A notebook was pointed at a run without evaluation reports."""

    def _render_traceback_(self) -> list[str]:  # IPython shows this one line instead of a traceback
        return [f"{type(self).__name__}: {self}"]


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def resolve_run_dir(value: str | None = None, *, default: str = DEFAULT_RUN_DIR) -> Path:
    """Resolve a notebook's run directory (``SEA_RUN_DIR``) as the user who launched it means it.

    A relative path is taken against the caller's working directory: the shell's ``$PWD`` (a Jupyter
    kernel runs in the notebook's folder, but inherits the environment of the shell that started
    it), then the process's working directory, then the repository root; the first where it exists
    wins.

    Parameters
    ----------
    value : str, optional
        The path; default ``default``.
    default : str
        ``runs/quickstart``, the quickstart's run.

    Returns
    -------
    run_dir : Path
        Absolute; the caller's-directory candidate when the path exists nowhere.
    """
    path = Path(os.path.expanduser(value or default))
    if path.is_absolute():
        return path
    bases = [Path(b) for b in (os.environ.get("PWD"), os.getcwd(), _repo_root()) if b]
    for base in bases:
        if (base / path).exists():
            return (base / path).resolve()
    return (bases[0] / path).resolve()


def notebook_reports(values: str | Iterable[str] | None = None) -> list[dict]:
    """Every evaluation report of the runs a notebook was given, or one message saying what to run.

    Parameters
    ----------
    values : str or iterable of str, optional
        Run directories (``SEA_RUN_DIR``, or ``SEA_RUN_DIRS`` split on ``os.pathsep``); relative
        paths resolve as :func:`resolve_run_dir`; default: ``runs/quickstart``.

    Returns
    -------
    reports : list of dict
        As :func:`collect_reports`, at least one.

    Raises
    ------
    NothingToShowError
        A run that does not exist, or no evaluation report in any of them.
    """
    if values is None or isinstance(values, str):
        values = [v for v in (values or DEFAULT_RUN_DIR).split(os.pathsep) if v]
    runs = [resolve_run_dir(v) for v in values]
    missing = [str(r) for r in runs if not r.is_dir()]
    if missing:
        raise NothingToShowError(f"nothing to show: {', '.join(missing)} does not exist; {_WHAT_TO_RUN}")
    reports = collect_reports(runs)
    if not reports:
        where = ", ".join(str(RunLayout(r).eval_root) for r in runs)
        raise NothingToShowError(f"nothing to show: no evaluation report under {where}; {_WHAT_TO_RUN}")
    return reports


def eval_dir(run_dir: Pathlike, dataset_name: str) -> Path:
    """Return the folder of one evaluated dataset.

    Parameters
    ----------
    run_dir : path
        The run directory.
    dataset_name : str
        The dataset's name (made file-system safe).

    Returns
    -------
    path : Path
        ``RUN/eval/<dataset_name>``.
    """
    return RunLayout(run_dir).eval(dataset_name)


def json_safe(obj: Any) -> Any:
    """Copy ``obj`` into JSON-safe values: numpy scalars and arrays to Python, NaN and inf to None.

    Parameters
    ----------
    obj : object
        Nested dicts, lists and tuples of numbers, strings and numpy values.

    Returns
    -------
    copy : object
        Dict keys become strings, tuples become lists.
    """
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    return obj


def _evaluated(run: RunLayout) -> list[str]:
    """Names of the evaluated datasets of a run (folders holding a report), sorted."""
    root = run.eval_root
    return sorted(p.name for p in root.iterdir() if (p / REPORT_FILE).is_file()) if root.is_dir() else []


def load_report(run_dir: Pathlike, dataset: str | None = None) -> dict:
    """Read the report of one evaluated dataset.

    Parameters
    ----------
    run_dir : path
        The run directory.
    dataset : str, optional
        The dataset's name under ``RUN/eval/``; may be omitted when the run has one evaluation.

    Returns
    -------
    report : dict
        The ``report.json``, with ``_path`` set to its path.

    Raises
    ------
    ManifestError
        No such report, several reports and no ``dataset``, or a file that is not an evaluation report.
    """
    run = RunLayout(run_dir)
    have = _evaluated(run)
    if dataset is None:
        if len(have) != 1:
            raise ManifestError(
                f"{str(run.eval_root)!r} holds {len(have)} evaluations ({', '.join(have) or 'none'}); name the dataset"
                + ("" if have else "; run 'sea evaluate' first")
            )
        dataset = have[0]
    path = run.eval(dataset) / REPORT_FILE
    if not path.is_file():
        raise ManifestError(
            f"no evaluation report at {str(path)!r} (have: {', '.join(have) or 'none'}); run 'sea evaluate' first"
        )
    rep = read_json(path)
    if rep.get("format") != REPORT_FORMAT:
        raise ManifestError(f"{str(path)!r} is not a sea evaluation report")
    rep["_path"] = str(path)
    return rep


def collect_reports(run_dirs: Pathlike | Iterable[Pathlike]) -> list[dict]:
    """Every evaluation report of the given runs.

    Parameters
    ----------
    run_dirs : path or iterable of paths
        One run directory or several.

    Returns
    -------
    reports : list of dict
        The ``RUN/eval/*/report.json`` of each run (runs in the given order, datasets sorted), as
        :func:`load_report` returns them.
    """
    if isinstance(run_dirs, (str, Path)):
        run_dirs = [run_dirs]
    return [load_report(rd, name) for rd in run_dirs for name in _evaluated(RunLayout(rd))]


def _row(rep: dict, name: str, model: dict, clf: str, result: dict) -> dict:
    metric = rep["primary"]["metric"]
    cost = model.get("cost") or {}
    fid = model.get("fidelity") or {}
    s = result["scores"].get(metric) or {}
    return {
        "dataset": rep["dataset"]["name"],
        "model": name,
        "kind": model["kind"],
        "classifier": clf,
        "metric": metric,
        "score": s.get("mean"),
        "std": s.get("std"),
        "per_fold": s.get("per_fold"),
        "dim": model.get("dim"),
        **{k: cost.get(k) for k in COST_KEYS},
        "cosine": fid.get("cosine"),
        "r2": fid.get("r2"),
        "cka": fid.get("cka") if name != "teacher" else 1.0,
        "agreement": (fid.get("agreement") or {}).get(clf) if name != "teacher" else 1.0,
        "teacher_untrained": bool((rep.get("teacher") or {}).get("untrained")),
    }


def report_rows(reports: dict | Iterable[dict]) -> list[dict]:
    """Flat rows, one per (report, model, classifier): scores, cost and fidelity side by side.

    Notebooks build their tables and Pareto fronts from these.

    Parameters
    ----------
    reports : dict or iterable of dict
        One report (:func:`load_report`) or several (:func:`collect_reports`).

    Returns
    -------
    rows : list of dict
        Keys ``dataset, model, kind, classifier, metric, score, std, per_fold, dim, params, macs,
        weight_bytes_fp32, weight_bytes_int8, peak_activation_bytes_fp32, peak_activation_bytes_int8,
        cosine, r2, cka, agreement, teacher_untrained`` (None where not applicable; the teacher's
        ``cka`` and ``agreement`` are 1).
    """
    if isinstance(reports, dict):
        reports = [reports]
    return [
        _row(rep, name, m, clf, res)
        for rep in reports
        for name, m in rep["models"].items()
        for clf, res in m["classifiers"].items()
    ]
