"""What a dataset module hands the engine: candidate clips and the problems it already found.

A dataset module reads its raw layout into a :class:`ClipList`; the engine
(:func:`data_prep.engine.prepare_clips`) decodes and validates every
:class:`Candidate`, and merges the module's skipped files, warnings and notes
into ``data_report.json``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sea.errors import ConfigError

__all__ = ["Candidate", "ClipList", "real_path", "skip_entry", "unlisted_warnings", "warning_entry"]


def real_path(path: Path | str) -> Path:
    """The canonical path of a file (symbolic links resolved), even for a link loop (no error).

    Parameters
    ----------
    path : path

    Returns
    -------
    path : Path
    """
    return Path(os.path.realpath(path))


@dataclass
class Candidate:
    """One clip a dataset module proposes; the engine decodes and validates it.

    Parameters
    ----------
    path : Path
        The audio file.
    clip_id : str
        Unique id of the clip in the manifest.
    label : str or list of str or None
        Class name(s); None for unlabeled audio.
    label_id : int or list of int or None
        Class index (indices).
    fold : int or None
    split : str or None
    meta : dict
        Free metadata copied into the manifest record.
    expected_duration : float or None
        Length in seconds per the metadata, cross-checked against the file.
    """

    path: Path
    clip_id: str
    label: str | list[str] | None = None
    label_id: int | list[int] | None = None
    fold: int | None = None
    split: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    expected_duration: float | None = None


@dataclass
class ClipList:
    """A dataset module's reading of its raw folder.

    Parameters
    ----------
    candidates : list of Candidate
        Clip ids must be unique.
    skipped : list of dict
        Files already known to be unusable (see :func:`skip_entry`).
    warnings : list of dict
        Problems that do not stop a clip (see :func:`warning_entry`).
    notes : list of str
        Free-text notes for the report (e.g. ignored sidecar files).
    details : dict
        Machine-readable facts of the dataset for the report's ``dataset_details`` (e.g. SONYC-UST's
        ``version`` and ``week_numbering``), read by later stages.
    inputs : dict[str, Path]
        Metadata files hashed into ``stage.json`` (e.g. ``{"metadata": csv}``).
    extra_fingerprint : list of Path
        More files whose presence, size and mtime decide whether a rerun is a no-op.
    """

    candidates: list[Candidate]
    skipped: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Path] = field(default_factory=dict)
    extra_fingerprint: list[Path] = field(default_factory=list)


def skip_entry(clip_id: str | None, path: Path | str, reason: str, detail: str) -> dict:
    """Describe a skipped file as ``data_report.json`` lists it.

    Parameters
    ----------
    clip_id : str or None
        None for a file that never became a candidate.
    path : path
    reason : str
        Short category, counted in the report (``"missing file"``).
    detail : str
        The full message.

    Returns
    -------
    entry : dict
        ``{"clip_id", "path", "reason", "detail"}``.
    """
    return {"clip_id": clip_id, "path": str(path), "reason": reason, "detail": detail}


def warning_entry(clip_id: str | None, path: Path | str, kind: str, detail: str) -> dict:
    """Describe a suspicious but usable clip (or an ignored file) as ``data_report.json`` lists it.

    Parameters
    ----------
    clip_id : str or None
    path : path
    kind : str
        Short category, counted in the report (``"short clip"``).
    detail : str

    Returns
    -------
    entry : dict
        ``{"clip_id", "path", "kind", "detail"}``.
    """
    return {"clip_id": clip_id, "path": str(path), "kind": kind, "detail": detail}


def unlisted_warnings(
    files: Iterable[Path], listed: set[Path], *, kind: str, detail: Callable[[Path], str]
) -> list[dict]:
    """Warnings for the audio files that the metadata does not list (they are ignored).

    Parameters
    ----------
    files : iterable of Path
        Files found in the raw folder, in report order.
    listed : set of Path
        Paths the metadata lists, as :func:`real_path` gives them.
    kind : str
        Warning kind, e.g. ``"file without a CSV row (ignored)"``.
    detail : callable
        ``detail(path) -> str``, the message of one file.

    Returns
    -------
    warnings : list of dict
        One :func:`warning_entry` per unlisted file; folders and hidden files are passed over.
    """
    return [
        warning_entry(None, p, kind, detail(p))
        for p in files
        if p.is_file() and not p.name.startswith(".") and real_path(p) not in listed
    ]


def select_clips(clips: ClipList, config: Any) -> ClipList:
    """Apply a prepare config's selections: its ``folds``, then its ``part``.

    Parameters
    ----------
    clips : ClipList
        What a dataset module found.
    config : PrepareConfig

    Returns
    -------
    clips : ClipList
    """
    return select_part(select_folds(clips, config.folds), config.part, config.part_fraction)


def select_folds(clips: ClipList, folds: tuple[int, ...]) -> ClipList:
    """Keep the candidates of some folds (e.g. the held-out folds an evaluation runs on).

    Parameters
    ----------
    clips : ClipList
    folds : tuple of int
        Folds to keep; empty keeps every candidate.

    Returns
    -------
    clips : ClipList
        The same list when ``folds`` is empty; otherwise a copy without the other folds' candidates, and a note
        that counts them (their files are never opened, so a partial copy of a dataset prepares cleanly).

    Raises
    ------
    ConfigError
        The dataset has no folds, or a fold asked for has no clip (the message lists the folds present).
    """
    if not folds:
        return clips
    from collections import Counter

    present = Counter(c.fold for c in clips.candidates if c.fold is not None)
    if not present:
        raise ConfigError(
            f"folds={list(folds)}: no clip of this dataset has a fold; remove folds (a folder dataset takes them "
            "from its CSV's 'fold' column)"
        )
    absent = [k for k in folds if k not in present]
    if absent:
        raise ConfigError(
            f"folds={list(folds)}: fold(s) {absent} hold no clip of this dataset; its folds are "
            f"{', '.join(map(str, sorted(present)))}"
        )
    keep = [c for c in clips.candidates if c.fold in folds]
    others = sorted(k for k in present if k not in folds)
    note = (
        f"folds {', '.join(map(str, sorted(folds)))}: {len(keep)} of {len(clips.candidates)} clips; "
        f"{len(clips.candidates) - len(keep)} clips of folds {', '.join(map(str, others)) or '-'} left out"
    )
    return dataclasses.replace(clips, candidates=keep, notes=[*clips.notes, note])


def select_part(clips: ClipList, part: str, fraction: float) -> ClipList:
    """Keep one of two disjoint halves of a clip list, split by recording and stratified by class.

    Clips of one recording (``meta["group"]``: UrbanSound8K's fsID, ESC-50's source file; else the clip
    itself) always fall on the same side. Within each class (a recording's most frequent label) the
    recordings are ordered by a hash of their name and the first ``round(fraction * n)`` go to part
    ``b``, at least one and at most ``n - 1`` when the class has two recordings or more; so both parts
    see every class they can, and preparing part ``a`` and part ``b`` of one folder never shares a
    recording. A class with one recording goes to the side its name's hash picks.

    Parameters
    ----------
    clips : ClipList
    part : "all", "a", "b" or "auto"
        ("auto" is resolved by ``sea run``; left unresolved, as by ``sea data prepare``, it keeps all clips.)
    fraction : float in (0, 1)
        Share of each class's recordings in part ``b``.

    Returns
    -------
    clips : ClipList
        The same list for ``"all"``; otherwise a copy with the other part's candidates left out (and a note).
    """
    if part in ("all", "auto"):
        return clips
    from collections import Counter, defaultdict

    def group(c: Candidate) -> str:
        return str((c.meta or {}).get("group") or c.clip_id)

    labels: dict[str, Counter] = defaultdict(Counter)
    for c in clips.candidates:
        labels[group(c)][c.label if isinstance(c.label, str) else ""] += 1
    by_class: dict[str, list[str]] = defaultdict(list)
    for g, counts in labels.items():
        by_class[min(counts, key=lambda k: (-counts[k], k))].append(g)
    held_b = set()
    for recordings in by_class.values():
        held_b.update(_part_b(recordings, fraction))
    chosen = held_b if part == "b" else set(labels) - held_b
    keep = [c for c in clips.candidates if group(c) in chosen]
    note = (
        f"part {part}: {len(keep)} of {len(clips.candidates)} clips, {len(chosen)} of {len(labels)} recordings "
        f"(split by recording, per class; part b holds ~{fraction:.0%} of each class's recordings)"
    )
    return dataclasses.replace(clips, candidates=keep, notes=[*clips.notes, note])


def _part_b(recordings: list[str], fraction: float) -> list[str]:
    """The recordings of one class that go to part b: the first ``round(fraction * n)`` in hash order."""
    import hashlib

    order = sorted(set(recordings), key=lambda g: (hashlib.md5(g.encode()).hexdigest(), g))
    n = len(order)
    if n == 1:
        return order if int(hashlib.md5(order[0].encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < fraction else []
    return order[: min(n - 1, max(1, round(fraction * n)))]
