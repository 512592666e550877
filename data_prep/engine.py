"""The shared prepare engine: candidate clips -> manifest, audio caches, data report.

Every dataset module reads its raw layout into a :class:`~data_prep.clips.ClipList`
and hands it to :func:`prepare_clips`, which

1. validates before it writes: the run directory must be a writable folder (or creatable), and the
   config and the raw layout were validated by then, so a bad call leaves nothing behind;
2. takes the run-directory lock (:func:`sea.lock.run_lock`): a second command on the same run
   directory is refused, naming the holder's pid;
3. skips the work when the last prepare had the same config and raw files and its recorded outputs
   are intact (a truncated cache makes it redo the stage);
4. decodes each file **once** with :func:`sea.audio.load` (native rate, all channels, float64 as
   openl3's and edgel3's ``soundfile.read``), so memory stays bounded by one clip;
5. validates it: unreadable, missing, non-audio, empty, NaN/Inf-containing files, directories named
   like audio, broken symbolic links and rates outside 8-96 kHz are **skipped and listed with their
   reason** in ``data_report.json`` (never silently dropped); ``strict=True`` turns any skip into a
   :class:`~sea.errors.DatasetError` listing them. A WAV holding less than its header declares is kept
   with a warning naming both lengths;
6. downmixes to mono (the mean over channels, in float64, as openl3 does) and resamples the whole clip
   in one shot (float64, ``res_type``, default ``kaiser_best``: resampy 0.2.2's filter) to every cache
   rate, rounded once to float32 at the end, so the 48 kHz cache holds exactly the samples openl3 and
   ``sea teacher embed`` feed the teacher, and the 8 kHz cache those edgel3 feeds its students;
7. writes ``clips.jsonl``, ``data_report.json`` (counts per class / fold / split, durations, sample
   rates, subtypes, channels, skipped files, warnings) and ``stage.json`` (stage ``prepare``), which
   records the size and hashes of every file a later stage trusts (``clips.jsonl``,
   ``data_report.json``, ``audio/<sr>/samples.f32`` and ``index.npz``).

Suspicious but usable clips (short, silent, clipped, truncated) are kept, counted in one
:class:`~sea.errors.SeaWarning` per kind and listed in the report.

A killed prepare leaves ``stage.json`` at ``running`` and only ``*.partial`` caches: no later stage
trusts them, and the same command redoes the stage into bit-identical outputs. Re-running a
finished prepare with the same config and the same raw files is a no-op unless ``overwrite=True``.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import os
import shutil
import warnings
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sea.audio import declared_frames, info, load, resample, to_mono
from sea.cache import INDEX_NAME, SAMPLES_NAME, CacheWriter
from sea.errors import AudioError, DatasetError, ManifestError, SeaWarning
from sea.layout import RunLayout
from sea.lock import run_lock
from sea.manifest import ClipRecord, write_manifest
from sea.progress import progress
from sea.runs import Stage, read_stage
from sea.utils import md5_file, write_json

from .clips import Candidate, ClipList, select_clips, skip_entry, warning_entry
from .config import PrepareConfig, make_config
from .report import build_report, warn_summary

log = logging.getLogger(__name__)

__all__ = ["check_run_dir", "not_a_file", "prepare_clips", "prepare_dataset"]

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
    clips = select_clips(find_clips(Path(raw_dir), config, Path(run_dir)), config)
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
    ManifestError
        The run directory is an existing file, cannot be written, or is locked by another command.
    """
    run = RunLayout(run_dir)
    _check_unique_ids(clips.candidates, config.dataset)
    check_run_dir(run.root)
    fingerprint = _fingerprint([c.path for c in clips.candidates], clips.extra_fingerprint)
    stage = Stage(run.root, "prepare", config.recorded(), inputs=clips.inputs)
    with run_lock(run.root), _writing(run.root):
        if not overwrite and _is_up_to_date(stage, run, fingerprint):
            log.info("prepare: %s is up to date (same config and raw files); pass --overwrite to redo it", run.root)
            return run.manifest
        skipped, warns = list(clips.skipped), list(clips.warnings)
        with stage.running():  # stage.json says 'running' from here until every output is written
            _remove_other_caches(run, config.cache_srs)
            records, facts = _decode_into_caches(clips.candidates, run, config, skipped, warns)
            write_manifest(records, run.manifest)
            report = build_report(
                records, skipped, warns, facts, config=config, notes=clips.notes, details=clips.details
            )
            write_json(run.data_report, report)
            stage.track(run.manifest, run.data_report)
            for sr in config.cache_srs:
                stage.track(run.audio(sr) / SAMPLES_NAME, run.audio(sr) / INDEX_NAME)
            stage.counts.update(n_clips=len(records), n_skipped=len(skipped), n_warnings=len(warns))
            stage.counts["audio_seconds"] = round(report["duration"]["total"], 3)
            stage.extra["raw_fingerprint"] = fingerprint
    if skipped:
        warn_summary([{**s, "kind": f"skipped: {s['reason']}"} for s in skipped], "file(s)", run.data_report)
    if warns:
        warn_summary(warns, "clip(s):", run.data_report)
    return run.manifest


