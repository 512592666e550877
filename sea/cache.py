"""Packed, memory-mappable audio caches, one per sample rate.

Layout under a run directory::

    audio/<sr>/samples.f32   every clip's mono float32 samples, back to back
    audio/<sr>/index.npz     clip_ids [n] (str), offsets [n] (int64), lengths [n] (int64)

Later stages cut 1-s windows straight from the memmap without decoding again,
and memory stays bounded by the window batch, not by the dataset.

Opening a cache checks it: ``samples.f32`` must hold exactly the samples the
index counts, and both files must match the size and sampled hash the prepare
stage recorded in its ``stage.json`` (the full sha256 too under ``--verify``).
A truncated or altered cache is named in one line with the command that
rebuilds it, instead of being read.
"""

from __future__ import annotations

import shlex
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from . import integrity
from .errors import ManifestError, ParameterError
from .layout import RunLayout
from .runs import read_stage
from .utils import atomic_path

SAMPLES_NAME = "samples.f32"
INDEX_NAME = "index.npz"

__all__ = ["AudioCache", "CacheWriter", "available_rates", "cache_dir", "rebuild_command"]


def cache_dir(run_dir: str | Path, sr: int) -> Path:
    """``RUN/audio/<sr>``, the folder of one cache (:meth:`sea.layout.RunLayout.audio`).

    Parameters
    ----------
    run_dir : path
    sr : int

    Returns
    -------
    folder : Path
    """
    return RunLayout(run_dir).audio(sr)


def rebuild_command(run_dir: str | Path, record: dict[str, Any] | None = None) -> str:
    """The commands that rebuild a run's prepare stage, for error messages.

    Parameters
    ----------
    run_dir : path
        The prepared run directory.
    record : dict, optional
        Its ``stage.json`` (read when not given); its config names the dataset and raw folder.

    Returns
    -------
    text : str
        ``sea data prepare DATASET RAW_DIR RUN_DIR --overwrite`` (or ``sea run CONFIG --overwrite prepare``).
    """
    if record is None:
        try:
            record = read_stage(run_dir) or {}
        except ManifestError:
            record = {}
    config = record.get("config") or {}
    dataset, raw = config.get("dataset") or "DATASET", config.get("raw_dir") or "RAW_DIR"
    command = " ".join(shlex.quote(str(a)) for a in ("sea", "data", "prepare", dataset, raw, str(run_dir)))
    return f"'{command} --overwrite' (or 'sea run CONFIG --overwrite prepare')"


class CacheWriter:
    """Append clips to a new cache; the index is written atomically on :meth:`close`.

    Samples go to a temporary file that is renamed only when the whole cache is
    written, so an interrupted prepare never leaves a cache that looks complete.
    """

    def __init__(self, run_dir: str | Path, sr: int):
        self.dir = cache_dir(run_dir, sr)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.sr = int(sr)
        self._tmp = self.dir / (SAMPLES_NAME + ".partial")
        self._fh = open(self._tmp, "wb")
        self._ids: list[str] = []
        self._offsets: list[int] = []
        self._lengths: list[int] = []
        self._pos = 0

    def add(self, clip_id: str, y: np.ndarray) -> None:
        """Append one mono clip, shape (n,), already at this cache's rate."""
        y = np.ascontiguousarray(y, dtype=np.float32)
        if y.ndim != 1:
            raise ParameterError(f"cache clips must be mono (n,), got shape {y.shape} for {clip_id!r}")
        self._fh.write(y.tobytes())
        self._ids.append(clip_id)
        self._offsets.append(self._pos)
        self._lengths.append(int(y.shape[0]))
        self._pos += int(y.shape[0])

    def close(self) -> Path:
        self._fh.close()
        self._tmp.replace(self.dir / SAMPLES_NAME)
        with atomic_path(self.dir / INDEX_NAME, suffix=".npz") as tmp:
            np.savez(
                tmp,
                clip_ids=np.asarray(self._ids, dtype=str),
                offsets=np.asarray(self._offsets, dtype=np.int64),
                lengths=np.asarray(self._lengths, dtype=np.int64),
                sr=np.int64(self.sr),
            )
        return self.dir

    def abort(self) -> None:
        self._fh.close()
        if self._tmp.exists():
            self._tmp.unlink()


