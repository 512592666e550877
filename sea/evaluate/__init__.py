"""Downstream evaluation of teacher, reduced teacher and students (``sea evaluate``).

Public API
----------
:class:`EvalConfig`, :func:`evaluate` (the stage), :func:`load_report`, :func:`collect_reports`,
:func:`report_rows`, :func:`write_run_summary`; protocols (:func:`load_dataset`, :func:`make_splits`,
:func:`resolve_protocol`); classifiers (:func:`fit_predict`); embeddings (:func:`embed_dataset`,
:func:`model_from_callable`, :class:`EmbeddingModel`); a deployable head (:func:`fit_linear_head`); metrics (:mod:`sea.evaluate.metrics`).
Plots and markdown live in :mod:`sea.evaluate.report`.
"""

from .classifiers import CLASSIFIERS, ClassifierSettings, FrameData, fit_predict
from .embed import EmbeddingModel, EmbeddingSet, embed_dataset, load_embeddings, model_from_callable, resolve_model
from .head import fit_linear_head
from .metrics import (
    agreement,
    auprc_dcase,
    average_precision,
    frame_cosine,
    linear_cka,
    micro_f1,
    r2_score,
    tagging_metrics,
)
from .protocols import PROTOCOLS, Dataset, Split, kfold_assignment, load_dataset, make_splits, resolve_protocol
from .stage import EvalConfig, collect_reports, eval_dir, evaluate, load_report, report_rows, write_run_summary

__all__ = [
    "CLASSIFIERS",
    "PROTOCOLS",
    "ClassifierSettings",
    "Dataset",
    "EmbeddingModel",
    "EmbeddingSet",
    "EvalConfig",
    "FrameData",
    "Split",
    "agreement",
    "auprc_dcase",
    "average_precision",
    "collect_reports",
    "fit_linear_head",
    "embed_dataset",
    "eval_dir",
    "evaluate",
    "fit_predict",
    "frame_cosine",
    "kfold_assignment",
    "linear_cka",
    "load_dataset",
    "load_embeddings",
    "load_report",
    "make_splits",
    "micro_f1",
    "model_from_callable",
    "r2_score",
    "report_rows",
    "resolve_model",
    "resolve_protocol",
    "tagging_metrics",
    "write_run_summary",
]
