"""Train and test one downstream classifier on every split of a protocol, and summarise its scores.

Every test clip is scored exactly once over the splits of a cross-validation (once in total for a
single train/test split), so the clip scores of all folds pool into one array per classifier: the
confusion matrix (single-label) and the per-class AUPRC (multi-label) come from that pool, the
scores (mean ± std) from the folds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..progress import progress
from . import metrics as M
from .classifiers import ClassifierSettings, FrameData, fit_predict
from .config import EvalConfig
from .protocols import Dataset, Split

__all__ = ["TAGGING_METRICS", "classifier_jobs", "run_classifier"]

#: The summarised scores of a multi-label classifier, in report order.
TAGGING_METRICS = ("micro_auprc", "macro_auprc", "micro_ap", "macro_ap", "micro_f1")


def classifier_jobs(config: EvalConfig, multilabel: bool) -> list[tuple[str, str, str]]:
    """List the classifier runs of one model, in report order.

    Parameters
    ----------
    config : EvalConfig
        ``classifiers`` and, for the multi-label MLP, ``pooling``.
    multilabel : bool
        Whether the dataset is multi-label (one MLP entry per pooling then).

    Returns
    -------
    jobs : list of (entry name, classifier kind, pooling)
    """
    jobs = []
    for c in config.classifiers:
        if c == "mlp" and multilabel:
            jobs += [(f"mlp_{p}", "mlp", p) for p in config.pooling]
        else:
            jobs.append((c, c, "mean"))
    return jobs


def _fold_row(sp: Split, info: dict, scores: np.ndarray, ds: Dataset, min_threshold: float) -> dict[str, Any]:
    """Build the report row of one fold: sizes, the classifier's info and the fold's scores."""
    row = {
        "fold": sp.test_fold,
        "n_train": int(sp.train.size),
        "n_val": int(sp.val.size),
        "n_test": int(sp.test.size),
        **info,
    }
    if ds.multilabel:
        row.update(M.tagging_metrics(ds.y[sp.test], scores, min_threshold=min_threshold))
    else:
        row["accuracy"] = float(np.mean(np.argmax(scores, axis=1) == ds.y[sp.test])) if sp.test.size else None
    return row


def _summarise(
    out: dict[str, Any], folds: list[dict], scores: np.ndarray, tested: np.ndarray, ds: Dataset, min_threshold: float
) -> np.ndarray:
    """Add the scores over folds and the pooled confusion or per-class AUPRC to ``out``; return clip predictions."""
    if ds.multilabel:
        out["scores"] = {k: M.fold_summary(f[k] for f in folds) for k in TAGGING_METRICS}
        out["per_class_auprc"] = M.tagging_metrics(ds.y[tested], scores[tested], min_threshold=min_threshold)[
            "per_class_auprc"
        ]
        return np.where(tested[:, None], scores >= 0.5, False)
    out["scores"] = {"accuracy": M.fold_summary(f["accuracy"] for f in folds)}
    preds = np.full(len(ds), -1)
    preds[tested] = np.argmax(scores[tested], axis=1)
    out["confusion"] = M.confusion_matrix(ds.y[tested], preds[tested], ds.n_classes).tolist()
    return preds


def run_classifier(
    kind: str,
    pooling: str,
    data: FrameData,
    ds: Dataset,
    splits: list[Split],
    settings: ClassifierSettings,
    config: EvalConfig,
    desc: str = "",
) -> tuple[dict[str, Any], np.ndarray, np.ndarray, np.ndarray]:
    """Train and test ``kind`` on every split.

    Parameters
    ----------
    kind : "mlp", "logreg" or "svm"
        The classifier.
    pooling : "mean" or "autopool"
        Frame aggregation (``autopool``: the multi-label MLP only).
    data : FrameData
        The model's per-frame embeddings.
    ds : Dataset
        Labels of the clips.
    splits : list of Split
        The protocol's runs.
    settings : ClassifierSettings
        Training settings.
    config : EvalConfig
        ``min_threshold`` of the tagging metrics.
    desc : str
        Progress bar label (default: ``kind``).

    Returns
    -------
    result : dict
        ``classifier``, ``pooling``, ``folds`` (one row per split), ``train_seconds``, ``scores``
        (mean, std and per fold of each metric), and ``confusion`` or ``per_class_auprc``.
    scores : np.ndarray [shape=(n_clips, n_classes)]
        Clip scores on their test fold (NaN for clips never tested).
    test_fold : np.ndarray [shape=(n_clips,), dtype=object]
        The test fold of each clip as a string ("" for clips never tested).
    predictions : np.ndarray [shape=(n_clips,) or (n_clips, n_classes)]
        Predicted class (-1 untested) or 0/1 labels at 0.5 (multi-label).
    """
    scores = np.full((len(ds), ds.n_classes), np.nan)
    test_fold = np.full(len(ds), "", dtype=object)
    folds = []
    seconds = 0.0
    for sp in progress(splits, total=len(splits), desc=desc or kind, unit="fold"):
        sc, info = fit_predict(
            kind,
            data,
            ds.y,
            sp.train,
            sp.val,
            sp.test,
            n_classes=ds.n_classes,
            multilabel=ds.multilabel,
            settings=settings,
            pooling=pooling,
        )
        seconds += info.get("train_seconds", 0.0)
        scores[sp.test] = sc
        test_fold[sp.test] = str(sp.test_fold)
        folds.append(_fold_row(sp, info, sc, ds, config.min_threshold))
    out: dict[str, Any] = {"classifier": kind, "pooling": pooling, "folds": folds, "train_seconds": round(seconds, 3)}
    preds = _summarise(out, folds, scores, test_fold != "", ds, config.min_threshold)
    return out, scores, test_fold, preds
