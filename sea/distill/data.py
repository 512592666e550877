"""Distillation data: 1-s 8 kHz windows aligned with the teacher frames, their targets, the split and the batches.

Alignment. Teacher frame ``i`` of a clip covers ``[i * hop_length - frame_len // 2, ... + frame_len)`` samples of the
original signal at 48 kHz (openl3 framing, ``center=True``; see :mod:`sea.framing`). The same rule at 8 kHz gives the
student window of the same time span, so row ``r`` of the frame store pairs the 8 kHz window at
``frames[r] * int(hop_size * 8000) - 4000`` (zero-padded outside the clip) with target row ``r``.

Memory is bounded by the batch: windows are sliced out of the memory-mapped audio cache and targets read from the
memory-mapped target shards row by row; only the int64 row indices of the split live in RAM.

Order. The training rows of epoch ``e`` are ``default_rng([seed, 1, e]).permutation(train_rows)``: a pure function of
``(seed, epoch)``, so a resumed run sees exactly the batches an uninterrupted one would. Under torchrun the global
batch ``b`` is split as ``batch[rank::world]``.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ..constants import STUDENT_SR
from ..errors import ConfigError, ManifestError
from ..layout import RunLayout
from ..splits import grouped_holdout

__all__ = [
    "STUDENT_SR",
    "WaitClock",
    "WindowSource",
    "epoch_batches",
    "group_labels",
    "prefetch",
    "split_rows",
    "val_batches",
]


class WindowSource:
    """``rows -> (audio [b, 8000] float32, targets [b, d] float32)`` for frame-store rows.

    Parameters
    ----------
    run_dir : path
    targets : TargetsReader
        Row-aligned with its frame store.
    """

    def __init__(self, run_dir: str | Path, targets):
        from ..cache import AudioCache
        from ..framing import hop_length_for

        self.targets = targets
        store = targets.store
        meta = store.meta or {}
        teacher = meta.get("teacher") if isinstance(meta.get("teacher"), dict) else {}
        hop_size = float(meta.get("hop_size", teacher.get("hop_size", 0.1)))
        center = bool(meta.get("center", teacher.get("center", True)))
        frame_size = float(meta.get("frame_size", teacher.get("frame_size", 1.0)))
        self.window_length = int(round(frame_size * STUDENT_SR))
        if self.window_length != STUDENT_SR:
            raise ManifestError(
                f"the teacher store {str(store.dir)!r} uses frame_size={frame_size} s; students take 1-s windows, "
                "so re-extract the teacher with frame_size 1.0"
            )
        self.cache = AudioCache(run_dir, STUDENT_SR)
        clip_ids = np.asarray(store.clip_ids).astype(str)
        uniq, inverse = np.unique(clip_ids, return_inverse=True)
        missing = [c for c in uniq.tolist() if c not in self.cache]
        if missing:
            raise ManifestError(
                f"{len(missing)} clip(s) of the teacher store are not in the {STUDENT_SR} Hz audio cache "
                f"(e.g. {missing[:3]}); rebuild it with 'sea data prepare ... --cache-srs 48000 {STUDENT_SR}'"
            )
        pos = np.asarray([self.cache._index(c) for c in uniq.tolist()], dtype=np.int64)
        code = pos[inverse.reshape(-1)]
        self.clip_ids = clip_ids
        self.row_offset = self.cache.offsets[code]  # start of the row's clip in samples.f32
        self.row_length = self.cache.lengths[code]
        hop_length = hop_length_for(hop_size, STUDENT_SR)
        self.row_start = np.asarray(store.frames, dtype=np.int64) * hop_length - (
            self.window_length // 2 if center else 0
        )
        self.n_rows = int(clip_ids.shape[0])
        self.dim = int(targets.dim)
        self.framing = {"hop_size": hop_size, "center": center, "frame_size": frame_size, "sr": STUDENT_SR}

    def audio(self, rows: np.ndarray) -> np.ndarray:
        """Zero-padded windows of ``rows``, float32 [b, 8000]."""
        w = self.window_length
        out = np.zeros((rows.shape[0], w), dtype=np.float32)
        samples = self.cache.samples
        for i, r in enumerate(rows.tolist()):
            s, n, o = int(self.row_start[r]), int(self.row_length[r]), int(self.row_offset[r])
            lo, hi = max(s, 0), min(s + w, n)
            if hi > lo:
                out[i, lo - s : hi - s] = samples[o + lo : o + hi]
        return out

    def __call__(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the windows and targets of ``rows`` (audio [b, 8000] float32, targets [b, d] float32)."""
        rows = np.asarray(rows, dtype=np.int64)
        return self.audio(rows), self.targets.read(rows)


