"""The body of ``sea targets fit``: split, sample frames, fit φ, save it and report on held-out clips.

:func:`fit_reduction` runs the steps in order; each step is one function below.
Randomness: one ``default_rng(seed)`` feeds the sampler and then the sampler
report; the held-out split uses ``[seed, 7]`` and the report's subset ``[seed, 11]``.
"""

from __future__ import annotations

import datetime as _dt
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import AudioCache
from ..errors import ConfigError, SeaWarning
from ..layout import RunLayout
from ..manifest import read_manifest
from ..splits import grouped_holdout
from ..store import FrameStore
from ..utils import atomic_path, write_json
from .config import TargetsConfig
from .reader import REPORT_NAME, SAMPLE_INDICES_NAME
from .reducers import DimSampleReducer, IdentityReducer, PCAReducer, reconstruction_report, save_reducer
from .samplers import bucket_labels, diversity_stats, frame_levels, sample_points
from .teacher_store import StoreRows, audio_params, read_batches

__all__ = ["fit_reduction", "make_reducer"]

# warnings point at the caller of stage.run: warn() <- fit_reduction <- run <- caller
_STACKLEVEL = 4


@dataclass(frozen=True)
class _Split:
    """Store rows φ may be fitted on (``candidates``) and rows of held-out clips (``heldout``)."""

    clip_ids: np.ndarray  # [n] str, per store row
    candidates: np.ndarray  # [M] int64
    heldout: np.ndarray  # [H] int64; the candidates when no clip is held out
    n_heldout_clips: int


