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
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import config_to_dict
from ..errors import ConfigError, ManifestError
from ..runs import Stage
from ..utils import read_json, write_json
from . import metrics as M
from .classifiers import CLASSIFIERS, ClassifierSettings, FrameData, fit_predict
from .embed import EmbeddingModel, EmbeddingSet, embed_dataset, resolve_model, safe_name
from .protocols import PROTOCOLS, Dataset, load_dataset, make_splits, resolve_protocol

log = logging.getLogger(__name__)

REPORT_FORMAT = "sea-eval-report"
REPORT_VERSION = 1

__all__ = [
    "EvalConfig",
    "collect_reports",
    "evaluate",
    "eval_dir",
    "load_report",
    "report_rows",
]


@dataclass(frozen=True)
class EvalConfig:
    """Config of ``sea evaluate`` (downstream protocols, classifiers, fidelity and cost)."""

    models: tuple[str, ...] = field(
        default=("teacher",),
        metadata={
            "help": "comma list: teacher, teacher_pca[:NAME], student checkpoints (.pt, dir, or RUN/students/<name>)"
        },
    )
    dataset: str | None = field(
        default=None, metadata={"help": "prepared downstream run dir (default: RUN_DIR itself)"}
    )
    dataset_name: str | None = field(
        default=None, metadata={"help": "name under RUN/eval/ (default: the dataset dir's name)"}
    )
    protocol: str = field(default="auto", metadata={"help": "auto, us8k, esc50, sonyc, folds, split or kfold"})
    classifiers: tuple[str, ...] = field(default=("mlp", "logreg"), metadata={"help": "comma list of mlp, logreg, svm"})
    hop_size: float = field(default=0.1, metadata={"help": "hop between 1-s frames in seconds"})
    center: bool = field(default=True, metadata={"help": "centre frames (openl3 center)"})
    label_level: str = field(default="coarse", metadata={"help": "multi-label sets: coarse or fine (SONYC-UST)"})
    n_folds: int = field(default=5, metadata={"help": "folds of the kfold protocol"})
    teacher: str = field(
        default="auto", metadata={"help": "teacher store variant under RUN/teacher/ (auto: the only one)"}
    )
    input_repr: str = field(default="mel256", metadata={"help": "teacher input_repr when no store describes it"})
    content_type: str = field(default="music", metadata={"help": "teacher content_type when no store describes it"})
    embedding_size: int = field(default=512, metadata={"help": "teacher embedding size when no store describes it"})
    teacher_frontend: str = field(default="kapre", metadata={"help": "teacher front-end when no store describes it"})
    teacher_weights: str | None = field(default=None, metadata={"help": "teacher weights file (default: resolved)"})
    untrained_teacher: bool = field(default=False, metadata={"help": "random teacher weights (dry runs only)"})
    embed_batch_size: int = field(default=64, metadata={"help": "windows per forward pass while embedding"})
    device: str = field(default="auto", metadata={"help": "torch device for embedding and the MLP: auto, cpu, cuda"})
    mlp_hidden: tuple[int, ...] = field(
        default=(512, 128), metadata={"help": "hidden sizes of the MLP (paper: 512,128)"}
    )
    mlp_l2: float = field(default=1e-5, metadata={"help": "L2 on the MLP kernels (Keras style)"})
    mlp_lr: float = field(default=1e-4, metadata={"help": "Adam learning rate of the MLP"})
    mlp_epochs: int = field(default=150, metadata={"help": "max epochs of the MLP"})
    mlp_batch_size: int = field(default=32, metadata={"help": "frames per MLP batch"})
    mlp_patience: int = field(default=20, metadata={"help": "early-stopping patience (epochs) on the validation loss"})
    bag_hidden: tuple[int, ...] = field(
        default=(128,), metadata={"help": "hidden sizes of the AutoPool frame MLP (multi-label)"}
    )
    bag_batch_size: int = field(default=64, metadata={"help": "clips per AutoPool batch"})
    pooling: tuple[str, ...] = field(
        default=("autopool", "mean"), metadata={"help": "multi-label MLP aggregations: autopool, mean"}
    )
    sk_max_frames: int = field(default=20000, metadata={"help": "max training frames of logreg/svm (random subset)"})
    logreg_c: float = field(default=1.0, metadata={"help": "inverse regularisation of the logistic regression"})
    svm_c: float = field(default=1.0, metadata={"help": "C of the RBF SVM"})
    min_threshold: float = field(default=0.01, metadata={"help": "lowest AUPRC threshold (DCASE: 0.01)"})
    fidelity: bool = field(
        default=True, metadata={"help": "compute fidelity to the teacher (cosine, R2, CKA, agreement)"}
    )
    fidelity_max_frames: int = field(default=20000, metadata={"help": "frames used for CKA/cosine/R2 (random subset)"})
    cost: bool = field(default=True, metadata={"help": "compute params/MACs/bytes of every model"})
    plots: bool = field(default=True, metadata={"help": "write PNG plots next to report.md"})
    seed: int = field(default=0, metadata={"help": "seed of k-fold assignment, subsets and classifier init"})

    def validate(self) -> None:
        def bad(key: str, rule: str) -> ConfigError:
            return ConfigError(f"EvalConfig.{key}={getattr(self, key)!r} {rule}")

        if not self.models:
            raise bad("models", "must name at least one model, e.g. teacher")
        if len(set(self.models)) != len(self.models):
            raise bad("models", "lists a model twice")
        if self.protocol not in PROTOCOLS:
            raise bad("protocol", f"must be one of {', '.join(PROTOCOLS)}")
        unknown = [c for c in self.classifiers if c not in CLASSIFIERS]
        if unknown or not self.classifiers:
            raise bad("classifiers", f"must be a non-empty list of {', '.join(CLASSIFIERS)}")
        if [p for p in self.pooling if p not in ("autopool", "mean")] or not self.pooling:
            raise bad("pooling", "must be a non-empty list of autopool, mean")
        if self.label_level not in ("coarse", "fine"):
            raise bad("label_level", "must be coarse or fine")
        if not (self.hop_size > 0 and math.isfinite(self.hop_size)):
            raise bad("hop_size", "must be a positive number of seconds, e.g. 0.1")
        for k in (
            "embed_batch_size",
            "mlp_epochs",
            "mlp_batch_size",
            "mlp_patience",
            "bag_batch_size",
            "fidelity_max_frames",
        ):
            if getattr(self, k) < 1:
                raise bad(k, "must be >= 1")
        if self.n_folds < 2:
            raise bad("n_folds", "must be >= 2")
        if any(h < 1 for h in (*self.mlp_hidden, *self.bag_hidden)):
            raise bad("mlp_hidden", "hidden sizes must be >= 1")
        for k in ("mlp_lr", "logreg_c", "svm_c"):
            if not getattr(self, k) > 0:
                raise bad(k, "must be > 0")
        if self.mlp_l2 < 0:
            raise bad("mlp_l2", "must be >= 0")
        if self.device.split(":")[0] not in ("auto", "cpu", "cuda", "mps"):
            raise bad("device", "must be auto, cpu, cuda or cuda:N")

    def settings(self) -> ClassifierSettings:
        return ClassifierSettings(
            hidden=tuple(self.mlp_hidden),
            l2=self.mlp_l2,
            lr=self.mlp_lr,
            epochs=self.mlp_epochs,
            batch_size=self.mlp_batch_size,
            patience=self.mlp_patience,
            bag_hidden=tuple(self.bag_hidden),
            bag_batch_size=self.bag_batch_size,
            max_frames=self.sk_max_frames,
            logreg_c=self.logreg_c,
            svm_c=self.svm_c,
            device=_device(self.device),
            seed=self.seed,
        )


