"""Packed, memory-mappable audio caches, one per sample rate.

Layout under a run directory::

    audio/<sr>/samples.f32   every clip's mono float32 samples, back to back
    audio/<sr>/index.npz     clip_ids [n] (str), offsets [n] (int64), lengths [n] (int64)

Later stages cut 1-s windows straight from the memmap without decoding again,
and memory stays bounded by the window batch, not by the dataset.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import ManifestError, ParameterError
from .utils import atomic_path

SAMPLES_NAME = "samples.f32"
INDEX_NAME = "index.npz"

__all__ = ["AudioCache", "CacheWriter", "cache_dir"]


def cache_dir(run_dir: str | Path, sr: int) -> Path:
    return Path(run_dir) / "audio" / str(int(sr))


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
    """Read-only view of one sample rate's cache.

    Parameters
    ----------
    run_dir : path
    sr : int
        The cached rate, e.g. 48000 (teacher) or 8000 (students).
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
        with np.load(index, allow_pickle=False) as z:
            self.clip_ids = [str(c) for c in z["clip_ids"]]
            self.offsets = z["offsets"].astype(np.int64)
            self.lengths = z["lengths"].astype(np.int64)
            self.sr = int(z["sr"])
        self._pos = {c: i for i, c in enumerate(self.clip_ids)}
        total = int(self.lengths.sum())
        self.samples = (
            np.memmap(self.dir / SAMPLES_NAME, dtype=np.float32, mode="r", shape=(total,))
            if total
            else np.zeros(0, np.float32)
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


def available_rates(run_dir: str | Path) -> list[int]:
    root = Path(run_dir) / "audio"
    if not root.is_dir():
        return []
    return sorted(int(p.name) for p in root.iterdir() if p.name.isdigit() and (p / INDEX_NAME).is_file())
