"""The ``evaluate`` stage: downstream classifiers, fidelity and cost of teacher, reduced teacher and students.

>>> from sea.evaluate import EvalConfig, run
>>> out = run(run_dir, EvalConfig(models=("teacher", "teacher_pca", "sea_mcu_s"), classifiers=("mlp", "logreg")))

Modules, lowest first:

* :mod:`~sea.evaluate.protocols`: datasets and their protocols (:func:`load_dataset`, :func:`make_splits`,
  :func:`resolve_protocol`); :mod:`~sea.evaluate.metrics`; :mod:`~sea.evaluate.classifiers`
  (:func:`fit_predict`);
* :mod:`~sea.evaluate.config`: :class:`EvalConfig`;
* :mod:`~sea.evaluate.embed`: :class:`EmbeddingModel`, :func:`model_from_callable`, :func:`embed_dataset` and
  its cache; :mod:`~sea.evaluate.models`: models from ``--models`` specs (:func:`resolve_model`);
* :mod:`~sea.evaluate.scoring` (classifiers over every split) and :mod:`~sea.evaluate.fidelity`;
* :mod:`~sea.evaluate.results`: reading reports back (:func:`load_report`, :func:`collect_reports`,
  :func:`report_rows`);
* :mod:`~sea.evaluate.report`: markdown tables, Pareto fronts and plots, :func:`write_run_summary`;
* :mod:`~sea.evaluate.stage`: :func:`run` (also :func:`evaluate`);
* :mod:`~sea.evaluate.head`: a deployable linear head (:func:`fit_linear_head`); :mod:`~sea.evaluate.demo`:
  a synthetic evaluated run for tests and notebooks.
"""

from .classifiers import CLASSIFIERS, ClassifierSettings, FrameData, fit_predict
from .config import EvalConfig
from .embed import EmbeddingModel, EmbeddingSet, embed_dataset, load_embeddings, model_from_callable
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
from .models import resolve_model
from .protocols import (
    PROTOCOLS,
    Dataset,
    ProtocolPlan,
    Split,
    kfold_assignment,
    load_dataset,
    make_splits,
    plan_splits,
    resolve_protocol,
)
from .report import write_run_summary
from .results import collect_reports, eval_dir, load_report, report_rows
from .stage import evaluate, run

__all__ = [
    "CLASSIFIERS",
    "PROTOCOLS",
    "ProtocolPlan",
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
    "embed_dataset",
    "eval_dir",
    "evaluate",
    "fit_linear_head",
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
    "plan_splits",
    "r2_score",
    "report_rows",
    "resolve_model",
    "resolve_protocol",
    "run",
    "tagging_metrics",
    "write_run_summary",
]
