"""What the targets stage reads of the teacher stage: its frame store and the framing it used."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..constants import TEACHER_SR
from ..errors import ConfigError, ManifestError
from ..layout import RunLayout
from ..progress import progress
from ..store import FrameStore

__all__ = [
    "StoreRows",
    "audio_params",
    "open_store",
    "read_batches",
    "read_rows",
    "resolve_teacher_dir",
    "teacher_identity",
]


def resolve_teacher_dir(run_dir: str | Path, teacher: str = "auto") -> Path:
    """Find the teacher frame store ``RUN/teacher/<variant>``.

    Parameters
    ----------
    run_dir : path
        The run directory.
    teacher : str
        A variant name, or ``auto`` for the only variant there.

    Returns
    -------
    teacher_dir : Path
        ``RUN/teacher/<variant>``.

    Raises
    ------
    ManifestError
        When the variant (or any store, for ``auto``) does not exist.
    ConfigError
        When ``auto`` finds several variants.
    """
    root = RunLayout(run_dir).teacher_root
    if teacher != "auto":
        d = RunLayout(run_dir).teacher(teacher)
        if not d.is_dir():
            have = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
            raise ManifestError(
                f"teacher store {str(d)!r} does not exist (available: {have or 'none'}); run 'sea teacher extract' first"
            )
        return d
    variants = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not variants:
        raise ManifestError(f"no teacher frame store under {str(root)!r}; run 'sea teacher extract {run_dir}' first")
    if len(variants) > 1:
        raise ConfigError(
            f"several teacher stores under {str(root)!r} ({', '.join(p.name for p in variants)}); pass --teacher NAME"
        )
    return variants[0]


def open_store(teacher_dir: Path) -> FrameStore:
    """Open the frame store in ``teacher_dir`` for reading."""
    return FrameStore(teacher_dir)


def teacher_identity(store: FrameStore, teacher_dir: Path) -> dict[str, Any]:
    """The teacher a frame store was extracted with, for reports: ``variant`` plus the store's ``teacher`` record.

    Parameters
    ----------
    store : FrameStore
        The teacher frame store.
    teacher_dir : Path
        Its directory (``RUN/teacher/<variant>``).

    Returns
    -------
    teacher : dict
        ``variant`` and whatever ``store.json`` records (family, name, sr, window_size, weights,
        weights_sha256, untrained...).
    """
    recorded = getattr(store, "teacher", None)
    if not isinstance(recorded, dict):
        recorded = (store.meta or {}).get("teacher")
    return {"variant": teacher_dir.name, **(recorded if isinstance(recorded, dict) else {})}


def read_rows(store: FrameStore, rows: np.ndarray) -> np.ndarray:
    """Read store rows as float32 [k, D]; a NaN/Inf frame stops the read.

    Parameters
    ----------
    store : FrameStore
        The teacher frame store.
    rows : np.ndarray [shape=(k,), dtype=int64]
        Store rows, any order.

    Returns
    -------
    emb : np.ndarray [shape=(k, D), dtype=float32]
        The rows, in the order of ``rows``.

    Raises
    ------
    ManifestError
        On a NaN or Inf value (:meth:`sea.store.FrameStore.read` names the shard, the row, the clip, the
        frame and the fix), e.g. a shard altered where its sampled hash does not look.
    """
    emb = store.read(rows)
    if not np.isfinite(emb).all():  # FrameStore.read checks; this guards a reader that does not
        row = int(np.asarray(rows).reshape(-1)[int(np.argmin(np.isfinite(emb).all(axis=1)))])
        raise ManifestError(
            f"teacher frame store {str(store.dir)!r}: row {row} (clip {str(store.clip_ids[row])!r}, frame "
            f"{int(store.frames[row])}) is NaN or Inf; re-extract the teacher frames ('sea teacher extract RUN_DIR "
            "--overwrite')"
        )
    return emb


def audio_params(meta: dict[str, Any]) -> dict[str, Any]:
    """Return the framing the teacher used, from the store's meta (openl3's defaults otherwise).

    Parameters
    ----------
    meta : dict
        The store's ``store.json`` content (:attr:`sea.store.FrameStore.meta`).

    Returns
    -------
    params : dict
        ``sr`` (Hz), ``hop_size`` (s), ``center`` and ``frame_size`` (s: the teacher's window, e.g. 3 s
        for BirdNET).
    """
    teacher = meta.get("teacher") if isinstance(meta.get("teacher"), dict) else {}
    sr = meta.get("sr") or meta.get("audio_sr") or teacher.get("sr") or TEACHER_SR
    return {
        "sr": int(sr),
        "hop_size": float(meta.get("hop_size", teacher.get("hop_size", 0.1))),
        "center": bool(meta.get("center", teacher.get("center", True))),
        "frame_size": float(
            meta.get("frame_size", meta.get("window_size", teacher.get("window_size", teacher.get("frame_size", 1.0))))
        ),
    }


class StoreRows:
    """``rows[i]`` = store rows ``candidates[i]``: the DPP samplers' feature reader.

    Parameters
    ----------
    store : FrameStore
        The teacher frame store.
    candidates : np.ndarray [shape=(M,), dtype=int64]
        Store rows, in the order the sampler indexes them.
    """

    def __init__(self, store: FrameStore, candidates: np.ndarray):
        self.store, self.candidates = store, candidates

    def __len__(self) -> int:
        """Return the number of candidates ``M``."""
        return int(self.candidates.shape[0])

    def __getitem__(self, idx) -> np.ndarray:
        """Return the embeddings of candidates ``idx``, float32 [k, D], in the order of ``idx``."""
        # the store reads fastest in row order; the caller gets its own order back
        idx = np.asarray(idx, dtype=np.int64)
        order = np.argsort(idx, kind="stable")
        out = np.empty((idx.shape[0], self.store.dim), dtype=np.float32)
        out[order] = read_rows(self.store, self.candidates[idx[order]])
        return out


def read_batches(
    store: FrameStore, indices: np.ndarray, batch_size: int, desc: str | None = None
) -> Iterator[np.ndarray]:
    """Yield the store rows ``indices`` in batches of ``batch_size``, float32 [b, D].

    A progress bar is shown when ``desc`` is given; a NaN/Inf value stops the read (:func:`read_rows`).
    """
    chunks = range(0, indices.shape[0], batch_size)
    for i in progress(chunks, total=len(chunks), desc=desc, unit="batch") if desc else chunks:
        yield read_rows(store, indices[i : i + batch_size])
