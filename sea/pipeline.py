"""``sea run``: the whole SEA pipeline from one YAML file.

prepare -> teacher -> targets -> distill -> evaluate -> export

Each stage is the same library function its ``sea <group>`` command calls, and each keeps its
own ``stage.json`` (resolved config + input hashes). So a re-run skips every stage whose config
and inputs are unchanged, a change re-runs that stage and everything downstream of it (their
inputs change), and a killed run resumes: the teacher store keeps its finished shards and
distillation restarts from its last epoch checkpoint.

The YAML file has one section per stage; each section holds that stage's config keys (the same
keys as the stage's ``--config`` file and flags)::

    run_dir: runs/quickstart
    seed: 0
    data:     {dataset: synthetic, n_clips: 120, duration: 4.0}
    teacher:  {input_repr: mel256, content_type: music, embedding_size: 512, hop_size: 0.5,
               untrained_teacher: auto}
    targets:  {method: pca, dim: 64, sampler: random}          # or a list of such mappings
    students: [sea_student_3_lin, {student: sea_mcu_s, epochs: 30}]
    distill:  {epochs: 10}                                      # shared by every student
    evaluate: {classifiers: [logreg]}
    export:   {int8: true}

``untrained_teacher: auto`` uses the official OpenL3 weights when they can be found (installed
openl3, the cache, or a download) and otherwise falls back to an untrained teacher, loudly.

The package ``sea`` never imports ``data_prep`` or ``export`` at import time; this module
imports them inside the stage functions.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import config_from_dict, config_to_dict, read_yaml
from .errors import ConfigError, ParityError, SeaError, UntrainedTeacherWarning, WeightsError
from .utils import read_json, write_json

log = logging.getLogger("sea.pipeline")

__all__ = ["STAGES", "RunPlan", "load_run_config", "run_pipeline", "summary_rows"]

STAGES = ("prepare", "teacher", "targets", "distill", "evaluate", "export")
TOP_KEYS = ("run_dir", "seed", "data", "teacher", "targets", "students", "distill", "evaluate", "export")
# generation keys of the synthetic set; everything else in ``data`` is a PrepareConfig key
SYNTH_KEYS = ("n_clips", "duration", "synth_seed")
# keys sea run sets itself, per section (a user value would be overwritten, so it is refused)
_MANAGED = {"evaluate": ("models",), "distill": ("student",)}


@dataclass(frozen=True)
class RunPlan:
    """A validated ``sea run`` config: one resolved stage config per stage."""

    path: str
    run_dir: Path
    seed: int
    prepare: Any  # data_prep.common.PrepareConfig
    synth: dict[str, Any]
    untrained: str  # "auto", "true" or "false"
    teacher: Any  # sea.teacher.extract.ExtractConfig
    targets: tuple[Any, ...]  # sea.targets.TargetsConfig
    students: tuple[Any, ...]  # sea.distill.DistillConfig, one per student
    evaluate: Any | None  # sea.evaluate.EvalConfig (models filled in at run time)
    export: Any | None  # export.config.ExportConfig
    export_students: tuple[str, ...] = field(default=())

    def student_names(self) -> list[str]:
        return [c.output_name() for c in self.students]


# -- config --------------------------------------------------------------------------------------


def _section(cls, values: Any, section: str, *, extra_keys: tuple[str, ...] = ()):
    """``config_from_dict`` with the section named in every error."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ConfigError(f"section {section!r} must be a mapping of {cls.__name__} keys, got {values!r}")
    for key in _MANAGED.get(section, ()):
        if key in values:
            raise ConfigError(
                f"section {section!r}: key {key!r} is set by 'sea run' itself; "
                + (
                    "list students under 'students:'"
                    if section == "distill"
                    else "it evaluates the teacher, its PCA and every student"
                )
            )
    try:
        return config_from_dict(cls, values)
    except ConfigError as exc:
        msg = str(exc)
        if extra_keys and "valid keys are:" in msg:
            msg += ", " + ", ".join(extra_keys)
        raise ConfigError(f"in section {section!r} of the run config: {msg}") from None