def _device(name: str) -> str:
    if name == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def eval_dir(run_dir: str | Path, dataset_name: str) -> Path:
    return Path(run_dir) / "eval" / dataset_name


def _clean(obj):
    """JSON-safe copy: numpy scalars/arrays to Python, NaN/inf to None."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    return obj


# -- classifier runs -------------------------------------------------------------------


def _classifier_jobs(config: EvalConfig, multilabel: bool) -> list[tuple[str, str, str]]:
    """(entry name, classifier kind, pooling)."""
    jobs = []
    for c in config.classifiers:
        if c == "mlp" and multilabel:
            jobs += [(f"mlp_{p}", "mlp", p) for p in config.pooling]
        else:
            jobs.append((c, c, "mean"))
    return jobs


def _run_classifier(kind, pooling, data: FrameData, ds: Dataset, splits, settings, config, desc: str = ""):
    """Train/test ``kind`` on every split; returns (result dict, clip scores, test fold per clip, predictions)."""
    from ..progress import progress

    n, c = len(ds), ds.n_classes
    scores = np.full((n, c), np.nan)
    test_fold = np.full(n, "", dtype=object)
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
            n_classes=c,
            multilabel=ds.multilabel,
            settings=settings,
            pooling=pooling,
        )
        seconds += info.get("train_seconds", 0.0)
        scores[sp.test] = sc
        test_fold[sp.test] = str(sp.test_fold)
        row = {
            "fold": sp.test_fold,
            "n_train": int(sp.train.size),
            "n_val": int(sp.val.size),
            "n_test": int(sp.test.size),
            **info,
        }
        if ds.multilabel:
            m = M.tagging_metrics(ds.y[sp.test], sc, min_threshold=config.min_threshold)
            row.update(m)
        else:
            row["accuracy"] = float(np.mean(np.argmax(sc, axis=1) == ds.y[sp.test])) if sp.test.size else None
        folds.append(row)
    tested = test_fold != ""
    out: dict[str, Any] = {"classifier": kind, "pooling": pooling, "folds": folds, "train_seconds": round(seconds, 3)}
    if ds.multilabel:
        names = ("micro_auprc", "macro_auprc", "micro_ap", "macro_ap", "micro_f1")
        out["scores"] = {k: M.fold_summary(f[k] for f in folds) for k in names}
        out["per_class_auprc"] = M.tagging_metrics(ds.y[tested], scores[tested], min_threshold=config.min_threshold)[
            "per_class_auprc"
        ]
        preds = np.where(tested[:, None], scores >= 0.5, False)
    else:
        out["scores"] = {"accuracy": M.fold_summary(f["accuracy"] for f in folds)}
        preds = np.full(n, -1)
        preds[tested] = np.argmax(scores[tested], axis=1)
        out["confusion"] = M.confusion_matrix(ds.y[tested], preds[tested], c).tolist()
    return out, scores, test_fold, preds


# -- fidelity -----------------------------------------------------------------------


def _align(a: EmbeddingSet, b: EmbeddingSet) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``a`` and ``b`` holding the same (clip, frame)."""
    big = int(max(a.frames.max(initial=0), b.frames.max(initial=0))) + 1
    ka = a.clip_index.astype(np.int64) * big + a.frames
    kb = b.clip_index.astype(np.int64) * big + b.frames
    _, ia, ib = np.intersect1d(ka, kb, assume_unique=True, return_indices=True)
    return ia, ib