def group_labels(run_dir: str | Path, clip_ids: np.ndarray, val_by: str) -> np.ndarray:
    """Label each row with its held-out group: the clip id, or the clip's manifest field / meta key ``val_by``.

    Parameters
    ----------
    run_dir : path
        The run (its manifest is read unless ``val_by`` is ``"clip"``).
    clip_ids : np.ndarray [shape=(n,)]
        The clip of each frame-store row.
    val_by : str
        ``"clip"``, a manifest field (``fold``, ``split``, ``label``...) or a key of the clips' ``meta``.

    Returns
    -------
    groups : np.ndarray [shape=(n,), dtype=str]
    """
    if val_by == "clip":
        return np.asarray(clip_ids).astype(str)
    from ..manifest import read_manifest

    manifest = RunLayout(run_dir).manifest
    if not manifest.is_file():
        raise ConfigError(f"DistillConfig.val_by={val_by!r} needs {str(manifest)!r}; use val_by 'clip'")
    records = {r.clip_id: r for r in read_manifest(run_dir)}
    uniq, inverse = np.unique(np.asarray(clip_ids).astype(str), return_inverse=True)
    labels, keys = [], set()
    for c in uniq.tolist():
        rec = records.get(c)
        if rec is None:
            raise ManifestError(f"clip {c!r} of the teacher store is not in clips.jsonl; re-run 'sea teacher extract'")
        meta = dict(rec.meta or {})
        keys.update(meta)
        if val_by in meta and meta[val_by] is not None:
            labels.append(str(meta[val_by]))
        elif val_by != "meta" and getattr(rec, val_by, None) is not None and not isinstance(getattr(rec, val_by), dict):
            labels.append(str(getattr(rec, val_by)))
        else:
            fields = [k for k in ("fold", "split", "label") if getattr(rec, k, None) is not None]
            raise ConfigError(
                f"DistillConfig.val_by={val_by!r}: clip {c!r} has no such field or meta key; choose 'clip' or one of "
                f"{', '.join(sorted(set(fields) | keys)) or 'none'}"
            )
    return np.asarray(labels)[inverse.reshape(-1)]


def split_rows(groups: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split frame-store rows by group (see :func:`sea.splits.grouped_holdout`).

    Parameters
    ----------
    groups : np.ndarray [shape=(n,)]
        The group of each row (:func:`group_labels`).
    fraction : float in [0, 1)
        Share of the groups held out: at least one and never all, when there are two or more.
    seed : int
        The run's seed (the groups are permuted with ``default_rng([seed, 0])``).

    Returns
    -------
    train_rows, val_rows : np.ndarray [shape=(n_train,), (n_val,), dtype=int64]
        Sorted row indices; no group on both sides.
    """
    is_val = grouped_holdout(groups, fraction, [seed, 0])
    return np.flatnonzero(~is_val).astype(np.int64), np.flatnonzero(is_val).astype(np.int64)


def epoch_batches(
    train_rows: np.ndarray,
    *,
    seed: int,
    epoch: int,
    batch_size: int,
    rank: int = 0,
    world: int = 1,
    max_steps: int = 0,
    min_local: int = 1,
) -> list[np.ndarray]:
    """Cut this rank's batches of epoch ``epoch``: a seeded permutation in global batches, each split ``[rank::world]``.

    A trailing global batch is trimmed to a multiple of ``world`` and dropped when a rank would get fewer than
    ``min_local`` rows, so every rank runs the same number of steps.

    Parameters
    ----------
    train_rows : np.ndarray [shape=(n,), dtype=int64]
    seed, epoch : int
        The order is ``default_rng([seed, 1, epoch]).permutation(train_rows)``: a resumed run repeats it.
    batch_size : int > 0
        The global batch, over all ranks.
    rank, world : int
        This rank and the number of ranks.
    max_steps : int >= 0
        At most this many batches (0: a full pass).
    min_local : int > 0
        The smallest batch a rank may get.

    Returns
    -------
    batches : list of np.ndarray [shape=(b,), dtype=int64]
    """
    perm = np.random.default_rng([seed, 1, epoch]).permutation(train_rows)
    out = []
    for a in range(0, perm.size, batch_size):
        b = perm[a : a + batch_size]
        b = b[: b.size - b.size % world]
        if b.size // world < min_local:
            continue
        out.append(b[rank::world])
        if max_steps and len(out) >= max_steps:
            break
    return out


def val_batches(val_rows: np.ndarray, *, batch_size: int, rank: int = 0, world: int = 1) -> list[np.ndarray]:
    """Cut this rank's share ``val_rows[rank::world]`` into fixed batches (the last may be short)."""
    mine = val_rows[rank::world]
    local = max(1, batch_size // world)
    return [mine[a : a + local] for a in range(0, mine.size, local)]


def prefetch(
    fn: Callable[[np.ndarray], Any], items: Sequence[np.ndarray], *, num_workers: int, depth: int
) -> Iterator[Any]:
    """Yield ``fn(item)`` for ``items`` in order, computed up to ``depth`` items ahead by ``num_workers`` threads.

    ``num_workers == 0`` computes each item on demand in the caller's thread. Results keep the order of
    ``items`` whatever the thread timing, so training stays deterministic. numpy slicing and memmap reads release
    the GIL, so the threads overlap with the trainer's torch ops.
    """
    if num_workers <= 0:
        for it in items:
            yield fn(it)
        return
    with ThreadPoolExecutor(max_workers=num_workers, thread_name_prefix="sea-distill-data") as pool:
        pending: queue.SimpleQueue = queue.SimpleQueue()
        n_ahead = 0
        it = iter(items)

        def submit() -> bool:
            try:
                item = next(it)
            except StopIteration:
                return False
            pending.put(pool.submit(fn, item))
            return True

        try:
            while n_ahead < depth and submit():
                n_ahead += 1
            while n_ahead:
                fut = pending.get()
                n_ahead -= 1
                result = fut.result()
                if submit():
                    n_ahead += 1
                yield result
        finally:
            while not pending.empty():
                pending.get().cancel()


class WaitClock:
    """Accumulates the seconds the trainer waits for its next batch."""

    def __init__(self):
        self.wait = 0.0
        self.n = 0

    def wrap(self, iterator: Iterator[Any]) -> Iterator[Any]:
        """Yield the items of ``iterator``, adding the time spent waiting for each to :attr:`wait`."""
        while True:
            t0 = time.perf_counter()
            try:
                item = next(iterator)
            except StopIteration:
                return
            self.wait += time.perf_counter() - t0
            self.n += 1
            yield item
