"""Downstream and fidelity metrics (numpy only).

Classification
    :func:`fold_summary` (mean, std over folds), :func:`confusion_matrix`.
Multi-label tagging (SONYC-UST, DCASE 2019/2020 Task 5)
    :func:`auprc_dcase` -- the official DCASE-UST scorer's AUPRC: thresholds are the distinct scores
    >= ``min_threshold`` (0.01) plus 1.0, TP/FP/FN are counted over all clip x class decisions
    (micro) or per class (macro, every class, a class without positives scoring 0), precision
    ``TP / max(TP + FP, 0.5)``, recall ``TP / max(TP + FN, 0.5)``, points ordered by recall (ties:
    threshold descending) between (R=0, P=1) and (R=1, P=0), **trapezoidal** area. :func:`average_precision` -- the step-wise sum ``sum_n (R_n - R_{n-1}) P_n``,
    equal to ``sklearn.metrics.average_precision_score(average='micro'|'macro')``. The two differ
    (trapezoid vs step, the end points): report both, compare the paper's numbers with the DCASE one.
    :func:`micro_f1` -- micro-F1 at a fixed threshold (0.5 in DCASE).
Fidelity
    :func:`frame_cosine`, :func:`r2_score` (student vs reduced teacher on the same frames),
    :func:`linear_cka` (Kornblith et al. 2019), :func:`agreement` (top-1 agreement of predictions).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import ArrayLike

from ..errors import ParameterError

__all__ = [
    "agreement",
    "auprc_dcase",
    "average_precision",
    "confusion_matrix",
    "fold_summary",
    "frame_cosine",
    "linear_cka",
    "micro_f1",
    "r2_score",
    "tagging_metrics",
]


# -- classification ---------------------------------------------------------------------


def fold_summary(values: Iterable[float]) -> dict:
    """Summarise per-fold scores: mean, population std (ddof=0) and the list itself.

    Parameters
    ----------
    values : iterable of float
        One score per fold.

    Returns
    -------
    summary : dict
        ``mean``, ``std`` (None without folds) and ``per_fold``.
    """
    v = np.asarray(list(values), dtype=np.float64)
    if v.size == 0:
        return {"mean": None, "std": None, "per_fold": []}
    return {"mean": float(v.mean()), "std": float(v.std()), "per_fold": [float(x) for x in v]}


def confusion_matrix(y_true: ArrayLike, y_pred: ArrayLike, n_classes: int) -> np.ndarray:
    """Count (true, predicted) class pairs.

    Parameters
    ----------
    y_true, y_pred : array of int [shape=(n,)]
        Class ids in ``[0, n_classes)``.
    n_classes : int
        Number of classes.

    Returns
    -------
    counts : np.ndarray [shape=(n_classes, n_classes), dtype=int64]
        Rows: true class; columns: predicted class.
    """
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return cm


def agreement(pred_a: ArrayLike, pred_b: ArrayLike) -> float:
    """Fraction of equal predictions (top-1 labels, or multi-label decisions element-wise).

    Parameters
    ----------
    pred_a, pred_b : array [shape=(n,) or (n, n_classes)]
        Predictions of two models on the same clips.

    Returns
    -------
    agreement : float in [0, 1]
        NaN for empty inputs.
    """
    a, b = np.asarray(pred_a), np.asarray(pred_b)
    if a.shape != b.shape:
        raise ParameterError(f"agreement needs predictions of the same shape, got {a.shape} and {b.shape}")
    return float(np.mean(a == b)) if a.size else float("nan")


# -- multi-label tagging ------------------------------------------------------------------


def _check_tagging(y_true, scores) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim == 1:
        y, s = y[:, None], s[:, None] if s.ndim == 1 else s
    if y.shape != s.shape or y.ndim != 2:
        raise ParameterError(f"y_true and scores must both be [n_clips, n_classes]; got {y.shape} and {s.shape}")
    if not np.all(np.isin(y, (0, 1))):
        raise ParameterError("y_true must hold 0/1 labels")
    return y.astype(bool), s


def _counts_at_thresholds(y: np.ndarray, s: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, ...]:
    """TP, FP, FN of the decisions ``s >= t`` for every t (vectorised by sorting)."""
    pos = np.sort(s[y])
    neg = np.sort(s[~y])
    tp = pos.size - np.searchsorted(pos, thresholds, side="left")
    fp = neg.size - np.searchsorted(neg, thresholds, side="left")
    fn = pos.size - tp
    return tp.astype(np.float64), fp.astype(np.float64), fn.astype(np.float64)


def _dcase_area(y: np.ndarray, s: np.ndarray, min_threshold: float) -> float:
    """The official DCASE-UST area of one pool of decisions (``y``, ``s`` flat).

    Thresholds are the distinct scores ``>= min_threshold`` plus 1.0; the points (R, P) are ordered
    by recall ascending, ties by threshold descending; (R=0, P=1) is prepended, (R=1, P=0) appended,
    and the area is the trapezoid sum (``sklearn.metrics.auc``).
    """
    s = np.clip(s, 0.0, 1.0)  # the SEA scorer clips scores to [0, 1]
    thresholds = np.unique(np.concatenate([s[s >= min_threshold], [1.0]]))
    tp, fp, fn = _counts_at_thresholds(y, s, thresholds)
    p = tp / np.maximum(tp + fp, 0.5)
    r = tp / np.maximum(tp + fn, 0.5)
    order = np.lexsort((-thresholds, r))  # recall ascending, then threshold descending
    recalls = np.concatenate([[0.0], r[order], [1.0]])
    precisions = np.concatenate([[1.0], p[order], [0.0]])
    return float(np.sum(np.diff(recalls) * (precisions[1:] + precisions[:-1]) / 2))


def auprc_dcase(
    y_true: ArrayLike,
    scores: ArrayLike,
    *,
    average: str = "micro",
    min_threshold: float = 0.01,
    empty: str = "zero",
) -> float:
    """AUPRC as the official DCASE-UST scorer (SONYC-UST, DCASE 2019/2020 Task 5) computes it.

    For one pool of (clip, class) decisions: the thresholds are the distinct scores
    ``>= min_threshold`` plus 1.0; at each threshold t a decision is positive when ``s >= t``,
    ``P = TP / max(TP + FP, 0.5)`` and ``R = TP / max(TP + FN, 0.5)``; the points are ordered by R
    ascending (ties: t descending), (R=0, P=1) is prepended and (R=1, P=0) appended, and the area is
    the trapezoid sum. Scores are clipped to [0, 1] first (as SEA's copy of the scorer does).

    Parameters
    ----------
    y_true : array [shape=(n_clips, n_classes)] of 0/1
    scores : array [shape=(n_clips, n_classes)] in [0, 1]
    average : {"micro", "macro"}
        ``micro`` pools every clip x class decision; ``macro`` is the unweighted mean of the
        per-class areas over **all** classes.
    min_threshold : float
        Scores below it are not thresholds (0.01 in the challenge code; 0 uses all of them). A
        positive scored below it stays a false negative at every threshold.
    empty : {"zero", "skip"}
        Macro only: a class without positives scores 0 and counts in the mean (``zero``, SEA's
        scorer; the DCASE 2020 baseline's scorer raises instead), or is left out (``skip``).

    Returns
    -------
    auprc : float in [0, 1]
        NaN for ``macro`` with ``empty="skip"`` when no class has a positive.
    """
    y, s = _check_tagging(y_true, scores)
    if empty not in ("zero", "skip"):
        raise ParameterError(f"empty={empty!r} must be 'zero' or 'skip'")
    if average == "micro":
        return _dcase_area(y.ravel(), s.ravel(), min_threshold)
    if average == "macro":
        classes = [k for k in range(y.shape[1]) if empty == "zero" or y[:, k].any()]
        vals = [_dcase_area(y[:, k], s[:, k], min_threshold) for k in classes]
        return float(np.mean(vals)) if vals else float("nan")
    raise ParameterError(f"average={average!r} must be 'micro' or 'macro'")


def _ap(y: np.ndarray, s: np.ndarray) -> float:
    if not y.any():
        return float("nan")
    thresholds = np.unique(s)[::-1]  # descending: recall ascends
    tp, fp, _ = _counts_at_thresholds(y, s, thresholds)
    precision = tp / (tp + fp)
    recall = tp / y.sum()
    return float(np.sum(np.diff(np.concatenate([[0.0], recall])) * precision))


def average_precision(y_true: ArrayLike, scores: ArrayLike, *, average: str = "micro") -> float:
    """Step-wise average precision, equal to ``sklearn.metrics.average_precision_score``.

    Parameters
    ----------
    y_true : array [shape=(n_clips, n_classes)] of 0/1
    scores : array [shape=(n_clips, n_classes)]
    average : {"micro", "macro"}
        ``macro`` averages over classes with at least one positive (sklearn warns and yields nan
        for a class without positives in recent versions; we skip it).

    Returns
    -------
    ap : float in [0, 1]
        NaN without positives.
    """
    y, s = _check_tagging(y_true, scores)
    if average == "micro":
        return _ap(y.ravel(), s.ravel())
    if average == "macro":
        vals = [_ap(y[:, k], s[:, k]) for k in range(y.shape[1]) if y[:, k].any()]
        return float(np.mean(vals)) if vals else float("nan")
    raise ParameterError(f"average={average!r} must be 'micro' or 'macro'")


def micro_f1(y_true: ArrayLike, scores: ArrayLike, *, threshold: float = 0.5) -> float:
    """Micro-F1 of the decisions ``scores >= threshold`` over all clip x class pairs.

    Parameters
    ----------
    y_true : array [shape=(n_clips, n_classes)] of 0/1
    scores : array [shape=(n_clips, n_classes)]
    threshold : float
        Decision threshold (0.5 in DCASE).

    Returns
    -------
    f1 : float in [0, 1]
        0 when there are no positives and no positive decisions.
    """
    y, s = _check_tagging(y_true, scores)
    pred = s >= threshold
    tp = float(np.sum(pred & y))
    fp = float(np.sum(pred & ~y))
    fn = float(np.sum(~pred & y))
    return 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) > 0 else 0.0


def tagging_metrics(
    y_true: ArrayLike, scores: ArrayLike, *, min_threshold: float = 0.01, f1_threshold: float = 0.5
) -> dict:
    """Compute every multi-label metric of one evaluation.

    Parameters
    ----------
    y_true : array [shape=(n_clips, n_classes)] of 0/1
    scores : array [shape=(n_clips, n_classes)] in [0, 1]
    min_threshold : float
        Lowest AUPRC threshold (:func:`auprc_dcase`).
    f1_threshold : float
        Decision threshold of :func:`micro_f1`.

    Returns
    -------
    metrics : dict
        ``micro_auprc``, ``macro_auprc`` (DCASE), ``micro_ap``, ``macro_ap`` (sklearn-style),
        ``micro_f1``, ``per_class_auprc`` (a list over every class; 0 for a class without
        positives) and ``classes_without_positives`` (their indices).
    """
    y, s = _check_tagging(y_true, scores)
    return {
        "micro_auprc": auprc_dcase(y, s, average="micro", min_threshold=min_threshold),
        "macro_auprc": auprc_dcase(y, s, average="macro", min_threshold=min_threshold),
        "micro_ap": average_precision(y, s, average="micro"),
        "macro_ap": average_precision(y, s, average="macro"),
        "micro_f1": micro_f1(y, s, threshold=f1_threshold),
        "per_class_auprc": [_dcase_area(y[:, k], s[:, k], min_threshold) for k in range(y.shape[1])],
        "classes_without_positives": [k for k in range(y.shape[1]) if not y[:, k].any()],
    }


# -- fidelity --------------------------------------------------------------------------


def _pair(x, y) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ParameterError(f"need two [n_frames, D] arrays with the same n_frames; got {x.shape} and {y.shape}")
    return x, y


def frame_cosine(pred: ArrayLike, target: ArrayLike) -> float:
    """Mean per-frame cosine similarity of two arrays of frames.

    Parameters
    ----------
    pred, target : array [shape=(N, D)]
        The same frames, embedded twice.

    Returns
    -------
    cosine : float in [-1, 1]
    """
    x, y = _pair(pred, target)
    if x.shape != y.shape:
        raise ParameterError(f"cosine needs equal shapes, got {x.shape} and {y.shape}")
    num = np.sum(x * y, axis=1)
    den = np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1)
    return float(np.mean(num / np.maximum(den, 1e-12)))


def r2_score(pred: ArrayLike, target: ArrayLike) -> float:
    """Variance-weighted R^2: ``1 - sum (t - p)^2 / sum (t - mean(t))^2`` over all frames and dims.

    Parameters
    ----------
    pred, target : array [shape=(N, D)]
        Predicted and target frames.

    Returns
    -------
    r2 : float <= 1
        NaN when ``target`` is constant.
    """
    x, y = _pair(pred, target)
    if x.shape != y.shape:
        raise ParameterError(f"R^2 needs equal shapes, got {x.shape} and {y.shape}")
    sse = np.sum((y - x) ** 2)
    sst = np.sum((y - y.mean(axis=0)) ** 2)
    return float(1.0 - sse / sst) if sst > 0 else float("nan")


def linear_cka(x: ArrayLike, y: ArrayLike) -> float:
    """Linear CKA between two representations of the same frames.

    ``||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)`` with column-centred X, Y. Invariant to
    orthogonal transforms and isotropic scaling of either side; 1 for identical inputs.
    Memory is O(D1 * D2), independent of N beyond the inputs.

    Parameters
    ----------
    x : array [shape=(N, D1)]
    y : array [shape=(N, D2)]

    Returns
    -------
    cka : float in [0, 1]
        NaN when either side is constant.
    """
    x, y = _pair(x, y)
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    xy = np.linalg.norm(y.T @ x, "fro") ** 2
    xx = np.linalg.norm(x.T @ x, "fro")
    yy = np.linalg.norm(y.T @ y, "fro")
    return float(xy / (xx * yy)) if xx > 0 and yy > 0 else float("nan")
