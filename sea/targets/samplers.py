"""Point samplers: which teacher frames fit the reduction (SEA §4.2.1).

Every sampler works on a *candidate* set of ``M`` frames (the frame store minus
held-out clips) and returns sorted, distinct positions ``0 ≤ i < M`` of size
exactly ``n_points``; asking for more points than candidates raises
:class:`~sea.errors.ParameterError`.

* ``random`` — uniform within time buckets. ``n_points`` is split across
  buckets in proportion to their size (largest-remainder rounding), then each
  bucket is sampled uniformly without replacement.
* ``spl`` — loudness-informed. Each frame's level is
  ``10·log10(mean(x²) + 1e-10)`` dBFS over its 1-s window of the audio the
  teacher saw (zero padding included; unweighted, not dB(A)). Its relevance is
  the normalised rank of that level among the frames of its bucket within a
  sliding time window (``spl_window`` seconds, the paper's 2 hours; frame times
  come from the manifest's ``meta.timestamp``, see :mod:`sea.targets.buckets`):
  ``(rank + 1) / n_window`` with average ranks for ties, so in (0, 1].
  Buckets get proportional quotas as in ``random``; inside a bucket frames are
  drawn without replacement with probability ∝ relevance (successive sampling,
  Efraimidis–Spirakis keys).
* ``dpp_div`` — an exact k-DPP (:func:`sea.targets.dpp.sample_kdpp_lowrank`) with
  ``L = F̂F̂ᵀ + σI``, ``F̂`` the L1-normalised embeddings, ``σ = 0.1`` (the paper's
  kernel; ``dpp_norm`` selects others, see :func:`kernel_rows`).
* ``dpp`` — quality + diversity, ``L = diag(q) F̂F̂ᵀ diag(q) + σI`` with ``q``
  the ``spl`` relevance (the paper's) or, by default, that relevance tempered to
  ``sqrt((1 + r) / 2)`` (:func:`dpp_quality_scores`).

For the DPP samplers each bucket draws a uniform random *pool* of candidates
first and the k-DPP is exact within the pool. The pool is ``dpp_pool_size``
candidates, but never fewer than 4x the bucket's quota (or the whole bucket when
it is smaller): with a pool equal to the quota the k-DPP would take all of it,
which is the uniform draw. The pool bounds memory at ``pool × D`` floats and time
at ``O(pool·D² + pool·t²)``, ``t ≤ min(k, D)``. With ``bucket`` ``sensor`` or
``day`` one k-DPP runs per bucket with a proportional quota; with ``clip``
buckets the DPP runs over all candidates at once, since diversity across clips
is the point.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import ParameterError, SeaWarning
from ..framing import frame_starts
from .buckets import BUCKETS, Buckets, make_buckets
from .dpp import sample_kdpp_lowrank

__all__ = [
    "BUCKETS",
    "DPP_NORMS",
    "DPP_QUALITIES",
    "POOL_FACTOR",
    "SAMPLERS",
    "allocate",
    "bucket_labels",
    "diversity_stats",
    "dpp_quality_scores",
    "frame_levels",
    "kernel_rows",
    "l1_normalise",
    "normalise_rows",
    "relevance_scores",
    "sample_dpp",
    "sample_points",
    "sample_random",
    "sample_spl",
    "warn_fallback",
]

SAMPLERS = ("random", "spl", "dpp_div", "dpp")
DPP_NORMS = ("l1", "l2", "zscore")
#: A DPP bucket's candidate pool is at least this many times its quota (or the whole bucket).
POOL_FACTOR = 4
LEVEL_EPS = 1e-10


def _check_n(n_points: int, available: int, what: str = "candidate frames") -> int:
    if not isinstance(n_points, (int, np.integer)) or n_points < 1:
        raise ParameterError(f"n_points={n_points!r} must be a positive integer")
    if n_points > available:
        raise ParameterError(
            f"n_points={n_points} exceeds the {available} available {what}; ask for at most {available} "
            "(or extract more teacher frames / lower heldout_fraction)"
        )
    return int(n_points)


# -- buckets ----------------------------------------------------------------


def bucket_labels(
    clip_ids: Sequence[str] | np.ndarray, clip_meta: dict[str, dict[str, Any]] | None, bucket: str = "auto"
) -> tuple[np.ndarray, str]:
    """Integer bucket label per frame (:func:`sea.targets.buckets.make_buckets` without the keys).

    Parameters
    ----------
    clip_ids : array [shape=(M,)]
        Clip of each candidate frame.
    clip_meta : dict clip_id -> ClipRecord.meta, or None
        Where ``sensor_id``, ``date`` and ``timestamp`` are looked up.
    bucket : {"clip", "sensor", "day", "auto"}
        ``day`` buckets are (sensor, calendar date); clips without a date or timestamp get their own
        bucket, with a warning. ``auto``: ``day`` when every clip has a date/timestamp, else ``clip``.

    Returns
    -------
    labels : np.ndarray [shape=(M,), int64]
        Bucket of each frame, ``0 .. n_buckets - 1``.
    used : str
        The bucket kind actually used.
    """
    b = make_buckets(clip_ids, clip_meta, bucket)
    warn_fallback(b, stacklevel=3)
    return b.labels, b.kind


def warn_fallback(buckets: Buckets, *, stacklevel: int = 2) -> str | None:
    """Warn (and return the message) when ``day`` buckets fell back to clip buckets for some clips."""
    if not buckets.fallback_clips:
        return None
    n = len(buckets.fallback_clips)
    msg = (
        f"bucket='day': {n} clip(s) have no meta.date or meta.timestamp in the manifest "
        f"(e.g. {buckets.fallback_clips[0]!r}); each is a bucket of its own (clip buckets). Prepare the data "
        "with sensor and time metadata (SONYC-UST year/week/day/hour, or the folder CSV's timestamp column)"
    )
    warnings.warn(msg, SeaWarning, stacklevel=stacklevel + 1)
    return msg


def allocate(sizes: np.ndarray, n: int) -> np.ndarray:
    """Split ``n`` across buckets ∝ ``sizes`` (largest remainder), never above a bucket's size.

    Parameters
    ----------
    sizes : np.ndarray [shape=(B,), int]
        Items in each bucket.
    n : int
        Items to draw in all, at most ``sizes.sum()``.

    Returns
    -------
    alloc : np.ndarray [shape=(B,), int64]
        Items to draw from each bucket; sums to ``n``.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    total = int(sizes.sum())
    n = _check_n(n, total)
    quota = n * sizes / total
    alloc = np.minimum(np.floor(quota).astype(np.int64), sizes)
    left = n - int(alloc.sum())
    frac = quota - np.floor(quota)
    while left > 0:
        room = np.flatnonzero(alloc < sizes)
        order = room[np.argsort(-frac[room], kind="stable")][:left]
        alloc[order] += 1
        left -= order.size
        frac[order] = -1.0  # second round (rare): any bucket with room
    return alloc


