"""Distillation data: student windows aligned with the teacher frames, their targets, the split and the batches.

Windows of any length. The teacher's window is the span the student sees: the frame store records it
(``teacher.window_size``: 1 s for OpenL3 and edgel3, 3 s for BirdNET), and row ``r`` of the store pairs the window
of that length at the student's rate ``sr`` (8 kHz by default) at the frame's timestamp with target row ``r``: it
starts at ``round(timestamps[r] * sr) - window_length // 2`` for centred framing (openl3's ``center=True``:
timestamps are window centres) and at ``round(timestamps[r] * sr)`` otherwise; outside the clip it is zero-padded.

Memory is bounded by the batch: windows are sliced out of the memory-mapped audio cache and targets read from the
memory-mapped target shards row by row; only the int64 row indices of the split live in RAM.

Order. The training rows of epoch ``e`` are ``default_rng([seed, 1, e]).permutation(train_rows)``: a pure function of
``(seed, epoch)``, so a resumed run sees exactly the batches an uninterrupted one would. Under torchrun the global
batch ``b`` is split as ``batch[rank::world]``. Optional time shifts of the training windows are a hash of
``(seed, epoch, row)``, so they too repeat on resume and do not depend on the rank; so are the mixup partners,
weights and choices (:meth:`WindowSource.batch`), which only an online teacher can label.

Every batch is checked: a non-finite sample or target stops the run naming the file, the row, the clip and the frame.
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
    "RECORDING_KEYS",
    "STUDENT_SR",
    "WaitClock",
    "WindowSource",
    "epoch_batches",
    "group_labels",
    "prefetch",
    "row_hash",
    "row_uniform",
    "row_shifts",
    "spec_masks",
    "split_rows",
    "teacher_framing",
    "val_batches",
]

#: Clip meta keys naming the recording a clip was cut from, in order of preference (``val_by: group``): the
#: manifest's ``group``, UrbanSound8K's ``fsID``, ESC-50's ``src_file``.
RECORDING_KEYS = ("group", "fsID", "src_file")


def teacher_framing(store: Any) -> dict[str, Any]:
    """The teacher's framing as a frame store records it.

    Parameters
    ----------
    store : FrameStore

    Returns
    -------
    framing : dict
        ``window_size`` (seconds; the teacher identity's ``window_size``, else ``frame_size``, else 1.0),
        ``hop_size`` (seconds), ``center`` (bool) and ``teacher`` (the store's teacher identity, a dict).
    """
    meta = store.meta or {}
    teacher = getattr(store, "teacher", None)
    if not isinstance(teacher, dict):
        teacher = meta.get("teacher") if isinstance(meta.get("teacher"), dict) else {}

    def pick(key: str, default: Any) -> Any:
        for src in (teacher, meta):
            if src.get(key) is not None:
                return src[key]
        return default

    window = teacher.get("window_size", meta.get("window_size", meta.get("frame_size", 1.0)))
    return {
        "window_size": float(window if window is not None else 1.0),
        "hop_size": float(pick("hop_size", 0.1)),
        "center": bool(pick("center", True)),
        "teacher": dict(teacher),
    }


class WindowSource:
    """``rows -> (audio [b, window_length] float32, targets [b, d] float32)`` for frame-store rows.

    Parameters
    ----------
    run_dir : path
    targets : TargetsReader
        Row-aligned with its frame store.
    time_shift : float
        Largest shift in seconds of a training window against its teacher frame (:meth:`batch`); 0 = none.
    seed : int
        Seed of the shifts and of the mixup draws.
    mixup : float in [0, 1]
        Share of training windows (:meth:`batch`) mixed with a window of ``mix_rows``; 0 = none.
    mix_rows : np.ndarray [shape=(n,), dtype=int64], optional
        The rows mixup partners are drawn from (the training rows: a held-out window never leaks into training).
    speed : float in [0, 0.5]
        Largest log speed factor of a training window (:meth:`batch`); 0 = none.
    tilt : float in [0, 1)
        Largest spectral tilt coefficient of a training window; 0 = none.
    gain : float in [0, 40]
        Largest level change of a training window in dB; 0 = none.
    sr : int
        The student's rate: windows are cut from the run's audio cache at this rate (8 kHz, SEA's, by default).
    """

    def __init__(self, run_dir: str | Path, targets, *, time_shift: float = 0.0, seed: int = 0, mixup: float = 0.0,
                 mix_rows: np.ndarray | None = None, speed: float = 0.0, tilt: float = 0.0,
                 gain: float = 0.0, sr: int = STUDENT_SR):  # fmt: skip
        from ..cache import AudioCache

        self.sr = sr = int(sr)
        self.targets = targets
        store = targets.store
        framing = teacher_framing(store)
        self.window_size = framing["window_size"]
        self.window_length = int(round(self.window_size * sr))
        if self.window_length < 1 or abs(self.window_length - self.window_size * sr) > 1e-6:
            raise ManifestError(
                f"the teacher store {str(store.dir)!r} records window_size={self.window_size} s, not a whole number "
                f"of samples at {sr} Hz; re-extract the teacher with a window of whole 1/{sr} s"
            )
        self.cache = AudioCache(run_dir, sr)
        clip_ids = np.asarray(store.clip_ids).astype(str)
        uniq, inverse = np.unique(clip_ids, return_inverse=True)
        missing = [c for c in uniq.tolist() if c not in self.cache]
        if missing:
            raise ManifestError(
                f"{len(missing)} clip(s) of the teacher store are not in the {sr} Hz audio cache "
                f"(e.g. {missing[:3]}); rebuild it with 'sea data prepare ... --cache-srs 48000,{sr}'"
            )
        pos = np.asarray([self.cache._index(c) for c in uniq.tolist()], dtype=np.int64)
        code = pos[inverse.reshape(-1)]
        self.run_dir = Path(run_dir)
        self.clip_ids = clip_ids
        self.row_offset = self.cache.offsets[code]  # start of the row's clip in samples.f32
        self.row_length = self.cache.lengths[code]
        offset = self.window_length // 2 if framing["center"] else 0
        self.row_start = np.rint(np.asarray(store.timestamps, dtype=np.float64) * sr).astype(np.int64) - offset
        self.n_rows = int(clip_ids.shape[0])
        self.dim = int(targets.dim)
        self.seed = int(seed)
        self.max_shift = int(round(float(time_shift) * sr))
        self.mixup, self.speed, self.tilt, self.gain = float(mixup), float(speed), float(tilt), float(gain)
        self.mix_rows = np.zeros(0, dtype=np.int64) if mix_rows is None else np.asarray(mix_rows, dtype=np.int64)
        self.framing = {
            "hop_size": framing["hop_size"],
            "center": framing["center"],
            "frame_size": self.window_size,
            "window_size": self.window_size,
            "sr": sr,
        }

    def audio(self, rows: np.ndarray, shifts: np.ndarray | None = None) -> np.ndarray:
        """Zero-padded windows of ``rows``, float32 [b, window_length], each moved by ``shifts`` samples if given."""
        w = self.window_length
        out = np.zeros((rows.shape[0], w), dtype=np.float32)
        samples = self.cache.samples
        starts = self.row_start[rows] + (0 if shifts is None else shifts)
        for i, r in enumerate(rows.tolist()):
            s, n, o = int(starts[i]), int(self.row_length[r]), int(self.row_offset[r])
            lo, hi = max(s, 0), min(s + w, n)
            if hi > lo:
                out[i, lo - s : hi - s] = samples[o + lo : o + hi]
        return out

    def __call__(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the windows and targets of ``rows`` (audio [b, window_length] float32, targets [b, d] float32)."""
        return self._checked(np.asarray(rows, dtype=np.int64), None)

    def batch(self, rows: np.ndarray, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """Training windows and targets of ``rows`` in epoch ``epoch``: shifted by :func:`row_shifts` if enabled, then
        played at another speed, mixed, tilted and scaled when those augmentations are on.

        * Speed: window ``i`` is read over ``round(L f_i)`` samples around its centre and resampled to ``L``
          (linear interpolation), ``f_i = exp(u)``, ``u`` uniform in ``[-speed, speed]``.
        * Mixing: window ``i`` becomes ``(1 - w) a_i + w b_i`` with ``b_i`` another (shifted) training window and
          ``w`` uniform in [0, 1), for a share ``mixup`` of the rows.
        * Tilt: ``y[n] = x[n] - c x[n-1]``, ``c`` uniform in ``[-tilt, tilt]``.
        * Gain: ``y = 10^(g / 20) x``, ``g`` uniform in ``[-gain, gain]`` dB.

        Every draw is a hash of ``(seed, epoch, row)`` like the shifts. An augmented window's stored target is not
        its teacher's: only an online teacher (``DistillConfig.online_teacher``) labels it.
        """
        rows = np.asarray(rows, dtype=np.int64)
        shifts = row_shifts(rows, self.seed, epoch, self.max_shift) if self.max_shift else None
        factors = None
        if self.speed > 0:
            factors = np.exp((2 * row_uniform(rows, self.seed, epoch, 5) - 1) * self.speed)
        audio, targets = self._checked(rows, shifts, factors)
        if self.mixup > 0 and self.mix_rows.size:
            draw = [row_hash(rows, self.seed, epoch, salt) for salt in (1, 2)]
            partners = self.mix_rows[(draw[0] % np.uint64(self.mix_rows.size)).astype(np.int64)]
            p_shifts = (draw[1] % np.uint64(2 * self.max_shift + 1)).astype(np.int64) - self.max_shift
            weight = row_uniform(rows, self.seed, epoch, 3)
            chosen = row_uniform(rows, self.seed, epoch, 4) < self.mixup
            w = (weight * chosen).astype(np.float32)[:, None]
            audio = (1 - w) * audio + w * self._checked(partners, p_shifts)[0]
        if self.tilt > 0:
            c = ((2 * row_uniform(rows, self.seed, epoch, 6) - 1) * self.tilt).astype(np.float32)[:, None]
            audio = np.concatenate([audio[:, :1], audio[:, 1:] - c * audio[:, :-1]], axis=1)
        if self.gain > 0:
            g = (2 * row_uniform(rows, self.seed, epoch, 7) - 1) * self.gain
            audio = audio * (10.0 ** (g / 20.0)).astype(np.float32)[:, None]
        return audio, targets

    def _stretched(self, rows: np.ndarray, shifts: np.ndarray | None, factors: np.ndarray) -> np.ndarray:
        """Windows of ``rows`` read over ``round(L * factor)`` samples around their centres, resampled to ``L``."""
        w = self.window_length
        out = np.empty((rows.shape[0], w), dtype=np.float32)
        samples = self.cache.samples
        starts = self.row_start[rows] + (0 if shifts is None else shifts)
        for i, r in enumerate(rows.tolist()):
            n = max(2, int(round(w * float(factors[i]))))
            s = int(starts[i]) - (n - w) // 2
            ln, o = int(self.row_length[r]), int(self.row_offset[r])
            buf = np.zeros(n, dtype=np.float32)
            lo, hi = max(s, 0), min(s + n, ln)
            if hi > lo:
                buf[lo - s : hi - s] = samples[o + lo : o + hi]
            out[i] = np.interp(np.linspace(0.0, n - 1.0, w), np.arange(n, dtype=np.float64), buf)
        return out

    def _checked(
        self, rows: np.ndarray, shifts: np.ndarray | None, factors: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        audio = self.audio(rows, shifts) if factors is None else self._stretched(rows, shifts, factors)
        targets = self.targets.read(rows)
        if not np.isfinite(targets).all():
            raise self._non_finite(rows, targets, "target")
        if not np.isfinite(audio).all():
            raise self._non_finite(rows, audio, "audio")
        return audio, targets

    def _non_finite(self, rows: np.ndarray, values: np.ndarray, what: str) -> ManifestError:
        """One line naming the file, the store row, the clip and the frame of the first non-finite value."""
        i = int(np.flatnonzero(~np.isfinite(values).all(axis=1))[0])
        r = int(rows[i])
        store = self.targets.store
        where = f"row {r} (clip {str(self.clip_ids[r])!r}, frame {int(store.frames[r])})"
        run = self.run_dir
        if what == "audio":
            return ManifestError(
                f"non-finite audio in {str(self.cache.dir)!r} for {where}: the {self.sr} Hz cache is damaged; "
                f"rebuild it with 'sea data prepare ... {run} --overwrite' (or 'sea run CONFIG --overwrite prepare')"
            )
        if not np.isfinite(store.read([r])).all():
            k = int(np.searchsorted([s["start"] for s in store.shards], r, side="right") - 1)
            return ManifestError(
                f"non-finite teacher frame in {str(store.dir / store.shards[k]['emb'])!r} at {where}; rebuild it "
                f"with 'sea teacher extract {run} --overwrite' (or 'sea run CONFIG --overwrite teacher')"
            )
        return ManifestError(
            f"non-finite target in {str(RunLayout(run).targets(self.targets.name))!r} at {where} (the teacher frame "
            f"is finite); refit it with 'sea targets fit {run} --overwrite' (or 'sea run CONFIG --overwrite targets')"
        )


def row_shifts(rows: np.ndarray, seed: int, epoch: int, max_shift: int) -> np.ndarray:
    """Shift of each row's window in samples, uniform in ``[-max_shift, max_shift]``, a hash of (seed, epoch, row).

    Parameters
    ----------
    rows : np.ndarray [shape=(b,), dtype=int64]
    seed, epoch : int
    max_shift : int >= 0

    Returns
    -------
    shifts : np.ndarray [shape=(b,), dtype=int64]
        The same for a row whatever the batch, the rank or the session it is drawn in.
    """
    if max_shift <= 0:
        return np.zeros(len(rows), dtype=np.int64)
    return (row_hash(rows, seed, epoch) % np.uint64(2 * max_shift + 1)).astype(np.int64) - max_shift


def row_hash(rows: np.ndarray, seed: int, epoch: int, salt: int = 0) -> np.ndarray:
    """A 64-bit hash of ``(seed, epoch, salt, row)`` per row (splitmix64's finaliser): a draw that repeats on resume.

    Parameters
    ----------
    rows : np.ndarray [shape=(b,), dtype=int64]
    seed, epoch : int
    salt : int
        Separates independent draws of one row (0: the time shift).

    Returns
    -------
    h : np.ndarray [shape=(b,), dtype=uint64]
    """
    mask = (1 << 64) - 1
    key = (int(seed) * 0x9E3779B97F4A7C15 + int(epoch) * 0xBF58476D1CE4E5B9 + 0x632BE59BD9B4E019
           + int(salt) * 0xD6E8FEB86659FD93) & mask  # fmt: skip
    with np.errstate(over="ignore"):
        x = np.asarray(rows, dtype=np.uint64) ^ np.uint64(key)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def row_uniform(rows: np.ndarray, seed: int, epoch: int, salt: int) -> np.ndarray:
    """A uniform draw in [0, 1) per row from :func:`row_hash` (its top 53 bits: every float64 step exactly).

    Returns
    -------
    u : np.ndarray [shape=(b,), dtype=float64]
    """
    return (row_hash(rows, seed, epoch, salt) >> np.uint64(11)).astype(np.float64) / 2.0**53


def spec_masks(
    rows: np.ndarray, seed: int, epoch: int, n_bands: int, n_frames: int, freq_mask: int, time_mask: float
) -> np.ndarray:
    """SpecAugment's masks of the training windows ``rows`` in ``epoch``: one band and one span each, hidden.

    Widths are uniform in ``[0, freq_mask]`` bands and ``[0, time_mask * n_frames]`` frames, positions uniform where
    they fit; every draw is a hash of ``(seed, epoch, row)`` (salts 8-11), so a resumed run repeats them.

    Parameters
    ----------
    rows : np.ndarray [shape=(b,), dtype=int64]
    seed, epoch : int
    n_bands, n_frames : int
        Shape of one window's features.
    freq_mask : int
        Widest hidden band in mel bands (0 = none).
    time_mask : float
        Widest hidden span as a share of ``n_frames`` (0 = none).

    Returns
    -------
    hidden : np.ndarray [shape=(b, n_bands, n_frames), dtype=bool]
        True where a feature is hidden.
    """
    b = len(rows)
    hidden = np.zeros((b, n_bands, n_frames), dtype=bool)
    # + 1e-9: a share that lands on a whole frame count in decimal (0.29 x 100) may fall just short of it in binary
    for salt, size, widest, axis in ((8, n_bands, freq_mask, 1), (10, n_frames, int(time_mask * n_frames + 1e-9), 2)):
        if widest <= 0:
            continue
        width = np.floor(row_uniform(rows, seed, epoch, salt) * (widest + 1)).astype(np.int64)
        start = np.floor(row_uniform(rows, seed, epoch, salt + 1) * (size - width + 1)).astype(np.int64)
        idx = np.arange(size)
        inside = (idx >= start[:, None]) & (idx < (start + width)[:, None])  # [b, size]
        hidden |= inside[:, :, None] if axis == 1 else inside[:, None, :]
    return hidden


def group_labels(run_dir: str | Path, clip_ids: np.ndarray, val_by: str) -> np.ndarray:
    """Label each row with its held-out group, so that near-duplicate frames never sit on both sides of the split.

    Parameters
    ----------
    run_dir : path
        The run (its manifest is read unless ``val_by`` is ``"clip"``).
    clip_ids : np.ndarray [shape=(n,)]
        The clip of each frame-store row.
    val_by : str
        ``"group"``: the recording the clip was cut from (the first of the clip's meta :data:`RECORDING_KEYS`
        present, else the clip itself); ``"clip"``; a manifest field (``fold``, ``split``, ``label``...) or a key
        of the clips' ``meta`` (``sensor_id``...).

    Returns
    -------
    groups : np.ndarray [shape=(n,), dtype=str]
    """
    clip_ids = np.asarray(clip_ids).astype(str)
    if val_by == "clip":
        return clip_ids
    from ..manifest import read_manifest

    manifest = RunLayout(run_dir).manifest
    if not manifest.is_file():
        if val_by == "group":
            return np.char.add("clip:", clip_ids)
        raise ConfigError(f"DistillConfig.val_by={val_by!r} needs {str(manifest)!r}; use val_by 'group' or 'clip'")
    records = {r.clip_id: r for r in read_manifest(run_dir)}
    uniq, inverse = np.unique(clip_ids, return_inverse=True)
    labels, keys = [], set()
    for c in uniq.tolist():
        rec = records.get(c)
        if rec is None:
            raise ManifestError(f"clip {c!r} of the teacher store is not in clips.jsonl; re-run 'sea teacher extract'")
        meta = dict(rec.meta or {})
        keys.update(meta)
        if val_by == "group":
            key = next((k for k in RECORDING_KEYS if meta.get(k) not in (None, "")), None)
            labels.append(f"{key}:{meta[key]}" if key else f"clip:{c}")
        elif val_by in meta and meta[val_by] is not None:
            labels.append(str(meta[val_by]))
        elif val_by != "meta" and getattr(rec, val_by, None) is not None and not isinstance(getattr(rec, val_by), dict):
            labels.append(str(getattr(rec, val_by)))
        else:
            fields = [k for k in ("fold", "split", "label") if getattr(rec, k, None) is not None]
            raise ConfigError(
                f"DistillConfig.val_by={val_by!r}: clip {c!r} has no such field or meta key; choose 'group', 'clip' "
                f"or one of {', '.join(sorted(set(fields) | keys)) or 'none'}"
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
