"""The shared prepare engine: candidate clips -> manifest, audio caches, data report.

Every dataset module turns its raw layout into a list of :class:`Candidate`
clips and hands them to :func:`prepare_clips`, which

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
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sea.errors import AudioError, ConfigError, DatasetError, SeaWarning

log = logging.getLogger(__name__)

__all__ = [
    "AUDIO_EXTENSIONS",
    "Candidate",
    "DATASETS",
    "DEFAULT_CACHE_SRS",
    "PrepareConfig",
    "REPORT_NAME",
    "prepare_clips",
    "read_csv_columns",
]

DEFAULT_CACHE_SRS = (48000, 8000)
REPORT_NAME = "data_report.json"
DATASETS = ("urbansound8k", "sonyc_ust", "esc50", "folder", "synthetic")
AUDIO_EXTENSIONS = (".wav", ".wave", ".flac", ".ogg", ".oga", ".aif", ".aiff", ".aifc", ".mp3")

# Thresholds of the "suspicious but usable" warnings.
SHORT_CLIP_S = 0.5
SILENT_PEAK = 1e-6
CLIP_LEVEL = 0.999
CLIPPED_FRACTION = 1e-3


@dataclass(frozen=True)
class PrepareConfig:
    """Config of the ``prepare`` stage (recorded in ``stage.json``)."""

    dataset: str = field(default="folder", metadata={"help": f"dataset loader: {', '.join(DATASETS)}"})
    raw_dir: str = field(default="", metadata={"help": "raw dataset folder"})
    cache_srs: tuple[int, ...] = field(
        default=DEFAULT_CACHE_SRS, metadata={"help": "sample rates of the audio caches (teacher 48000, student 8000)"}
    )
    strict: bool = field(default=False, metadata={"help": "fail on any skipped (unreadable/empty/NaN/missing) file"})
    res_type: str = field(default="soxr_vhq", metadata={"help": "resampler: soxr_vhq, soxr_hq or kaiser_best"})
    esc10: bool = field(default=False, metadata={"help": "esc50 only: keep the ESC-10 subset (labels re-indexed 0..9)"})
    csv: str | None = field(
        default=None, metadata={"help": "folder only: CSV 'path,label[,fold|split]' (path relative to the folder)"}
    )

    def validate(self) -> None:
        from sea.audio import VALID_RES_TYPES

        if self.dataset not in DATASETS:
            raise ConfigError(f"dataset={self.dataset!r} is not known; choose one of {', '.join(DATASETS)}")
        if not self.cache_srs:
            raise ConfigError("cache_srs is empty; give at least one rate, e.g. --cache-srs 48000,8000")
        for sr in self.cache_srs:
            if not 1000 <= int(sr) <= 192000:
                raise ConfigError(f"cache rate {sr} Hz is out of range 1000-192000 Hz (e.g. --cache-srs 48000,8000)")
        if len(set(self.cache_srs)) != len(self.cache_srs):
            raise ConfigError(f"cache_srs={list(self.cache_srs)} repeats a rate; list each rate once")
        if self.res_type not in VALID_RES_TYPES:
            raise ConfigError(
                f"res_type={self.res_type!r} is not supported; choose one of {', '.join(VALID_RES_TYPES)}"
            )
        if self.esc10 and self.dataset != "esc50":
            raise ConfigError(f"esc10=True only applies to the esc50 dataset, not {self.dataset!r}")
        if self.csv is not None and self.dataset != "folder":
            raise ConfigError(f"csv= only applies to the folder dataset, not {self.dataset!r}")


def make_config(
    dataset: str, raw_dir: str | Path, *, cache_srs=DEFAULT_CACHE_SRS, strict=False, **options
) -> PrepareConfig:
    """Build and validate a :class:`PrepareConfig` (unknown options are rejected)."""
    from sea.config import config_from_dict

    values = {"dataset": dataset, "raw_dir": str(Path(raw_dir).resolve()), "strict": bool(strict)}
    values["cache_srs"] = tuple(int(s) for s in cache_srs)
    values.update({k: v for k, v in options.items() if v is not None})
    return config_from_dict(PrepareConfig, values)


@dataclass
class Candidate:
    """One clip a dataset module proposes; the engine decodes and validates it."""

    path: Path
    clip_id: str
    label: str | list[str] | None = None
    label_id: int | list[int] | None = None
    fold: int | None = None
    split: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    # (start, end) of the clip in its source per the metadata, to cross-check the duration
    expected_duration: float | None = None


def read_csv_columns(path: Path, required: Sequence[str | tuple[str, ...]], *, what: str) -> tuple[list[dict], dict]:
    """Read a CSV by column name.

    Parameters
    ----------
    path : Path
    required : sequence of str or tuple of alternative names
        Columns that must be present; a tuple accepts any one of its names
        (e.g. ``("class", "class_name")``).
    what : str
        Dataset name used in error messages.

    Returns
    -------
    rows : list of dict
    names : dict
        Maps each required entry (its first name) to the header name found.
    """
    import csv

    if not path.is_file():
        raise DatasetError(f"{what}: metadata file {str(path)!r} does not exist; check that RAW_DIR is the {what} root")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        reader.fieldnames = header
        rows = list(reader)
    if not header:
        raise DatasetError(f"{what}: {str(path)!r} is empty; expected a header row")
    names = {}
    for req in required:
        alts = (req,) if isinstance(req, str) else tuple(req)
        found = next((a for a in alts if a in header), None)
        if found is None:
            want = " or ".join(repr(a) for a in alts)
            raise DatasetError(f"{what}: {str(path)!r} has no column {want}; columns found: {', '.join(header)}")
        names[alts[0]] = found
    return rows, names


def parse_int(value: str, *, column: str, path: Path, row: int) -> int:
    try:
        f = float(str(value).strip())
        if not f.is_integer():
            raise ValueError
        return int(f)
    except ValueError:
        raise DatasetError(f"{str(path)!r} row {row}: column {column!r}={value!r} is not an integer") from None


def parse_float(value: str, *, column: str, path: Path, row: int) -> float:
    try:
        return float(str(value).strip())
    except ValueError:
        raise DatasetError(f"{str(path)!r} row {row}: column {column!r}={value!r} is not a number") from None


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


def _record_path(path: Path, run_dir: Path) -> str:
    """Relative to the manifest when the file lies inside the run dir, absolute otherwise."""
    path = path.resolve()
    try:
        return path.relative_to(run_dir.resolve()).as_posix()
    except ValueError:
        return str(path)


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


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"min": 0.0, "mean": 0.0, "max": 0.0, "total": 0.0}
    a = np.asarray(values, dtype=np.float64)
    return {"min": float(a.min()), "mean": float(a.mean()), "max": float(a.max()), "total": float(a.sum())}


def _labels_of(label) -> list[str]:
    if label is None:
        return ["(unlabeled)"]
    return list(label) if isinstance(label, (list, tuple)) else [str(label)]


_SPLIT_ORDER = {"train": 0, "validate": 1, "test": 2}


def _sorted_counts(c: Counter) -> dict:
    def key(k):
        if isinstance(k, (int, float)):
            return (0, k, "")
        return (1, _SPLIT_ORDER.get(k, 3), str(k))

    return {str(k): c[k] for k in sorted(c, key=key)}


def build_report(records, skipped, warns, facts, *, config, notes) -> dict[str, Any]:
    """Counts and facts of a prepared dataset (``data_report.json``)."""
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
        "dataset": config.dataset,
        "raw_dir": config.raw_dir,
        "cache_srs": list(config.cache_srs),
        "n_candidates": len(records) + len(skipped),
        "n_clips": len(records),
        "n_skipped": len(skipped),
        "n_labeled": sum(r.label is not None for r in records),
        "classes": _sorted_counts(classes),
        "folds": _sorted_counts(folds),
        "splits": _sorted_counts(splits),
        "class_by_fold": {k: _sorted_counts(v) for k, v in sorted(by_fold.items())},
        "class_by_split": {k: _sorted_counts(v) for k, v in sorted(by_split.items())},
        "duration": _stats([r.duration for r in records]),
        "sample_rates": _sorted_counts(Counter(r.sr for r in records)),
        "channels": _sorted_counts(Counter(r.channels for r in records)),
        "subtypes": _sorted_counts(Counter(f["subtype"] for f in facts)),
        "formats": _sorted_counts(Counter(f["format"] for f in facts)),
        "skipped_reasons": _sorted_counts(Counter(s["reason"] for s in skipped)),
        "skipped": skipped,
        "warning_counts": _sorted_counts(Counter(w["kind"] for w in warns)),
        "warnings": warns,
        "notes": list(notes),
    }


def _warn_summary(items: list[dict], noun: str) -> None:
    """One SeaWarning per kind, naming a few examples (the full list is in the report)."""
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for w in items:
        by_kind[w["kind"]].append(w)
    for kind, ws in by_kind.items():
        ex = ", ".join(str(w.get("clip_id") or w.get("path")) for w in ws[:3]) + (", ..." if len(ws) > 3 else "")
        warnings.warn(f"{len(ws)} {noun} {kind} ({ex}); listed in {REPORT_NAME}", SeaWarning, stacklevel=3)


def prepare_clips(
    candidates: Sequence[Candidate],
    run_dir: str | Path,
    config: PrepareConfig,
    *,
    inputs: dict[str, str | Path] | None = None,
    overwrite: bool = False,
    skipped: list[dict] | None = None,
    warnings_: list[dict] | None = None,
    notes: Sequence[str] = (),
    extra_fingerprint: Sequence[Path] = (),
) -> Path:
    """Decode, validate and cache candidate clips; write the manifest, report and stage.json.

    Parameters
    ----------
    candidates : sequence of Candidate
        Clips proposed by a dataset module (clip ids must be unique).
    run_dir : path
        Output run directory.
    config : PrepareConfig
        Recorded in ``stage.json``; ``cache_srs``, ``strict`` and ``res_type`` are used here.
    inputs : dict[str, path]
        Metadata files hashed into ``stage.json`` (e.g. ``{"metadata": csv}``).
    overwrite : bool
        Redo a prepare that already finished with the same config and files.
    skipped, warnings_ : list of dict
        Problems the dataset module already found (``{"path", "clip_id", "reason", "detail"}`` /
        ``{"path", "clip_id", "kind", "detail"}``), merged into the report.
    notes : sequence of str
        Free-text notes for the report (e.g. ignored sidecar files).
    extra_fingerprint : sequence of Path
        More files whose presence/size/mtime decide whether a rerun is a no-op.

    Returns
    -------
    manifest : Path
        ``run_dir / "clips.jsonl"``.

    Raises
    ------
    DatasetError
        Duplicate clip ids, no usable clip, or any skipped file with ``strict=True``.
    """
    from sea.audio import info, load, resample, to_mono
    from sea.cache import INDEX_NAME, CacheWriter, cache_dir
    from sea.manifest import MANIFEST_NAME, ClipRecord, write_manifest
    from sea.progress import progress
    from sea.runs import Stage, read_stage
    from sea.utils import md5_file, write_json

    run_dir = Path(run_dir)
    manifest = run_dir / MANIFEST_NAME
    ids = Counter(c.clip_id for c in candidates)
    dup = sorted(k for k, n in ids.items() if n > 1)
    if dup:
        raise DatasetError(f"{config.dataset}: duplicate clip ids {dup[:5]}; clip ids must be unique")

    fingerprint = _fingerprint([c.path for c in candidates], extra_fingerprint)
    stage = Stage(run_dir, "prepare", config, inputs=inputs or {})
    if not overwrite and stage.is_done():
        prev = read_stage(run_dir) or {}
        caches_ok = all((cache_dir(run_dir, sr) / INDEX_NAME).is_file() for sr in config.cache_srs)
        if prev.get("raw_fingerprint") == fingerprint and manifest.is_file() and caches_ok:
            log.info("prepare: %s is up to date (same config and raw files); pass --overwrite to redo it", run_dir)
            return manifest

    skipped = list(skipped or [])
    warns = list(warnings_ or [])
    # A rerun rebuilds every cache; stale rates would disagree with the new manifest.
    audio_root = run_dir / "audio"
    if audio_root.is_dir():
        for d in audio_root.iterdir():
            if d.is_dir() and d.name.isdigit() and int(d.name) not in config.cache_srs:
                shutil.rmtree(d)

    records: list[ClipRecord] = []
    facts: list[dict] = []
    with stage.running():
        writers = {sr: CacheWriter(run_dir, sr) for sr in config.cache_srs}
        try:
            for c in progress(candidates, total=len(candidates), desc=f"prepare {config.dataset}", unit="clip"):
                path = Path(c.path)
                if not path.is_file():
                    skipped.append(
                        {"clip_id": c.clip_id, "path": str(path), "reason": "missing file", "detail": "no such file"}
                    )
                    continue
                try:
                    head = info(path)
                    y, sr = load(path, sr=None, mono=False, res_type=config.res_type)
                except AudioError as exc:
                    msg = str(exc)
                    skipped.append(
                        {"clip_id": c.clip_id, "path": str(path), "reason": _skip_reason(msg), "detail": msg}
                    )
                    continue
                n_channels = int(y.shape[1])
                y = to_mono(y)
                for kind in _suspicious(y, sr):
                    warns.append({"clip_id": c.clip_id, "path": str(path), "kind": kind.split(" (")[0], "detail": kind})
                duration = y.shape[0] / sr
                if c.expected_duration is not None and abs(duration - c.expected_duration) > 0.1:
                    warns.append(
                        {
                            "clip_id": c.clip_id,
                            "path": str(path),
                            "kind": "duration differs from metadata",
                            "detail": f"file {duration:.3f} s, metadata {c.expected_duration:.3f} s",
                        }
                    )
                for target, w in writers.items():
                    w.add(c.clip_id, resample(y, sr, target, res_type=config.res_type))
                records.append(
                    ClipRecord(
                        clip_id=c.clip_id,
                        path=_record_path(path, run_dir),
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
                )
                facts.append({"subtype": head["subtype"], "format": head["format"]})
                del y
        except BaseException:
            for w in writers.values():
                w.abort()
            raise
        if skipped and config.strict:
            for w in writers.values():
                w.abort()
            listing = "; ".join(f"{s['path']}: {s['reason']}" for s in skipped[:10])
            more = f" (and {len(skipped) - 10} more)" if len(skipped) > 10 else ""
            raise DatasetError(
                f"{config.dataset}: {len(skipped)} file(s) cannot be used with --strict: {listing}{more}; "
                "fix or remove them, or drop --strict to skip them"
            )
        if not records:
            for w in writers.values():
                w.abort()
            reasons = "; ".join(f"{s['path']}: {s['reason']}" for s in skipped[:5])
            raise DatasetError(
                f"{config.dataset}: no usable clip in {config.raw_dir!r}"
                + (f" ({len(skipped)} skipped: {reasons})" if skipped else " (no candidate audio files found)")
            )
        for w in writers.values():
            w.close()
        write_manifest(records, manifest)
        report = build_report(records, skipped, warns, facts, config=config, notes=notes)
        write_json(run_dir / REPORT_NAME, report)
        stage.counts.update(n_clips=len(records), n_skipped=len(skipped), n_warnings=len(warns))
        stage.counts["audio_seconds"] = round(report["duration"]["total"], 3)
        stage.extra["raw_fingerprint"] = fingerprint
    if skipped:
        _warn_summary([{**s, "kind": f"skipped: {s['reason']}"} for s in skipped], "file(s)")
    if warns:
        _warn_summary(warns, "clip(s):")
    return manifest