def _bool_or_auto(value: Any, key: str) -> str:
    if value in (None, "auto"):
        return "auto"
    if isinstance(value, bool):
        return "true" if value else "false"
    if str(value).lower() in ("true", "yes", "1"):
        return "true"
    if str(value).lower() in ("false", "no", "0"):
        return "false"
    raise ConfigError(f"teacher.{key}={value!r} must be auto, true or false")


def _check_student_dim(cfg, target_dim: int, i: int) -> None:
    """Catch an embedding-size mismatch before hours of teacher extraction, not at the distill stage."""
    from . import students as registry

    try:
        model = registry.create(cfg.student, **dict(cfg.student_args or {}))
    except TypeError as exc:
        raise ConfigError(
            f"students[{i}] ({cfg.student}): student_args {cfg.student_args!r} rejected ({exc})"
        ) from None
    if model.embedding_dim != target_dim:
        raise ConfigError(
            f"students[{i}] ({cfg.student}) outputs {model.embedding_dim}-d embeddings but its targets "
            f"{cfg.targets!r} are {target_dim}-d; add 'student_args: {{out_dim: {target_dim}}}' to that student "
            f"(a linear head) or pick targets with dim {model.embedding_dim}"
        )


def load_run_config(path: str | Path, *, run_dir: str | Path | None = None, seed: int | None = None) -> RunPlan:
    """Read and validate a ``sea run`` YAML file, every section up front.

    Parameters
    ----------
    path : path
        The YAML file.
    run_dir : path, optional
        Overrides the file's ``run_dir`` (relative paths in the file are relative to the current
        directory, like every sea command).
    seed : int, optional
        Overrides the file's ``seed``; it seeds every stage that does not set its own.

    Raises
    ------
    ConfigError
        Unknown key (the message lists the valid ones), bad value, or an impossible combination.
    """
    from data_prep.common import PrepareConfig

    from .distill import DistillConfig
    from .evaluate import EvalConfig
    from .targets import TargetsConfig
    from .teacher.extract import ExtractConfig

    raw = read_yaml(path)
    unknown = sorted(set(raw) - set(TOP_KEYS))
    if unknown:
        raise ConfigError(
            f"unknown top-level key(s) {', '.join(map(repr, unknown))} in {str(path)!r}; valid keys are: "
            + ", ".join(TOP_KEYS)
        )
    rd = run_dir if run_dir is not None else raw.get("run_dir")
    if not rd:
        raise ConfigError(f"{str(path)!r} sets no run_dir; add 'run_dir: runs/NAME' or pass --run-dir")
    top_seed = int(seed if seed is not None else raw.get("seed", 0) or 0)

    def seeded(section: dict | None, cls) -> dict:
        values = dict(section or {})
        if "seed" in {f.name for f in dataclasses.fields(cls)}:
            values.setdefault("seed", top_seed)
        return values

    # data
    data = dict(raw.get("data") or {})
    if not isinstance(raw.get("data") or {}, dict):
        raise ConfigError("section 'data' must be a mapping of data keys (dataset, raw_dir, ...)")
    synth = {k: data.pop(k) for k in SYNTH_KEYS if k in data}
    data.setdefault("dataset", "synthetic")
    prepare = _section(PrepareConfig, data, "data", extra_keys=SYNTH_KEYS)
    if synth and prepare.dataset != "synthetic":
        raise ConfigError(
            f"data keys {', '.join(synth)} only apply to dataset 'synthetic', not {prepare.dataset!r}; remove them"
        )
    if prepare.dataset == "synthetic":
        synth.setdefault("synth_seed", top_seed)

    # teacher
    tvals = seeded(raw.get("teacher"), ExtractConfig)
    untrained = _bool_or_auto(tvals.pop("untrained_teacher", "auto"), "untrained_teacher")
    teacher = _section(ExtractConfig, {**tvals, "untrained_teacher": untrained == "true"}, "teacher")

    # targets: one mapping or a list
    tsec = raw.get("targets")
    tlist = tsec if isinstance(tsec, list) else [tsec or {}]
    targets = tuple(_section(TargetsConfig, seeded(t, TargetsConfig), f"targets[{i}]") for i, t in enumerate(tlist))
    for t in targets:
        if t.sampler == "all":
            raise ConfigError(
                "targets: sampler 'all' is for 'sea targets fit'; in a run config list one entry per sampler"
            )
    target_names = [t.default_name(teacher.embedding_size) for t in targets]
    if len(set(target_names)) != len(target_names):
        raise ConfigError(f"targets: two entries resolve to the same name ({target_names}); give each a 'name'")

    # students (+ the shared distill section)
    dsec = raw.get("distill") or {}
    if not isinstance(dsec, dict):
        raise ConfigError("section 'distill' must be a mapping of DistillConfig keys")
    entries = raw.get("students")
    if entries is None:
        entries = ["sea_student_3_lin"]
    if isinstance(entries, (str, dict)):
        entries = [entries]
    students = []
    for i, e in enumerate(entries):
        if isinstance(e, str):
            e = {"student": e}
        if not isinstance(e, dict) or "student" not in e:
            raise ConfigError(
                f"students[{i}]={e!r}: give a registry name (e.g. sea_student_3_lin) or a mapping with a 'student' key"
            )
        values = seeded({**dsec, **e}, DistillConfig)
        values.setdefault("targets", target_names[0])
        if values["targets"] not in target_names:
            raise ConfigError(
                f"students[{i}] ({e['student']}) distils onto targets {values['targets']!r}, which this run does not "
                f"fit; choose one of {', '.join(target_names)}"
            )
        cfg = _section(DistillConfig, values, f"students[{i}]")
        t = targets[target_names.index(cfg.targets)]
        _check_student_dim(cfg, teacher.embedding_size if t.method == "identity" else t.dim, i)
        students.append(cfg)
    names = [s.output_name() for s in students]
    if len(set(names)) != len(names):
        raise ConfigError(f"students: two entries write to the same directory ({names}); give each a 'name'")

    # evaluate / export (null disables them)
    evaluate = None
    if "evaluate" not in raw or raw["evaluate"] is not None:
        evaluate = _section(EvalConfig, seeded(raw.get("evaluate"), EvalConfig), "evaluate")
    export = None
    export_students: tuple[str, ...] = tuple(names)
    if "export" not in raw or raw["export"] is not None:
        from export.config import ExportConfig

        esec = dict(raw.get("export") or {})
        only = esec.pop("students", None)
        if only is not None:
            only = [only] if isinstance(only, str) else list(only)
            bad = [s for s in only if s not in names]
            if bad:
                raise ConfigError(f"export.students names {bad}, which are not students of this run ({names})")
            export_students = tuple(only)
        export = _section(ExportConfig, seeded(esec, ExportConfig), "export", extra_keys=("students",))
    return RunPlan(
        path=str(path),
        run_dir=Path(rd),
        seed=top_seed,
        prepare=prepare,
        synth=synth,
        untrained=untrained,
        teacher=teacher,
        targets=targets,
        students=tuple(students),
        evaluate=evaluate,
        export=export,
        export_students=export_students,
    )


