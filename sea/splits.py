"""Grouped held-out splits, owned once.

Frames of one clip (and clips of one recording) are near-duplicates, so every
held-out set in sea (PCA's held-out frames, distillation's validation rows,
export's parity windows) holds out whole groups, never random rows.
"""

from __future__ import annotations

import numpy as np

__all__ = ["grouped_holdout", "hashed_holdout"]


def grouped_holdout(groups: np.ndarray, fraction: float, seed: int | list[int]) -> np.ndarray:
    """Boolean mask of the rows whose group is held out.

    Parameters
    ----------
    groups : np.ndarray [shape=(n,)]
        The group of each row (clip id, recording id, fold...).
    fraction : float in [0, 1)
        Share of the distinct groups to hold out. With at least two groups and
        ``fraction > 0`` at least one group is held out and at least one kept.
    seed : int or list of int
        Seed of the permutation of the distinct groups (``numpy.random.default_rng(seed)``).

    Returns
    -------
    held : np.ndarray [shape=(n,), dtype=bool]
        True for the rows of held-out groups.
    """
    groups = np.asarray(groups)
    uniq = np.unique(groups)
    n_held = int(round(fraction * uniq.size))
    if fraction > 0 and uniq.size >= 2:
        n_held = min(max(n_held, 1), uniq.size - 1)
    else:
        n_held = 0
    held_groups = np.random.default_rng(seed).permutation(uniq)[:n_held]
    return np.isin(groups, held_groups)


def hashed_holdout(groups: list[str], fraction: float) -> tuple[list[str], list[str]]:
    """``(kept, held)`` distinct groups, each sorted, chosen by a hash of the group name.

    Unlike :func:`grouped_holdout`, a group's side does not depend on the other
    groups or a seed, so adding clips to a run never moves an existing clip
    between sides (export's calibration and parity windows stay put). Both
    sides are non-empty when there are at least two groups.

    Parameters
    ----------
    groups : list of str
        Group names (duplicates are merged).
    fraction : float in [0, 1]
        Expected share of held-out groups.
    """
    import hashlib

    ids = sorted(set(groups))

    def is_held(g: str) -> bool:
        return int(hashlib.md5(g.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < fraction

    held = [g for g in ids if is_held(g)]
    kept = [g for g in ids if not is_held(g)]
    if len(ids) >= 2 and not held:
        held, kept = kept[-1:], kept[:-1]
    if len(ids) >= 2 and not kept:
        kept, held = held[:1], held[1:]
    return kept, held