def _groups(groups: np.ndarray | None, m: int) -> list[np.ndarray]:
    if groups is None:
        return [np.arange(m)]
    groups = np.asarray(groups)
    if groups.shape != (m,):
        raise ParameterError(f"groups must have shape ({m},), got {groups.shape}")
    order = np.argsort(groups, kind="stable")
    bounds = np.flatnonzero(np.diff(groups[order])) + 1
    return np.split(order, bounds)


# -- random -----------------------------------------------------------------


def sample_random(m: int, n_points: int, rng: np.random.Generator, *, groups: np.ndarray | None = None) -> np.ndarray:
    """Sample uniformly within buckets (the ``random`` sampler).

    Parameters
    ----------
    m : int
        Candidates.
    n_points : int
        Positions to draw, at most ``m``.
    rng : numpy Generator
        The randomness.
    groups : np.ndarray [shape=(m,)], optional
        Bucket of each candidate; each bucket gets a proportional quota.

    Returns
    -------
    positions : np.ndarray [shape=(n_points,), int64]
        Sorted distinct positions in ``[0, m)``.
    """
    n_points = _check_n(n_points, m)
    parts = _groups(groups, m)
    alloc = allocate(np.array([p.size for p in parts]), n_points)
    out = [rng.choice(p, size=a, replace=False) for p, a in zip(parts, alloc) if a > 0]
    return np.sort(np.concatenate(out)).astype(np.int64)


