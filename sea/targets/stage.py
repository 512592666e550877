"""The ``targets`` stage: sample teacher frames, fit φ, project every frame.

Layout of ``RUN/targets/<name>/``::

    reducer.npz, reducer.json    the fitted reduction (see reducers.py)
    sample_indices.npy           int64 store indices of the frames φ was fitted on
    report.json                  held-out explained variance / reconstruction error, sampler stats
    stage.json                   resolved config, input hashes (teacher store, manifest), counts
    targets-00000.npy ...        after ``apply``: float32 [n, d] shards aligned with the store
    targets_index.json           shard list, reducer sha256 and store fingerprint

Examples
--------
>>> out = fit_targets(run_dir, TargetsConfig(method="pca", dim=64, sampler="spl"))
>>> apply_targets(run_dir, out.name)
>>> t = open_targets(run_dir, out.name); t.read(np.arange(8)).shape
(8, 64)
"""

from __future__ import annotations

import dataclasses
import logging
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..config import config_to_dict
from ..errors import ConfigError, ManifestError, ParameterError, SeaWarning
from ..progress import progress
from ..runs import Stage, input_hash, read_stage, require_stage
from ..utils import atomic_path, read_json, write_json
from .reducers import (
    DimSampleReducer,
    IdentityReducer,
    PCAReducer,
    load_reducer,
    reconstruction_report,
    save_reducer,
)
from .samplers import SAMPLERS, bucket_labels, diversity_stats, frame_levels, sample_points

log = logging.getLogger(__name__)

__all__ = [
    "TargetsConfig",
    "TargetsReader",
    "apply_targets",
    "fit_targets",
    "load_targets",
    "open_targets",
    "resolve_teacher_dir",
    "target_spec",
    "targets_info",
]

METHODS = ("pca", "identity", "dims_random", "dims_variance")
INDEX_NAME = "targets_index.json"


@dataclass(frozen=True)
class TargetsConfig:
    """Config of ``sea targets fit``."""

    method: Literal["pca", "identity", "dims_random", "dims_variance"] = field(
        default="pca", metadata={"help": "reduction: pca, identity (Student 0), dims_random or dims_variance"}
    )
    dim: int = field(default=64, metadata={"help": "output dimension d (ignored by identity)"})
    sampler: Literal["random", "spl", "dpp_div", "dpp", "all"] = field(
        default="random", metadata={"help": "which frames fit the reduction; 'all' fits one target set per sampler"}
    )
    n_points: int = field(default=20000, metadata={"help": "frames to fit on (capped to the available frames)"})
    bucket: Literal["clip", "sensor", "day", "auto"] = field(
        default="auto",
        metadata={"help": "time buckets for quotas: clip, sensor, day (per sensor) or auto (day if known, else clip)"},
    )
    spl_window: int = field(default=0, metadata={"help": "spl rank window in frames within a bucket; 0 = whole bucket"})
    dpp_pool_size: int = field(
        default=20000, metadata={"help": "k-DPP candidate pool drawn uniformly per DPP bucket; 0 = all candidates"}
    )
    dpp_sigma: float = field(default=0.1, metadata={"help": "k-DPP kernel ridge: L = F^F^T + sigma*I"})
    dpp_norm: Literal["l1", "l2"] = field(
        default="l1",
        metadata={"help": "row normalisation of F^ for the DPP kernels: l1 (paper) or l2 (stronger diversity)"},
    )
    heldout_fraction: float = field(default=0.1, metadata={"help": "share of clips held out of fitting for the report"})
    report_max_frames: int = field(
        default=50000, metadata={"help": "held-out frames used for the report (random subset)"}
    )
    whiten: bool = field(default=False, metadata={"help": "PCA whitening (unit-variance components)"})
    pca_method: Literal["auto", "exact", "randomized", "streaming"] = field(
        default="streaming", metadata={"help": "PCA solver; streaming = exact, O(D^2) memory"}
    )
    seed: int = field(default=0, metadata={"help": "seed of the held-out split and the samplers"})
    teacher: str = field(
        default="auto", metadata={"help": "teacher store variant under RUN/teacher/ ('auto': the only one)"}
    )
    name: str = field(
        default="", metadata={"help": "output name under RUN/targets/ (default: {method}{dim}_{sampler})"}
    )
    batch_size: int = field(default=8192, metadata={"help": "frames per read / projection batch"})

    def validate(self) -> None:
        def bad(key: str, rule: str) -> ConfigError:
            return ConfigError(f"TargetsConfig.{key}={getattr(self, key)!r} {rule}")

        if self.dim < 1:
            raise bad("dim", "must be >= 1, e.g. 64, 128 or 256")
        if self.n_points < 2:
            raise bad("n_points", "must be >= 2")
        if not 0.0 <= self.heldout_fraction < 1.0:
            raise bad("heldout_fraction", "must be in [0, 1), e.g. 0.1")
        if self.spl_window < 0:
            raise bad("spl_window", "must be >= 0 (0 = whole bucket)")
        if self.dpp_pool_size < 0:
            raise bad("dpp_pool_size", "must be >= 0 (0 = no pool)")
        if not self.dpp_sigma > 0:
            raise bad("dpp_sigma", "must be > 0, e.g. 0.1")
        if self.batch_size < 1:
            raise bad("batch_size", "must be >= 1")
        if self.report_max_frames < 1:
            raise bad("report_max_frames", "must be >= 1")
        if self.name and ("/" in self.name or self.name.startswith(".")):
            raise bad("name", "must be a plain directory name")

    def default_name(self, in_dim: int | None = None) -> str:
        if self.name:
            return self.name
        if self.method == "identity":
            return f"identity{in_dim if in_dim is not None else ''}"
        return f"{self.method}{self.dim}_{self.sampler}"


