"""Embedding models and the per-frame embeddings of a dataset.

Every model of an evaluation is an :class:`EmbeddingModel`: a function mapping windows
``[B, window_size * sr]`` to ``[B, D]`` features (1 s for OpenL3, edgel3 and their students, 3 s for
BirdNET and its students), with a fingerprint for the cache and an optional cost.
:mod:`sea.evaluate.models` builds them from ``--models`` specs; tests and notebooks inject
stand-ins: any :class:`EmbeddingModel`, or :func:`model_from_callable` around a function /
``nn.Module``.

Framing follows :mod:`sea.framing` (openl3 rules, ``hop_size`` 0.1 s and ``center=True`` by default),
so frame ``i`` of a clip covers the same time span for the teacher (48 kHz) and a student (8 kHz).

Cache
-----
``RUN/eval/<dataset>/emb/<model>.npz``: ``features`` [N, D] float32, ``clip_index`` [N] int32 (position
in ``clip_ids``), ``clip_ids`` [n_clips] str, ``frames`` [N] int32 (frame number within the clip),
``timestamps`` [N] float64 (s), ``key`` (JSON string: the model's fingerprint, framing, dataset
manifest hash). A cache whose key differs is recomputed. Memory while embedding is the output array
plus one batch of windows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import AudioCache
from ..errors import ParameterError, SeaError
from ..framing import frame_starts
from ..layout import RunLayout
from ..progress import progress
from ..utils import Pathlike, atomic_path, sha256_file

log = logging.getLogger(__name__)

__all__ = [
    "EmbeddingModel",
    "EmbeddingSet",
    "embed_dataset",
    "load_embeddings",
    "model_from_callable",
]


@dataclass
class EmbeddingModel:
    """A model that embeds windows of ``window_size`` seconds.

    Attributes
    ----------
    name : str
        Report name (unique per evaluation).
    kind : str
        ``teacher``, ``teacher_pca``, ``student`` or ``custom``.
    sr : int
        Rate of the windows it takes (48000 OpenL3, 8000 students).
    fn : callable or None
        ``[B, window_length] float32 -> [B, D]`` (numpy in, numpy or tensor out).
    fingerprint : str
        Identifies weights and settings for the embedding cache.
    cost : dict or None
        :func:`sea.students.cost.model_cost` style numbers.
    store : object or None
        A :class:`sea.store.FrameStore` whose frames can be reused (teacher kinds).
    post : callable or None
        Applied to store frames (the reducer of ``teacher_pca``).
    reducer : object or None
        For students: the reducer of their distillation targets (fidelity reference).
    info : dict
        Reported as is (checkpoint, variant, target set...).
    cost_fn : callable or None
        Computes ``cost`` on first use (:meth:`get_cost`).
    window_size : float
        Seconds per window (the teacher's window; a student's checkpoint records it).
    """

    name: str
    kind: str
    sr: int
    fn: Callable | None = None
    fingerprint: str = ""
    cost: dict | None = None
    store: Any = None
    post: Callable | None = None
    reducer: Any = None
    info: dict = field(default_factory=dict)
    cost_fn: Callable | None = None
    window_size: float = 1.0

    @property
    def window_length(self) -> int:
        """Samples per window at :attr:`sr`."""
        return int(round(self.window_size * self.sr))

    def get_cost(self) -> dict | None:
        """Return the model's cost, computed once by ``cost_fn``; None when it fails (logged, never fatal)."""
        if self.cost is None and self.cost_fn is not None:
            try:
                self.cost = self.cost_fn()
            except Exception as exc:  # cost is reported, never fatal
                log.warning("cost of %s could not be computed: %s", self.name, exc)
                self.cost = None
            self.cost_fn = None
        return self.cost


@dataclass
class EmbeddingSet:
    """Per-frame embeddings of a dataset.

    Attributes
    ----------
    features : np.ndarray [shape=(N, D), dtype=float32]
        One embedding per frame.
    clip_index : np.ndarray [shape=(N,), dtype=int64]
        Position of the frame's clip in ``clip_ids``.
    clip_ids : np.ndarray [shape=(n_clips,), dtype=str]
        The embedded clips.
    frames : np.ndarray [shape=(N,), dtype=int64]
        Frame number within the clip.
    timestamps : np.ndarray [shape=(N,), dtype=float64]
        Frame start in seconds.
    source : str
        ``cache``, ``store`` (teacher frames reused) or ``model``.
    seconds : float
        Time taken to embed (0 when read from the cache).
    """

    features: np.ndarray
    clip_index: np.ndarray
    clip_ids: np.ndarray
    frames: np.ndarray
    timestamps: np.ndarray
    source: str = "model"
    seconds: float = 0.0

    @property
    def dim(self) -> int:
        """Embedding size D."""
        return int(self.features.shape[1])

    def __len__(self) -> int:
        """Return the number of frames N."""
        return int(self.features.shape[0])


# -- stand-ins -------------------------------------------------------------------------


def as_numpy(y: Any) -> np.ndarray:
    """Convert a model's output to a float32 numpy array (torch tensors detached and moved to the CPU)."""
    if hasattr(y, "detach"):
        y = y.detach().float().cpu().numpy()
    return np.asarray(y, dtype=np.float32)