# -- spl --------------------------------------------------------------------


def frame_levels(
    clip_ids: Sequence[str] | np.ndarray,
    frames: np.ndarray,
    cache,
    *,
    hop_size: float = 0.1,
    center: bool = True,
    frame_size: float = 1.0,
    max_span: int = 1 << 22,
) -> np.ndarray:
    """Sound level of each frame's 1-s window, in dBFS.

    Parameters
    ----------
    clip_ids : array [shape=(M,)]
    frames : np.ndarray [shape=(M,), int]
        Frame index within its clip (openl3 framing, see :mod:`sea.framing`).
    cache : sea.cache.AudioCache
        The cache at the teacher's rate (``cache.sr``).
    hop_size, center, frame_size
        The framing the store was extracted with.
    max_span : int
        Samples per cumulative-sum chunk (bounds memory for long recordings).

    Returns
    -------
    level : np.ndarray [shape=(M,), float64]
        ``10·log10(mean(x²) + 1e-10)`` over the zero-padded window.
    """
    clip_ids = np.asarray(clip_ids).astype(str)
    frames = np.asarray(frames, dtype=np.int64)
    sr = int(cache.sr)
    frame_len = int(round(frame_size * sr))
    out = np.empty(frames.shape[0], dtype=np.float64)
    order = np.argsort(clip_ids, kind="stable")
    bounds = np.flatnonzero(clip_ids[order][1:] != clip_ids[order][:-1]) + 1
    for part in np.split(order, bounds):
        if part.size == 0:
            continue
        clip = clip_ids[part[0]]
        y = cache.get(clip)
        n = y.shape[0]
        starts_all = frame_starts(n, sr, hop_size=hop_size, center=center, frame_size=frame_size)
        f = frames[part]
        if f.min() < 0 or f.max() >= starts_all.shape[0]:
            raise ParameterError(
                f"clip {clip!r}: frame index {int(f.max())} is outside the {starts_all.shape[0]} frames its "
                f"{n}-sample audio gives at hop_size={hop_size}; the store and the {sr} Hz cache disagree"
            )
        starts = starts_all[f]
        energy = np.empty(part.size, dtype=np.float64)
        srt = np.argsort(starts, kind="stable")
        i = 0
        while i < srt.size:  # chunks of frames whose windows span at most ~max_span samples
            lo = max(int(starts[srt[i]]), 0)
            j = i + 1
            while j < srt.size and int(starts[srt[j]]) + frame_len - lo <= max_span:
                j += 1
            sel = srt[i:j]
            hi = min(int(starts[sel].max()) + frame_len, n)
            seg = np.asarray(y[lo:hi], dtype=np.float64)
            cs = np.concatenate([[0.0], np.cumsum(seg * seg)])
            a = np.clip(starts[sel], 0, n) - lo
            b = np.clip(starts[sel] + frame_len, 0, n) - lo
            a, b = np.clip(a, 0, seg.size), np.clip(b, 0, seg.size)
            energy[sel] = cs[b] - cs[a]
            i = j
        out[part] = 10.0 * np.log10(energy / frame_len + LEVEL_EPS)
    return out