# -- stages --------------------------------------------------------------------------------------


class _World:
    """Rank bookkeeping under torchrun: sharded stages run everywhere, the rest on rank 0."""

    def __init__(self):
        self.size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.size <= 1:
            return
        import datetime as _dt

        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group(backend="gloo", timeout=_dt.timedelta(hours=12))
        dist.barrier()


def _resolve_teacher(plan: RunPlan):
    """The teacher config with ``untrained_teacher: auto`` decided (loudly)."""
    cfg = plan.teacher
    if plan.untrained != "auto":
        return cfg, None
    from .teacher.weights import resolve_weights

    try:
        path = resolve_weights(cfg.input_repr, cfg.content_type, cfg.weights)
        return cfg, str(path)
    except WeightsError as exc:
        banner = (
            "\n" + "!" * 78 + "\n"
            "  NO OFFICIAL OPENL3 WEIGHTS: this run uses an UNTRAINED (random) teacher.\n"
            "  Every stage runs for real, but the embeddings are not OpenL3's: the numbers\n"
            "  show the pipeline working, not SEA's accuracy. See README 'OpenL3 weights'.\n"
            f"  ({str(exc)[:300]}...)\n" + "!" * 78
        )
        log.warning(banner)
        warnings.warn(
            f"teacher {cfg.input_repr}/{cfg.content_type} has no weights here: using an untrained teacher "
            "(untrained_teacher: auto)",
            UntrainedTeacherWarning,
            stacklevel=2,
        )
        return dataclasses.replace(cfg, untrained_teacher=True), None


