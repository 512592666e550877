"""The shared prepare engine: candidate clips -> manifest, audio caches, data report.

Every dataset module reads its raw layout into a :class:`~data_prep.clips.ClipList`
and hands it to :func:`prepare_clips`, which

1. decodes each file **once** with :func:`sea.audio.load` (native rate, all
   channels), so memory stays bounded by one clip;
2. validates it: unreadable, missing, non-audio, empty, NaN/Inf-containing
   files and sample rates outside 8-96 kHz are **skipped and listed with their
   reason** in ``data_report.json`` (never silently dropped); ``strict=True``
   turns any skip into a :class:`~sea.errors.DatasetError` listing them;
3. downmixes to mono and resamples to every cache rate (default 48 kHz for the
   teacher and 8 kHz for the students) into :class:`sea.cache.CacheWriter`;
4. writes ``clips.jsonl``, ``data_report.json`` (counts per class / fold /
   split, durations, sample rates, subtypes, channels, skipped files, warnings)
   and ``stage.json`` (stage ``prepare``).

Suspicious but usable clips (short, silent, clipped) are kept, counted in one
:class:`~sea.errors.SeaWarning` per kind and listed in the report.

Re-running a finished prepare with the same config and the same raw files is a
no-op unless ``overwrite=True``.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sea.audio import info, load, resample, to_mono
from sea.cache import INDEX_NAME, CacheWriter
from sea.errors import AudioError, DatasetError
from sea.layout import RunLayout
from sea.manifest import ClipRecord, write_manifest
from sea.progress import progress
from sea.runs import Stage, read_stage
from sea.utils import md5_file, write_json

from .clips import Candidate, ClipList, skip_entry, warning_entry
from .config import PrepareConfig, make_config
from .report import build_report, warn_summary

log = logging.getLogger(__name__)

__all__ = ["prepare_clips", "prepare_dataset"]

# Thresholds of the "suspicious but usable" warnings.
SHORT_CLIP_S = 0.5
SILENT_PEAK = 1e-6
CLIP_LEVEL = 0.999
CLIPPED_FRACTION = 1e-3
# A clip whose length differs from its metadata by more than this (seconds) is reported.
DURATION_TOLERANCE_S = 0.1

#: ``find_clips(raw_dir, config, run_dir) -> ClipList``: how a dataset module reads its raw layout.
FindClips = Callable[[Path, PrepareConfig, Path], ClipList]


def prepare_dataset(
    find_clips: FindClips, dataset: str, raw_dir: str | Path, run_dir: str | Path, *, overwrite: bool = False, **options
) -> Path:
    """Prepare one dataset: build its config, read its raw layout, run :func:`prepare_clips`.

    The body of every dataset module's ``prepare()``.

    Parameters
    ----------
    find_clips : callable
        The dataset module's ``find_clips(raw_dir, config, run_dir) -> ClipList``.
    dataset : str
        Name recorded in the config.
    raw_dir : path
        Raw dataset folder (paths in the report keep the spelling given here).
    run_dir : path
        Output run directory.
    overwrite : bool
        Redo a prepare that already finished with the same config and files.
    **options
        Other :class:`~data_prep.config.PrepareConfig` fields.

    Returns
    -------
    manifest : Path
        ``run_dir / "clips.jsonl"``.
    """
    config = make_config(dataset, raw_dir, **options)
    clips = find_clips(Path(raw_dir), config, Path(run_dir))
    return prepare_clips(clips, run_dir, config, overwrite=overwrite)


def prepare_clips(clips: ClipList, run_dir: str | Path, config: PrepareConfig, *, overwrite: bool = False) -> Path:
    """Decode, validate and cache candidate clips; write the manifest, report and stage.json.

    Parameters
    ----------
    clips : ClipList
        What the dataset module found (clip ids must be unique).
    run_dir : path
        Output run directory.
    config : PrepareConfig
        Recorded in ``stage.json``; ``cache_srs``, ``strict`` and ``res_type`` are used here.
    overwrite : bool
        Redo a prepare that already finished with the same config and files.

    Returns
    -------
    manifest : Path
        The clip manifest it wrote (or found up to date), ``run_dir/clips.jsonl``.

    Raises
    ------
    DatasetError
        Duplicate clip ids, no usable clip, or any skipped file with ``strict=True``.
    """
    run = RunLayout(run_dir)
    _check_unique_ids(clips.candidates, config.dataset)
    fingerprint = _fingerprint([c.path for c in clips.candidates], clips.extra_fingerprint)
    stage = Stage(run.root, "prepare", config.recorded(), inputs=clips.inputs)
    if not overwrite and _is_up_to_date(stage, run, config, fingerprint):
        log.info("prepare: %s is up to date (same config and raw files); pass --overwrite to redo it", run.root)
        return run.manifest

    skipped, warns = list(clips.skipped), list(clips.warnings)
    _remove_other_caches(run, config.cache_srs)
    with stage.running():
        records, facts = _decode_into_caches(clips.candidates, run, config, skipped, warns)
        write_manifest(records, run.manifest)
        report = build_report(records, skipped, warns, facts, config=config, notes=clips.notes)
        write_json(run.data_report, report)
        stage.counts.update(n_clips=len(records), n_skipped=len(skipped), n_warnings=len(warns))
        stage.counts["audio_seconds"] = round(report["duration"]["total"], 3)
        stage.extra["raw_fingerprint"] = fingerprint
    if skipped:
        warn_summary([{**s, "kind": f"skipped: {s['reason']}"} for s in skipped], "file(s)", run.data_report)
    if warns:
        warn_summary(warns, "clip(s):", run.data_report)
    return run.manifest


# -- the steps of prepare_clips ------------------------------------------------------------------


def _check_unique_ids(candidates: Sequence[Candidate], dataset: str) -> None:
    ids = Counter(c.clip_id for c in candidates)
    dup = sorted(k for k, n in ids.items() if n > 1)
    if dup:
        raise DatasetError(f"{dataset}: duplicate clip ids {dup[:5]}; clip ids must be unique")


def _fingerprint(paths: Iterable[Path], extra: Iterable[Path] = ()) -> str:
    """Cheap identity of the raw files: names, sizes and mtimes (not contents)."""
    h = hashlib.sha256()
    for p in sorted({str(Path(q)) for q in [*paths, *extra]}):
        try:
            st = Path(p).stat()
            h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{p}\0missing\n".encode())
    return h.hexdigest()[:16]


def _is_up_to_date(stage: Stage, run: RunLayout, config: PrepareConfig, fingerprint: str) -> bool:
    """Tell whether the last prepare had this config and these raw files, and its outputs are all there."""
    if not stage.is_done():
        return False
    prev = read_stage(run.root) or {}
    caches_ok = all((run.audio(sr) / INDEX_NAME).is_file() for sr in config.cache_srs)
    return prev.get("raw_fingerprint") == fingerprint and run.manifest.is_file() and caches_ok


def _remove_other_caches(run: RunLayout, cache_srs: Sequence[int]) -> None:
    """Delete caches of rates not asked for: they would disagree with the new manifest."""
    audio_root = run.audio(cache_srs[0]).parent
    if audio_root.is_dir():
        for d in audio_root.iterdir():
            if d.is_dir() and d.name.isdigit() and int(d.name) not in cache_srs:
                shutil.rmtree(d)


def _decode_into_caches(
    candidates: Sequence[Candidate], run: RunLayout, config: PrepareConfig, skipped: list[dict], warns: list[dict]
) -> tuple[list[ClipRecord], list[dict]]:
    """Decode every candidate into the caches; unusable files go to ``skipped``.

    Returns the manifest records and the ``{"subtype", "format"}`` of their files. No cache is
    left behind when this raises.
    """
    writers = {sr: CacheWriter(run.root, sr) for sr in config.cache_srs}
    records: list[ClipRecord] = []
    facts: list[dict] = []
    try:
        for c in progress(candidates, total=len(candidates), desc=f"prepare {config.dataset}", unit="clip"):
            done = _add_clip(c, run, config, writers, skipped, warns)
            if done is not None:
                records.append(done[0])
                facts.append(done[1])
        _check_usable(records, skipped, config)
    except BaseException:
        for w in writers.values():
            w.abort()
        raise
    for w in writers.values():
        w.close()
    return records, facts


def _add_clip(
    c: Candidate,
    run: RunLayout,
    config: PrepareConfig,
    writers: dict[int, CacheWriter],
    skipped: list[dict],
    warns: list[dict],
) -> tuple[ClipRecord, dict] | None:
    """Decode one clip into every cache (only this clip's samples are in memory); None if skipped."""
    path = Path(c.path)
    decoded = _decode(c, path, config, skipped)
    if decoded is None:
        return None
    y, sr, head = decoded
    n_channels = int(y.shape[1])
    y = to_mono(y)
    duration = y.shape[0] / sr
    warns.extend(_clip_warnings(c, path, y, sr, duration))
    for target, w in writers.items():
        w.add(c.clip_id, resample(y, sr, target, res_type=config.res_type))
    record = ClipRecord(
        clip_id=c.clip_id,
        path=_record_path(path, run.root),
        duration=round(float(duration), 6),
        sr=int(sr),
        channels=n_channels,
        label=c.label,
        label_id=c.label_id,
        fold=c.fold,
        split=c.split,
        md5=md5_file(path),
        meta=c.meta,
    )
    return record, {"subtype": head["subtype"], "format": head["format"]}


def _decode(
    c: Candidate, path: Path, config: PrepareConfig, skipped: list[dict]
) -> tuple[np.ndarray, int, dict[str, Any]] | None:
    """``(y [shape=(n, channels)], sr, header)`` at the file's own rate, or None (listed in ``skipped``)."""
    if not path.is_file():
        skipped.append(skip_entry(c.clip_id, path, "missing file", "no such file"))
        return None
    try:
        head = info(path)
        y, sr = load(path, sr=None, mono=False, res_type=config.res_type)
    except AudioError as exc:
        msg = str(exc)
        skipped.append(skip_entry(c.clip_id, path, _skip_reason(msg), msg))
        return None
    return y, sr, head


def _skip_reason(message: str) -> str:
    """Short category of an AudioError message (the full message goes to 'detail')."""
    m = message.lower()
    # libsndfile says "File does not exist or is not a regular file" for garbage too
    if "cannot decode" in m or "cannot read audio header" in m:
        return "unreadable / not audio"
    if "does not exist" in m:
        return "missing file"
    if "sample rate" in m:
        return "sample rate out of range"
    if "empty" in m:
        return "empty audio"
    if "nan" in m or "inf" in m:
        return "NaN/Inf samples"
    return "invalid audio"


def _clip_warnings(c: Candidate, path: Path, y: np.ndarray, sr: int, duration: float) -> list[dict]:
    """Suspicious but usable: short, silent, clipped, or not as long as the metadata says."""
    warns = [warning_entry(c.clip_id, path, kind.split(" (")[0], kind) for kind in _suspicious(y, sr)]
    if c.expected_duration is not None and abs(duration - c.expected_duration) > DURATION_TOLERANCE_S:
        detail = f"file {duration:.3f} s, metadata {c.expected_duration:.3f} s"
        warns.append(warning_entry(c.clip_id, path, "duration differs from metadata", detail))
    return warns


def _suspicious(y: np.ndarray, sr: int) -> list[str]:
    reasons = []
    if y.shape[0] < SHORT_CLIP_S * sr:
        reasons.append(f"short clip ({y.shape[0] / sr:.3f} s < {SHORT_CLIP_S:g} s)")
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak <= SILENT_PEAK:
        reasons.append(f"silent (peak {peak:.1e})")
    elif np.count_nonzero(np.abs(y) >= CLIP_LEVEL) > CLIPPED_FRACTION * y.size:
        reasons.append("clipped (>0.1% samples at full scale)")
    return reasons


def _record_path(path: Path, run_dir: Path) -> str:
    """Relative to the manifest when the file lies inside the run dir, absolute otherwise."""
    path = path.resolve()
    try:
        return path.relative_to(run_dir.resolve()).as_posix()
    except ValueError:
        return str(path)


def _check_usable(records: Sequence[ClipRecord], skipped: Sequence[dict], config: PrepareConfig) -> None:
    """Raise when ``--strict`` meets a skipped file, or when no clip is usable."""
    if skipped and config.strict:
        listing = "; ".join(f"{s['path']}: {s['reason']}" for s in skipped[:10])
        more = f" (and {len(skipped) - 10} more)" if len(skipped) > 10 else ""
        raise DatasetError(
            f"{config.dataset}: {len(skipped)} file(s) cannot be used with --strict: {listing}{more}; "
            "fix or remove them, or drop --strict to skip them"
        )
    if not records:
        reasons = "; ".join(f"{s['path']}: {s['reason']}" for s in skipped[:5])
        raise DatasetError(
            f"{config.dataset}: no usable clip in {config.raw_dir!r}"
            + (f" ({len(skipped)} skipped: {reasons})" if skipped else " (no candidate audio files found)")
        )
