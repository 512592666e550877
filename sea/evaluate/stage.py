"""``sea evaluate``: embed a downstream dataset with each model, train classifiers per protocol, report.

Outputs (``RUN/eval/<dataset>/``)::

    emb/<model>.npz       per-frame embeddings (cache, see sea.evaluate.embed)
    pred/<model>.npz      clip scores of every classifier on its test folds (scores_<clf>, test_fold, y)
    report.json           every number: dataset, protocol, splits, per model cost, per classifier
                          scores (mean, std, per fold), confusion matrices, fidelity, timings
    report.md             Table-3-style table (model x metric +- std) with cost columns, plus details
    *.png                 accuracy vs weight bytes, accuracy vs MACs, confusion per model, per-fold scores
    stage.json

and the run-level summary ``RUN/eval/report.json`` / ``RUN/eval/report.md`` (every evaluated dataset as
a column: the paper's Table 3 form).

The stage is a sequence of steps over one :class:`_Evaluation`: resolve the models, embed and score
each (:mod:`sea.evaluate.scoring`), measure fidelity to the teacher (:mod:`sea.evaluate.fidelity`),
assemble the report and write it (:mod:`sea.evaluate.report`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import AudioCache
from ..config import config_to_dict
from ..constants import STUDENT_SR
from ..errors import ConfigError, ManifestError, SeaError
from ..layout import RunLayout, safe_name
from ..lock import run_lock
from ..runs import Stage, read_stage, verify_stage
from ..utils import Pathlike, read_json, write_json
from . import metrics as M
from . import report as R
from .classifiers import ClassifierSettings, FrameData
from .config import EvalConfig
from .embed import EmbeddingModel, EmbeddingSet, embed_dataset
from .fidelity import fidelity
from .models import band_rate, band_spec, check_spec, resolve_model
from .protocols import Dataset, ProtocolPlan, Split, load_dataset, plan_splits
from .results import REPORT_FILE, REPORT_FORMAT, REPORT_VERSION, eval_dir, json_safe
from .scoring import classifier_jobs, run_classifier

log = logging.getLogger(__name__)

# eval_dir and safe_name stay importable from here for sea.pipeline
__all__ = ["EvalConfig", "eval_dir", "evaluate", "run", "safe_name"]

#: Clip scores of every classifier, one ``<model>.npz`` per model, inside ``RUN/eval/<dataset>/``.
PRED_DIR = "pred"


#: Kinds that may carry a fitted reducer of RUN/targets/ (info["targets"]).
_REDUCED_KINDS = ("teacher_pca", "teacher_band")


def _is_teacher_spec(spec: str) -> bool:
    return spec == "teacher" or spec.startswith("teacher_pca") or band_rate(spec) is not None


def _stage_inputs(layout: RunLayout, dataset_dir: Path, resolved: list[EmbeddingModel], injected) -> dict[str, Path]:
    """List what a finished evaluation depends on: the manifest, checkpoints, reducers and teacher stores."""
    inputs: dict[str, Path] = {"clips": RunLayout(dataset_dir).manifest}
    for m in resolved:
        if m.name in injected:
            continue
        if m.kind == "student" and m.info.get("checkpoint"):
            inputs[f"model:{m.name}"] = Path(m.info["checkpoint"])
        elif m.kind in _REDUCED_KINDS and "targets" in m.info and layout.reducer(m.info["targets"]).is_file():
            # a refit reducer must re-run the evaluation, like a new checkpoint does
            inputs[f"model:{m.name}"] = layout.reducer(m.info["targets"])
    if layout.teacher_root.is_dir():
        for d in sorted(layout.teacher_root.iterdir()):
            if RunLayout.stage_file(d).is_file():
                inputs[f"teacher:{d.name}"] = d
    return inputs


def _verify_recorded(stage_dir: Path, what: str, command: str) -> None:
    """Check an upstream stage's artifacts when it keeps a record (hand-made datasets and runs have none)."""
    record = read_stage(stage_dir)
    if record is None:
        return
    if record.get("status") != "done":
        raise ManifestError(
            f"{what} in {str(stage_dir)!r} did not finish (stage.json status {record.get('status')!r}); "
            f"run '{command}' first"
        )
    verify_stage(stage_dir, record, fix=f"{command} --overwrite")


