"""Writing a run's teacher frame store: global frame plan, window batches, shards.

The internals of :mod:`sea.teacher.stage` (the teacher stage's entry point),
which documents the framing, order, shards and resume rules. Nothing here
knows the stage's config: the stage passes the values, among them the teacher's
rate and window (``FramePlan.sr``, ``FramePlan.window_size``).
"""

from __future__ import annotations

import functools
import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..cache import SAMPLES_NAME, AudioCache
from ..constants import TEACHER_SR, WINDOW_SIZE
from ..errors import AudioError, ManifestError, ParameterError, SeaError
from ..framing import frame_starts, n_frames
from ..store import ShardWriter

__all__ = [
    "FramePlan",
    "NonFiniteTeacherError",
    "SampleReader",
    "embed_shard",
    "make_plan",
    "run_model",
    "shard_len",
    "window_batches",
]


class NonFiniteTeacherError(SeaError):
    """The teacher returned NaN or Inf for a window: the stage stops and names it."""


@dataclass
class FramePlan:
    """Global frame numbering: clips in manifest order, shards of ``shard_size`` frames."""

    clip_ids: list[str]
    counts: np.ndarray  # frames per clip, int64
    offsets: np.ndarray  # first global frame of each clip, int64 [n_clips + 1]
    n_samples: np.ndarray  # cached samples per clip, int64
    shard_size: int
    hop_size: float
    center: bool
    sr: int = TEACHER_SR  # the teacher's rate (and the cache's)
    window_size: float = WINDOW_SIZE  # the teacher's window in seconds

    @property
    def window_length(self) -> int:
        """Samples per window."""
        return int(round(self.window_size * self.sr))

    @property
    def n_frames(self) -> int:
        """Frames of all clips."""
        return int(self.offsets[-1])

    @functools.cached_property
    def id_array(self) -> np.ndarray:
        """Clip ids as a numpy string array (indexed by clip position)."""
        return np.asarray(self.clip_ids, dtype=str)

    @property
    def n_shards(self) -> int:
        """Shards of ``shard_size`` frames (the last may be short)."""
        return -(-self.n_frames // self.shard_size)

    def shard_range(self, k: int) -> tuple[int, int]:
        """Global frames ``[a, b)`` of shard ``k``."""
        return k * self.shard_size, min((k + 1) * self.shard_size, self.n_frames)

    def locate(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Locate global frames ``[a, b)``: clip position and frame within the clip of each."""
        g = np.arange(a, b, dtype=np.int64)
        pos = np.searchsorted(self.offsets, g, side="right") - 1
        return pos, g - self.offsets[pos]


def make_plan(
    clip_ids: list[str],
    cache: AudioCache,
    *,
    hop_size: float,
    center: bool,
    shard_size: int,
    sr: int = TEACHER_SR,
    window_size: float = WINDOW_SIZE,
) -> FramePlan:
    """Plan the global frame numbering of ``clip_ids`` (manifest order) in ``cache`` (the teacher's rate ``sr``).

    Raises
    ------
    ManifestError
        A clip is missing from the cache.
    AudioError
        A clip has no samples.
    """
    counts = np.empty(len(clip_ids), dtype=np.int64)
    lengths = np.empty(len(clip_ids), dtype=np.int64)
    for i, c in enumerate(clip_ids):
        if c not in cache:
            raise ManifestError(
                f"clip {c!r} of the manifest is not in the {sr} Hz audio cache {str(cache.dir)!r}; "
                "re-run 'sea data prepare' so the cache matches clips.jsonl"
            )
        n = lengths[i] = cache.n_samples(c)
        if n == 0:
            raise AudioError(
                f"clip {c!r} is empty (0 samples) in the {sr} Hz cache; a teacher cannot embed empty audio"
            )
        counts[i] = n_frames(n, sr, hop_size=hop_size, center=center, frame_size=window_size)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return FramePlan(
        list(clip_ids), counts, offsets, lengths, int(shard_size), float(hop_size), bool(center), int(sr),
        float(window_size),
    )  # fmt: skip


class SampleReader:
    """Positional reads of cached samples (``os.preadv`` into numpy buffers).

    Reading instead of slicing the cache's memmap keeps the audio out of this
    process's resident set: RSS stays bounded by the batch even for hour-long
    clips (the kernel's page cache still serves repeated reads).
    """

    def __init__(self, cache: AudioCache):
        self.cache = cache
        self._row = {c: i for i, c in enumerate(cache.clip_ids)}
        self._fd = os.open(cache.dir / SAMPLES_NAME, os.O_RDONLY) if int(cache.lengths.sum()) else None

    def read(self, clip_id: str, lo: int, hi: int, out: np.ndarray | None = None) -> np.ndarray:
        """Read samples ``[lo, hi)`` of a clip (inside it) as float32, into ``out`` if given."""
        i = self._row[clip_id]
        out = np.empty(hi - lo, dtype=np.float32) if out is None else out
        nbytes, offset = (hi - lo) * 4, (int(self.cache.offsets[i]) + lo) * 4
        view, got = memoryview(out).cast("B"), 0
        while got < nbytes:  # preadv may return short counts
            n = os.preadv(self._fd, [view[got:]], offset + got)
            if n <= 0:
                raise ManifestError(
                    f"the audio cache {str(self.cache.dir)!r} is truncated; rebuild it: sea data prepare ... --overwrite"
                )
            got += n
        return out

    def close(self) -> None:
        """Close the cache file."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def window_batches(reader: SampleReader, plan: FramePlan, a: int, b: int, batch_size: int) -> Iterator[np.ndarray]:
    """Float32 batches [<= batch_size, window_length] of the windows of global frames ``[a, b)``.

    Batches run across clip boundaries; only the last one may be short. Each
    batch reads every clip's span of samples once (zeros outside the clip) and
    slices its windows from it.
    """
    pos, frames = plan.locate(a, b)
    cur, starts = -1, np.zeros(0, np.int64)
    frame_len = plan.window_length
    for lo in range(0, b - a, batch_size):
        hi = min(lo + batch_size, b - a)
        buf = np.zeros((hi - lo, frame_len), dtype=np.float32)
        r0 = lo
        while r0 < hi:  # one run of rows per clip
            p = int(pos[r0])
            r1 = r0 + int(np.searchsorted(pos[r0:hi], p, side="right"))
            clip = plan.clip_ids[p]
            n = int(plan.n_samples[p])
            if p != cur:
                cur, starts = (
                    p,
                    frame_starts(n, plan.sr, hop_size=plan.hop_size, center=plan.center, frame_size=plan.window_size),
                )
            s = starts[frames[r0:r1]]
            span_lo, span_hi = max(int(s[0]), 0), min(int(s[-1]) + frame_len, n)
            dense = span_hi - span_lo <= 2 * (r1 - r0) * frame_len  # else (hop > 2 windows) read window by window
            seg = reader.read(clip, span_lo, span_hi) if dense and span_hi > span_lo else None
            for j, sj in zip(range(r0, r1), s.tolist()):
                w0, w1 = max(sj, 0), min(sj + frame_len, n)
                if w1 <= w0:
                    continue
                if seg is not None:
                    buf[j - lo, w0 - sj : w1 - sj] = seg[w0 - span_lo : w1 - span_lo]
                else:
                    reader.read(clip, w0, w1, out=buf[j - lo, w0 - sj : w1 - sj])
            r0 = r1
        yield buf


def _prefetch(batches: Iterator[np.ndarray], depth: int = 2) -> Iterator[np.ndarray]:
    """Run a batch producer in a thread, ``depth`` batches ahead (overlaps reads with the model)."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in batches:
                if not put(item):
                    return
            put(end)
        except BaseException as exc:  # handed to the consumer
            put(_Failure(exc))

    t = threading.Thread(target=work, name="sea-teacher-windows", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is end:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()
        t.join()


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


def run_model(teacher, batch: np.ndarray) -> np.ndarray:
    """Embed a float32 batch of windows [B, window_length] with a registry teacher; float32 [B, D].

    Raises
    ------
    ParameterError
        The teacher returned something other than ``[B, D]``.
    """
    y = np.asarray(teacher(batch))
    if y.ndim != 2 or y.shape[0] != batch.shape[0]:
        raise ParameterError(
            f"the teacher must map [B, {batch.shape[1]}] to [B, D]; for B={batch.shape[0]} it returned {y.shape}"
        )
    return y.astype(np.float32, copy=False)


def _check_finite(emb: np.ndarray, plan: FramePlan, first: int) -> None:
    """Stop on a non-finite embedding, naming the clip and frame of the first bad row (global frame ``first`` + row)."""
    bad = ~np.isfinite(emb).all(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        pos, frames = plan.locate(first + row, first + row + 1)
        raise NonFiniteTeacherError(
            f"the teacher returned NaN/Inf for clip {plan.clip_ids[int(pos[0])]!r} frame {int(frames[0])} "
            f"(t = {int(frames[0]) * plan.hop_size:g} s; {int(bad.sum())} bad window(s) in this batch); check that "
            "clip's audio and the teacher's weights, then rerun 'sea teacher extract' (finished shards are kept)"
        )


def shard_len(plan: FramePlan, k: int) -> int:
    """Frames in shard ``k``."""
    a, b = plan.shard_range(k)
    return b - a


def embed_shard(
    k: int,
    plan: FramePlan,
    reader: SampleReader,
    teacher,
    out: Path,
    *,
    batch_size: int,
    dtype: str,
    bar,
) -> None:
    """Embed the frames of shard ``k`` in batches of ``batch_size`` and commit it (``dtype`` on disk).

    The shard is written atomically: on any error its partial files are removed.

    Raises
    ------
    NonFiniteTeacherError
        A window embedded to NaN or Inf (the message names the clip and frame).
    """
    a, b = plan.shard_range(k)
    writer: ShardWriter | None = None
    row = 0
    batches = _prefetch(window_batches(reader, plan, a, b, batch_size))
    try:
        for batch in batches:
            emb = run_model(teacher, batch)
            _check_finite(emb, plan, a + row)
            if writer is None:
                writer = ShardWriter(out, k, b - a, emb.shape[1], dtype)
            writer.write(row, emb)
            row += batch.shape[0]
            if bar is not None:
                bar.update(batch.shape[0])
        pos, frames = plan.locate(a, b)
        writer.commit(plan.id_array[pos], frames, frames * plan.hop_size)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        batches.close()  # stops the producer thread now, not at garbage collection
