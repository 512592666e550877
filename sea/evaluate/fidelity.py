"""Fidelity of a model's embeddings to the teacher's, frame by frame.

Linear CKA to the teacher for every model; for students also cosine and R² to the reduced teacher
they were distilled towards (their target reducer applied to the teacher's frames), and the same for
``teacher_8k`` (the teacher on the student's band: the ceiling of those numbers). Both sides are
aligned on (clip, frame) and subsampled to at most ``fidelity_max_frames`` frames (seeded).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import metrics as M
from .config import EvalConfig
from .embed import EmbeddingModel, EmbeddingSet

__all__ = ["fidelity"]


def _align(a: EmbeddingSet, b: EmbeddingSet) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``a`` and ``b`` holding the same (clip, frame)."""
    big = int(max(a.frames.max(initial=0), b.frames.max(initial=0))) + 1
    ka = a.clip_index.astype(np.int64) * big + a.frames
    kb = b.clip_index.astype(np.int64) * big + b.frames
    _, ia, ib = np.intersect1d(ka, kb, assume_unique=True, return_indices=True)
    return ia, ib


def _to_targets(model: EmbeddingModel, x: np.ndarray, t: np.ndarray, out: dict[str, Any]) -> None:
    """Cosine and R² of a student's frames ``x`` to its reduced-teacher targets (or why they are skipped)."""
    red = model.reducer
    if red is None:
        out["note"] = "no reducer found for the student's target_spec: cosine/R2 skipped"
        return
    target = t if red == "identity" else np.asarray(red.transform(t.astype(np.float32)), dtype=np.float64)
    if target.shape[1] != x.shape[1]:
        out["note"] = f"student dim {x.shape[1]} != reduced teacher dim {target.shape[1]}: cosine/R2 skipped"
        return
    out["cosine"] = M.frame_cosine(x, target)
    out["r2"] = M.r2_score(x, target)
    out["target"] = "identity" if red == "identity" else getattr(red, "path_", None)


def fidelity(model: EmbeddingModel, es: EmbeddingSet, ref: EmbeddingSet, config: EvalConfig) -> dict[str, Any]:
    """Fidelity of one model's embeddings to the teacher's.

    Parameters
    ----------
    model : EmbeddingModel
        The model (a student's ``reducer`` gives its targets).
    es : EmbeddingSet
        Its embeddings of the dataset.
    ref : EmbeddingSet
        The teacher's embeddings of the same dataset.
    config : EvalConfig
        ``fidelity_max_frames`` and ``seed`` of the frame subset.

    Returns
    -------
    fidelity : dict
        ``reference``, ``n_frames``, ``cka``; students add ``cosine``, ``r2`` and ``target``, or a
        ``note`` saying why they are missing.
    """
    ia, ib = _align(es, ref)
    rng = np.random.default_rng(config.seed)
    if ia.size > config.fidelity_max_frames:
        keep = np.sort(rng.choice(ia.size, config.fidelity_max_frames, replace=False))
        ia, ib = ia[keep], ib[keep]
    x = es.features[ia].astype(np.float64)
    t = ref.features[ib].astype(np.float64)
    out: dict[str, Any] = {
        "reference": "teacher",
        "n_frames": int(ia.size),
        "cka": M.linear_cka(x, t) if ia.size > 1 else None,
    }
    if model.kind in ("student", "teacher_band"):
        _to_targets(model, x, t, out)
    return out