def _window_ranks(v: np.ndarray, t: np.ndarray, window: float, block_cells: int = 4_000_000) -> np.ndarray:
    """(rank + 1) / n_window of each value among the values whose time is within ``window / 2`` of its own.

    ``t`` is sorted. Cost ``O(M · w)`` for ``w`` frames per window, in blocks of at most ``block_cells``
    comparisons; a window that covers the whole bucket is one ``rankdata``.
    """
    from scipy.stats import rankdata

    m = v.shape[0]
    if m == 0:
        return np.zeros(0, dtype=np.float64)
    if window <= 0 or not np.all(np.isfinite(t)) or t[-1] - t[0] <= window / 2:
        return rankdata(v, method="average") / m
    lo = np.searchsorted(t, t - window / 2, side="left")
    hi = np.searchsorted(t, t + window / 2, side="right")
    width = int((hi - lo).max())
    step = int(min(4096, max(1, block_cells // (2 * width + 1))))
    out = np.empty(m, dtype=np.float64)
    for a in range(0, m, step):
        b = min(m, a + step)
        s0, s1 = int(lo[a]), int(hi[b - 1])
        seg, vb = v[s0:s1], v[a:b, None]
        zero = np.zeros((b - a, 1), np.int32)
        less = np.concatenate([zero, np.cumsum(seg[None, :] < vb, axis=1, dtype=np.int32)], 1)
        eq = np.concatenate([zero, np.cumsum(seg[None, :] == vb, axis=1, dtype=np.int32)], 1)
        r = np.arange(b - a)
        ws, we = lo[a:b] - s0, hi[a:b] - s0
        n_less = less[r, we] - less[r, ws]
        n_eq = eq[r, we] - eq[r, ws]  # includes the frame itself
        out[a:b] = (n_less + (n_eq - 1) / 2.0 + 1.0) / (we - ws)  # average rank, 0-based, + 1
    return out


def relevance_scores(
    levels: np.ndarray, *, groups: np.ndarray | None = None, times: np.ndarray | None = None, window: float = 0
) -> np.ndarray:
    """Normalised-rank relevance in (0, 1] of each frame's level within a sliding time window.

    Parameters
    ----------
    levels : np.ndarray [shape=(M,)]
        Level of each frame in dB (:func:`frame_levels`).
    groups : np.ndarray [shape=(M,)] or None
        Bucket of each frame; windows never cross buckets.
    times : np.ndarray [shape=(M,)] or None
        Time of each frame (seconds; the stage passes :func:`sea.targets.buckets.frame_times`). None:
        the position in the given order (then ``window`` counts frames). A bucket with a NaN time is
        ranked as a whole.
    window : float
        Window span in the unit of ``times``: a frame is ranked among the frames of its bucket within
        ``window / 2`` of it (the paper: 2 hours). ``0`` (default) = the whole bucket.

    Returns
    -------
    relevance : np.ndarray [shape=(M,), float64]
        ``(rank + 1) / n_window`` of each frame's level, average ranks for ties.
    """
    levels = np.asarray(levels, dtype=np.float64)
    m = levels.shape[0]
    t_all = np.arange(m, dtype=np.float64) if times is None else np.asarray(times, dtype=np.float64)
    if t_all.shape != (m,):
        raise ParameterError(f"times must have shape ({m},), got {t_all.shape}")
    if not window >= 0:
        raise ParameterError(f"relevance window={window!r} must be >= 0 (0 = the whole bucket)")
    rel = np.empty(m, dtype=np.float64)
    for part in _groups(groups, m):
        part = part[np.argsort(t_all[part], kind="stable")]
        rel[part] = _window_ranks(levels[part], t_all[part], float(window))
    return rel


def _weighted_without_replacement(w: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Successive sampling ∝ w without replacement (Efraimidis–Spirakis keys u^(1/w))."""
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    w = np.asarray(w, dtype=np.float64)
    with np.errstate(divide="ignore"):
        keys = np.log(rng.random(w.shape[0])) / np.where(w > 0, w, 1e-300)
    return np.argpartition(-keys, k - 1)[:k]


def sample_spl(
    levels: np.ndarray,
    n_points: int,
    rng: np.random.Generator,
    *,
    groups: np.ndarray | None = None,
    times: np.ndarray | None = None,
    window: float = 0,
) -> np.ndarray:
    """Sample ∝ loudness relevance within buckets (the ``spl`` sampler).

    Parameters
    ----------
    levels : np.ndarray [shape=(M,)]
        Level of each candidate frame in dB.
    n_points : int
        Positions to draw, at most ``M``.
    rng : numpy Generator
        The randomness.
    groups, times, window
        As in :func:`relevance_scores`; ``groups`` also set the quotas.

    Returns
    -------
    positions : np.ndarray [shape=(n_points,), int64]
        Sorted distinct positions in ``[0, M)``.
    """
    m = np.asarray(levels).shape[0]
    n_points = _check_n(n_points, m)
    rel = relevance_scores(levels, groups=groups, times=times, window=window)
    parts = _groups(groups, m)
    alloc = allocate(np.array([p.size for p in parts]), n_points)
    out = [p[_weighted_without_replacement(rel[p], a, rng)] for p, a in zip(parts, alloc) if a > 0]
    return np.sort(np.concatenate(out)).astype(np.int64)


# -- dpp --------------------------------------------------------------------


def l1_normalise(F: np.ndarray) -> np.ndarray:
    """Divide rows by their L1 norm (zero rows stay zero).

    Parameters
    ----------
    F : np.ndarray [shape=(k, D)]
        Embeddings.

    Returns
    -------
    F_hat : np.ndarray [shape=(k, D), dtype=float64]
        A normalised copy.
    """
    return normalise_rows(F, "l1")


def normalise_rows(F: np.ndarray, norm: str = "l1", *, dtype=np.float64) -> np.ndarray:
    """Divide rows by their L1 (paper) or L2 norm; zero rows stay zero.

    Works in place on a fresh ``dtype`` copy (float32 halves the DPP samplers' memory).

    Parameters
    ----------
    F : np.ndarray [shape=(k, D)]
        Embeddings.
    norm : {"l1", "l2"}
        The row norm.
    dtype : numpy dtype
        Of the returned copy.

    Returns
    -------
    F_hat : np.ndarray [shape=(k, D)]
        The normalised copy.
    """
    if norm not in ("l1", "l2"):
        raise ParameterError(f"dpp norm={norm!r} must be 'l1' (paper) or 'l2'")
    F = np.array(F, dtype=dtype)
    n = np.abs(F).sum(axis=1, keepdims=True) if norm == "l1" else np.linalg.norm(F, axis=1, keepdims=True)
    F /= np.where(n > 0, n, 1.0).astype(dtype)
    return F


def kernel_rows(F: np.ndarray, norm: str = "l1", *, dtype=np.float32) -> np.ndarray:
    """The DPP kernel's factor ``F̂`` (``L = F̂F̂ᵀ + σI``) from a pool's embeddings.

    Parameters
    ----------
    F : np.ndarray [shape=(k, D)]
        The pool's embeddings.
    norm : {"l1", "l2", "zscore"}
        ``l1``: rows divided by their L1 norm (the paper's ``F̂``); ``l2``: by their L2 norm;
        ``zscore``: every dimension standardised over the pool (mean 0, variance 1; constant
        dimensions stay 0), then divided by ``sqrt(D)`` so that ``mean ‖f̂‖² = 1``.
    dtype : numpy dtype
        Of the returned array.

    Returns
    -------
    F_hat : np.ndarray [shape=(k, D)]
        A new array.

    Notes
    -----
    With ``l1``, dense ``D``-dimensional embeddings have ``‖f̂‖² ≈ 1/D``, so ``σ = 0.1`` dominates
    ``L`` and the k-DPP is close to a uniform draw (the report's ``t_drawn`` and ``diversity`` show it).
    ``zscore`` is a linear kernel on standardised embeddings: the determinant favours frames that are
    far apart in the standardised teacher space, where the report measures diversity.
    """
    if norm not in DPP_NORMS:
        raise ParameterError(f"dpp norm={norm!r} must be one of {DPP_NORMS} ('l1' is the paper's)")
    if norm != "zscore":
        return normalise_rows(F, norm, dtype=dtype)
    Z = np.array(F, dtype=np.float64)
    Z -= Z.mean(axis=0)
    sd = Z.std(axis=0)
    Z /= np.where(sd > 0, sd, 1.0) * np.sqrt(max(Z.shape[1], 1))
    return Z.astype(dtype, copy=False)


def _pool_for(p: np.ndarray, quota: int, pool_size: int | None, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """The bucket's candidate pool (at least POOL_FACTOR x its quota, or the whole bucket); and whether it was raised."""
    need = min(p.size, POOL_FACTOR * quota)
    size = p.size if not pool_size else min(p.size, max(int(pool_size), need))
    raised = bool(pool_size) and int(pool_size) < need
    pool = p if size >= p.size else np.sort(rng.choice(p, size=size, replace=False))
    return pool, raised


def _warn_pools(stats: list[dict[str, Any]], pool_size: int | None) -> None:
    raised = [b for b in stats if b["pool_raised"]]
    if raised:
        warnings.warn(
            f"dpp_pool_size={pool_size} is below {POOL_FACTOR}x the quota of {len(raised)} of {len(stats)} DPP "
            f"bucket(s); their pools were raised to {POOL_FACTOR}x the quota (or the whole bucket), up to "
            f"{max(b['pool'] for b in raised)} candidates, so that the DPP has frames to choose from",
            SeaWarning,
            stacklevel=3,
        )
    degenerate = [b for b in stats if b["degenerate"]]
    if degenerate:
        warnings.warn(
            f"{len(degenerate)} of {len(stats)} DPP bucket(s) have no more candidates than their quota "
            f"(e.g. {degenerate[0]['n_candidates']} candidates for {degenerate[0]['k']} points): the DPP takes "
            "all of them, the same as a uniform draw; lower n_points or use larger buckets",
            SeaWarning,
            stacklevel=3,
        )


def sample_dpp(
    features,
    n_points: int,
    rng: np.random.Generator,
    *,
    quality: np.ndarray | None = None,
    groups: np.ndarray | None = None,
    sigma: float = 0.1,
    pool_size: int | None = 20000,
    norm: str = "l1",
    on_bucket: Callable[[dict[str, Any]], None] | None = None,
) -> np.ndarray:
    """k-DPP sampling (``dpp_div`` without ``quality``, ``dpp`` with it).

    Parameters
    ----------
    features : array-like [shape=(M, D)]
        Anything supporting ``len()`` and ``features[int_array] -> [k, D]``
        (an ndarray, or a reader over the frame store); only pool rows are read.
    n_points : int
        Positions to draw, at most ``M``.
    rng : numpy Generator
        The randomness (pools, then the k-DPP draws).
    quality : np.ndarray [shape=(M,)] or None
        Per-frame quality ``q`` (the spl relevance) for ``L = diag(q) F̂F̂ᵀ diag(q) + σI``.
    groups : np.ndarray [shape=(M,)] or None
        Buckets, one k-DPP each with a proportional quota.
    sigma : float
        Kernel ridge (paper: 0.1).
    pool_size : int or None
        Per bucket, the number of uniformly drawn candidates that enter the exact k-DPP
        (``None``/0: the whole bucket). A pool is never smaller than ``POOL_FACTOR`` (4) times the
        bucket's quota, or the whole bucket when that is smaller: a smaller ``pool_size`` is raised,
        with a warning. A bucket with no more candidates than its quota is taken whole (a warning).
    norm : {"l1", "l2", "zscore"}
        How ``F̂`` is made from the embeddings (:func:`kernel_rows`); ``l1`` is the paper's.
    on_bucket : callable or None
        Receives per-bucket stats: ``bucket`` (its label), ``n_candidates``, ``pool``, ``k``,
        ``pool_raised``, ``degenerate`` (pool <= k), ``seconds``, and ``t`` / ``t_expected``: how many of
        the k items came from the diversity part of the kernel (:func:`sea.targets.dpp.sample_kdpp_lowrank`).

    Returns
    -------
    positions : np.ndarray [shape=(n_points,), int64]
        Sorted distinct positions in ``[0, M)``.
    """
    m = len(features)
    n_points = _check_n(n_points, m)
    parts = _groups(groups, m)
    alloc = allocate(np.array([p.size for p in parts]), n_points)
    out, stats = [], []
    for p, a in zip(parts, alloc):
        if a == 0:
            continue
        t0 = time.perf_counter()
        pool, raised = _pool_for(p, int(a), pool_size, rng)
        B = kernel_rows(features[pool], norm)
        if quality is not None:
            B *= np.asarray(quality, dtype=np.float32)[pool, None]
        info: dict[str, Any] = {}
        chosen = sample_kdpp_lowrank(B, int(a), sigma=sigma, rng=rng, info=info)
        out.append(pool[chosen])
        stats.append(
            {
                "bucket": int(np.asarray(groups)[p[0]]) if groups is not None else 0,
                "n_candidates": int(p.size),
                "pool": int(pool.size),
                "k": int(a),
                "pool_raised": raised,
                "degenerate": bool(pool.size <= a),
                "seconds": time.perf_counter() - t0,
                **info,
            }
        )
        if on_bucket is not None:
            on_bucket(stats[-1])
    _warn_pools(stats, pool_size)
    return np.sort(np.concatenate(out)).astype(np.int64)


# -- dispatch and stats ----------------------------------------------------------


DPP_QUALITIES = ("tempered", "relevance")


def dpp_quality_scores(relevance: np.ndarray, kind: str = "relevance") -> np.ndarray:
    """``dpp``'s per-frame quality from the spl relevance.

    Parameters
    ----------
    relevance : np.ndarray [shape=(m,)]
        :func:`relevance_scores`, in (0, 1].
    kind : "relevance" or "tempered"
        ``relevance`` returns it unchanged (the paper's ``q``); ``tempered`` maps it to ``sqrt((1 + r) / 2)``
        in (0.71, 1], so that a frame's kernel weight ``q²`` is ``(1 + r) / 2``.

    Returns
    -------
    quality : np.ndarray [shape=(m,)]

    Notes
    -----
    In ``L = diag(q) F̂F̂ᵀ diag(q) + σI`` a frame's weight goes as ``q²``: with the raw rank the quietest
    frame of a bucket of ``n`` weighs ``1/n²`` of the loudest, so the draw concentrates on the loud frames,
    which are often less diverse than a uniform draw. Tempered, the loudest weighs at most 2x the quietest and
    the kernel's diversity decides: the draw beats a uniform one, at the price of most of the loudness
    preference where loud frames are the less diverse ones (the report's ``level_db_chosen_mean`` shows it).
    """
    if kind not in DPP_QUALITIES:
        raise ParameterError(f"dpp_quality={kind!r} must be one of {DPP_QUALITIES} ('relevance' is the paper's)")
    r = np.asarray(relevance, dtype=np.float64)
    return r if kind == "relevance" else np.sqrt(0.5 * (1.0 + r))


def sample_points(
    sampler: str,
    n_points: int,
    *,
    m: int,
    rng: np.random.Generator,
    groups: np.ndarray | None = None,
    features=None,
    levels: np.ndarray | None = None,
    times: np.ndarray | None = None,
    spl_window: float = 0,
    dpp_pool_size: int | None = 20000,
    dpp_sigma: float = 0.1,
    dpp_groups: np.ndarray | None = None,
    dpp_norm: str = "l1",
    dpp_quality: str = "relevance",
    on_bucket: Callable[[dict[str, Any]], None] | None = None,
) -> np.ndarray:
    """Draw ``n_points`` of ``m`` candidates with one of :data:`SAMPLERS`.

    Parameters
    ----------
    sampler : "random", "spl", "dpp_div" or "dpp"
        The sampler.
    n_points : int
        Positions to draw, at most ``m``.
    m : int
        Candidates.
    rng : numpy Generator
        The randomness.
    groups : np.ndarray [shape=(m,)], optional
        Time bucket of each candidate (quotas of ``random`` and ``spl``, windows of the relevance).
    features : array-like [shape=(m, D)], optional
        The embeddings; required by ``dpp_div`` and ``dpp`` (see :func:`sample_dpp`).
    levels : np.ndarray [shape=(m,)], optional
        Frame levels in dB; required by ``spl`` and ``dpp``.
    times : np.ndarray [shape=(m,)], optional
        Time of each candidate (seconds), for the relevance windows (:func:`relevance_scores`).
    spl_window : float
        Relevance window in the unit of ``times`` (seconds; the paper's is 7200); 0 = the whole bucket.
    dpp_pool_size, dpp_sigma, dpp_norm, on_bucket
        :func:`sample_dpp`'s ``pool_size``, ``sigma``, ``norm`` and ``on_bucket``.
    dpp_groups : np.ndarray [shape=(m,)], optional
        The buckets the DPP samplers use (None = all at once).
    dpp_quality : "relevance" or "tempered"
        ``dpp``'s quality from the spl relevance ``r``: ``r`` itself (the paper's) or ``sqrt((1 + r) / 2)``
        (:func:`dpp_quality_scores`).

    Returns
    -------
    positions : np.ndarray [shape=(n_points,), int64]
        Sorted distinct positions in ``[0, m)``.
    """
    if sampler not in SAMPLERS:
        raise ParameterError(f"sampler={sampler!r} must be one of {SAMPLERS}")
    if sampler == "random":
        return sample_random(m, n_points, rng, groups=groups)
    if sampler in ("spl", "dpp") and levels is None:
        raise ParameterError(f"sampler {sampler!r} needs frame levels (computed from the audio cache)")
    if sampler == "spl":
        return sample_spl(levels, n_points, rng, groups=groups, times=times, window=spl_window)
    if features is None:
        raise ParameterError(f"sampler {sampler!r} needs the embeddings")
    quality = None
    if sampler == "dpp":
        quality = dpp_quality_scores(
            relevance_scores(levels, groups=groups, times=times, window=spl_window), dpp_quality
        )
    return sample_dpp(
        features,
        n_points,
        rng,
        quality=quality,
        groups=dpp_groups,
        sigma=dpp_sigma,
        pool_size=dpp_pool_size,
        norm=dpp_norm,
        on_bucket=on_bucket,
    )


def diversity_stats(
    F: np.ndarray, *, sigma: float = 0.1, max_points: int = 2000, rng: np.random.Generator | None = None
) -> dict[str, float]:
    """Measure the diversity of a set of chosen embeddings.

    Parameters
    ----------
    F : np.ndarray [shape=(k, D)]
        The chosen embeddings.
    sigma : float
        Ridge of the log-det kernel.
    max_points : int
        At most this many rows are used (a seeded subset).
    rng : numpy Generator, optional
        Draws that subset (default: ``default_rng(0)``).

    Returns
    -------
    stats : dict
        ``mean_pairwise_cosine_distance`` (1 − cosine, averaged over pairs; scale
        invariant, so the same on ``F`` and ``F̂``) and
        ``logdet_per_point = log det(F̂F̂ᵀ + σI) / k`` (the DPP objective,
        higher = more diverse). Computed on at most ``max_points`` of the rows.
    """
    F = np.asarray(F, dtype=np.float64)
    if F.shape[0] > max_points:
        rng = rng or np.random.default_rng(0)
        F = F[np.sort(rng.choice(F.shape[0], max_points, replace=False))]
    k = F.shape[0]
    if k < 2:
        return {"mean_pairwise_cosine_distance": float("nan"), "logdet_per_point": float("nan"), "n": k}
    norms = np.linalg.norm(F, axis=1, keepdims=True)
    U = F / np.where(norms > 0, norms, 1.0)
    cos = U @ U.T
    mean_cos = (cos.sum() - np.trace(cos)) / (k * (k - 1))
    Fh = l1_normalise(F)
    sign, logdet = np.linalg.slogdet(Fh @ Fh.T + sigma * np.eye(k))
    return {
        "mean_pairwise_cosine_distance": float(1.0 - mean_cos),
        "logdet_per_point": float(logdet / k) if sign > 0 else float("-inf"),
        "n": int(k),
    }