def check_run_dir(run_dir: Path) -> None:
    """Refuse a run directory that is an existing file or lies where nothing can be written.

    Called before anything is written. The first existing folder on the way up must be a folder
    the user may write into (a later permission error is still caught and named by the writer).

    Parameters
    ----------
    run_dir : Path

    Raises
    ------
    ManifestError
        One line naming the path and the fix.
    """
    if run_dir.exists() and not run_dir.is_dir():
        raise ManifestError(
            f"run directory {str(run_dir)!r} is an existing file; give a folder (new or a run directory)"
        )
    probe = run_dir
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise ManifestError(
            f"cannot create run directory {str(run_dir)!r}: {str(probe)!r} is a file, not a folder; choose another path"
        )
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ManifestError(
            f"cannot write run directory {str(run_dir)!r}: {str(probe)!r} is not writable (permissions); "
            "choose a folder you can write to"
        )


@contextlib.contextmanager
def _writing(run_dir: Path) -> Iterator[None]:
    """Turn an OS error while writing the run directory (read-only, disk full...) into one line naming the file."""
    try:
        yield
    except OSError as exc:
        where = exc.filename or run_dir
        raise ManifestError(
            f"cannot write {str(where)!r}: {exc.strerror or exc} (the prepare stage did not finish); "
            "check the run directory's permissions and free space, then run the same command again"
        ) from None


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


def _is_up_to_date(stage: Stage, run: RunLayout, fingerprint: str) -> bool:
    """Tell whether the last prepare had this config and these raw files, and its recorded outputs are intact.

    :meth:`Stage.is_done` checks every tracked file (manifest, report, each cache's samples and index)
    against its recorded size and sampled hash, so a truncated cache makes the stage run again.
    """
    if not stage.is_done():
        return False
    prev = read_stage(run.root) or {}
    if not prev.get("files"):  # written before outputs were recorded: nothing to check them against
        return False
    return prev.get("raw_fingerprint") == fingerprint


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
    """Decode every candidate into the caches, in candidate order; unusable files go to ``skipped``.

    Clips are decoded and resampled by ``config.workers`` threads (the decoder and the resampling
    kernels release the GIL) and appended to the caches in candidate order, so the outputs do not
    depend on the number of workers. Returns the manifest records and the ``{"subtype", "format"}``
    of their files. No cache is left behind when this raises.
    """
    writers = {sr: CacheWriter(run.root, sr) for sr in config.cache_srs}
    records: list[ClipRecord] = []
    facts: list[dict] = []
    done = _ordered(lambda c: _process_clip(c, run, config), candidates, resolve_workers(config.workers))
    try:
        with warnings.catch_warnings():  # sea.audio's per-file warnings: the report lists each clip's, once
            warnings.simplefilter("ignore", SeaWarning)
            for c, out in progress(zip(candidates, done), total=len(candidates), desc=f"prepare {config.dataset}",
                                   unit="clip"):  # fmt: skip
                if out.skipped is not None:
                    skipped.append(out.skipped)
                    continue
                for sr, y in out.audio.items():
                    writers[sr].add(c.clip_id, y)
                warns.extend(out.warnings)
                records.append(out.record)
                facts.append(out.facts)
        _check_usable(records, skipped, config)
    except BaseException:
        done.close()  # stops the worker threads before the partial caches go
        for w in writers.values():
            w.abort()
        raise
    for w in writers.values():
        w.close()
    return records, facts


def resolve_workers(workers: int) -> int:
    """Threads that decode and resample clips: ``workers``, or for 0 the usable cores (at most 8).

    Parameters
    ----------
    workers : int
        0 = automatic, 1 = no threads.

    Returns
    -------
    n : int >= 1
    """
    if workers > 0:
        return workers
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(8, cores))


