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
  the normalised rank of that level among the frames of a sliding window of
  ``W`` frames (time order, within its bucket; the paper used 2 h within a
  day): ``(rank + 1) / n_window`` with average ranks for ties, so in (0, 1].
  Buckets get proportional quotas as in ``random``; inside a bucket frames are
  drawn without replacement with probability ∝ relevance (successive sampling,
  Efraimidis–Spirakis keys).
* ``dpp_div`` — an exact k-DPP (:func:`sea.targets.dpp.sample_kdpp_lowrank`) with
  ``L = F̂F̂ᵀ + σI``, ``F̂`` the L1-normalised embeddings, ``σ = 0.1``.
* ``dpp`` — quality + diversity, ``L = diag(q) F̂F̂ᵀ diag(q) + σI`` with ``q``
  the ``spl`` relevance.

For the DPP samplers a uniform random *pool* of at most ``pool_size`` candidate
frames is drawn first and the k-DPP is exact within the pool (the pool bounds
memory at ``pool_size × D`` floats and time at ``O(pool·D² + pool·t²)``,
``t ≤ min(k, D)``). With ``bucket`` ``sensor`` or ``day`` one k-DPP runs per
bucket with a proportional quota; with ``clip`` buckets the DPP runs over all
candidates at once, since diversity across clips is the point.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import ParameterError
from ..framing import frame_starts
from .dpp import sample_kdpp_lowrank

__all__ = [
    "SAMPLERS",
    "allocate",
    "bucket_labels",
    "diversity_stats",
    "frame_levels",
    "l1_normalise",
    "normalise_rows",
    "relevance_scores",
    "sample_dpp",
    "sample_points",
    "sample_random",
    "sample_spl",
]

SAMPLERS = ("random", "spl", "dpp_div", "dpp")
BUCKETS = ("clip", "sensor", "day", "auto")
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


