"""A deployable linear classifier head on a model's cached evaluation embeddings.

The evaluation stage trains classifiers per fold to *measure* a model. For deployment one
head trained on every labelled clip is what a device needs: ``sea export --classifier`` reports
the downstream accuracy change of each int8 artifact with it, and the Raspberry Pi runner
(``sea_edge.py``) prints labels with it. The head is a multinomial logistic regression on
per-frame embeddings; the training-fold standardisation is folded into ``W`` and ``b`` so the
device computes ``argmax(x @ W + b)`` on raw embeddings.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ..errors import ManifestError
from ..layout import RunLayout
from ..utils import atomic_path
from .embed import load_embeddings
from .protocols import load_dataset

log = logging.getLogger(__name__)

__all__ = ["fit_linear_head"]


def fit_linear_head(
    run_dir: str | Path,
    model: str,
    out_path: str | Path,
    *,
    eval_name: str,
    dataset_dir: str | Path | None = None,
    c: float = 1.0,
    max_frames: int = 20000,
    seed: int = 0,
) -> Path | None:
    """Fit a linear head on ``RUN/eval/<eval_name>/emb/<model>.npz`` and write it as an ``.npz``.

    Parameters
    ----------
    run_dir : path
        The run whose evaluate stage cached the embeddings.
    model : str
        The evaluated model's name (``sea_mcu_s``, ``teacher``...).
    out_path : path
        Output ``.npz`` with ``W`` [D, C] float32, ``b`` [C] float32, ``labels`` [C] str and ``meta`` (JSON str).
    eval_name : str
        The ``RUN/eval/<eval_name>`` folder.
    dataset_dir : path, optional
        The labelled dataset that was evaluated (default: ``run_dir``).
    c : float
        Inverse L2 regularisation of the logistic regression.
    max_frames : int
        Frames used for fitting (a seeded random subset when there are more).
    seed : int
        Seed of the frame subset and of the logistic regression.

    Returns
    -------
    Path or None
        ``out_path``, or None for multi-label datasets (a linear softmax head does not apply).
    """
    from sklearn.linear_model import LogisticRegression

    emb_path = RunLayout(run_dir).eval_embeddings(eval_name, model)
    if not emb_path.is_file():
        raise ManifestError(f"no cached embeddings {str(emb_path)!r} for {model!r}; run 'sea evaluate' first")
    ds = load_dataset(dataset_dir or run_dir)
    if ds.multilabel:
        log.info("linear head for %s skipped: %s is multi-label", model, ds.name)
        return None
    es = load_embeddings(emb_path)
    pos = {cid: i for i, cid in enumerate(ds.clip_ids)}
    clip_rows = np.asarray([pos.get(str(cid), -1) for cid in es.clip_ids])
    y = np.where(clip_rows[es.clip_index] >= 0, ds.y[np.maximum(clip_rows[es.clip_index], 0)], -1)
    keep = np.flatnonzero(y >= 0)
    rng = np.random.default_rng(seed)
    if keep.size > max_frames:
        keep = np.sort(rng.choice(keep, max_frames, replace=False))
    x = es.features[keep].astype(np.float64)
    y = y[keep].astype(np.int64)
    mean, std = x.mean(axis=0), x.std(axis=0)
    std = np.where(std > 1e-8, std, 1.0)
    clf = LogisticRegression(C=c, max_iter=2000, random_state=seed)
    clf.fit((x - mean) / std, y)
    n_classes = ds.n_classes
    w = np.zeros((x.shape[1], n_classes))
    b = np.full(n_classes, -1e4)  # classes absent from the data are never predicted
    coef, icpt = clf.coef_, clf.intercept_
    if coef.shape[0] == 1:  # sklearn's binary case: one logit for class 1
        coef, icpt = np.vstack([-coef / 2, coef / 2]), np.array([-icpt[0] / 2, icpt[0] / 2])
    for k, cls in enumerate(clf.classes_):
        w[:, cls] = coef[k] / std
        b[cls] = icpt[k] - float(np.dot(coef[k] / std, mean))
    train_acc = float(np.mean(np.argmax(es.features[keep] @ w + b, axis=1) == y))
    meta = {
        "model": model,
        "dataset": ds.name,
        "classifier": "logistic regression on 1-s frame embeddings (standardisation folded in)",
        "n_frames": int(keep.size),
        "n_clips": int(np.unique(es.clip_index[keep]).size),
        "train_frame_accuracy": train_acc,
        "note": "trained on every labelled clip, for deployment; the evaluation report holds the held-out scores",
    }
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                W=w.astype(np.float32),
                b=b.astype(np.float32),
                labels=np.asarray(ds.class_names, dtype=str),
                meta=np.asarray(json.dumps(meta)),
            )
    log.info("linear head for %s: %d classes, train frame accuracy %.3f -> %s", model, n_classes, train_acc, out_path)
    return out_path