class AudioCache:
    """Read-only view of one sample rate's cache, checked against the prepare stage's records.

    Parameters
    ----------
    run_dir : path
        The prepared run directory.
    sr : int
        The cached rate, e.g. 48000 (teacher) or 8000 (students).

    Raises
    ------
    ManifestError
        No cache at this rate, or the prepare stage has not finished.
    sea.integrity.DamagedFileError
        ``samples.f32`` or ``index.npz`` truncated, altered or unreadable (one line naming the file
        and the command that rebuilds it).
    """

    def __init__(self, run_dir: str | Path, sr: int):
        self.dir = cache_dir(run_dir, sr)
        index = self.dir / INDEX_NAME
        if not index.is_file():
            available = available_rates(run_dir)
            raise ManifestError(
                f"no {sr} Hz audio cache in {str(Path(run_dir))!r} (available: {available or 'none'}); "
                f"run 'sea data prepare ... --cache-srs {sr}' to build it"
            )
        fix = _check_records(run_dir, sr)
        self.clip_ids, self.offsets, self.lengths, self.sr = _read_index(index, fix)
        self._pos = {c: i for i, c in enumerate(self.clip_ids)}
        total = int(self.lengths.sum())
        samples = self.dir / SAMPLES_NAME
        size = samples.stat().st_size if samples.is_file() else None
        if size != 4 * total:
            state = "is missing" if size is None else f"holds {size} bytes where its index counts {4 * total}"
            raise integrity.DamagedFileError(f"{sr} Hz audio cache {str(samples)!r} {state}; rebuild it: {fix}")
        self.samples = (
            np.memmap(samples, dtype=np.float32, mode="r", shape=(total,)) if total else np.zeros(0, np.float32)
        )

    def __len__(self) -> int:
        return len(self.clip_ids)

    def __contains__(self, clip_id: str) -> bool:
        return clip_id in self._pos

    def n_samples(self, clip_id: str) -> int:
        return int(self.lengths[self._index(clip_id)])

    def _index(self, clip_id: str) -> int:
        try:
            return self._pos[clip_id]
        except KeyError:
            raise ManifestError(f"clip {clip_id!r} is not in the {self.sr} Hz audio cache {str(self.dir)!r}") from None

    def get(self, clip_id: str) -> np.ndarray:
        """The clip's samples as a read-only memmap view, shape (n,)."""
        i = self._index(clip_id)
        o = int(self.offsets[i])
        return self.samples[o : o + int(self.lengths[i])]

    def window(self, clip_id: str, start: int, length: int) -> np.ndarray:
        """Samples ``[start, start + length)`` of a clip, zero-padded outside it.

        Returns
        -------
        y : np.ndarray [shape=(length,), dtype=float32]
        """
        y = self.get(clip_id)
        out = np.zeros(length, dtype=np.float32)
        lo, hi = max(start, 0), min(start + length, y.shape[0])
        if hi > lo:
            out[lo - start : hi - start] = y[lo:hi]
        return out


def _check_records(run_dir: str | Path, sr: int) -> str:
    """Check the cache's files against the prepare stage's records; return the rebuild command."""
    record = read_stage(run_dir)
    fix = rebuild_command(run_dir, record)
    if record is None:  # a cache written without a stage (tests, tools): only its own consistency is checked
        return fix
    if record.get("status") != "done":
        raise ManifestError(
            f"the prepare stage of {str(run_dir)!r} has not finished (stage.json status "
            f"{record.get('status')!r}: interrupted, or running now), so its audio caches cannot be trusted; "
            f"run {fix}"
        )
    files = record.get("files") or {}
    folder = cache_dir(run_dir, sr)
    for name in (INDEX_NAME, SAMPLES_NAME):
        rec = files.get(f"audio/{int(sr)}/{name}")
        if rec is not None:
            integrity.check(folder / name, rec, fix=fix, what=f"{sr} Hz audio cache")
    return fix


def _read_index(index: Path, fix: str) -> tuple[list[str], np.ndarray, np.ndarray, int]:
    """``(clip_ids, offsets, lengths, sr)`` of a cache index; a damaged index is named with the fix."""
    try:
        with np.load(index, allow_pickle=False) as z:
            ids = [str(c) for c in z["clip_ids"]]
            offsets, lengths, sr = z["offsets"].astype(np.int64), z["lengths"].astype(np.int64), int(z["sr"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise integrity.DamagedFileError(
            f"audio cache index {str(index)!r} is damaged ({type(exc).__name__}); rebuild it: {fix}"
        ) from None
    if not (len(ids) == offsets.shape[0] == lengths.shape[0]) or (lengths < 0).any():
        raise integrity.DamagedFileError(f"audio cache index {str(index)!r} is inconsistent; rebuild it: {fix}")
    return ids, offsets, lengths, sr


def available_rates(run_dir: str | Path) -> list[int]:
    """Rates of the caches a run directory holds (those with an index).

    Parameters
    ----------
    run_dir : path

    Returns
    -------
    rates : list of int
        Sorted.
    """
    root = RunLayout(run_dir).audio_root
    if not root.is_dir():
        return []
    return sorted(int(p.name) for p in root.iterdir() if p.name.isdigit() and (p / INDEX_NAME).is_file())
