"""The data report of a prepared run: ``data_report.json``, its warnings and the ``sea data info`` text."""

from __future__ import annotations

import warnings
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sea.errors import ManifestError, SeaWarning
from sea.layout import RunLayout
from sea.manifest import ClipRecord, read_manifest
from sea.tables import render_table
from sea.utils import read_json

from .config import PrepareConfig

__all__ = ["build_report", "info_table", "warn_summary"]

_SPLIT_ORDER = {"train": 0, "validate": 1, "test": 2}


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"min": 0.0, "mean": 0.0, "max": 0.0, "total": 0.0}
    a = np.asarray(values, dtype=np.float64)
    return {"min": float(a.min()), "mean": float(a.mean()), "max": float(a.max()), "total": float(a.sum())}


def _labels_of(label) -> list[str]:
    if label is None:
        return ["(unlabeled)"]
    return list(label) if isinstance(label, (list, tuple)) else [str(label)]


def _sorted_counts(c: Counter) -> dict:
    """Folds in numeric order, splits in train/validate/test order, other keys alphabetically."""

    def key(k):
        if isinstance(k, (int, float)):
            return (0, k, "")
        return (1, _SPLIT_ORDER.get(k, 3), str(k))

    return {str(k): c[k] for k in sorted(c, key=key)}


def _group_counts(records: Sequence[ClipRecord]) -> dict[str, Any]:
    classes, folds, splits = Counter(), Counter(), Counter()
    by_fold: dict[str, Counter] = defaultdict(Counter)
    by_split: dict[str, Counter] = defaultdict(Counter)
    for r in records:
        for lab in _labels_of(r.label):
            classes[lab] += 1
            if r.fold is not None:
                by_fold[lab][r.fold] += 1
            if r.split is not None:
                by_split[lab][r.split] += 1
        if r.fold is not None:
            folds[r.fold] += 1
        if r.split is not None:
            splits[r.split] += 1
    return {
        "classes": _sorted_counts(classes),
        "folds": _sorted_counts(folds),
        "splits": _sorted_counts(splits),
        "class_by_fold": {k: _sorted_counts(v) for k, v in sorted(by_fold.items())},
        "class_by_split": {k: _sorted_counts(v) for k, v in sorted(by_split.items())},
    }