def _check_dataset(layout: RunLayout, dataset_dir: Path) -> None:
    """The evaluated dataset: a finished, intact prepare stage (or at least a manifest)."""
    if not layout.root.is_dir():
        raise ManifestError(f"run directory {str(layout.root)!r} does not exist; run 'sea run CONFIG' first")
    if not RunLayout(dataset_dir).manifest.is_file():
        raise ManifestError(
            f"dataset {str(dataset_dir)!r} has no clips.jsonl; pass --dataset with a directory made by "
            "'sea data prepare' (or the run's own datasets/<name>)"
        )
    _verify_recorded(dataset_dir, "the prepared dataset", f"sea data prepare DATASET RAW_DIR {dataset_dir}")


def _check_inputs(ev: _Evaluation, resolved: list[EmbeddingModel]) -> None:
    """Before anything is written: every model's upstream stage intact, and the audio each model reads present."""
    run = ev.layout
    for m in resolved:
        if m.name in ev.injected:
            continue
        if m.kind in _REDUCED_KINDS and "targets" in m.info:
            _verify_recorded(run.targets(m.info["targets"]), "the target set", f"sea targets fit {run.root}")
        if m.store is not None:
            _verify_recorded(Path(m.store.dir), "the teacher frame store", f"sea teacher extract {run.root}")
        elif m.fn is not None:
            AudioCache(ev.dataset_dir, m.sr)  # missing or damaged cache: one line naming it and the fix


def _prepare(layout: RunLayout, dataset_dir: Path, config: EvalConfig, models: dict | None, overwrite: bool):
    """Validate config, dataset, protocol and models; nothing is written. Returns the evaluation and its models."""
    config.validate()
    _check_dataset(layout, dataset_dir)
    ds = load_dataset(dataset_dir, label_level=config.label_level, name=config.dataset_name)
    plan = plan_splits(ds, config.protocol, n_folds=config.n_folds, seed=config.seed)
    injected = models or {}
    for spec in config.models:
        if spec not in injected:
            check_spec(spec, layout.root)  # an unknown student fails here, naming the nearest
    ev = _Evaluation(layout, dataset_dir, ds, config, layout.eval(ds.name), injected, overwrite, config.settings())
    ev.plan = plan
    resolved = _resolve_models(ev)
    _check_inputs(ev, resolved)
    return ev, resolved