def fit_reduction(layout: RunLayout, name: str, store: FrameStore, teacher_dir: Path, config: TargetsConfig) -> dict:
    """Fit φ on sampled frames of ``store`` and write ``RUN/targets/<name>``; return ``report.json``'s content."""
    t_start = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    split = _split_frames(store, config)
    reducer = make_reducer(config, store.dim)
    timings: dict[str, float] = {}
    if config.method != "identity":
        chosen, sampler_report = _choose_frames(layout, store, split, config, rng, timings)
        t0 = time.perf_counter()
        _fit_reducer(reducer, store, chosen, config)
        timings["fit_s"] = time.perf_counter() - t0
    else:
        chosen, sampler_report = np.zeros(0, dtype=np.int64), {"sampler": None}
        reducer.fit()
    _save(layout, name, reducer, chosen, teacher_dir, config)
    t0 = time.perf_counter()
    heldout_report = _heldout_report(reducer, store, split.heldout, config)
    timings["report_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - t_start
    report = {
        "name": name,
        "method": config.method,
        "dim": int(reducer.out_dim),
        "in_dim": int(store.dim),
        "sampler": config.sampler if config.method != "identity" else None,
        "n_points": int(chosen.size),
        "n_candidates": int(split.candidates.size),
        "n_frames": int(len(store)),
        "n_heldout_clips": split.n_heldout_clips,
        "fit": _fit_summary(reducer),
        "heldout": heldout_report,
        "sampling": sampler_report,
        "timings": {k: round(v, 4) for k, v in timings.items()},
        "reducer": reducer.spec(),
    }
    write_json(layout.targets(name) / REPORT_NAME, report)
    return report


def make_reducer(config: TargetsConfig, in_dim: int) -> PCAReducer | IdentityReducer | DimSampleReducer:
    """Return the unfitted reduction φ that ``config`` asks for, for ``in_dim``-d teacher frames."""
    if config.method == "pca":
        if config.dim > in_dim:
            raise ConfigError(
                f"TargetsConfig.dim={config.dim} exceeds the teacher dimension {in_dim}; use dim <= {in_dim} or method identity"
            )
        return PCAReducer(
            config.dim, whiten=config.whiten, method=config.pca_method, batch_size=config.batch_size, seed=config.seed
        )
    if config.method == "identity":
        return IdentityReducer(in_dim)
    if config.dim > in_dim:
        raise ConfigError(f"TargetsConfig.dim={config.dim} exceeds the teacher dimension {in_dim}")
    mode = "random" if config.method == "dims_random" else "variance"
    return DimSampleReducer(config.dim, mode=mode, seed=config.seed, batch_size=config.batch_size)


# -- steps ----------------------------------------------------------------------------


def _split_frames(store: FrameStore, config: TargetsConfig) -> _Split:
    """Hold out whole clips: their frames are near-duplicates of each other."""
    clip_ids = np.asarray(store.clip_ids).astype(str)
    held_mask = grouped_holdout(clip_ids, config.heldout_fraction, [config.seed, 7])
    candidates = np.flatnonzero(~held_mask).astype(np.int64)
    heldout = np.flatnonzero(held_mask).astype(np.int64)
    if heldout.size == 0:
        warnings.warn(
            "no held-out clips (heldout_fraction=0 or a single clip): the report is computed on the fitting frames",
            SeaWarning,
            stacklevel=_STACKLEVEL,
        )
        return _Split(clip_ids, candidates, candidates, 0)
    return _Split(clip_ids, candidates, heldout, int(np.unique(clip_ids[heldout]).size))


def _choose_frames(
    layout: RunLayout,
    store: FrameStore,
    split: _Split,
    config: TargetsConfig,
    rng: np.random.Generator,
    timings: dict[str, float],
) -> tuple[np.ndarray, dict[str, Any]]:
    """Run the sampler over the candidates; return the chosen store rows (sorted) and the sampler report."""
    candidates = split.candidates
    n_points = config.n_points
    if n_points > candidates.size:
        warnings.warn(
            f"n_points={n_points} exceeds the {candidates.size} frames available for fitting; using all of them",
            SeaWarning,
            stacklevel=_STACKLEVEL,
        )
        n_points = int(candidates.size)
    clip_ids = split.clip_ids[candidates]
    clip_meta = _clip_meta(layout)
    groups, bucket_used = bucket_labels(clip_ids, clip_meta, config.bucket)
    times = _absolute_times(clip_ids, np.asarray(store.timestamps)[candidates], clip_meta)
    t0 = time.perf_counter()
    levels = _frame_levels(layout, store, candidates, clip_ids) if config.sampler in ("spl", "dpp") else None
    timings["levels_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    dpp_buckets: list[dict[str, Any]] = []
    pos = sample_points(
        config.sampler,
        n_points,
        m=int(candidates.size),
        rng=rng,
        groups=groups,
        features=StoreRows(store, candidates) if config.sampler in ("dpp_div", "dpp") else None,
        levels=levels,
        times=times,
        spl_window=config.spl_window,
        dpp_pool_size=config.dpp_pool_size or None,
        dpp_sigma=config.dpp_sigma,
        dpp_groups=groups if bucket_used in ("sensor", "day") else None,
        dpp_norm=config.dpp_norm,
        on_bucket=dpp_buckets.append,
    )
    timings["sampling_s"] = time.perf_counter() - t0
    sampler_report = _sampler_report(config, store, candidates, pos, levels, rng, bucket_used, groups)
    if dpp_buckets:
        sampler_report["dpp"] = _dpp_summary(dpp_buckets)
    return candidates[pos], sampler_report


def _frame_levels(layout: RunLayout, store: FrameStore, candidates: np.ndarray, clip_ids: np.ndarray) -> np.ndarray:
    """Level (dBFS) of each candidate frame's window, from the audio cache the teacher read."""
    params = audio_params(store.meta or {})
    return frame_levels(
        clip_ids,
        np.asarray(store.frames)[candidates],
        AudioCache(layout.root, params["sr"]),
        hop_size=params["hop_size"],
        center=params["center"],
        frame_size=params["frame_size"],
    )


def _fit_reducer(reducer, store: FrameStore, chosen: np.ndarray, config: TargetsConfig) -> None:
    # the exact and randomized PCA solvers need every row at once; the others stream batches
    if isinstance(reducer, PCAReducer) and config.pca_method in ("exact", "randomized"):
        reducer.fit(store.read(chosen))
    else:
        reducer.fit_batches(read_batches(store, chosen, config.batch_size, desc=f"fit {config.method}"))


def _save(layout: RunLayout, name: str, reducer, chosen: np.ndarray, teacher_dir: Path, config: TargetsConfig) -> None:
    with atomic_path(layout.targets(name) / SAMPLE_INDICES_NAME, suffix=".npy") as tmp:
        np.save(tmp, chosen)
    extra = {"name": name, "teacher": teacher_dir.name, "sampler": config.sampler}
    save_reducer(reducer, layout.reducer(name), extra=extra)


def _heldout_report(reducer, store: FrameStore, heldout: np.ndarray, config: TargetsConfig) -> dict[str, Any]:
    """Reconstruction error and explained variance on (a random subset of) the held-out frames."""
    held = heldout
    if held.size > config.report_max_frames:
        held = np.sort(np.random.default_rng([config.seed, 11]).choice(held, config.report_max_frames, replace=False))
    return reconstruction_report(reducer, read_batches(store, held, config.batch_size))


# -- inputs and summaries -------------------------------------------------------------


def _clip_meta(layout: RunLayout) -> dict[str, dict[str, Any]]:
    if not layout.manifest.is_file():
        return {}
    return {r.clip_id: dict(r.meta or {}) for r in read_manifest(layout.manifest)}


def _absolute_times(clip_ids: np.ndarray, ts: np.ndarray, clip_meta: dict[str, dict[str, Any]]) -> np.ndarray | None:
    """Clip start time (meta.timestamp, seconds or ISO) + frame timestamp, when every clip has one."""
    starts: dict[str, float] = {}
    for c in np.unique(clip_ids):
        t = (clip_meta.get(c) or {}).get("timestamp")
        if t is None:
            return None
        if isinstance(t, (int, float)):
            starts[c] = float(t)
        else:
            try:
                starts[c] = _dt.datetime.fromisoformat(str(t).replace("Z", "+00:00")).timestamp()
            except ValueError:
                return None
    return np.array([starts[c] for c in clip_ids]) + ts


def _fit_summary(reducer) -> dict[str, Any]:
    if isinstance(reducer, PCAReducer):
        evr = reducer.explained_variance_ratio_
        return {
            "explained_variance_ratio": evr.tolist(),
            "cumulative_explained_variance": np.cumsum(evr).tolist(),
            "explained_variance": float(evr.sum()),
            "n_samples_seen": reducer.n_samples_seen_,
        }
    if isinstance(reducer, DimSampleReducer):
        evr = reducer.explained_variance_ratio_
        return {
            "kept_dims": reducer.kept_dims_.tolist(),
            "explained_variance": float(evr.sum()),
            "n_samples_seen": reducer.n_samples_seen_,
        }
    return {"explained_variance": 1.0}


def _sampler_report(config, store, candidates, pos, levels, rng, bucket_used, groups) -> dict[str, Any]:
    """Diversity of the chosen frames vs a same-size uniform draw, and loudness when known."""
    k = min(pos.size, 2000)
    sub = np.sort(rng.choice(pos, size=k, replace=False)) if pos.size > k else pos
    base = np.sort(rng.choice(candidates.size, size=k, replace=False))
    rows = StoreRows(store, candidates)
    rep: dict[str, Any] = {
        "sampler": config.sampler,
        "bucket": bucket_used,
        "n_buckets": int(np.unique(groups).size),
        "diversity_measure": "mean pairwise cosine distance; logdet(F^_S F^_S^T + sigma I)/k on L1-normalised F^",
        "diversity": diversity_stats(rows[sub], sigma=config.dpp_sigma),
        "diversity_uniform_baseline": diversity_stats(rows[base], sigma=config.dpp_sigma),
    }
    if levels is not None:
        rep["level_db_chosen_mean"] = float(levels[pos].mean())
        rep["level_db_candidates_mean"] = float(levels.mean())
    return rep


def _dpp_summary(dpp_buckets: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "n_buckets": len(dpp_buckets),
        "pool_total": int(sum(b["pool"] for b in dpp_buckets)),
        # items drawn from the diversity part of L (the rest is uniform fill): t/k near 0
        # means sigma*I dominates and the k-DPP is close to uniform
        "t_drawn": int(sum(b["t"] for b in dpp_buckets)),
        "t_expected": float(sum(b["t_expected"] for b in dpp_buckets)),
        "seconds": float(sum(b["seconds"] for b in dpp_buckets)),
    }