def _ordered(fn: Callable[[Any], Any], items: Sequence[Any], workers: int) -> Iterator[Any]:
    """``map(fn, items)`` in order, computed by ``workers`` threads at most ``workers`` items ahead (bounded memory)."""
    if workers <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sea-prepare") as pool:
        it = iter(items)
        pending = deque(pool.submit(fn, x) for x in itertools.islice(it, workers))
        try:
            while pending:
                result = pending.popleft().result()
                nxt = next(it, _END)
                if nxt is not _END:
                    pending.append(pool.submit(fn, nxt))
                yield result
        finally:
            for f in pending:  # stopped early (an error, --strict, Ctrl-C): drop the work not yet started
                f.cancel()


_END = object()


@dataclass
class _Clip:
    """What one candidate became: a skip entry, or its record, resampled audio, warnings and file facts."""

    skipped: dict | None = None
    record: ClipRecord | None = None
    audio: dict[int, np.ndarray] = field(default_factory=dict)
    warnings: list[dict] = field(default_factory=list)
    facts: dict = field(default_factory=dict)


def _process_clip(c: Candidate, run: RunLayout, config: PrepareConfig) -> _Clip:
    """Decode one clip and resample it to every cache rate (only this clip's samples are in memory)."""
    path = Path(c.path)
    decoded = _decode(c, path, config)
    if isinstance(decoded, dict):
        return _Clip(skipped=decoded)
    y, sr, head = decoded
    n_channels = int(y.shape[1])
    y = to_mono(y)  # float64 mean over channels, openl3's np.mean(audio, axis=1)
    duration = y.shape[0] / sr
    out = _Clip(warnings=_clip_warnings(c, path, y, sr, duration))
    declared = declared_frames(path)
    if declared is not None and declared > y.shape[0]:
        detail = (
            f"header declares {declared} samples ({declared / sr:.3f} s), file holds {y.shape[0]} ({duration:.3f} s)"
        )
        out.warnings.append(warning_entry(c.clip_id, path, "truncated file (shorter than its header)", detail))
    for target in config.cache_srs:
        # one shot in float64 (resampy's dtype in openl3/edgel3), rounded to float32 once
        out.audio[target] = resample(y, sr, target, res_type=config.res_type).astype(np.float32)
    out.record = ClipRecord(
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
    out.facts = {"subtype": head["subtype"], "format": head["format"]}
    return out


def _decode(c: Candidate, path: Path, config: PrepareConfig) -> tuple[np.ndarray, int, dict[str, Any]] | dict:
    """``(y [shape=(n, channels)], sr, header)`` at the file's own rate, or the skip entry of an unusable file."""
    problem = not_a_file(path)
    if problem is not None:
        return skip_entry(c.clip_id, path, *problem)
    try:
        head = info(path)
        y, sr = load(path, sr=None, mono=False, dtype="float64", res_type=config.res_type)
    except AudioError as exc:
        msg = str(exc)
        return skip_entry(c.clip_id, path, _skip_reason(msg), msg)
    return y, sr, head


def not_a_file(path: Path) -> tuple[str, str] | None:
    """``(reason, detail)`` when ``path`` is not a regular file sea can open, else None.

    Parameters
    ----------
    path : Path

    Returns
    -------
    problem : tuple of str or None
        ``("missing file", ...)``, ``("broken symbolic link", ...)`` (dangling or a loop),
        ``("not a regular file", ...)`` (a directory named like audio, a device...),
        ``("unreadable (permission denied)", ...)``, ``("empty audio", ...)`` (0 bytes), or None.
    """
    if path.is_symlink() and not path.exists():  # exists() follows the link: False for dangling links and loops
        return "broken symbolic link", f"{path.name} is a symbolic link that leads nowhere (dangling or a loop)"
    if not path.exists():
        return "missing file", "no such file"
    if path.is_dir():
        return "not a regular file", f"{path.name} is a directory, not an audio file"
    if not path.is_file():
        return "not a regular file", f"{path.name} is not a regular file (a device, socket or pipe)"
    if not os.access(path, os.R_OK):
        return "unreadable (permission denied)", f"{path.name} cannot be read: permission denied (fix with chmod u+r)"
    if path.stat().st_size == 0:
        return "empty audio", f"{path.name} is empty (0 bytes)"
    return None


def _skip_reason(message: str) -> str:
    """Short category of an AudioError message (the full message goes to 'detail')."""
    m = message.lower()
    # libsndfile says "File does not exist or is not a regular file" for garbage too
    if "permission denied" in m:
        return "unreadable (permission denied)"
    if "holds no samples" in m or "0 bytes" in m:
        return "empty audio"
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