def _day_of(meta: dict[str, Any]) -> str | None:
    if meta.get("day") is not None:
        return str(meta["day"])
    ts = meta.get("timestamp")
    if ts is None:
        return None
    if isinstance(ts, (int, float)):
        return _dt.datetime.fromtimestamp(float(ts), _dt.timezone.utc).date().isoformat()
    try:
        return _dt.datetime.fromisoformat(str(ts).replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        return str(ts)[:10]


def bucket_labels(
    clip_ids: Sequence[str] | np.ndarray, clip_meta: dict[str, dict[str, Any]] | None, bucket: str = "auto"
) -> tuple[np.ndarray, str]:
    """Integer bucket label per frame.

    Parameters
    ----------
    clip_ids : array [shape=(M,)]
        Clip of each candidate frame.
    clip_meta : dict clip_id -> ClipRecord.meta, or None
        Where ``sensor_id``, ``day`` and ``timestamp`` are looked up.
    bucket : {"clip", "sensor", "day", "auto"}
        ``day`` buckets are (sensor, day) when a ``sensor_id`` exists, as in the
        paper (daily timeframes per sensor). ``auto``: ``day`` when every clip
        has a day/timestamp, else ``clip``.

    Returns
    -------
    labels : np.ndarray [shape=(M,), int64]
        Bucket of each frame, ``0 .. n_buckets - 1``.
    used : str
        The bucket kind actually used.
    """
    if bucket not in BUCKETS:
        raise ParameterError(f"bucket={bucket!r} must be one of {BUCKETS}")
    clip_ids = np.asarray(clip_ids).astype(str)
    uniq, inverse = np.unique(clip_ids, return_inverse=True)
    meta = {c: (clip_meta or {}).get(c) or {} for c in uniq}
    if bucket == "auto":
        bucket = "day" if uniq.size and all(_day_of(meta[c]) is not None for c in uniq) else "clip"
    if bucket == "clip":
        return inverse.astype(np.int64), "clip"
    keys = []
    for c in uniq:
        m = meta[c]
        sensor = m.get("sensor_id")
        if bucket == "sensor":
            if sensor is None:
                raise ParameterError(
                    f"bucket='sensor' but clip {c!r} has no meta.sensor_id in the manifest; use bucket='clip' or 'auto'"
                )
            keys.append(str(sensor))
        else:
            day = _day_of(m)
            if day is None:
                raise ParameterError(
                    f"bucket='day' but clip {c!r} has no meta.day or meta.timestamp in the manifest; "
                    "use bucket='clip' or 'auto'"
                )
            keys.append(f"{sensor}|{day}" if sensor is not None else day)
    _, key_ids = np.unique(np.asarray(keys, dtype=str), return_inverse=True)
    return key_ids[inverse].astype(np.int64), bucket


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


def _window_ranks(v: np.ndarray, window: int, block_cells: int = 4_000_000) -> np.ndarray:
    """(rank + 1) / n_window of each value among its centred window of ``window`` neighbours."""
    m = v.shape[0]
    if window <= 0 or window >= m:
        from scipy.stats import rankdata

        return rankdata(v, method="average") / m
    h = window // 2
    out = np.empty(m, dtype=np.float64)
    B = max(1, block_cells // (window + 1))
    pos = np.arange(m)
    for a in range(0, m, B):
        b = min(m, a + B)
        lo, hi = max(0, a - h), min(m, b + h)
        seg = v[lo:hi]
        vb = v[a:b, None]
        less = np.concatenate([np.zeros((b - a, 1), np.int32), np.cumsum(seg[None, :] < vb, axis=1, dtype=np.int32)], 1)
        eq = np.concatenate([np.zeros((b - a, 1), np.int32), np.cumsum(seg[None, :] == vb, axis=1, dtype=np.int32)], 1)
        ws = np.maximum(pos[a:b] - h, 0) - lo
        we = np.minimum(pos[a:b] + h + 1, m) - lo
        r = np.arange(b - a)
        n_less = less[r, we] - less[r, ws]
        n_eq = eq[r, we] - eq[r, ws]  # includes the frame itself
        rank = n_less + (n_eq - 1) / 2.0  # average rank, 0-based
        out[a:b] = (rank + 1.0) / (we - ws)
    return out


def relevance_scores(
    levels: np.ndarray, *, groups: np.ndarray | None = None, times: np.ndarray | None = None, window: int = 0
) -> np.ndarray:
    """Normalised-rank relevance in (0, 1] of each frame's level within a sliding window.

    Parameters
    ----------
    levels : np.ndarray [shape=(M,)]
        Level of each frame in dB (:func:`frame_levels`).
    groups : np.ndarray [shape=(M,)] or None
        Bucket of each frame; windows never cross buckets.
    times : np.ndarray [shape=(M,)] or None
        Sort key giving time order inside a bucket (default: the given order).
    window : int
        Window length in frames; ``0`` (default) = the whole bucket.

    Returns
    -------
    relevance : np.ndarray [shape=(M,), float64]
        ``(rank + 1) / n_window`` of each frame's level, average ranks for ties.
    """
    levels = np.asarray(levels, dtype=np.float64)
    m = levels.shape[0]
    rel = np.empty(m, dtype=np.float64)
    for part in _groups(groups, m):
        if times is not None:
            part = part[np.argsort(np.asarray(times)[part], kind="stable")]
        rel[part] = _window_ranks(levels[part], int(window))
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
    window: int = 0,
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
        Per bucket, at most this many uniformly drawn candidates enter the
        exact k-DPP (``None``/0: all). Must be ≥ the bucket's quota.
    norm : {"l1", "l2"}
        Row normalisation of ``F̂``. ``l1`` is the paper's. For dense
        high-dimensional embeddings ``‖f̂‖₂² ≈ 1/D`` after L1 normalisation,
        so ``σ = 0.1`` dominates the kernel and the k-DPP is close to uniform;
        ``l2`` (``diag(F̂F̂ᵀ) = 1``) gives a much stronger diversity term.
    on_bucket : callable or None
        Receives per-bucket stats (pool size, k, seconds, and ``t`` /
        ``t_expected``: how many of the k items came from the diversity part
        of the kernel, see :func:`sea.targets.dpp.sample_kdpp_lowrank`).

    Returns
    -------
    positions : np.ndarray [shape=(n_points,), int64]
        Sorted distinct positions in ``[0, M)``.
    """
    import time

    m = len(features)
    n_points = _check_n(n_points, m)
    parts = _groups(groups, m)
    alloc = allocate(np.array([p.size for p in parts]), n_points)
    out = []
    for p, a in zip(parts, alloc):
        if a == 0:
            continue
        t0 = time.perf_counter()
        pool = p
        if pool_size and p.size > pool_size:
            pool = np.sort(rng.choice(p, size=max(int(pool_size), int(a)), replace=False))
        B = normalise_rows(features[pool], norm, dtype=np.float32)
        if quality is not None:
            B *= np.asarray(quality, dtype=np.float32)[pool, None]
        info: dict[str, Any] = {}
        chosen = sample_kdpp_lowrank(B, int(a), sigma=sigma, rng=rng, info=info)
        out.append(pool[chosen])
        if on_bucket is not None:
            on_bucket({"pool": int(pool.size), "k": int(a), "seconds": time.perf_counter() - t0, **info})
    return np.sort(np.concatenate(out)).astype(np.int64)


# -- dispatch and stats ----------------------------------------------------------


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
    spl_window: int = 0,
    dpp_pool_size: int | None = 20000,
    dpp_sigma: float = 0.1,
    dpp_groups: np.ndarray | None = None,
    dpp_norm: str = "l1",
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
        Time order within a bucket, for the relevance windows.
    spl_window : int
        Relevance window in frames; 0 = the whole bucket.
    dpp_pool_size, dpp_sigma, dpp_norm, on_bucket
        :func:`sample_dpp`'s ``pool_size``, ``sigma``, ``norm`` and ``on_bucket``.
    dpp_groups : np.ndarray [shape=(m,)], optional
        The buckets the DPP samplers use (None = all at once).

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
        quality = relevance_scores(levels, groups=groups, times=times, window=spl_window)
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
