"""The body of ``sea targets fit``: split, sample frames, fit φ, save it and report on held-out clips.

:func:`plan_fit` checks everything that can be checked before anything is written (the teacher's
dimension, the held-out split, the buckets and the frame times); :func:`fit_reduction` then runs the
steps in order, each step one function below. Every warning it gives is also recorded in
``report.json`` (``warnings``).

Randomness: one ``default_rng(seed)`` feeds the sampler; the held-out split uses ``[seed, 7]``, the
report's subset ``[seed, 11]`` and the diversity measure (uniform baseline) ``[seed, 13]``.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import AudioCache
from ..errors import SeaWarning
from ..layout import RunLayout
from ..manifest import read_manifest
from ..splits import grouped_holdout
from ..store import FrameStore
from ..utils import atomic_path, write_json
from .buckets import Buckets, frame_times, make_buckets
from .config import TargetsConfig
from .diversity import bucket_table, within_bucket_diversity
from .reader import REPORT_NAME, SAMPLE_INDICES_NAME
from .reducers import DimSampleReducer, IdentityReducer, PCAReducer, reconstruction_report, save_reducer
from .samplers import frame_levels, sample_points, warn_fallback
from .teacher_store import StoreRows, audio_params, read_batches, read_rows, teacher_identity

__all__ = ["FitPlan", "fit_reduction", "make_reducer", "plan_fit"]

# relative eigenvalue below which a PCA component counts as zero-variance
_ZERO_VARIANCE = 1e-10


@dataclass(frozen=True)
class _Split:
    """Store rows φ may be fitted on (``candidates``) and rows of held-out clips (``heldout``)."""

    clip_ids: np.ndarray  # [n] str, per store row
    candidates: np.ndarray  # [M] int64
    heldout: np.ndarray  # [H] int64; the candidates when no clip is held out
    n_heldout_clips: int


@dataclass(frozen=True)
class FitPlan:
    """What :func:`plan_fit` checked: the split, the candidates' buckets and times, and the warnings to give."""

    split: _Split
    buckets: Buckets | None  # None for identity (nothing is sampled)
    times: np.ndarray | None  # [M] float64 seconds
    notes: list[str] = field(default_factory=list)


def plan_fit(layout: RunLayout, store: FrameStore, config: TargetsConfig) -> FitPlan:
    """Check the inputs of a fit before anything is written.

    Parameters
    ----------
    layout : RunLayout
        The run (its manifest gives sensors, dates and clip start times).
    store : FrameStore
        The teacher frame store.
    config : TargetsConfig
        A validated config.

    Returns
    -------
    plan : FitPlan
        The held-out split, the buckets and times of the candidate frames, and warnings for later.

    Raises
    ------
    ConfigError
        ``dim`` above the teacher's embedding size.
    ParameterError
        ``bucket: sensor`` with a clip that has no sensor.
    """
    config.check_teacher_dim(store.dim)
    split, notes = _split_frames(store, config)
    if config.method == "identity":
        return FitPlan(split, None, None, notes)
    clip_meta = _clip_meta(layout)
    clips = split.clip_ids[split.candidates]
    buckets = make_buckets(clips, clip_meta, config.bucket)
    times = frame_times(clips, np.asarray(store.timestamps)[split.candidates], clip_meta, buckets)
    return FitPlan(split, buckets, times, notes)


def fit_reduction(
    layout: RunLayout, name: str, store: FrameStore, teacher_dir: Path, config: TargetsConfig, plan: FitPlan
) -> dict:
    """Fit φ on sampled frames of ``store`` and write ``RUN/targets/<name>``; return ``report.json``'s content.

    Parameters
    ----------
    layout : RunLayout
        The run.
    name : str
        The target set's name.
    store : FrameStore
        The teacher frame store.
    teacher_dir : Path
        Its directory.
    config : TargetsConfig
        A validated config.
    plan : FitPlan
        From :func:`plan_fit`.

    Returns
    -------
    report : dict
        What ``report.json`` holds.
    """
    notes: list[str] = []
    with _recorded(notes):
        for msg in plan.notes:
            warnings.warn(msg, SeaWarning, stacklevel=2)
        report = _fit(layout, name, store, teacher_dir, config, plan)
    report["warnings"] = notes
    write_json(layout.targets(name) / REPORT_NAME, report)
    return report