def _fidelity(model: EmbeddingModel, es: EmbeddingSet, ref: EmbeddingSet, config: EvalConfig) -> dict:
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
    if model.kind == "student":
        red = model.reducer
        if red is None:
            out["note"] = "no reducer found for the student's target_spec: cosine/R2 skipped"
        else:
            target = t if red == "identity" else np.asarray(red.transform(t.astype(np.float32)), dtype=np.float64)
            if target.shape[1] != x.shape[1]:
                out["note"] = f"student dim {x.shape[1]} != reduced teacher dim {target.shape[1]}: cosine/R2 skipped"
            else:
                out["cosine"] = M.frame_cosine(x, target)
                out["r2"] = M.r2_score(x, target)
                out["target"] = "identity" if red == "identity" else getattr(red, "path_", None)
    return out


# -- main -----------------------------------------------------------------------------


def evaluate(
    run_dir: str | Path,
    config: EvalConfig | None = None,
    *,
    models: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Evaluate ``config.models`` on a prepared dataset; returns ``RUN/eval/<dataset>``.

    Parameters
    ----------
    run_dir : path
        The run whose teacher store, targets and students are evaluated (and the default dataset).
    config : EvalConfig
    models : dict, optional
        Stand-ins by spec name (``{"teacher": fn_or_module_or_EmbeddingModel, "student_x": ...}``):
        a spec in ``config.models`` found here is not resolved from the run. With stand-ins the stage
        always recomputes (their identity is not hashable into stage.json) but the embedding cache
        still applies.
    overwrite : bool
        Recompute a finished evaluation (and its embedding caches).
    """
    config = config or EvalConfig()
    run_dir = Path(run_dir)
    dataset_dir = Path(config.dataset) if config.dataset else run_dir
    if not (dataset_dir / "clips.jsonl").is_file():
        raise ManifestError(
            f"dataset {str(dataset_dir)!r} has no clips.jsonl; pass --dataset with a directory made by 'sea data prepare'"
        )
    ds = load_dataset(dataset_dir, label_level=config.label_level, name=config.dataset_name)
    out = eval_dir(run_dir, safe_name(ds.name))
    inputs: dict[str, Path] = {"clips": dataset_dir / "clips.jsonl"}
    for spec in config.models:
        p = Path(spec)
        if p.is_file():
            inputs[f"model:{spec}"] = p
        elif spec.startswith("teacher_pca:"):
            # a refit reducer must re-run the evaluation, like a new checkpoint does
            reducer = run_dir / "targets" / spec.split(":", 1)[1] / "reducer.npz"
            if reducer.is_file():
                inputs[f"model:{spec}"] = reducer
        elif spec != "teacher" and (run_dir / "students" / spec).is_dir():
            for n in ("best.pt", "ckpt.pt"):
                if (run_dir / "students" / spec / n).is_file():
                    inputs[f"model:{spec}"] = run_dir / "students" / spec / n
                    break
    tdir = run_dir / "teacher"
    if tdir.is_dir():
        for d in sorted(tdir.iterdir()):
            if (d / "stage.json").is_file():
                inputs[f"teacher:{d.name}"] = d
    stage = Stage(out, "evaluate", config, inputs=inputs)
    if not overwrite and not models and stage.is_done() and (out / "report.json").is_file():
        log.info("evaluation %s is up to date; pass --overwrite to redo it", out)
        return out
    with stage.running():
        report = _evaluate(run_dir, dataset_dir, ds, config, out, models or {}, overwrite)
        stage.counts.update(
            n_clips=len(ds),
            n_models=len(report["models"]),
            n_runs=len(report["dataset"]["splits"]),
        )
        stage.extra["protocol"] = report["dataset"]["protocol"]
    return out


def _evaluate(
    run_dir: Path, dataset_dir: Path, ds: Dataset, config: EvalConfig, out: Path, injected: dict, overwrite: bool
) -> dict:
    t_start = time.perf_counter()
    protocol = resolve_protocol(ds, config.protocol)
    splits = make_splits(ds, protocol, n_folds=config.n_folds, seed=config.seed)
    settings = config.settings()
    device = settings.device
    multilabel = ds.multilabel
    primary_metric = "micro_auprc" if multilabel else "accuracy"
    jobs = _classifier_jobs(config, multilabel)

    # resolve models (the teacher once, shared by teacher_pca and the fidelity reference)
    teacher = None
    needs_teacher = any(s == "teacher" or s.startswith("teacher_pca") for s in config.models)
    resolved: list[EmbeddingModel] = []
    for spec in config.models:
        if (spec == "teacher" or spec.startswith("teacher_pca")) and teacher is None and needs_teacher:
            teacher = resolve_model("teacher", run_dir, dataset_dir, config, injected=injected, device=device)
        m = resolve_model(spec, run_dir, dataset_dir, config, injected=injected, teacher=teacher, device=device)
        resolved.append(m)
    names = [m.name for m in resolved]
    if len(set(names)) != len(names):
        raise ConfigError(f"two models resolve to the same report name ({names}); rename a checkpoint directory")

    emb_dir = out / "emb"
    pred_dir = out / "pred"
    pred_dir.mkdir(parents=True, exist_ok=True)
    embeddings: dict[str, EmbeddingSet] = {}
    model_reports: dict[str, dict] = {}
    predictions: dict[str, dict[str, np.ndarray]] = {}
    for m in resolved:
        es = embed_dataset(
            m,
            dataset_dir,
            ds.clip_ids,
            cache_path=emb_dir / f"{safe_name(m.name)}.npz",
            hop_size=config.hop_size,
            center=config.center,
            batch_size=config.embed_batch_size,
            overwrite=overwrite,
        )
        embeddings[m.name] = es
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
        predictions[m.name] = {}
        for entry_name, kind, pooling in jobs:
            res, scores, test_fold, preds = _run_classifier(
                kind, pooling, data, ds, splits, settings, config, desc=f"{m.name} / {entry_name}"
            )
            entry["classifiers"][entry_name] = res
            pred_arrays[f"scores_{entry_name}"] = scores
            predictions[m.name][entry_name] = preds
            log.info("%s / %s: %s", m.name, entry_name, res["scores"][primary_metric])
        pred_arrays["test_fold"] = np.asarray(test_fold, dtype=str)
        np.savez(
            pred_dir / f"{safe_name(m.name)}.npz", y=ds.y, clip_ids=np.asarray(ds.clip_ids, dtype=str), **pred_arrays
        )
        entry["train_seconds"] = round(sum(r["train_seconds"] for r in entry["classifiers"].values()), 3)
        entry["cost"] = m.get_cost() if config.cost else None
        model_reports[m.name] = entry

    # fidelity to the teacher
    if config.fidelity:
        ref = embeddings.get("teacher")
        others = [m for m in resolved if m.name != "teacher"]
        if ref is None and others:
            try:
                tm = teacher or resolve_model("teacher", run_dir, dataset_dir, config, injected=injected, device=device)
                ref = embed_dataset(
                    tm,
                    dataset_dir,
                    ds.clip_ids,
                    cache_path=emb_dir / "teacher.npz",
                    hop_size=config.hop_size,
                    center=config.center,
                    batch_size=config.embed_batch_size,
                    overwrite=overwrite,
                )
            except Exception as exc:  # fidelity is optional: say why it is missing
                log.warning("fidelity skipped: the teacher could not be embedded (%s)", exc)
                for m in others:
                    model_reports[m.name]["fidelity"] = {"note": f"teacher unavailable: {exc}"}
        if ref is not None:
            for m in others:
                fid = _fidelity(m, embeddings[m.name], ref, config)
                if "teacher" in predictions:
                    fid["agreement"] = {
                        k: M.agreement(predictions[m.name][k], predictions["teacher"][k]) for k in predictions[m.name]
                    }
                model_reports[m.name]["fidelity"] = fid

    report = {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "run_dir": str(run_dir.resolve()),
        "dataset": {
            "name": ds.name,
            "path": str(dataset_dir.resolve()),
            "kind": ds.dataset_kind,
            "n_clips": len(ds),
            "n_classes": ds.n_classes,
            "class_names": ds.class_names,
            "multilabel": multilabel,
            "label_level": config.label_level if multilabel else None,
            "protocol": protocol,
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
        },
        "primary": {"classifier": jobs[0][0], "metric": primary_metric},
        "config": config_to_dict(config),
        "models": model_reports,
        "timing": {
            "embed_seconds": round(sum(r["embed_seconds"] for r in model_reports.values()), 3),
            "train_seconds": round(sum(r["train_seconds"] for r in model_reports.values()), 3),
            "total_seconds": round(time.perf_counter() - t_start, 3),
        },
    }
    report = _clean(report)
    write_json(out / "report.json", report)
    from . import report as R

    R.write_markdown(out / "report.md", report)
    if config.plots:
        report["figures"] = [p.name for p in R.write_plots(out, report)]
        write_json(out / "report.json", report)
    write_run_summary(run_dir)
    return report


# -- reading reports -----------------------------------------------------------------


def load_report(run_dir: str | Path, dataset: str | None = None) -> dict:
    """The ``report.json`` of ``RUN/eval/<dataset>`` (``dataset`` may be omitted when there is one)."""
    root = Path(run_dir) / "eval"
    have = sorted(p.name for p in root.iterdir() if (p / "report.json").is_file()) if root.is_dir() else []
    if dataset is None:
        if len(have) != 1:
            raise ManifestError(
                f"{str(root)!r} holds {len(have)} evaluations ({', '.join(have) or 'none'}); name the dataset"
                + ("" if have else "; run 'sea evaluate' first")
            )
        dataset = have[0]
    path = root / safe_name(dataset) / "report.json"
    if not path.is_file():
        raise ManifestError(
            f"no evaluation report at {str(path)!r} (have: {', '.join(have) or 'none'}); run 'sea evaluate' first"
        )
    rep = read_json(path)
    if rep.get("format") != REPORT_FORMAT:
        raise ManifestError(f"{str(path)!r} is not a sea evaluation report")
    rep["_path"] = str(path)
    return rep


def collect_reports(run_dirs) -> list[dict]:
    """Every ``RUN/eval/*/report.json`` of the given runs (a path or a list of paths)."""
    if isinstance(run_dirs, (str, Path)):
        run_dirs = [run_dirs]
    out = []
    for rd in run_dirs:
        root = Path(rd) / "eval"
        if not root.is_dir():
            continue
        for p in sorted(root.iterdir()):
            if (p / "report.json").is_file():
                out.append(load_report(rd, p.name))
    return out


def report_rows(reports) -> list[dict]:
    """Flat rows, one per (report, model, classifier): scores, cost and fidelity side by side.

    Keys: ``dataset, model, kind, classifier, metric, score, std, dim, params, macs, weight_bytes_fp32,
    weight_bytes_int8, peak_activation_bytes_fp32, peak_activation_bytes_int8, cosine, r2, cka, agreement``
    (None where not applicable). Notebooks build their tables and Pareto fronts from these.
    """
    if isinstance(reports, dict):
        reports = [reports]
    rows = []
    for rep in reports:
        metric = rep["primary"]["metric"]
        for name, m in rep["models"].items():
            cost = m.get("cost") or {}
            fid = m.get("fidelity") or {}
            for clf, res in m["classifiers"].items():
                s = res["scores"].get(metric) or {}
                rows.append(
                    {
                        "dataset": rep["dataset"]["name"],
                        "model": name,
                        "kind": m["kind"],
                        "classifier": clf,
                        "metric": metric,
                        "score": s.get("mean"),
                        "std": s.get("std"),
                        "per_fold": s.get("per_fold"),
                        "dim": m.get("dim"),
                        **{
                            k: cost.get(k)
                            for k in (
                                "params",
                                "macs",
                                "weight_bytes_fp32",
                                "weight_bytes_int8",
                                "peak_activation_bytes_fp32",
                                "peak_activation_bytes_int8",
                            )
                        },
                        "cosine": fid.get("cosine"),
                        "r2": fid.get("r2"),
                        "cka": fid.get("cka") if name != "teacher" else 1.0,
                        "agreement": (fid.get("agreement") or {}).get(clf) if name != "teacher" else 1.0,
                    }
                )
    return rows


def write_run_summary(run_dir: str | Path) -> Path:
    """``RUN/eval/report.json`` and ``report.md``: every evaluated dataset of the run side by side."""
    from . import report as R

    run_dir = Path(run_dir)
    reports = collect_reports(run_dir)
    rows = report_rows(reports)
    summary = {
        "format": "sea-eval-summary",
        "datasets": {
            r["dataset"]["name"]: {"report": r["_path"], "primary": r["primary"], "protocol": r["dataset"]["protocol"]}
            for r in reports
        },
        "rows": rows,
    }
    write_json(run_dir / "eval" / "report.json", _clean(summary))
    (run_dir / "eval" / "report.md").write_text(R.summary_markdown(reports), encoding="utf-8")
    return run_dir / "eval" / "report.md"