def _prepare(plan: RunPlan, overwrite: bool) -> Path:
    import data_prep

    extra = {}
    if plan.prepare.dataset == "synthetic":
        s = plan.synth
        extra = {"n_clips": s.get("n_clips", 200), "seed": s.get("synth_seed", plan.seed)}
        if s.get("duration") is not None:
            extra["duration"] = s["duration"]
    return data_prep.prepare_from_config(plan.prepare, plan.run_dir, overwrite=overwrite, **extra)


def _eval_models(plan: RunPlan) -> tuple[str, ...]:
    models = ["teacher"]
    for t in plan.targets:
        name = t.default_name(plan.teacher.embedding_size)
        if t.method != "identity":
            models.append(f"teacher_pca:{name}")
    for n in plan.student_names():
        models.append(str(plan.run_dir / "students" / n / "best.pt"))
    return tuple(models)


def _stage_status(out_dir: Path, t0: float, before: Any) -> str:
    after = _stage_end(out_dir)
    return "up to date" if before is not None and before == after else f"done in {time.perf_counter() - t0:.1f} s"


def _stage_end(out_dir: Path) -> Any:
    p = Path(out_dir) / "stage.json"
    return read_json(p).get("finished") if p.is_file() else None


def run_pipeline(
    plan: RunPlan,
    *,
    start: str = "prepare",
    stop: str = "export",
    overwrite: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Run the stages ``start`` .. ``stop`` of a validated plan; returns the run summary.

    Parameters
    ----------
    plan : RunPlan
        From :func:`load_run_config`.
    start, stop : str
        First and last stage (one of :data:`STAGES`). Stages before ``start`` must be finished.
    overwrite : tuple of str
        Stages to redo even when up to date (``"all"`` for every stage).

    Returns
    -------
    summary : dict
        ``rows`` (one per model: accuracy, fidelity, bytes, MACs, latency), ``paths`` and
        ``stages`` (what each stage did); also written to ``RUN/summary.json`` and ``summary.md``.
    """
    for name, value in (("--from", start), ("--to", stop)):
        if value not in STAGES:
            raise ConfigError(f"{name} {value!r} is not a stage; choose one of {', '.join(STAGES)}")
    bad = [s for s in overwrite if s not in STAGES and s != "all"]
    if bad:
        raise ConfigError(f"--overwrite {', '.join(bad)}: not a stage; choose from {', '.join(STAGES)} or all")
    i0, i1 = STAGES.index(start), STAGES.index(stop)
    if i0 > i1:
        raise ConfigError(f"--from {start} comes after --to {stop}; stages run in the order {' -> '.join(STAGES)}")
    todo = STAGES[i0 : i1 + 1]

    def ow(stage: str) -> bool:
        return "all" in overwrite or stage in overwrite

    world = _World()
    run_dir = plan.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    if world.main:
        write_json(run_dir / "run_config.json", _plan_to_dict(plan))
    stages: dict[str, str] = {}
    parity_failures: list[str] = []
    teacher_cfg, weights_path = (plan.teacher, None)
    if "teacher" in todo or "evaluate" in todo:
        teacher_cfg, weights_path = _resolve_teacher(plan)
    n = len(todo)

    def banner(k: int, stage: str, what: str) -> None:
        if world.main:
            log.info("[%d/%d] %s: %s", k, n, stage, what)

    for k, stage in enumerate(todo, 1):
        t0 = time.perf_counter()
        if stage == "prepare":
            banner(k, stage, f"{plan.prepare.dataset} -> {run_dir}")
            if world.main:
                before = _stage_end(run_dir)
                _prepare(plan, ow(stage))
                stages[stage] = _stage_status(run_dir, t0, before)
            world.barrier()
        elif stage == "teacher":
            from .teacher.extract import extract, variant_name

            banner(
                k,
                stage,
                f"OpenL3 {variant_name(teacher_cfg)}" + (" (UNTRAINED)" if teacher_cfg.untrained_teacher else ""),
            )
            before = _stage_end(run_dir / "teacher" / variant_name(teacher_cfg))
            out = extract(run_dir, teacher_cfg, overwrite=ow(stage))  # sharded by rank under torchrun
            stages[stage] = _stage_status(out, t0, before)
            world.barrier()
        elif stage == "targets":
            from .targets import fit_targets

            if world.main:
                done = []
                for t in plan.targets:
                    name = t.default_name(teacher_cfg.embedding_size)
                    banner(k, stage, f"{name}")
                    before, t_item = _stage_end(run_dir / "targets" / name), time.perf_counter()
                    out = fit_targets(
                        run_dir, dataclasses.replace(t, teacher=_teacher_dirname(teacher_cfg)), overwrite=ow(stage)
                    )
                    done.append(f"{name}: {_stage_status(out, t_item, before)}")
                stages[stage] = "; ".join(done)
            world.barrier()
        elif stage == "distill":
            from .distill import distill

            done = []
            for cfg in plan.students:
                name = cfg.output_name()
                banner(k, stage, f"{name} onto {cfg.targets}")
                before, t_item = _stage_end(run_dir / "students" / name), time.perf_counter()
                out = distill(run_dir, cfg, overwrite=ow(stage))  # DDP under torchrun
                done.append(f"{name}: {_stage_status(out, t_item, before)}")
                world.barrier()
            stages[stage] = "; ".join(done)
        elif stage == "evaluate" and plan.evaluate is not None:
            from .evaluate import evaluate

            if world.main:
                cfg = dataclasses.replace(
                    plan.evaluate,
                    models=_eval_models(plan),
                    untrained_teacher=bool(teacher_cfg.untrained_teacher),
                    teacher=_teacher_dirname(teacher_cfg),
                )
                banner(k, stage, f"{len(cfg.models)} models, protocol {cfg.protocol}")
                from .evaluate.stage import eval_dir

                before = _stage_end(eval_dir(run_dir, _eval_name(plan)))
                out = evaluate(run_dir, cfg, overwrite=ow(stage))
                stages[stage] = _stage_status(out, t0, before)
            world.barrier()
        elif stage == "export" and plan.export is not None:
            from export.api import export_student

            if world.main:
                done = []
                for name in plan.export_students:
                    banner(k, stage, f"{name}" + (" (int8)" if plan.export.int8 else ""))
                    ckpt = run_dir / "students" / name / "best.pt"
                    out = run_dir / "export" / name
                    before, t_item = _stage_end(out), time.perf_counter()
                    ecfg = dataclasses.replace(plan.export, overwrite=ow(stage))
                    head = _linear_head(plan, name) if not ecfg.classifier else None
                    if head is not None:
                        ecfg = dataclasses.replace(ecfg, classifier=str(head))
                    try:
                        export_student(ckpt, out, ecfg)
                    except ParityError as exc:
                        # the artifacts and parity.json are on disk: finish the other students and the
                        # summary (which marks this one FAIL), then raise once at the end
                        parity_failures.append(f"{name}: {exc}")
                        done.append(f"{name}: PARITY FAILED")
                        continue
                    done.append(f"{name}: {_stage_status(out, t_item, before)}")
                stages[stage] = "; ".join(done)
            world.barrier()
        else:
            stages[stage] = "disabled in the config"
    summary = build_summary(plan, stages) if world.main else {}
    if parity_failures:
        summary["parity_failures"] = parity_failures
        err = ParityError(
            "export parity failed (see the summary above and each export's parity.json):\n"
            + "\n".join(parity_failures)
            + "\nset 'strict: false' in the export section to record such failures as warnings"
        )
        err.summary = summary  # the CLI still prints the table
        raise err
    return summary


def _teacher_dirname(cfg) -> str:
    from .teacher.extract import variant_name

    return variant_name(cfg)


def _plan_to_dict(plan: RunPlan) -> dict[str, Any]:
    def d(c):
        return None if c is None else config_to_dict(c)

    return {
        "config_file": plan.path,
        "run_dir": str(plan.run_dir),
        "seed": plan.seed,
        "data": {**d(plan.prepare), **plan.synth},
        "teacher": {**d(plan.teacher), "untrained_teacher": plan.untrained},
        "targets": [d(t) for t in plan.targets],
        "students": [d(s) for s in plan.students],
        "evaluate": d(plan.evaluate),
        "export": None if plan.export is None else {**d(plan.export), "students": list(plan.export_students)},
    }


# -- summary -------------------------------------------------------------------------------------


def _linear_head(plan: RunPlan, student: str) -> Path | None:
    """``RUN/eval/<name>/heads/<student>.npz``: a deployable linear head for the export and the Pi bundle.

    Only when the evaluated dataset is the run's own (the export's held-out windows carry the same
    label ids) and its embeddings are cached; refitted only when the evaluation is newer.
    """
    name = _eval_name(plan)
    if name is None or (plan.evaluate.dataset and Path(plan.evaluate.dataset).resolve() != plan.run_dir.resolve()):
        return None
    edir = plan.run_dir / "eval" / name
    if not (edir / "stage.json").is_file():
        return None
    from .evaluate.head import fit_linear_head

    path = edir / "heads" / f"{student}.npz"
    if path.is_file() and path.stat().st_mtime >= (edir / "stage.json").stat().st_mtime:
        return path
    try:
        return fit_linear_head(plan.run_dir, student, path, eval_name=name, seed=plan.seed)
    except SeaError as exc:
        log.warning("no classifier head for %s: %s", student, exc)
        return None


def _eval_name(plan: RunPlan) -> str | None:
    """The ``RUN/eval/<name>`` folder the evaluate stage of this plan writes."""
    if plan.evaluate is None:
        return None
    from .evaluate.stage import safe_name

    ds_dir = Path(plan.evaluate.dataset) if plan.evaluate.dataset else plan.run_dir
    return safe_name(plan.evaluate.dataset_name or ds_dir.resolve().name)


def summary_rows(
    run_dir: str | Path, students: list[str] | None = None, eval_name: str | None = None
) -> list[dict[str, Any]]:
    """One row per evaluated model of a run: accuracy, fidelity, footprint and latency.

    Keys: ``model, kind, metric, score, std, fidelity_r2, fidelity_cosine, distill_r2, params, macs,
    weight_bytes, weight_kind, arena_bytes, latency_ms, latency_runtime, int8_cosine, parity_passed``
    (None where unknown). ``int8_cosine`` is the worst mean cosine of the int8 artifacts against fp32.
    """
    run_dir = Path(run_dir)
    rows: list[dict[str, Any]] = []
    report = None
    eval_root = run_dir / "eval"
    if eval_name is not None and (eval_root / eval_name / "report.json").is_file():
        report = read_json(eval_root / eval_name / "report.json")
    elif eval_name is None and eval_root.is_dir():
        reps = sorted(p for p in eval_root.iterdir() if (p / "report.json").is_file())
        if reps:
            report = read_json(reps[0] / "report.json")
    models: dict[str, dict] = dict(report["models"]) if report else {}
    for n in students or []:
        models.setdefault(n, {"kind": "student", "classifiers": {}})
    primary = report["primary"] if report else {"classifier": None, "metric": None}
    for name, m in models.items():
        clf = m.get("classifiers", {}).get(primary["classifier"]) or {}
        score = (clf.get("scores") or {}).get(primary["metric"]) or {}
        fid = m.get("fidelity") or {}
        cost = m.get("cost") or {}
        row: dict[str, Any] = {
            "model": name,
            "kind": m.get("kind"),
            "metric": primary["metric"],
            "classifier": primary["classifier"],
            "score": score.get("mean"),
            "std": score.get("std"),
            "fidelity_r2": fid.get("r2"),
            "fidelity_cosine": fid.get("cosine"),
            "distill_r2": None,
            "params": cost.get("params"),
            "macs": cost.get("macs"),
            "weight_bytes": cost.get("weight_bytes_fp32"),
            "weight_kind": "fp32" if cost.get("weight_bytes_fp32") else None,
            "arena_bytes": None,
            "latency_ms": None,
            "latency_runtime": None,
            "export_dir": None,
            "int8_cosine": None,
            "parity_passed": None,
        }
        sdir = run_dir / "students" / name
        if (sdir / "fidelity.json").is_file():
            f = read_json(sdir / "fidelity.json")
            # variance-weighted R2: dims with little held-out variance make the plain mean erratic
            row["distill_r2"] = _first(f, ("r2_weighted", "r2_mean", "r2", "mean_r2"))
        edir = run_dir / "export" / name
        if (edir / "footprint.json").is_file():
            fp = read_json(edir / "footprint.json")
            row["export_dir"] = str(edir)
            row["params"] = fp.get("params", row["params"])
            row["macs"] = fp.get("macs", row["macs"])
            arts = fp.get("artifacts") or {}
            for art, kind in (
                ("model_int8.tflite", "int8"),
                ("model_fp32.tflite", "fp32"),
                ("model_fp32.onnx", "fp32"),
            ):
                if art in arts:
                    row["weight_bytes"] = arts[art].get("file_bytes")
                    row["weight_kind"] = f"{kind} {art.rsplit('.', 1)[1]}"
                    lat = fp.get("latency_ms") or {}
                    key = next((k for k in lat if k.startswith(art + "|")), None)
                    if key:
                        row["latency_ms"], row["latency_runtime"] = lat[key], key.split("|", 1)[1]
                    break
            row["arena_bytes"] = (fp.get("mcu") or {}).get("arena_bytes")
        if (edir / "parity.json").is_file():
            par = read_json(edir / "parity.json")
            cos = [
                r["mean_cosine"]
                for k, r in (par.get("results") or {}).items()
                if "int8" in k and isinstance(r, dict) and r.get("mean_cosine") is not None
            ]
            row["int8_cosine"] = min(cos) if cos else None
            row["parity_passed"] = par.get("passed")
        rows.append(row)
    return rows


def _first(d: dict, keys) -> Any:
    for k in keys:
        if d.get(k) is not None:
            return d[k]
    return None


def _fmt_bytes(n: Any) -> str:
    if n is None:
        return "-"
    n = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return "-"


def _fmt(v: Any, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def summary_table(rows: list[dict[str, Any]]) -> str:
    """The summary rows as a Markdown table (also readable in a terminal)."""
    metric = next((r["metric"] for r in rows if r.get("metric")), "score")
    head = [
        "model",
        metric,
        "fidelity R2",
        "cosine",
        "distill R2",
        "int8 cos",
        "weights",
        "arena",
        "MACs/window",
        "latency",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        score = "-" if r["score"] is None else f"{r['score']:.3f} ± {r['std'] or 0:.3f}"
        macs = "-" if r["macs"] is None else f"{r['macs'] / 1e6:.1f} M"
        weights = _fmt_bytes(r["weight_bytes"]) + (f" ({r['weight_kind']})" if r.get("weight_kind") else "")
        lat = "-" if r["latency_ms"] is None else f"{r['latency_ms']:.2f} ms ({r['latency_runtime']})"
        cells = [
            r["model"],
            score,
            _fmt(r["fidelity_r2"], ".3f"),
            _fmt(r["fidelity_cosine"], ".3f"),
            _fmt(r["distill_r2"], ".3f"),
            _fmt(r.get("int8_cosine"), ".4f") + (" FAIL" if r.get("parity_passed") is False else ""),
            weights,
            _fmt_bytes(r["arena_bytes"]),
            macs,
            lat,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def build_summary(plan: RunPlan, stages: dict[str, str]) -> dict[str, Any]:
    """Collect the run's reports into ``RUN/summary.json`` and ``RUN/summary.md``."""
    run_dir = plan.run_dir
    eval_name = _eval_name(plan)
    rows = summary_rows(run_dir, plan.student_names(), eval_name=eval_name)
    paths: dict[str, Any] = {"run_dir": str(run_dir)}
    edir = run_dir / "eval" / eval_name if eval_name else None
    if edir is not None and (edir / "report.md").is_file():
        paths["report"] = str(edir / "report.md")
        paths["plots"] = [str(x) for x in sorted(edir.glob("*.png"))]
    for name in plan.export_students:
        e = run_dir / "export" / name
        if e.is_dir():
            paths[f"export:{name}"] = str(e)
            for sub in ("pi", "mcu"):
                if (e / sub).is_dir():
                    paths[f"{sub}:{name}"] = str(e / sub)
    teacher_untrained = None
    tdir = run_dir / "teacher"
    if tdir.is_dir():
        for d in tdir.iterdir():
            s = d / "stage.json"
            if s.is_file():
                meta = read_json(s)
                teacher_untrained = bool(_deep_get(meta, "untrained") or _deep_get(meta, "untrained_teacher"))
    summary = {
        "format": "sea-run-summary",
        "config_file": plan.path,
        "teacher_untrained": teacher_untrained,
        "stages": stages,
        "rows": rows,
        "paths": paths,
    }
    write_json(run_dir / "summary.json", summary)
    md = [f"# sea run summary: {run_dir}", ""]
    if teacher_untrained:
        md += ["**Teacher: UNTRAINED OpenL3 (random weights): figures show the pipeline, not SEA's accuracy.**", ""]
    md += [summary_table(rows), "", "## Stages", ""]
    md += [f"- {k}: {v}" for k, v in stages.items()]
    md += ["", "## Paths", ""]
    for k, v in paths.items():
        if isinstance(v, list):
            md += [f"- {k}:"] + [f"  - {x}" for x in v]
        else:
            md.append(f"- {k}: {v}")
    (run_dir / "summary.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    summary["markdown"] = "\n".join(md)
    return summary


def _deep_get(d: Any, key: str) -> Any:
    if isinstance(d, dict):
        if key in d and not isinstance(d[key], dict):
            return d[key]
        for v in d.values():
            r = _deep_get(v, key)
            if r is not None:
                return r
    return None


def check_plan(plan: RunPlan) -> None:
    """Cheap checks that need no stage to have run (the run directory is writable, ...)."""
    try:
        plan.run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SeaError(f"run_dir {str(plan.run_dir)!r} cannot be created ({exc}); choose a writable path") from None