def run(
    run_dir: Pathlike,
    config: EvalConfig | None = None,
    *,
    models: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Evaluate ``config.models`` on a prepared dataset.

    The config, the dataset, the protocol, every model spec and every upstream artifact are checked
    before anything is written: a failed command leaves a finished evaluation finished.

    Parameters
    ----------
    run_dir : path
        The run whose teacher store, targets and students are evaluated (and the default dataset).
    config : EvalConfig, optional
        Default: ``EvalConfig()``.
    models : dict, optional
        Stand-ins by spec name (``{"teacher": fn_or_module_or_EmbeddingModel, "student_x": ...}``):
        a spec in ``config.models`` found here is not resolved from the run. With stand-ins the stage
        always recomputes (their identity is not hashable into stage.json) but the embedding cache
        still applies.
    overwrite : bool
        Recompute a finished evaluation (and its embedding caches).

    Returns
    -------
    path : Path
        ``RUN/eval/<dataset>``, holding ``report.json``, ``report.md`` and the plots.

    Raises
    ------
    ManifestError
        The dataset directory has no ``clips.jsonl``, or an upstream file is missing or damaged
        (named, with the command that rebuilds it).
    ConfigError
        An invalid config value or an unknown model (with the nearest valid name).
    """
    config = config or EvalConfig()
    layout = RunLayout(run_dir)
    dataset_dir = Path(config.dataset) if config.dataset else layout.root
    _check_dataset(layout, dataset_dir)  # before the lock: it would create a missing run directory
    _check_overlap(layout, dataset_dir, config)
    with run_lock(layout.root):
        ev, resolved = _prepare(layout, dataset_dir, config, models, overwrite)
        stage = Stage(ev.out, "evaluate", config, inputs=_stage_inputs(layout, dataset_dir, resolved, ev.injected))
        if not overwrite and not models and stage.is_done() and (ev.out / REPORT_FILE).is_file():
            log.info("evaluation %s is up to date; pass --overwrite to redo it", ev.out)
            return ev.out
        with stage.running():
            report = _evaluate(ev, resolved)
            stage.track(*_artifacts(ev.out))
            stage.counts.update(
                n_clips=len(ev.ds),
                n_models=len(report["models"]),
                n_runs=len(report["dataset"]["splits"]),
            )
            stage.extra["protocol"] = report["dataset"]["protocol"]
            stage.extra["teacher"] = report.get("teacher")
    return ev.out


def _check_overlap(layout: RunLayout, dataset_dir: Path, config: EvalConfig) -> None:
    """Refuse a separate dataset holding files of the distillation corpus (md5) unless ``allow_overlap`` says so.

    ``sea run`` checks this (and near-copies) before any stage; a standalone evaluation would otherwise report a
    transductive score as an out-of-corpus one.
    """
    if config.allow_overlap or dataset_dir.resolve() == layout.root.resolve() or not layout.manifest.is_file():
        return
    from ..overlap import shared_files

    shared = shared_files(layout.root, dataset_dir)
    if shared:
        ex, source = shared[0]
        raise ConfigError(
            f"dataset {str(dataset_dir)!r} shares the audio of {len(shared)} clips with the distillation corpus of "
            f"{str(layout.root)!r} (by md5; e.g. {ex.path} is {source.path}): the students and the PCA were fitted "
            "on that audio, so its scores would be optimistic. Evaluate on recordings the corpus does not hold, or "
            "pass --allow-overlap (evaluate.allow_overlap: true) to report a transductive run as one"
        )


def _artifacts(out: Path) -> list[Path]:
    """The files later readers trust: the report, the cached embeddings and the clip scores."""
    files = [out / REPORT_FILE, out / R.MARKDOWN_FILE]
    for sub in ("emb", PRED_DIR):
        if (out / sub).is_dir():
            files += sorted((out / sub).glob("*.npz"))
    return [f for f in files if f.is_file()]


#: The historical name of :func:`run` (``sea.evaluate.evaluate``).
evaluate = run


@dataclass
class _Evaluation:
    """What the steps of one evaluation share."""

    layout: RunLayout
    dataset_dir: Path
    ds: Dataset
    config: EvalConfig
    out: Path
    injected: dict[str, Any]
    overwrite: bool
    settings: ClassifierSettings
    teacher: EmbeddingModel | None = None
    plan: ProtocolPlan | None = None

    def resolve(self, spec: str, teacher: EmbeddingModel | None = None) -> EmbeddingModel:
        """Resolve the model of one ``--models`` spec (stand-ins first)."""
        return resolve_model(
            spec,
            self.layout.root,
            self.dataset_dir,
            self.config,
            injected=self.injected,
            teacher=teacher,
            device=self.settings.device,
        )

    def embed(self, model: EmbeddingModel, cache_name: str | None = None) -> EmbeddingSet:
        """Embed the dataset with ``model``, cached as ``emb/<cache_name or model.name>.npz``."""
        return embed_dataset(
            model,
            self.dataset_dir,
            self.ds.clip_ids,
            cache_path=self.layout.eval_embeddings(self.ds.name, cache_name or model.name),
            hop_size=self.config.hop_size,
            center=self.config.center,
            batch_size=self.config.embed_batch_size,
            overwrite=self.overwrite,
        )


def _evaluate(ev: _Evaluation, resolved: list[EmbeddingModel]) -> dict:
    t_start = time.perf_counter()
    splits = ev.plan.splits
    jobs = classifier_jobs(ev.config, ev.ds.multilabel)
    (ev.out / PRED_DIR).mkdir(parents=True, exist_ok=True)
    embeddings: dict[str, EmbeddingSet] = {}
    model_reports: dict[str, dict] = {}
    predictions: dict[str, dict[str, np.ndarray]] = {}
    for m in resolved:
        embeddings[m.name], model_reports[m.name], predictions[m.name] = _evaluate_model(ev, m, splits, jobs)
    if ev.config.fidelity:
        _add_fidelity(ev, resolved, embeddings, predictions, model_reports)
    report = json_safe(_report(ev, resolved, jobs, model_reports, time.perf_counter() - t_start))
    _write_report(ev, report)
    return report


def _resolve_models(ev: _Evaluation) -> list[EmbeddingModel]:
    """Every model of ``config.models``; the teacher is built once, shared by teacher_pca and fidelity."""
    resolved = []
    for spec in ev.config.models:
        if _is_teacher_spec(spec) and ev.teacher is None:
            ev.teacher = ev.resolve("teacher")
        resolved.append(ev.resolve(spec, ev.teacher))
    if ev.config.band_ceiling:  # listed with the teacher rows, before the students they bound
        at = max((i + 1 for i, m in enumerate(resolved) if m.kind.startswith("teacher")), default=0)
        resolved[at:at] = _band_models(ev, resolved)
    names = [m.name for m in resolved]
    if len(set(names)) != len(names):
        raise ConfigError(f"two models resolve to the same report name ({names}); rename a checkpoint directory")
    return resolved


def _band_models(ev: _Evaluation, resolved: list[EmbeddingModel]) -> list[EmbeddingModel]:
    """``band_ceiling``: a teacher_8k for every teacher_pca of the list (else the raw one), for a fast teacher.

    One for SEA's 8 kHz students and one per other student rate of the list (``teacher_16k`` for a 16 kHz student).
    A rate at or above the teacher's hears all of it: nothing is added, and the log says so.
    """
    if ev.teacher is None:
        ev.teacher = ev.resolve("teacher")
    rates = sorted({STUDENT_SR} | {int(m.sr) for m in resolved if m.kind == "student"})
    have, out = {m.name for m in resolved}, []
    for rate in rates:
        if ev.teacher.sr <= rate:
            log.info("band_ceiling: the teacher runs at %d Hz, all of which a %d Hz student hears: no %s row",
                     ev.teacher.sr, rate, band_spec(rate))  # fmt: skip
            continue
        prefix = band_spec(rate)
        specs = [f"{prefix}:{m.info['targets']}" for m in resolved if m.kind == "teacher_pca"] or [prefix]
        out += [ev.resolve(spec, ev.teacher) for spec in specs if spec not in have]
    return out


def _primary_metric(ds: Dataset) -> str:
    return "micro_auprc" if ds.multilabel else "accuracy"


def _evaluate_model(
    ev: _Evaluation, m: EmbeddingModel, splits: list[Split], jobs: list[tuple[str, str, str]]
) -> tuple[EmbeddingSet, dict, dict[str, np.ndarray]]:
    """Embed the dataset with ``m``, run every classifier job, save the clip scores, measure the cost."""
    ds = ev.ds
    es = ev.embed(m)
    data = FrameData(es.features, es.clip_index)
    entry: dict[str, Any] = {
        "kind": m.kind,
        "dim": es.dim,
        "n_frames": len(es),
        "embed_source": es.source,
        "embed_seconds": round(es.seconds, 3),
        "info": m.info,
        "classifiers": {},
    }
    pred_arrays: dict[str, np.ndarray] = {}
    predictions: dict[str, np.ndarray] = {}
    test_fold = None
    for entry_name, kind, pooling in jobs:
        res, scores, test_fold, preds = run_classifier(
            kind, pooling, data, ds, splits, ev.settings, ev.config, desc=f"{m.name} / {entry_name}"
        )
        entry["classifiers"][entry_name] = res
        pred_arrays[f"scores_{entry_name}"] = scores
        predictions[entry_name] = preds
        log.info("%s / %s: %s", m.name, entry_name, res["scores"][_primary_metric(ds)])
    pred_arrays["test_fold"] = np.asarray(test_fold, dtype=str)
    np.savez(
        ev.out / PRED_DIR / f"{safe_name(m.name)}.npz",
        y=ds.y,
        clip_ids=np.asarray(ds.clip_ids, dtype=str),
        **pred_arrays,
    )
    entry["train_seconds"] = round(sum(r["train_seconds"] for r in entry["classifiers"].values()), 3)
    entry["cost"] = m.get_cost() if ev.config.cost else None
    return es, entry, predictions


def _teacher_reference(
    ev: _Evaluation, others: list[EmbeddingModel], model_reports: dict[str, dict]
) -> EmbeddingSet | None:
    """Embed the dataset with the teacher when it is not among the models; None (and a note per model) if it fails."""
    try:
        return ev.embed(ev.teacher or ev.resolve("teacher"), "teacher")
    except (SeaError, OSError, RuntimeError, ImportError) as exc:  # fidelity is optional: say why it is missing
        log.warning("fidelity skipped: the teacher could not be embedded (%s)", exc)
        for m in others:
            model_reports[m.name]["fidelity"] = {"note": f"teacher unavailable: {exc}"}
        return None


def _add_fidelity(
    ev: _Evaluation,
    resolved: list[EmbeddingModel],
    embeddings: dict[str, EmbeddingSet],
    predictions: dict[str, dict[str, np.ndarray]],
    model_reports: dict[str, dict],
) -> None:
    """Fidelity to the teacher, and agreement with its clip predictions, of every other model."""
    ref = embeddings.get("teacher")
    others = [m for m in resolved if m.name != "teacher"]
    if ref is None and others:
        ref = _teacher_reference(ev, others, model_reports)
    if ref is None:
        return
    for m in others:
        fid = fidelity(m, embeddings[m.name], ref, ev.config)
        if "teacher" in predictions:
            fid["agreement"] = {
                k: M.agreement(predictions[m.name][k], predictions["teacher"][k]) for k in predictions[m.name]
            }
        model_reports[m.name]["fidelity"] = fid


def _dataset_entry(ev: _Evaluation, protocol: str, splits: list[Split]) -> dict[str, Any]:
    ds = ev.ds
    return {
        "name": ds.name,
        "path": str(ev.dataset_dir.resolve()),
        "kind": ds.dataset_kind,
        "n_clips": len(ds),
        "n_recordings": ds.n_groups,
        "n_classes": ds.n_classes,
        "class_names": ds.class_names,
        "multilabel": ds.multilabel,
        "label_level": ev.config.label_level if ds.multilabel else None,
        "protocol": protocol,
        "protocol_detail": ev.plan.to_dict() if ev.plan is not None else None,
        "splits": [
            {
                "name": s.name,
                "test_fold": s.test_fold,
                "n_train": int(s.train.size),
                "n_val": int(s.val.size),
                "n_test": int(s.test.size),
            }
            for s in splits
        ],
    }


def _corpus_entry(ev: _Evaluation) -> dict[str, Any]:
    """What the students (and the PCA) were specialised on, next to what they are evaluated on."""
    run = ev.layout
    kind = None
    if run.data_report.is_file():
        try:
            kind = read_json(run.data_report).get("dataset")
        except (OSError, ValueError):  # a damaged report only loses the name here
            kind = None
    n = sum(1 for _ in open(run.manifest, encoding="utf-8")) if run.manifest.is_file() else None
    same = ev.dataset_dir.resolve() == run.root.resolve()
    return {
        "path": str(run.root.resolve()),
        "kind": kind,
        "n_clips": n,
        "evaluated_on_distillation_corpus": same,
        "allow_overlap": bool(ev.config.allow_overlap),
    }


def _teacher_entry(ev: _Evaluation, resolved: list[EmbeddingModel]) -> dict[str, Any] | None:
    """The teacher's identity (family, name, weights hash, rate, window, untrained) for every report."""
    t = ev.teacher or next((m for m in resolved if m.kind == "teacher"), None)
    if t is None:
        try:
            t = ev.resolve("teacher")
        except SeaError as exc:  # no teacher known to this run: the report says so
            return {"family": None, "note": f"unknown ({str(exc).splitlines()[0]})"}
    identity = t.info.get("identity")
    if identity is None:  # a stand-in teacher
        identity = {"family": "custom", "name": t.name, "sr": t.sr, "window_size": t.window_size, "untrained": False}
    return identity


def _notes(ev: _Evaluation, teacher: dict | None, corpus: dict, jobs: list[tuple[str, str, str]]) -> list[str]:
    """Caveats repeated in the header of every report of this evaluation."""
    notes = []
    if corpus["allow_overlap"]:
        notes.append(
            "OVERLAP ALLOWED: this dataset shares audio with the distillation corpus (allow_overlap: true); "
            "the students and the PCA saw some test audio, without labels"
        )
    elif corpus["evaluated_on_distillation_corpus"]:
        notes.append(
            "evaluated on the distillation corpus itself (transductive): the students and the PCA saw this "
            "audio, without its labels; list evaluate.datasets to evaluate on separate data"
        )
    if teacher and teacher.get("untrained"):
        notes.append("UNTRAINED TEACHER (random weights): these figures show the pipeline working, not SEA's accuracy")
    if any(p == "autopool" for _, _, p in jobs) and ev.settings.autopool.name != "paper":
        notes.append(f"AutoPool {ev.settings.autopool.name.upper()} preset: not the paper's settings")
    return notes + list(ev.plan.notes if ev.plan is not None else [])


def _report(
    ev: _Evaluation,
    resolved: list[EmbeddingModel],
    jobs: list[tuple[str, str, str]],
    model_reports: dict[str, dict],
    seconds: float,
) -> dict[str, Any]:
    teacher = _teacher_entry(ev, resolved)
    corpus = _corpus_entry(ev)
    autopool = any(p == "autopool" for _, _, p in jobs)
    return {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "run_dir": str(ev.layout.root.resolve()),
        "dataset": _dataset_entry(ev, ev.plan.protocol, ev.plan.splits),
        "distillation_corpus": corpus,
        "teacher": teacher,
        "notes": _notes(ev, teacher, corpus, jobs),
        "autopool": {"preset": ev.settings.autopool.name, "description": ev.settings.autopool.describe()}
        if autopool
        else None,
        "primary": {"classifier": jobs[0][0], "metric": _primary_metric(ev.ds)},
        "config": config_to_dict(ev.config),
        "models": model_reports,
        "timing": {
            "embed_seconds": round(sum(r["embed_seconds"] for r in model_reports.values()), 3),
            "train_seconds": round(sum(r["train_seconds"] for r in model_reports.values()), 3),
            "total_seconds": round(seconds, 3),
        },
    }


def _write_report(ev: _Evaluation, report: dict) -> None:
    """``report.json``, ``report.md``, the plots, and the run-level summary."""
    write_json(ev.out / REPORT_FILE, report)
    R.write_markdown(ev.out / R.MARKDOWN_FILE, report)
    if ev.config.plots:
        report["figures"] = [p.name for p in R.write_plots(ev.out, report)]
        write_json(ev.out / REPORT_FILE, report)
    R.write_run_summary(ev.layout.root)