# -- store access -------------------------------------------------------------


def resolve_teacher_dir(run_dir: str | Path, teacher: str = "auto") -> Path:
    """``RUN/teacher/<variant>``; ``auto`` picks the only variant there."""
    root = Path(run_dir) / "teacher"
    if teacher != "auto":
        d = root / teacher
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


def _open_store(teacher_dir: Path):
    from ..store import FrameStore  # written by the teacher stage (issue 3)

    return FrameStore(teacher_dir)


def _audio_params(meta: dict[str, Any]) -> dict[str, Any]:
    """The framing the teacher used, from the store's meta (openl3 defaults otherwise)."""
    teacher = meta.get("teacher") if isinstance(meta.get("teacher"), dict) else {}
    sr = meta.get("sr") or meta.get("audio_sr") or teacher.get("sr") or 48000
    return {
        "sr": int(sr),
        "hop_size": float(meta.get("hop_size", teacher.get("hop_size", 0.1))),
        "center": bool(meta.get("center", teacher.get("center", True))),
        "frame_size": float(meta.get("frame_size", teacher.get("frame_size", 1.0))),
    }


class _Rows:
    """``rows[i]`` = store rows ``candidates[i]`` (the DPP samplers' feature reader)."""

    def __init__(self, store, candidates: np.ndarray):
        self.store, self.candidates = store, candidates

    def __len__(self) -> int:
        return int(self.candidates.shape[0])

    def __getitem__(self, idx) -> np.ndarray:
        idx = np.asarray(idx, dtype=np.int64)
        order = np.argsort(idx, kind="stable")
        out = np.empty((idx.shape[0], self.store.dim), dtype=np.float32)
        out[order] = self.store.read(self.candidates[idx[order]])
        return out


def _read_batches(store, indices: np.ndarray, batch_size: int, desc: str | None = None) -> Iterator[np.ndarray]:
    chunks = range(0, indices.shape[0], batch_size)
    for i in progress(chunks, total=len(chunks), desc=desc, unit="batch") if desc else chunks:
        yield store.read(indices[i : i + batch_size])


