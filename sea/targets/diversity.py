"""What a sampler chose, bucket by bucket, and how diverse it is next to a uniform draw (``report.json``).

``buckets`` lists every bucket the sampler drew within (``key``, ``n_candidates``, ``n_pool``,
``n_chosen``). ``diversity`` is the mean pairwise Euclidean distance between the chosen frames of a
bucket, in standardised teacher space (every dimension z-scored with the mean and standard deviation
of a seeded uniform subset of all candidates, the same reference for both sides), averaged over
buckets; ``uniform`` is the same for seeded uniform draws with the same per-bucket quotas (the mean
of 8 draws, so that the baseline is its expectation rather than one noisy draw). A DPP sampler
exists to make ``sample`` exceed ``uniform``.

The measure reads at most ``max_rows`` frames per side: buckets with a quota of at least 2 are
measured on up to ``max_per_bucket`` of their frames (a seeded subset, which leaves the mean pairwise
distance unbiased), and on a seeded subset of the buckets when there are too many.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.spatial.distance import pdist

__all__ = ["DIVERSITY_METRIC", "bucket_table", "within_bucket_diversity"]

DIVERSITY_METRIC = "mean_within_bucket_pairwise_distance"


def bucket_table(
    groups: np.ndarray, keys: Sequence[str], positions: np.ndarray, pools: dict[int, int] | None = None
) -> list[dict[str, Any]]:
    """One row per bucket: ``key``, ``n_candidates``, ``n_pool`` and ``n_chosen``.

    Parameters
    ----------
    groups : np.ndarray [shape=(M,), dtype=int64]
        Bucket label of each candidate, ``0 .. len(keys) - 1``.
    keys : sequence of str
        Key of each label.
    positions : np.ndarray [shape=(n,), dtype=int64]
        The chosen candidates.
    pools : dict label -> pool size, optional
        The DPP's pool per bucket; without one a bucket's pool is all its candidates.

    Returns
    -------
    rows : list of dict
        In label order.
    """
    n_cand = np.bincount(groups, minlength=len(keys))
    n_chosen = np.bincount(groups[positions], minlength=len(keys))
    pools = pools or {}
    return [
        {
            "key": str(k),
            "n_candidates": int(n_cand[i]),
            "n_pool": int(pools.get(i, n_cand[i])),
            "n_chosen": int(n_chosen[i]),
        }
        for i, k in enumerate(keys)
    ]


def within_bucket_diversity(
    rows,
    groups: np.ndarray,
    positions: np.ndarray,
    rng: np.random.Generator,
    *,
    max_rows: int = 8192,
    max_per_bucket: int = 1024,
    n_uniform: int = 8,
) -> dict[str, Any]:
    """Mean within-bucket pairwise distance of the chosen frames and of a uniform draw with the same quotas.

    Parameters
    ----------
    rows : array-like [shape=(M, D)]
        The candidates' embeddings (``rows[int_array] -> [k, D]``, e.g. :class:`~sea.targets.teacher_store.StoreRows`).
    groups : np.ndarray [shape=(M,), dtype=int64]
        Bucket label of each candidate.
    positions : np.ndarray [shape=(n,), dtype=int64]
        The chosen candidates.
    rng : numpy Generator
        Draws the uniform baseline and the subsets (seed it for a reproducible report).
    max_rows : int
        Frames read per draw at most.
    max_per_bucket : int
        Frames per bucket at most.
    n_uniform : int
        Uniform draws averaged into ``uniform`` (its expectation is the baseline; one draw is noisy
        when buckets hold a few frames).

    Returns
    -------
    diversity : dict
        ``metric``, ``sample``, ``uniform`` (NaN when no bucket has 2 chosen frames), ``ratio``
        (sample / uniform), ``n_buckets`` (measured), ``n_frames`` (per draw) and ``n_uniform_draws``.
    """
    groups = np.asarray(groups, dtype=np.int64)
    quota = np.bincount(groups[positions], minlength=int(groups.max(initial=-1)) + 1)
    units = np.flatnonzero(quota >= 2)
    cap = int(min(max_per_bucket, max(2, max_rows // max(units.size, 1))))
    if units.size * 2 > max_rows:
        units = np.sort(rng.choice(units, size=max_rows // 2, replace=False))
    sizes = np.minimum(quota[units], cap).astype(np.int64)
    out: dict[str, Any] = {"metric": DIVERSITY_METRIC, "sample": float("nan"), "uniform": float("nan"), "ratio": None}
    out.update(n_buckets=int(units.size), n_frames=int(sizes.sum()), n_uniform_draws=int(n_uniform))
    if not units.size:
        return out
    members, chosen_by_unit = _members(groups), _members_of(groups, positions)
    ref = np.sort(rng.choice(groups.size, size=min(groups.size, max_rows), replace=False))
    R = np.asarray(rows[ref], dtype=np.float64)
    mu, sd = R.mean(axis=0), R.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)

    def measure(pools: list[np.ndarray]) -> float:
        picks = [rng.choice(p, size=int(k), replace=False) for p, k in zip(pools, sizes)]
        X = (np.asarray(rows[np.concatenate(picks)], dtype=np.float64) - mu) / sd
        bounds = np.cumsum(np.concatenate([[0], sizes]))
        return float(np.mean([pdist(X[a:b]).mean() for a, b in zip(bounds[:-1], bounds[1:])]))

    s_val = measure([chosen_by_unit[u] for u in units])
    u_val = float(np.mean([measure([members[u] for u in units]) for _ in range(max(1, n_uniform))]))
    out.update(sample=s_val, uniform=u_val, ratio=s_val / u_val if u_val > 0 else None)
    return out


def _members(groups: np.ndarray) -> list[np.ndarray]:
    order = np.argsort(groups, kind="stable")
    cuts = np.searchsorted(groups[order], np.arange(int(groups.max(initial=-1)) + 2))
    return [order[a:b] for a, b in zip(cuts[:-1], cuts[1:])]


def _members_of(groups: np.ndarray, positions: np.ndarray) -> list[np.ndarray]:
    positions = np.asarray(positions, dtype=np.int64)
    sub = groups[positions]
    order = np.argsort(sub, kind="stable")
    cuts = np.searchsorted(sub[order], np.arange(int(groups.max(initial=-1)) + 2))
    return [positions[order[a:b]] for a, b in zip(cuts[:-1], cuts[1:])]