def _fit(layout, name, store, teacher_dir, config, plan) -> dict:
    t_start = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    split = plan.split
    reducer = make_reducer(config, store.dim)
    timings: dict[str, float] = {}
    extra: dict[str, Any] = {"buckets": [], "diversity": None}
    if config.method != "identity":
        chosen, sampler_report, extra = _choose_frames(layout, store, plan, config, rng, timings)
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
    return {
        "name": name,
        "method": config.method,
        "dim": int(reducer.out_dim),
        "in_dim": int(store.dim),
        "teacher": teacher_identity(store, teacher_dir),
        "sampler": config.sampler if config.method != "identity" else None,
        "n_points": int(chosen.size),
        "n_candidates": int(split.candidates.size),
        "n_frames": int(len(store)),
        "n_heldout_clips": split.n_heldout_clips,
        "fit": _fit_summary(reducer, int(chosen.size)),
        "heldout": heldout_report,
        "sampling": sampler_report,
        **extra,
        "timings": {k: round(v, 4) for k, v in timings.items()},
        "reducer": reducer.spec(),
    }


@contextlib.contextmanager
def _recorded(notes: list[str]) -> Iterator[None]:
    """Record the message of every SeaWarning given in the body, and give each warning on to the caller."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:  # given on even when the body fails: they may explain why
        for w in caught:
            if issubclass(w.category, SeaWarning):
                notes.append(str(w.message))
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def make_reducer(config: TargetsConfig, in_dim: int) -> PCAReducer | IdentityReducer | DimSampleReducer:
    """Return the unfitted reduction φ that ``config`` asks for, for ``in_dim``-d teacher frames.

    Parameters
    ----------
    config : TargetsConfig
        The method, dim, whitening, PCA solver and seed.
    in_dim : int
        The teacher's embedding size.

    Returns
    -------
    reducer : PCAReducer, IdentityReducer or DimSampleReducer
        Not fitted yet.
    """
    config.check_teacher_dim(in_dim)
    if config.method == "pca":
        return PCAReducer(
            config.dim, whiten=config.whiten, method=config.pca_method, batch_size=config.batch_size, seed=config.seed
        )
    if config.method == "identity":
        return IdentityReducer(in_dim)
    mode = "random" if config.method == "dims_random" else "variance"
    return DimSampleReducer(config.dim, mode=mode, seed=config.seed, batch_size=config.batch_size)


# -- steps ----------------------------------------------------------------------------


def _split_frames(store: FrameStore, config: TargetsConfig) -> tuple[_Split, list[str]]:
    """Hold out whole clips: their frames are near-duplicates of each other."""
    clip_ids = np.asarray(store.clip_ids).astype(str)
    held_mask = grouped_holdout(clip_ids, config.heldout_fraction, [config.seed, 7])
    candidates = np.flatnonzero(~held_mask).astype(np.int64)
    heldout = np.flatnonzero(held_mask).astype(np.int64)
    if heldout.size == 0:
        msg = "no held-out clips (heldout_fraction=0 or a single clip): the report is computed on the fitting frames"
        return _Split(clip_ids, candidates, candidates, 0), [msg]
    return _Split(clip_ids, candidates, heldout, int(np.unique(clip_ids[heldout]).size)), []


def _choose_frames(
    layout: RunLayout,
    store: FrameStore,
    plan: FitPlan,
    config: TargetsConfig,
    rng: np.random.Generator,
    timings: dict[str, float],
) -> tuple[np.ndarray, dict[str, Any], dict[str, Any]]:
    """Run the sampler over the candidates; return the chosen store rows (sorted), the sampler report and
    the report's ``buckets`` and ``diversity``."""
    candidates, buckets = plan.split.candidates, plan.buckets
    n_points = config.n_points
    if n_points > candidates.size:
        warnings.warn(
            f"n_points={n_points} exceeds the {candidates.size} frames available for fitting; using all of them",
            SeaWarning,
            stacklevel=2,
        )
        n_points = int(candidates.size)
    warn_fallback(buckets, stacklevel=2)
    dpp = config.sampler in ("dpp_div", "dpp")
    t0 = time.perf_counter()
    levels = _frame_levels(layout, store, plan.split) if config.sampler in ("spl", "dpp") else None
    timings["levels_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    per_bucket_dpp = buckets.kind in ("sensor", "day")
    dpp_buckets: list[dict[str, Any]] = []
    rows = StoreRows(store, candidates)
    pos = sample_points(
        config.sampler,
        n_points,
        m=int(candidates.size),
        rng=rng,
        groups=buckets.labels,
        features=rows if dpp else None,
        levels=levels,
        times=plan.times,
        spl_window=config.spl_window,
        dpp_pool_size=config.dpp_pool_size or None,
        dpp_sigma=config.resolved_dpp_sigma,
        dpp_quality=config.dpp_quality,
        dpp_groups=buckets.labels if per_bucket_dpp else None,
        dpp_norm=config.dpp_norm,
        on_bucket=dpp_buckets.append,
    )
    timings["sampling_s"] = time.perf_counter() - t0
    if dpp and not per_bucket_dpp:  # one DPP over every candidate: that is the bucket it drew within
        groups, keys = np.zeros(candidates.size, dtype=np.int64), ["all candidates"]
    else:
        groups, keys = buckets.labels, buckets.keys
    t0 = time.perf_counter()
    extra = {
        "buckets": bucket_table(groups, keys, pos, {b["bucket"]: b["pool"] for b in dpp_buckets} if dpp else None),
        "diversity": within_bucket_diversity(rows, groups, pos, np.random.default_rng([config.seed, 13])),
    }
    timings["diversity_s"] = time.perf_counter() - t0
    if dpp:
        _flag_diversity(config, extra["diversity"], dpp_buckets)
    sampler_report = _sampler_report(config, buckets, pos, levels, dpp_buckets, per_bucket_dpp)
    return candidates[pos], sampler_report, extra


def _flag_diversity(config: TargetsConfig, diversity: dict[str, Any], dpp_buckets: list[dict[str, Any]]) -> None:
    """Flag (and warn about) a DPP draw that is not more diverse than the uniform draw."""
    sample, uniform = diversity["sample"], diversity["uniform"]
    diversity["dpp_more_diverse"] = bool(sample > uniform) if np.isfinite(sample) and np.isfinite(uniform) else None
    if diversity["dpp_more_diverse"] is False:
        k = sum(b["k"] for b in dpp_buckets)
        share = sum(b["t"] for b in dpp_buckets) / k if k else 0.0
        diversity["flag"] = "not more diverse than a uniform draw"
        warnings.warn(
            f"sampler {config.sampler!r} chose frames no more diverse than a uniform draw with the same quotas "
            f"(mean within-bucket distance {sample:.4g} vs {uniform:.4g}); only {share:.0%} of its points came "
            f"from the kernel's diversity term (dpp_norm={config.dpp_norm!r}, dpp_sigma={config.resolved_dpp_sigma}). "
            "dpp_norm 'zscore' gives the DPP a kernel that diversifies the teacher space",
            SeaWarning,
            stacklevel=2,
        )


def _frame_levels(layout: RunLayout, store: FrameStore, split: _Split) -> np.ndarray:
    """Level (dBFS) of each candidate frame's window, from the audio cache the teacher read."""
    params = audio_params(store.meta or {})
    return frame_levels(
        split.clip_ids[split.candidates],
        np.asarray(store.frames)[split.candidates],
        AudioCache(layout.root, params["sr"]),
        hop_size=params["hop_size"],
        center=params["center"],
        frame_size=params["frame_size"],
    )


def _fit_reducer(reducer, store: FrameStore, chosen: np.ndarray, config: TargetsConfig) -> None:
    # the exact and randomized PCA solvers need every row at once; the others stream batches
    if isinstance(reducer, PCAReducer) and config.pca_method in ("exact", "randomized"):
        reducer.fit(read_rows(store, chosen))
    else:
        reducer.fit_batches(read_batches(store, chosen, config.batch_size, desc=f"fit {config.method}"))
    if isinstance(reducer, PCAReducer):
        _warn_zero_variance(reducer, int(chosen.size))


def _warn_zero_variance(reducer: PCAReducer, n_points: int) -> None:
    n_zero = _n_zero_variance(reducer)
    if n_zero:
        warnings.warn(
            f"PCA dim={reducer.dim} fitted on {n_points} points: {n_zero} component(s) have zero variance "
            f"({n_points} centred points span at most {max(n_points - 1, 0)} directions), so those targets are "
            f"constant; use dim <= {max(n_points - 1, 1)} or more n_points",
            SeaWarning,
            stacklevel=2,
        )


def _n_zero_variance(reducer: PCAReducer) -> int:
    ev = np.asarray(reducer.explained_variance_, dtype=np.float64)
    top = float(ev.max()) if ev.size else 0.0
    return int(np.count_nonzero(ev <= _ZERO_VARIANCE * top)) if top > 0 else int(ev.size)


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


def _fit_summary(reducer, n_points: int) -> dict[str, Any]:
    if isinstance(reducer, PCAReducer):
        evr = reducer.explained_variance_ratio_
        return {
            "explained_variance_ratio": evr.tolist(),
            "cumulative_explained_variance": np.cumsum(evr).tolist(),
            "explained_variance": float(evr.sum()),
            "n_samples_seen": reducer.n_samples_seen_,
            "n_zero_variance_components": _n_zero_variance(reducer),
        }
    if isinstance(reducer, DimSampleReducer):
        evr = reducer.explained_variance_ratio_
        return {
            "kept_dims": reducer.kept_dims_.tolist(),
            "explained_variance": float(evr.sum()),
            "n_samples_seen": reducer.n_samples_seen_,
        }
    return {"explained_variance": 1.0}


def _sampler_report(config, buckets: Buckets, pos, levels, dpp_buckets, per_bucket_dpp: bool) -> dict[str, Any]:
    """How the sampler drew: buckets used (and fallbacks), loudness when known, the DPP's pools and kernel share."""
    rep: dict[str, Any] = {
        "sampler": config.sampler,
        "bucket": buckets.kind,
        "bucket_requested": config.bucket,
        "n_buckets": buckets.n_buckets,
        "bucket_fallback_clips": len(buckets.fallback_clips),
        "bucket_note": buckets.note,
    }
    if config.sampler in ("spl", "dpp"):
        rep["spl_window_s"] = config.spl_window
    if levels is not None:
        rep["level_db_chosen_mean"] = float(levels[pos].mean())
        rep["level_db_candidates_mean"] = float(levels.mean())
    if dpp_buckets:
        rep["dpp"] = _dpp_summary(config, dpp_buckets, per_bucket_dpp)
    return rep


def _dpp_summary(config, dpp_buckets: list[dict[str, Any]], per_bucket: bool) -> dict[str, Any]:
    k = sum(b["k"] for b in dpp_buckets)
    return {
        "scope": "per bucket" if per_bucket else "all candidates at once (clip buckets)",
        "norm": config.dpp_norm,
        "sigma": config.resolved_dpp_sigma,
        "quality": config.dpp_quality if config.sampler == "dpp" else None,
        "pool_size_requested": config.dpp_pool_size,
        "n_buckets": len(dpp_buckets),
        "pool_total": int(sum(b["pool"] for b in dpp_buckets)),
        "n_pool_raised": int(sum(b["pool_raised"] for b in dpp_buckets)),
        "n_degenerate": int(sum(b["degenerate"] for b in dpp_buckets)),
        # items drawn from the diversity part of L (the rest is uniform fill): t/k near 0
        # means sigma*I dominates and the k-DPP is close to uniform
        "t_drawn": int(sum(b["t"] for b in dpp_buckets)),
        "t_expected": float(sum(b["t_expected"] for b in dpp_buckets)),
        "diversity_share": float(sum(b["t"] for b in dpp_buckets) / k) if k else 0.0,
        "seconds": float(sum(b["seconds"] for b in dpp_buckets)),
    }