def model_from_callable(
    name: str,
    fn: Callable,
    *,
    sr: int,
    kind: str = "custom",
    fingerprint: str | None = None,
    cost: dict | None = None,
    reducer: Any = None,
    device: str = "cpu",
    window_size: float = 1.0,
) -> EmbeddingModel:
    """Wrap a function or ``nn.Module`` mapping ``[B, window_size * sr]`` audio to ``[B, D]`` (stand-ins, tests).

    Parameters
    ----------
    name : str
        Report name.
    fn : callable or torch.nn.Module
        ``[B, sr] float32 -> [B, D]`` (numpy in, numpy or tensor out); a module runs under
        ``no_grad`` on ``device``.
    sr : int
        Rate of the windows it takes.
    kind : str
        ``teacher``, ``teacher_pca``, ``student`` or ``custom``.
    fingerprint : str, optional
        Cache identity; default: a hash of a module's weights, else ``callable:<name>``.
    cost : dict, optional
        Its cost; ``nn.Module`` stand-ins without one get ``model_cost(module, (sr,))``.
    reducer : object, optional
        The reducer of its targets (fidelity of students).
    device : str
        Torch device of a module.
    window_size : float
        Seconds per window.

    Returns
    -------
    model : EmbeddingModel

    Raises
    ------
    ParameterError
        ``fn`` is not callable.
    """
    import torch

    if isinstance(fn, torch.nn.Module):
        module = fn.to(device).eval()

        def call(x):
            with torch.no_grad():
                return module(torch.from_numpy(x).to(device))

        fp = fingerprint or _module_fingerprint(module)

        n = int(round(window_size * sr))

        def cost_fn():
            from ..students.cost import model_cost

            return model_cost(module, (n,))

        return EmbeddingModel(
            name,
            kind,
            sr,
            fn=call,
            fingerprint=fp,
            cost=cost,
            cost_fn=None if cost else cost_fn,
            reducer=reducer,
            window_size=window_size,
        )
    if not callable(fn):
        raise ParameterError(f"stand-in model {name!r} must be callable ([B, {sr}] -> [B, D]), got {type(fn).__name__}")
    return EmbeddingModel(
        name,
        kind,
        sr,
        fn=fn,
        fingerprint=fingerprint or f"callable:{name}",
        cost=cost,
        reducer=reducer,
        window_size=window_size,
    )


def _module_fingerprint(module) -> str:
    h = hashlib.sha256()
    for k, v in module.state_dict().items():
        h.update(k.encode())
        h.update(np.ascontiguousarray(v.detach().float().cpu().numpy()).tobytes())
    return h.hexdigest()[:16]


# -- embedding ----------------------------------------------------------------------


def _dataset_key(dataset_dir: Path) -> str:
    return sha256_file(RunLayout(dataset_dir).manifest)[:16]


def _cache_key(model: EmbeddingModel, dataset_dir: Path, hop_size: float, center: bool, clip_ids) -> str:
    h = hashlib.sha256("\n".join(clip_ids).encode()).hexdigest()[:16]
    return json.dumps(
        {
            "model": model.fingerprint,
            "sr": model.sr,
            **({"window_size": model.window_size} if model.window_size != 1.0 else {}),
            "hop_size": hop_size,
            "center": center,
            "manifest": _dataset_key(dataset_dir),
            "clips": h,
        },
        sort_keys=True,
    )


def load_embeddings(path: Pathlike) -> EmbeddingSet:
    """Read a cached ``emb/<model>.npz``.

    Parameters
    ----------
    path : path
        The cache file.

    Returns
    -------
    embeddings : EmbeddingSet
        With ``source="cache"``.
    """
    with np.load(path, allow_pickle=False) as z:
        return EmbeddingSet(
            features=z["features"],
            clip_index=z["clip_index"].astype(np.int64),
            clip_ids=z["clip_ids"],
            frames=z["frames"].astype(np.int64),
            timestamps=z["timestamps"],
            source="cache",
        )


def _from_store(model: EmbeddingModel, clip_ids: list[str], batch_frames: int = 65536) -> EmbeddingSet | None:
    store = model.store
    slices = store.clip_slices()
    if any(c not in slices for c in clip_ids):
        return None
    rows = np.concatenate([np.arange(slices[c].start, slices[c].stop) for c in clip_ids])
    counts = np.asarray([slices[c].stop - slices[c].start for c in clip_ids])
    parts = []
    for a in range(0, rows.size, batch_frames):
        x = store.read(rows[a : a + batch_frames])
        parts.append(np.asarray(model.post(x) if model.post is not None else x, dtype=np.float32))
    feats = np.concatenate(parts) if parts else np.zeros((0, store.dim), np.float32)
    clip_index = np.repeat(np.arange(len(clip_ids)), counts)
    _check_finite(model, feats, clip_ids, clip_index, np.asarray(store.frames)[rows])
    return EmbeddingSet(
        features=feats,
        clip_index=clip_index,
        clip_ids=np.asarray(clip_ids, dtype=str),
        frames=np.asarray(store.frames)[rows].astype(np.int64),
        timestamps=np.asarray(store.timestamps)[rows].astype(np.float64),
        source="store",
    )