def _clip_meta(run_dir: Path) -> dict[str, dict[str, Any]]:
    from ..manifest import read_manifest

    if not (run_dir / "clips.jsonl").is_file():
        return {}
    return {r.clip_id: dict(r.meta or {}) for r in read_manifest(run_dir)}


def _heldout_split(clip_ids: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (fit, heldout) over frames; held out by clip."""
    uniq = np.unique(clip_ids)
    n_held = int(round(fraction * uniq.size))
    if fraction > 0 and uniq.size >= 2:
        n_held = min(max(n_held, 1), uniq.size - 1)
    else:
        n_held = 0
    held_clips = np.random.default_rng([seed, 7]).permutation(uniq)[:n_held]
    held = np.isin(clip_ids, held_clips)
    return ~held, held


def _make_reducer(config: TargetsConfig, in_dim: int):
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


# -- fit ------------------------------------------------------------------------------


def fit_targets(
    run_dir: str | Path, config: TargetsConfig | None = None, *, overwrite: bool = False
) -> Path | list[Path]:
    """Fit the reduction φ on sampled teacher frames.

    Parameters
    ----------
    run_dir : path
        A run with a finished teacher frame store (``RUN/teacher/<variant>``).
    config : TargetsConfig
    overwrite : bool
        Refit even when a finished ``stage.json`` matches.

    Returns
    -------
    out_dir : Path
        ``RUN/targets/<name>``; a list of them when ``sampler == "all"``.
    """
    config = config or TargetsConfig()
    config.validate()
    if config.sampler == "all" and config.method != "identity":
        outs = []
        for s in SAMPLERS:
            name = f"{config.name}_{s}" if config.name else ""
            outs.append(fit_targets(run_dir, dataclasses.replace(config, sampler=s, name=name), overwrite=overwrite))
        return outs
    run_dir = Path(run_dir)
    teacher_dir = resolve_teacher_dir(run_dir, config.teacher)
    require_stage(teacher_dir, "teacher frame store", f"sea teacher extract {run_dir}")
    store = _open_store(teacher_dir)
    name = config.default_name(store.dim)
    out = run_dir / "targets" / name
    inputs: dict[str, Path] = {"teacher": teacher_dir}
    if (run_dir / "clips.jsonl").is_file():
        inputs["clips"] = run_dir / "clips.jsonl"
    resolved = {**config_to_dict(config), "name": name, "teacher": teacher_dir.name}
    stage = Stage(out, "targets", resolved, inputs=inputs)
    if not overwrite and stage.is_done():
        log.info("targets %s: already done, skipping (use --overwrite to refit)", name)
        return out
    with stage.running():
        report = _fit(run_dir, store, teacher_dir, config, out, stage)
        stage.counts.update(
            n_frames=int(len(store)),
            n_points=int(report["n_points"]),
            n_heldout_frames=int(report["heldout"]["n_frames"]),
        )
        stage.extra["reducer"] = report["reducer"]
    return out


def _fit(run_dir: Path, store, teacher_dir: Path, config: TargetsConfig, out: Path, stage: Stage) -> dict[str, Any]:
    t_start = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    clip_ids = np.asarray(store.clip_ids).astype(str)
    fit_mask, held_mask = _heldout_split(clip_ids, config.heldout_fraction, config.seed)
    candidates = np.flatnonzero(fit_mask).astype(np.int64)
    heldout = np.flatnonzero(held_mask).astype(np.int64)
    if heldout.size == 0:
        warnings.warn(
            "no held-out clips (heldout_fraction=0 or a single clip): the report is computed on the fitting frames",
            SeaWarning,
            stacklevel=3,
        )
        heldout = candidates
    reducer = _make_reducer(config, store.dim)
    timings: dict[str, float] = {}
    sampler_report: dict[str, Any] = {"sampler": None}
    chosen = np.zeros(0, dtype=np.int64)
    if config.method != "identity":
        n_points = config.n_points
        if n_points > candidates.size:
            warnings.warn(
                f"n_points={n_points} exceeds the {candidates.size} frames available for fitting; using all of them",
                SeaWarning,
                stacklevel=3,
            )
            n_points = int(candidates.size)
        clip_meta = _clip_meta(run_dir)
        groups, bucket_used = bucket_labels(clip_ids[candidates], clip_meta, config.bucket)
        times = _absolute_times(clip_ids[candidates], np.asarray(store.timestamps)[candidates], clip_meta)
        levels = None
        t0 = time.perf_counter()
        if config.sampler in ("spl", "dpp"):
            from ..cache import AudioCache

            params = _audio_params(store.meta or {})
            cache = AudioCache(run_dir, params["sr"])
            levels = frame_levels(
                clip_ids[candidates],
                np.asarray(store.frames)[candidates],
                cache,
                hop_size=params["hop_size"],
                center=params["center"],
                frame_size=params["frame_size"],
            )
        timings["levels_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        dpp_groups = groups if bucket_used in ("sensor", "day") else None
        dpp_buckets: list[dict[str, Any]] = []
        pos = sample_points(
            config.sampler,
            n_points,
            m=int(candidates.size),
            rng=rng,
            groups=groups,
            features=_Rows(store, candidates) if config.sampler in ("dpp_div", "dpp") else None,
            levels=levels,
            times=times,
            spl_window=config.spl_window,
            dpp_pool_size=config.dpp_pool_size or None,
            dpp_sigma=config.dpp_sigma,
            dpp_groups=dpp_groups,
            dpp_norm=config.dpp_norm,
            on_bucket=dpp_buckets.append,
        )
        timings["sampling_s"] = time.perf_counter() - t0
        chosen = candidates[pos]
        sampler_report = _sampler_report(config, store, candidates, pos, levels, rng, bucket_used, groups)
        if dpp_buckets:
            sampler_report["dpp"] = {
                "n_buckets": len(dpp_buckets),
                "pool_total": int(sum(b["pool"] for b in dpp_buckets)),
                # items drawn from the diversity part of L (the rest is uniform fill): t/k near 0
                # means sigma*I dominates and the k-DPP is close to uniform
                "t_drawn": int(sum(b["t"] for b in dpp_buckets)),
                "t_expected": float(sum(b["t_expected"] for b in dpp_buckets)),
                "seconds": float(sum(b["seconds"] for b in dpp_buckets)),
            }
        t0 = time.perf_counter()
        if isinstance(reducer, PCAReducer) and config.pca_method in ("exact", "randomized"):
            reducer.fit(store.read(chosen))
        else:
            reducer.fit_batches(_read_batches(store, chosen, config.batch_size, desc=f"fit {config.method}"))
        timings["fit_s"] = time.perf_counter() - t0
    else:
        reducer.fit()
    with atomic_path(out / "sample_indices.npy", suffix=".npy") as tmp:
        np.save(tmp, chosen)
    save_reducer(
        reducer, out / "reducer.npz", extra={"name": out.name, "teacher": teacher_dir.name, "sampler": config.sampler}
    )
    t0 = time.perf_counter()
    held = heldout
    if held.size > config.report_max_frames:
        held = np.sort(np.random.default_rng([config.seed, 11]).choice(held, config.report_max_frames, replace=False))
    heldout_report = reconstruction_report(reducer, _read_batches(store, held, config.batch_size))
    timings["report_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - t_start
    report = {
        "name": out.name,
        "method": config.method,
        "dim": int(reducer.out_dim),
        "in_dim": int(store.dim),
        "sampler": config.sampler if config.method != "identity" else None,
        "n_points": int(chosen.size),
        "n_candidates": int(candidates.size),
        "n_frames": int(len(store)),
        "n_heldout_clips": int(np.unique(clip_ids[heldout]).size) if heldout is not candidates else 0,
        "fit": _fit_summary(reducer),
        "heldout": heldout_report,
        "sampling": sampler_report,
        "timings": {k: round(v, 4) for k, v in timings.items()},
        "reducer": reducer.spec(),
    }
    write_json(out / "report.json", report)
    return report


def _absolute_times(clip_ids: np.ndarray, ts: np.ndarray, clip_meta: dict[str, dict[str, Any]]) -> np.ndarray | None:
    """Clip start time (meta.timestamp, seconds or ISO) + frame timestamp, when every clip has one."""
    import datetime as _dt

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
    rows = _Rows(store, candidates)
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


# -- apply / read -------------------------------------------------------------------


def load_targets(run_dir: str | Path, name: str):
    """``(reducer, store)`` of a fitted target set."""
    run_dir = Path(run_dir)
    out = run_dir / "targets" / name
    s = require_stage(out, f"target set {name!r}", f"sea targets fit {run_dir}")
    teacher_dir = resolve_teacher_dir(run_dir, s.get("config", {}).get("teacher", "auto"))
    return load_reducer(out / "reducer.npz"), _open_store(teacher_dir)


def target_spec(run_dir: str | Path, name: str) -> dict[str, Any]:
    """The ``target_spec`` for checkpoints: reducer spec + target name, teacher variant and sampler."""
    out = Path(run_dir) / "targets" / name
    s = require_stage(out, f"target set {name!r}", f"sea targets fit {run_dir}")
    r = load_reducer(out / "reducer.npz")
    cfg = s.get("config", {})
    return {**r.spec(), "name": name, "teacher": cfg.get("teacher"), "sampler": cfg.get("sampler")}


def _store_fingerprint(run_dir: Path, name: str) -> str:
    s = read_stage(Path(run_dir) / "targets" / name) or {}
    teacher_dir = resolve_teacher_dir(run_dir, s.get("config", {}).get("teacher", "auto"))
    return input_hash(teacher_dir)


def apply_targets(
    run_dir: str | Path, name: str, *, batch_size: int = 8192, shard_size: int = 65536, overwrite: bool = False
) -> Path:
    """Project every store frame through φ into ``targets-*.npy`` shards (float32 [n, d]).

    Shards are row-aligned with the store: shard ``i`` holds rows
    ``[i·shard_size, (i+1)·shard_size)``. ``targets_index.json`` records the
    reducer sha256 and the store fingerprint; a matching index means done.
    """
    run_dir = Path(run_dir)
    out = run_dir / "targets" / name
    reducer, store = load_targets(run_dir, name)
    fingerprint = _store_fingerprint(run_dir, name)
    index_path = out / INDEX_NAME
    if not overwrite and index_path.is_file():
        idx = read_json(index_path)
        if idx.get("reducer_sha256") == reducer.sha256_ and idx.get("store") == fingerprint:
            log.info("targets %s: already applied, skipping", name)
            return out
    if shard_size < 1 or batch_size < 1:
        raise ParameterError("batch_size and shard_size must be >= 1")
    for old in out.glob("targets-*.npy"):
        old.unlink()
    if index_path.exists():
        index_path.unlink()
    n, d = len(store), reducer.out_dim
    shards = []
    n_shards = max(1, -(-n // shard_size))
    for s_i in progress(range(n_shards), total=n_shards, desc=f"apply {name}", unit="shard"):
        start, stop = s_i * shard_size, min(n, (s_i + 1) * shard_size)
        fname = f"targets-{s_i:05d}.npy"
        with atomic_path(out / fname, suffix=".npy") as tmp:
            arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(stop - start, d))
            for b in range(start, stop, batch_size):
                e = min(stop, b + batch_size)
                arr[b - start : e - start] = reducer.transform(store.read(np.arange(b, e)))
            arr.flush()
            del arr
        shards.append({"file": fname, "start": start, "stop": stop})
    write_json(
        index_path,
        {
            "n_frames": n,
            "dim": d,
            "shard_size": shard_size,
            "shards": shards,
            "reducer_sha256": reducer.sha256_,
            "store": fingerprint,
        },
    )
    return out


class TargetsReader:
    """Projected targets φ(teacher) aligned with the frame store.

    Reads the ``apply`` shards when they are up to date, otherwise projects
    store rows on the fly.

    Attributes
    ----------
    reducer, store, dim, n_frames, applied : bool
    """

    def __init__(self, run_dir: str | Path, name: str):
        self.run_dir, self.name = Path(run_dir), name
        self.reducer, self.store = load_targets(run_dir, name)
        self.dim = int(self.reducer.out_dim)
        self.n_frames = int(len(self.store))
        self._shards: list[np.ndarray] = []
        self._starts = np.zeros(0, dtype=np.int64)
        idx_path = self.run_dir / "targets" / name / INDEX_NAME
        self.applied = False
        if idx_path.is_file():
            idx = read_json(idx_path)
            if idx.get("reducer_sha256") == self.reducer.sha256_ and idx.get("n_frames") == self.n_frames:
                base = idx_path.parent
                self._shards = [np.load(base / s["file"], mmap_mode="r", allow_pickle=False) for s in idx["shards"]]
                self._starts = np.array([s["start"] for s in idx["shards"]], dtype=np.int64)
                self.applied = True

    def __len__(self) -> int:
        return self.n_frames

    @property
    def spec(self) -> dict[str, Any]:
        return target_spec(self.run_dir, self.name)

    def read(self, indices) -> np.ndarray:
        """Targets of store rows ``indices``, float32 [k, d], in the given order."""
        indices = np.asarray(indices, dtype=np.int64)
        if indices.size and (indices.min() < 0 or indices.max() >= self.n_frames):
            raise ParameterError(
                f"target indices must be in [0, {self.n_frames}), got {int(indices.min())}..{int(indices.max())}"
            )
        if not self.applied:
            order = np.argsort(indices, kind="stable")
            out = np.empty((indices.size, self.dim), dtype=np.float32)
            out[order] = self.reducer.transform(self.store.read(indices[order]))
            return out
        shard = np.searchsorted(self._starts, indices, side="right") - 1
        out = np.empty((indices.size, self.dim), dtype=np.float32)
        for s in np.unique(shard):
            m = shard == s
            out[m] = self._shards[s][indices[m] - self._starts[s]]
        return out

    def iter_batches(self, batch_size: int = 8192) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(start, float32 [b, d])`` over all frames in store order."""
        for start in range(0, self.n_frames, batch_size):
            yield start, self.read(np.arange(start, min(self.n_frames, start + batch_size)))


def open_targets(run_dir: str | Path, name: str) -> TargetsReader:
    """A :class:`TargetsReader` for ``RUN/targets/<name>``."""
    return TargetsReader(run_dir, name)


def targets_info(run_dir: str | Path) -> list[dict[str, Any]]:
    """One row per fitted target set: name, method, dim, sampler, points, held-out EV and relative MSE."""
    root = Path(run_dir) / "targets"
    rows = []
    for d in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        rep_path = d / "report.json"
        s = read_stage(d) or {}
        if not rep_path.is_file():
            rows.append({"name": d.name, "status": s.get("status", "incomplete")})
            continue
        rep = read_json(rep_path)
        rows.append(
            {
                "name": d.name,
                "status": s.get("status", "?"),
                "method": rep.get("method"),
                "dim": rep.get("dim"),
                "sampler": rep.get("sampler"),
                "n_points": rep.get("n_points"),
                "fit_ev": rep.get("fit", {}).get("explained_variance"),
                "heldout_ev": rep.get("heldout", {}).get("explained_variance"),
                "heldout_rel_mse": rep.get("heldout", {}).get("relative_mse"),
                "applied": (d / INDEX_NAME).is_file(),
            }
        )
    return rows
