"""Any folder of audio files: unlabeled target-domain audio, or labelled through a CSV.

Dataset card
------------
Layout
    Any folder, searched recursively for files with an extension of
    :data:`sea.constants.AUDIO_EXTENSIONS` (``.wav .flac .ogg .mp3 .aiff ...``, the set
    ``sea teacher embed DIR`` reads too; decoded by libsndfile). Hidden files and folders are ignored; sidecar files
    (``.csv .txt .json .md .yaml .yml .jams .xml .pdf``) are ignored with a note in the report;
    any other file is **listed as skipped** ("not an audio file extension"), and so are
    directories named like audio files, broken or looping symbolic links and unreadable files:
    every entry of the folder is a clip, skipped, noted or hidden, never dropped silently.
    Symbolic links to folders are followed once; a link back into a folder already searched (a
    loop) is noted and not followed again.
Columns of the optional CSV (``csv=``, read by name)
    ``path`` (relative to the folder), and optionally ``label`` (empty = unlabeled), ``fold`` (int)
    or ``split`` (train/validate/test), ``group`` (the recording a clip was cut from, for grouped
    cross-validation), ``sensor_id`` and ``timestamp`` (ISO 8601 start time, e.g.
    ``2019-03-04T13:05:00`` or with a UTC offset ``...+01:00``; a bad one is an error naming the row).
    ``sensor_id`` and ``timestamp`` give unlabelled sensor recordings the targets stage's buckets:
    a clip's day is (sensor, the timestamp's calendar date), its SPL window follows the timestamp.
    With a CSV, only its rows are clips (audio files not listed are reported as warnings); without
    one every audio file is an **unlabeled target-domain clip** (``label`` None), e.g. sensor
    recordings -- exactly what SEA distills on.
Classes
    From the CSV: ``label_id`` indexes the sorted unique labels.
Licence / citation
    Those of your recordings.

``clip_id`` = path relative to the folder, without extension, with ``/`` replaced by ``__``;
``meta`` = group, sensor_id, timestamp and date (``YYYY-MM-DD``, from the timestamp) where given.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from sea.constants import AUDIO_EXTENSIONS, VALID_SPLITS
from sea.errors import DatasetError

from .clips import Candidate, ClipList, real_path, skip_entry, unlisted_warnings
from .config import PrepareConfig
from .engine import prepare_dataset
from .metadata import parse_int, read_csv_columns
from .timestamps import parse_timestamp

__all__ = ["SIDECAR_EXTENSIONS", "find_clips", "prepare"]

SIDECAR_EXTENSIONS = (".csv", ".txt", ".json", ".md", ".yaml", ".yml", ".jams", ".xml", ".pdf")


def _clip_id(rel: Path) -> str:
    return rel.with_suffix("").as_posix().replace("/", "__")


def _scan(root: Path, exclude: Path | None = None) -> tuple[list[Path], list[Path], list[Path], list[Path]]:
    """Audio files, non-audio files, ignored sidecars, and folders to report, under ``root``.

    Hidden entries are passed over. Symbolic links to folders are followed once: a link back to a
    folder already searched (a loop) is reported, not followed. ``exclude`` (the run directory,
    when it lies inside the folder) is not searched.
    """
    audio, other, sidecars, folders = [], [], [], []
    skip = os.path.realpath(exclude) if exclude is not None else None
    seen = {os.path.realpath(root)}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        here = Path(dirpath)
        keep = []
        for n in sorted(dirnames):
            real = os.path.realpath(here / n)
            if n.startswith(".") or real == skip:
                continue
            if Path(n).suffix.lower() in AUDIO_EXTENSIONS or real in seen:
                folders.append(here / n)  # a directory named like audio (searched too), or a link loop (not)
            if real not in seen:
                seen.add(real)
                keep.append(n)
        dirnames[:] = keep
        for n in filenames:
            if n.startswith("."):
                continue
            ext = Path(n).suffix.lower()
            bucket = audio if ext in AUDIO_EXTENSIONS else sidecars if ext in SIDECAR_EXTENSIONS else other
            bucket.append(here / n)
    return sorted(audio), sorted(other), sorted(sidecars), sorted(folders)


def _folder_entries(folders: list[Path]) -> tuple[list[dict], list[str]]:
    """Skip entries for folders named like audio files, notes for links to folders already searched."""
    skipped, notes = [], []
    for d in folders:
        if Path(d.name).suffix.lower() in AUDIO_EXTENSIONS:
            skipped.append(skip_entry(None, d, "not a regular file", f"{d.name} is a directory, not an audio file"))
        else:
            notes.append(f"link to a folder already searched (a loop or a second link), not followed again: {d}")
    return skipped, notes


def _sidecar_notes(root: Path, sidecars: list[Path], csv_path: Path | None) -> list[str]:
    ignored = [p for p in sidecars if csv_path is None or real_path(p) != real_path(csv_path)]
    if not ignored:
        return []
    names = ", ".join(p.relative_to(root).as_posix() for p in ignored[:5]) + (", ..." if len(ignored) > 5 else "")
    notes = [f"ignored {len(ignored)} sidecar file(s): {names}"]
    if csv_path is None and any(p.suffix.lower() == ".csv" for p in ignored):
        notes.append("a CSV was found but not used; pass csv=PATH (--csv) to read labels from it")
    return notes


def _csv_row(row: dict, i: int, csv_path: Path) -> tuple[str, str | None, int | None, str | None]:
    """``(path, label, fold, split)`` of CSV row ``i``; empty cells (and absent columns) are None."""
    rel = (row.get("path") or "").strip()
    if not rel:
        raise DatasetError(f"{str(csv_path)!r} row {i}: empty path")
    label = (row.get("label") or "").strip() or None
    fold = split = None
    if (row.get("fold") or "").strip():
        fold = parse_int(row["fold"], column="fold", path=csv_path, row=i)
    if (row.get("split") or "").strip():
        split = row["split"].strip()
        if split not in VALID_SPLITS:
            raise DatasetError(
                f"{str(csv_path)!r} row {i}: split={split!r} must be one of {', '.join(VALID_SPLITS)} or empty"
            )
    return rel, label, fold, split


def _csv_meta(row: dict, i: int, csv_path: Path) -> dict:
    """``group``, ``sensor_id``, ``timestamp`` (ISO 8601, validated) and its ``date`` where the row gives them."""
    meta = {k: row[k].strip() for k in ("group", "sensor_id") if (row.get(k) or "").strip()}
    if (row.get("timestamp") or "").strip():
        ts = parse_timestamp(row["timestamp"], path=csv_path, row=i)
        meta.update(timestamp=ts.isoformat(), date=ts.date().isoformat())
    return meta


def _csv_candidates(root: Path, csv_path: Path) -> list[Candidate]:
    """One candidate per CSV row; ``label_id`` indexes the sorted unique labels."""
    rows, _ = read_csv_columns(csv_path, ("path",), what="folder")
    labels = sorted({(r.get("label") or "").strip() for r in rows} - {""})
    label_ids = {lab: k for k, lab in enumerate(labels)}
    cands = []
    for i, row in enumerate(rows, start=2):
        rel, label, fold, split = _csv_row(row, i, csv_path)
        cands.append(
            Candidate(
                path=root / rel,
                clip_id=_clip_id(Path(rel)),
                label=label,
                label_id=label_ids[label] if label is not None else None,
                fold=fold,
                split=split,
                meta=_csv_meta(row, i, csv_path),
            )
        )
    return cands


def find_clips(raw_dir: Path, config: PrepareConfig, run_dir: Path) -> ClipList:
    """Read a folder of audio, labelled by ``config.csv`` if given.

    Parameters
    ----------
    raw_dir : Path
        The folder, searched recursively.
    config : PrepareConfig
        ``config.csv``: CSV ``path[,label,fold|split,group,sensor_id,timestamp]``, relative to ``raw_dir``
        unless absolute.
    run_dir : Path
        Left out of the search when it lies inside ``raw_dir``.

    Returns
    -------
    clips : ClipList
        Every audio file (unlabeled) or every CSV row; non-audio files are skipped, ignored
        sidecar files noted, audio files not in the CSV reported as warnings.
    """
    root = raw_dir
    if not root.is_dir():
        raise DatasetError(f"folder: {str(root)!r} is not a folder; pass the folder that holds your audio files")
    audio, other, sidecars, folders = _scan(root, run_dir)
    extensions = ", ".join(AUDIO_EXTENSIONS)
    reason = "not an audio file extension"
    skipped = [
        skip_entry(None, p, reason, f"{p.name}: extension {p.suffix or '(none)'!r} is not one of {extensions}")
        for p in other
    ]
    folder_skips, link_notes = _folder_entries(folders)
    csv_path = None if config.csv is None else root / config.csv  # an absolute csv stays absolute
    clips = ClipList([], skipped=skipped + folder_skips, notes=_sidecar_notes(root, sidecars, csv_path) + link_notes)
    if csv_path is None:
        clips.candidates = [Candidate(path=p, clip_id=_clip_id(p.relative_to(root))) for p in audio]
    else:
        clips.inputs["labels"] = csv_path
        clips.candidates = _csv_candidates(root, csv_path)
        clips.warnings = unlisted_warnings(
            audio,
            {real_path(c.path) for c in clips.candidates},
            kind="audio file not in the CSV (ignored)",
            detail=lambda p: f"{p.relative_to(root).as_posix()} has no row in {csv_path.name}",
        )
    _dedupe(clips.candidates)
    clips.extra_fingerprint = [Path(s["path"]) for s in clips.skipped] + [Path(w["path"]) for w in clips.warnings]
    return clips


def _dedupe(cands: list[Candidate]) -> None:
    """a.wav and a.flac would share an id; keep the extension for those."""
    n = Counter(c.clip_id for c in cands)
    for c in cands:
        if n[c.clip_id] > 1:
            c.clip_id = c.clip_id + "." + Path(c.path).suffix.lstrip(".").lower()


def prepare(raw_dir: str | Path, run_dir: str | Path, *, overwrite: bool = False, **options) -> Path:
    """Prepare a folder of audio (optionally labelled by ``csv``) into ``run_dir``.

    Parameters
    ----------
    raw_dir : path
        The folder of audio files.
    run_dir : path
        Output run directory (it may lie inside ``raw_dir``; its files are then not input).
    overwrite : bool
        Redo a finished prepare.
    **options
        ``csv`` and the other :class:`~data_prep.config.PrepareConfig` fields (``cache_srs``, ``strict``,
        ``res_type``).

    Returns
    -------
    manifest : Path
        ``run_dir/clips.jsonl``; labels are None without a CSV.
    """
    return prepare_dataset(find_clips, "folder", raw_dir, run_dir, overwrite=overwrite, **options)