def build_report(
    records: Sequence[ClipRecord],
    skipped: Sequence[dict],
    warns: Sequence[dict],
    facts: Sequence[dict],
    *,
    config: PrepareConfig,
    notes: Sequence[str],
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Count the facts of a prepared dataset (the content of ``data_report.json``).

    Parameters
    ----------
    records : sequence of ClipRecord
        The manifest's clips.
    skipped, warns : sequence of dict
        Skipped files and warnings (:func:`data_prep.clips.skip_entry`, :func:`~data_prep.clips.warning_entry`).
    facts : sequence of dict
        ``{"subtype", "format"}`` of each record's file, in record order.
    config : PrepareConfig
    notes : sequence of str
    details : dict, optional
        The dataset module's machine-readable facts (:attr:`data_prep.clips.ClipList.details`).

    Returns
    -------
    report : dict
        Counts per class, fold and split (and class by fold/split), duration statistics in
        seconds, sample rates, channels, subtypes, formats, skipped files and warnings.
    """
    groups = _group_counts(records)
    return {
        "dataset": config.dataset,
        "raw_dir": config.raw_dir,
        "cache_srs": list(config.cache_srs),
        "n_candidates": len(records) + len(skipped),
        "n_clips": len(records),
        "n_skipped": len(skipped),
        "n_labeled": sum(r.label is not None for r in records),
        "classes": groups["classes"],
        "folds": groups["folds"],
        "splits": groups["splits"],
        "class_by_fold": groups["class_by_fold"],
        "class_by_split": groups["class_by_split"],
        "duration": _stats([r.duration for r in records]),
        "sample_rates": _sorted_counts(Counter(r.sr for r in records)),
        "channels": _sorted_counts(Counter(r.channels for r in records)),
        "subtypes": _sorted_counts(Counter(f["subtype"] for f in facts)),
        "formats": _sorted_counts(Counter(f["format"] for f in facts)),
        "skipped_reasons": _sorted_counts(Counter(s["reason"] for s in skipped)),
        "skipped": list(skipped),
        "warning_counts": _sorted_counts(Counter(w["kind"] for w in warns)),
        "warnings": list(warns),
        "notes": list(notes),
        "dataset_details": dict(details or {}),
    }


def warn_summary(items: Sequence[dict], noun: str, report: Path, *, stacklevel: int = 2) -> None:
    """Issue one :class:`~sea.errors.SeaWarning` per kind, naming a few examples.

    Parameters
    ----------
    items : sequence of dict
        Entries with a ``kind`` and a ``clip_id`` or ``path``.
    noun : str
        What the entries are, e.g. ``"file(s)"``.
    report : Path
        The report that lists them all (its file name goes into the message).
    stacklevel : int
        Passed to :func:`warnings.warn`, counted from the caller.
    """
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for w in items:
        by_kind[w["kind"]].append(w)
    for kind, ws in by_kind.items():
        ex = ", ".join(str(w.get("clip_id") or w.get("path")) for w in ws[:3]) + (", ..." if len(ws) > 3 else "")
        warnings.warn(f"{len(ws)} {noun} {kind} ({ex}); listed in {report.name}", SeaWarning, stacklevel=stacklevel + 1)


def _summary_lines(rep: dict) -> list[str]:
    d = rep["duration"]
    return [
        f"dataset {rep.get('dataset')}  raw {rep.get('raw_dir')}",
        f"{rep['n_clips']} clips ({rep.get('n_labeled', '?')} labeled), {rep['n_skipped']} skipped, "
        f"caches {', '.join(map(str, rep.get('cache_srs', [])))} Hz",
        f"duration (s): min {d['min']:.3f}  mean {d['mean']:.3f}  max {d['max']:.3f}  "
        f"total {d['total']:.1f} ({d['total'] / 3600:.2f} h)",
    ]


def _class_table(rep: dict) -> list[str]:
    """Clips per class and fold (or split, when the dataset has no folds), with totals, and its legend."""
    by_fold, by_split = rep.get("class_by_fold") or {}, rep.get("class_by_split") or {}
    groups, key = (rep.get("folds") or {}, by_fold) if by_fold else (rep.get("splits") or {}, by_split)
    names = list(groups)
    header = ["class", *(f"fold{g}" if by_fold else g for g in names), "total"]
    rows = [[c, *(key.get(c, {}).get(g, 0) for g in names), n] for c, n in rep["classes"].items()]
    if names:
        rows.append(["(clips)", *(groups[g] for g in names), rep["n_clips"]])
    what = "fold" if by_fold else "split" if names else None
    legend = "clips per class" + (f" (rows) and {what} (columns)" if what else "")
    if names:
        legend += "; '(clips)' counts each clip once (a multi-label clip counts in every class row it has)"
    return [f"table: {legend}", render_table(header, rows, style="text")]


def _facts_lines(rep: dict) -> list[str]:
    lines = ["files ('Nx V': N clips with value V):"]
    for title, k in (("sample rates (Hz)", "sample_rates"), ("channels", "channels"), ("subtypes", "subtypes")):
        vals = rep.get(k) or {}
        lines.append(f"  {title}: " + ", ".join(f"{v}x {n}" for n, v in vals.items()))
    if rep.get("warning_counts"):
        lines.append("warnings: " + ", ".join(f"{k}: {v}" for k, v in rep["warning_counts"].items()))
    lines += [f"note: {note}" for note in rep.get("notes") or []]
    return lines


def _skipped_lines(rep: dict, report: Path, max_skipped: int) -> list[str]:
    skipped = rep.get("skipped") or []
    if not skipped:
        return []
    lines = ["", f"skipped files ({len(skipped)}):"]
    lines += [f"  {s['path']}: {s['reason']}" for s in skipped[:max_skipped]]
    if len(skipped) > max_skipped:
        lines.append(f"  ... {len(skipped) - max_skipped} more in {report}")
    return lines


def _read_report(run: RunLayout) -> dict:
    """``data_report.json``, or a one-line ManifestError naming it (missing, damaged, not a report)."""
    path = run.data_report
    if not path.is_file():
        raise ManifestError(f"no {path.name} in {str(run.root)!r}; run 'sea data prepare' to build it")
    try:
        rep = read_json(path)
    except (OSError, ValueError) as exc:
        raise ManifestError(
            f"{str(path)!r} is damaged ({type(exc).__name__}); rebuild it with 'sea data prepare ... --overwrite'"
        ) from None
    missing = [k for k in ("n_clips", "n_skipped", "classes", "duration") if not isinstance(rep, dict) or k not in rep]
    if missing:
        raise ManifestError(
            f"{str(path)!r} is not a data report (no {', '.join(missing)}); rebuild it with 'sea data prepare ... --overwrite'"
        )
    return rep


def info_table(run_dir: str | Path, *, max_skipped: int = 20) -> str:
    """Summary of a prepared run, as ``sea data info`` prints it.

    Parameters
    ----------
    run_dir : path
        A run directory written by the prepare stage.
    max_skipped : int
        Skipped files to list by name.

    Returns
    -------
    text : str
        Dataset and counts, a table of clips per class and fold (or split), sample rates,
        channels, subtypes, warnings, notes and skipped files; lines joined by newlines.

    Raises
    ------
    ManifestError
        No manifest or no ``data_report.json`` in ``run_dir``.
    """
    run = RunLayout(run_dir)
    records = read_manifest(run.root)
    rep = _read_report(run)
    lines = [*_summary_lines(rep), "", *_class_table(rep), "", *_facts_lines(rep)]
    lines += _skipped_lines(rep, run.data_report, max_skipped)
    if len(records) != rep["n_clips"]:
        lines.append(f"warning: {run.manifest.name} has {len(records)} clips but the report says {rep['n_clips']}")
    return "\n".join(lines)