def _check_finite(model: EmbeddingModel, emb: np.ndarray, clip_ids, clip_rows, frame_rows) -> None:
    """Stop at the first NaN/Inf embedding, naming the model, the clip and the frame."""
    bad = ~np.isfinite(emb).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise SeaError(
            f"model {model.name!r} gave a non-finite embedding for clip {clip_ids[int(clip_rows[i])]!r} "
            f"frame {int(frame_rows[i])} ({int(bad.sum())} such frames in this batch); check that clip's audio "
            "and the model's weights"
        )


def _embed_audio(
    model: EmbeddingModel, dataset_dir: Path, clip_ids: list[str], hop_size: float, center: bool, batch_size: int
) -> EmbeddingSet:
    cache = AudioCache(dataset_dir, model.sr)
    frame_len = model.window_length
    starts = [
        frame_starts(cache.n_samples(c), model.sr, hop_size=hop_size, center=center, frame_size=model.window_size)
        for c in clip_ids
    ]
    counts = np.asarray([s.size for s in starts], dtype=np.int64)
    n = int(counts.sum())
    clip_index = np.repeat(np.arange(len(clip_ids)), counts)
    frames = np.concatenate([np.arange(k) for k in counts]) if n else np.zeros(0, np.int64)
    flat_starts = np.concatenate(starts) if n else np.zeros(0, np.int64)
    feats = None
    bar = progress(total=n, desc=f"embed {model.name}", unit="frame")
    try:
        for a in range(0, n, batch_size):
            b = min(a + batch_size, n)
            batch = np.stack(
                [cache.window(clip_ids[clip_index[i]], int(flat_starts[i]), frame_len) for i in range(a, b)]
            )
            emb = as_numpy(model.fn(batch))
            if emb.ndim != 2 or emb.shape[0] != b - a:
                raise ParameterError(
                    f"model {model.name!r} must map [B, {frame_len}] to [B, D]; got {emb.shape} for B={b - a}"
                )
            _check_finite(model, emb, clip_ids, clip_index[a:b], frames[a:b])
            if feats is None:
                feats = np.empty((n, emb.shape[1]), np.float32)
            feats[a:b] = emb
            bar.update(b - a)
    finally:
        bar.close()
    return EmbeddingSet(
        features=feats if feats is not None else np.zeros((0, 1), np.float32),
        clip_index=clip_index,
        clip_ids=np.asarray(clip_ids, dtype=str),
        frames=frames.astype(np.int64),
        timestamps=frames * float(hop_size),
        source="model",
    )


def embed_dataset(
    model: EmbeddingModel,
    dataset_dir: Pathlike,
    clip_ids: list[str],
    *,
    cache_path: Pathlike | None = None,
    hop_size: float = 0.1,
    center: bool = True,
    batch_size: int = 64,
    overwrite: bool = False,
) -> EmbeddingSet:
    """Per-frame embeddings of ``clip_ids``, cached in ``cache_path`` when given.

    Parameters
    ----------
    model : EmbeddingModel
        The model; its store frames are reused when it has a store holding every clip.
    dataset_dir : path
        The prepared dataset (its audio cache at ``model.sr``).
    clip_ids : list of str
        The clips to embed, in order.
    cache_path : path, optional
        ``emb/<model>.npz``: read when its key matches, written otherwise.
    hop_size : float
        Hop between frames in seconds (each frame spans ``model.window_size``).
    center : bool
        Centre the frames (openl3's ``center``).
    batch_size : int
        Windows per forward pass.
    overwrite : bool
        Recompute even when the cache matches.

    Returns
    -------
    embeddings : EmbeddingSet
        ``source`` is ``cache``, ``store`` (teacher frames reused) or ``model``.
    """
    dataset_dir = Path(dataset_dir)
    key = _cache_key(model, dataset_dir, hop_size, center, clip_ids)
    if cache_path is not None and Path(cache_path).is_file() and not overwrite:
        try:
            with np.load(cache_path, allow_pickle=False) as z:
                ok = str(z["key"]) == key
        except Exception:  # unreadable cache: recompute
            ok = False
        if ok:
            return load_embeddings(cache_path)
    t0 = time.perf_counter()
    es = _from_store(model, clip_ids) if model.store is not None else None
    if es is None:
        if model.fn is None:
            raise SeaError(f"model {model.name!r} has no embedding function and no reusable frames")
        es = _embed_audio(model, dataset_dir, clip_ids, hop_size, center, batch_size)
    es.seconds = time.perf_counter() - t0
    if cache_path is not None:
        Path(cache_path).parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache_path, suffix=".npz") as tmp:
            np.savez(
                tmp,
                features=es.features,
                clip_index=es.clip_index.astype(np.int32),
                clip_ids=es.clip_ids,
                frames=es.frames.astype(np.int32),
                timestamps=es.timestamps,
                key=np.str_(key),
            )
    return es
