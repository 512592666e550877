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
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import check_keys, config_from_dict, config_to_dict, did_you_mean, read_yaml
from .constants import STAGES
from .distributed import World
from .errors import ConfigError, ParityError, SeaError, UntrainedTeacherWarning, WeightsError
from .layout import RunLayout, safe_name
from .utils import read_json, write_json

log = logging.getLogger("sea.pipeline")

__all__ = [
    "STAGES",
    "EvalDataset",
    "Evaluation",
    "RunPlan",
    "check_overlap",
    "load_run_config",
    "plan_to_dict",
    "run_pipeline",
]

TOP_KEYS = ("run_dir", "seed", "data", "teacher", "targets", "students", "distill", "evaluate", "export")
# generation keys of the synthetic set (PrepareConfig fields that only dataset 'synthetic' reads)
SYNTH_KEYS = ("n_clips", "duration", "synth_seed")
# keys sea run sets itself, per section (a user value would be overwritten, so it is refused)
_MANAGED = {"evaluate": ("models",), "distill": ("student",), "export": ("student",)}


@dataclass(frozen=True)
class RunPlan:
    """A validated ``sea run`` config: one resolved stage config per stage."""

    path: str
    run_dir: Path
    seed: int
    prepare: Any  # data_prep.config.PrepareConfig
    untrained: str  # "auto", "true" or "false" (OpenL3 teachers)
    teachers: tuple[Any, ...]  # sea.teacher.config.ExtractConfig, one per teacher (usually one)
    targets: tuple[Any, ...]  # sea.targets.config.TargetsConfig
    students: tuple[Any, ...]  # sea.distill.config.DistillConfig, one per student
    evaluate: Any | None  # sea.evaluate.config.EvalConfig (models filled in at run time)
    export: Any | None  # export.config.ExportConfig
    export_students: tuple[str, ...] = field(default=())
    eval_datasets: tuple[EvalDataset, ...] = field(default=())  # evaluate.datasets; empty: evaluate on `data`
    allow_overlap: bool | tuple[str, ...] = False  # True, or the evaluation datasets allowed to overlap
    target_teachers: tuple[int, ...] = ()  # the teacher (index) of each target set
    target_name_list: tuple[str, ...] = ()  # the name of each target set

    @property
    def layout(self) -> RunLayout:
        return RunLayout(self.run_dir)

    @property
    def teacher(self):
        """The first (usually the only) teacher."""
        return self.teachers[0]

    def teacher_variants(self) -> list[str]:
        from .teacher.config import variant_name

        return [variant_name(t) for t in self.teachers]

    def student_names(self) -> list[str]:
        return [c.output_name() for c in self.students]

    def target_names(self) -> list[str]:
        return list(self.target_name_list)

    def student_teacher(self, student: str) -> int:
        """The teacher (index) a student is distilled from."""
        cfg = next(c for c in self.students if c.output_name() == student)
        return self.target_teachers[self.target_name_list.index(cfg.targets)]

    def evaluations(self) -> list[Evaluation]:
        """Every evaluation of the plan: one per dataset (``evaluate.datasets``, else the run's own data) and
        teacher; the primary one first."""
        if self.evaluate is None:
            return []
        if self.eval_datasets:
            datasets = [(d.name, self.layout.dataset(d.name)) for d in self.eval_datasets]
        else:
            ds_dir = Path(self.evaluate.dataset) if self.evaluate.dataset else self.run_dir
            datasets = [(safe_name(self.evaluate.dataset_name or ds_dir.resolve().name), ds_dir)]
        variants = self.teacher_variants()
        return [
            Evaluation(name if len(variants) == 1 else safe_name(f"{name}-{v}"), name, Path(d), i)
            for name, d in datasets
            for i, v in enumerate(variants)
        ]

    def eval_names(self) -> list[str]:
        """The ``RUN/eval/<name>`` folders the evaluate stage of this plan writes, the primary one first."""
        return [e.name for e in self.evaluations()]

    def eval_name(self) -> str | None:
        """The primary evaluation (the summary's first rows come from it)."""
        names = self.eval_names()
        return names[0] if names else None

    def overlap_allowed(self, dataset: str) -> bool:
        """Whether evaluation dataset ``dataset`` may share audio with the distillation corpus (transductive)."""
        return self.allow_overlap is True or (isinstance(self.allow_overlap, tuple) and dataset in self.allow_overlap)

    def eval_dataset_dir(self, name: str) -> Path:
        """The prepared dataset that evaluation ``name`` (or dataset ``name``) reads."""
        for e in self.evaluations():
            if name in (e.name, e.dataset):
                return e.dataset_dir
        raise KeyError(name)


@dataclass(frozen=True)
class Evaluation:
    """One evaluation of a run: a dataset, evaluated with one teacher, its reductions and its students."""

    name: str  # RUN/eval/<name>
    dataset: str  # the evaluation dataset's name (evaluate.datasets[].name, or the run's own data)
    dataset_dir: Path  # the prepared folder it reads
    teacher: int  # index into RunPlan.teachers


@dataclass(frozen=True)
class EvalDataset:
    """One entry of ``evaluate.datasets``: a downstream dataset prepared into ``RUN/datasets/<name>``."""

    name: str
    prepare: Any  # data_prep.config.PrepareConfig
    protocol: str = "auto"
    overrides: tuple[tuple[str, Any], ...] = ()  # per-dataset EvalConfig keys (label_level, n_folds...)


# -- config --------------------------------------------------------------------------------------


def _section(cls, values: Any, section: str, *, extra_keys: tuple[str, ...] = ()):
    """``config_from_dict`` with the section named in every error."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ConfigError(f"section {section!r} must be a mapping of {cls.__name__} keys, got {values!r}")
    for key in _MANAGED.get(section.split("[")[0], ()):
        if key in values:
            fix = {
                "distill": "list students under 'students:'",
                "evaluate": "it evaluates the teacher, its PCA and every student",
                "export": "list the students to export under 'export: {students: [...]}'",
            }[section.split("[")[0]]
            raise ConfigError(f"section {section!r}: key {key!r} is set by 'sea run' itself; {fix}")
    try:
        return config_from_dict(cls, values)
    except ConfigError as exc:
        msg = str(exc)
        if extra_keys and "valid keys are:" in msg:
            msg += ", " + ", ".join(extra_keys)
        raise ConfigError(f"in section {section!r} of the run config: {msg}") from None


def _seeded(values: dict | None, cls, seed: int) -> dict:
    """The section's values with the run's seed for every stage that does not set its own."""
    values = dict(values or {})
    if "seed" in {f.name for f in dataclasses.fields(cls)}:
        values.setdefault("seed", seed)
    return values


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


def resolve_auto_part(prepare: Any, eval_datasets: tuple[EvalDataset, ...]) -> Any:
    """``data.part: auto``: the half of the corpus folder that no evaluation dataset takes, else all of it.

    So one config specialises on part a while it evaluates on part b of the same folder, and on every clip once
    its evaluation points elsewhere (held-out folds of the full dataset).

    Parameters
    ----------
    prepare : PrepareConfig
    eval_datasets : tuple of EvalDataset

    Returns
    -------
    prepare : PrepareConfig
        With ``part`` "a", "b" or "all" (and the evaluation's ``part_fraction``); unchanged unless "auto".

    Raises
    ------
    ConfigError
        Evaluation datasets take one half of the corpus folder with different fractions.
    """
    if prepare is None or prepare.part != "auto":
        return prepare

    def where(c: Any) -> tuple[str, str | None]:
        return c.dataset, None if c.raw_dir is None else str(Path(c.raw_dir).expanduser().resolve())

    taken = [d.prepare for d in eval_datasets if d.prepare.part in ("a", "b") and where(d.prepare) == where(prepare)]
    parts = {c.part for c in taken}
    if len(parts) != 1:  # none, or both halves (then the overlap guard names the clash)
        return dataclasses.replace(prepare, part="all")
    other = "b" if parts == {"a"} else "a"
    fractions = {c.part_fraction for c in taken}
    if len(fractions) > 1:
        raise ConfigError(
            f"data.part: auto: the evaluation datasets take part {parts.pop()} of {prepare.raw_dir!r} with different "
            f"part_fraction values {sorted(fractions)}; give them one part_fraction"
        )
    return dataclasses.replace(prepare, part=other, part_fraction=fractions.pop())


def _load_data(raw: dict, seed: int):
    from data_prep.config import PrepareConfig

    if not isinstance(raw.get("data") or {}, dict):
        raise ConfigError("section 'data' must be a mapping of data keys (dataset, raw_dir, ...)")
    data = dict(raw.get("data") or {})
    data.setdefault("dataset", "synthetic")
    synth = [k for k in SYNTH_KEYS if k in data]
    if synth and data["dataset"] != "synthetic":
        raise ConfigError(
            f"data keys {', '.join(synth)} only apply to dataset 'synthetic', not {data['dataset']!r}; remove them"
        )
    if data["dataset"] == "synthetic":
        data.setdefault("synth_seed", seed)
    return _section(PrepareConfig, data, "data")


def _load_teachers(raw: dict, seed: int) -> tuple[tuple, str]:
    """``teacher:`` is one mapping or a list of them (several teachers specialise students side by side)."""
    from .teacher.config import ExtractConfig, variant_name

    section = raw.get("teacher")
    entries = section if isinstance(section, list) else [section or {}]
    if not entries:
        raise ConfigError("section 'teacher' is an empty list; give at least one teacher")
    teachers, modes = [], set()
    for i, e in enumerate(entries):
        where = "teacher" if not isinstance(section, list) else f"teacher[{i}]"
        if not isinstance(e, dict):
            raise ConfigError(f"section {where!r} must be a mapping of ExtractConfig keys, got {e!r}")
        values = _seeded(e, ExtractConfig, seed)
        if values.get("model", "openl3") != "openl3":  # other families always use their real weights
            teachers.append(_section(ExtractConfig, values, where))
            continue
        untrained = _bool_or_auto(values.pop("untrained_teacher", "auto"), "untrained_teacher")
        modes.add(untrained)
        teachers.append(_section(ExtractConfig, {**values, "untrained_teacher": untrained == "true"}, where))
    variants = [variant_name(t) for t in teachers]
    if len(set(variants)) != len(variants):
        raise ConfigError(f"teacher: two entries are the same teacher ({variants}); list each teacher once")
    if len(modes) > 1:
        raise ConfigError("teacher: give every OpenL3 teacher the same untrained_teacher setting")
    return tuple(teachers), modes.pop() if modes else "false"


def _target_teacher(t, teachers: tuple, i: int) -> int:
    """The teacher a target set reduces: its ``teacher`` key (a store variant, FAMILY or FAMILY:NAME), else the first."""
    from .teacher.config import variant_name

    want = str(getattr(t, "teacher", "auto") or "auto")
    if want == "auto":
        return 0
    for k, cfg in enumerate(teachers):
        family = getattr(cfg, "model", "openl3")
        if want in (variant_name(cfg), family, f"{family}:{getattr(cfg, 'name', None)}"):
            return k
    variants = [variant_name(c) for c in teachers]
    spellings = variants + [getattr(c, "model", "openl3") for c in teachers]
    raise ConfigError(
        f"targets[{i}].teacher={want!r} is not a teacher of this run{did_you_mean(want, spellings)}; "
        f"choose one of {', '.join(variants)}"
    )


def _load_targets(raw: dict, seed: int, teachers: tuple) -> tuple[tuple, tuple[int, ...], tuple[str, ...]]:
    from .targets.config import TargetsConfig
    from .teacher.config import variant_name

    section = raw.get("targets")
    entries = section if isinstance(section, list) else [section or {}]
    targets = tuple(
        _section(TargetsConfig, _seeded(t, TargetsConfig, seed), f"targets[{i}]") for i, t in enumerate(entries)
    )
    if any(t.sampler == "all" for t in targets):
        raise ConfigError("targets: sampler 'all' is for 'sea targets fit'; in a run config list one entry per sampler")
    owners = tuple(_target_teacher(t, teachers, i) for i, t in enumerate(targets))
    dims = [_teacher_dim(t) for t in teachers]
    names = []
    for t, k in zip(targets, owners):
        name = t.default_name(dims[k])
        # several teachers: a default name says whose frames it reduces
        names.append(name if t.name or len(teachers) == 1 else f"{variant_name(teachers[k])}_{name}")
    if len(set(names)) != len(names):
        raise ConfigError(f"targets: two entries resolve to the same name ({names}); give each a 'name'")
    for i, (t, k) in enumerate(zip(targets, owners)):
        try:
            t.check_teacher_dim(dims[k])
        except ConfigError as exc:  # before hours of teacher extraction, not after
            raise ConfigError(f"in section 'targets[{i}]' of the run config: {exc}") from None
    return targets, owners, tuple(names)


def _with_teacher_rates(prepare, teachers: tuple, given: bool, student_srs: set | None = None):
    """The data's audio caches at every teacher's rate and the students' (8 kHz unless a student sets ``sr``); a
    given list must hold them."""
    from .constants import STUDENT_SR
    from .teacher.registry import resolve_teacher

    needed = {int(resolve_teacher(t, find_weights=False).sr) for t in teachers} | {STUDENT_SR}
    needed |= {int(r) for r in student_srs or ()}
    if not given:
        return dataclasses.replace(prepare, cache_srs=tuple(sorted(needed, reverse=True)))
    missing = sorted(needed - {int(r) for r in prepare.cache_srs})
    if missing:
        raise ConfigError(
            f"data.cache_srs={list(prepare.cache_srs)} lacks {missing} Hz, the rate(s) the teachers and students read; "
            f"add them or leave cache_srs out (sea then picks {sorted(needed, reverse=True)})"
        )
    return prepare


def _teacher_dim(teacher) -> int:
    """The teacher's embedding size from its config (registry families know theirs without loading)."""
    if getattr(teacher, "embedding_size", None):
        return int(teacher.embedding_size)
    from .teacher.registry import resolve_teacher

    return int(resolve_teacher(teacher, find_weights=False).embedding_size)


def _check_online_teacher(teacher, i: int, student: str, sr: int = 8000) -> None:
    """Refuse ``online_teacher`` before any stage when the targets' teacher cannot label the student's windows."""
    from .distill.online import ONLINE_FAMILIES
    from .teacher.registry import resolve_teacher

    spec = resolve_teacher(teacher, find_weights=False)
    if spec.family not in ONLINE_FAMILIES:
        raise ConfigError(
            f"students[{i}] ({student}) sets online_teacher: true, but its targets come from {spec.variant!r}; an "
            f"online teacher must run on the student's 8 kHz window in torch ({', '.join(ONLINE_FAMILIES)}): "
            "drop online_teacher, mixup, speed, tilt and gain for this student"
        )
    if int(spec.sr) != int(sr):
        raise ConfigError(
            f"students[{i}] ({student}) sets online_teacher: true and sr: {sr}, but {spec.variant!r} runs at "
            f"{spec.sr} Hz and labels the student's own windows: set sr: {spec.sr} or drop online_teacher"
        )


def _student_entries(raw: dict) -> list[dict]:
    entries = raw.get("students")
    if entries is None:
        entries = ["sea_student_3_lin"]
    if isinstance(entries, (str, dict)):
        entries = [entries]
    out = []
    for i, e in enumerate(entries):
        if isinstance(e, str):
            e = {"student": e}
        if not isinstance(e, dict) or "student" not in e:
            raise ConfigError(
                f"students[{i}]={e!r}: give a registry name (e.g. sea_student_3_lin) or a mapping with a 'student' key"
            )
        out.append(e)
    return out


def _load_students(raw: dict, seed: int, teachers: tuple, targets: tuple, owners: tuple, target_names: tuple) -> tuple:
    from .distill.config import DistillConfig

    shared = raw.get("distill") or {}
    if not isinstance(shared, dict):
        raise ConfigError("section 'distill' must be a mapping of DistillConfig keys")
    try:  # a typo under 'distill:' is reported there, not in the first student it is merged into
        check_keys(DistillConfig, shared)
    except ConfigError as exc:
        raise ConfigError(f"in section 'distill' of the run config: {exc}") from None
    target_names = list(target_names)
    students = []
    for i, e in enumerate(_student_entries(raw)):
        values = _seeded({**shared, **e}, DistillConfig, seed)
        values.setdefault("targets", target_names[0])
        if values["targets"] not in target_names:
            raise ConfigError(
                f"students[{i}] ({e['student']}) distils onto targets {values['targets']!r}, which this run does not "
                f"fit; choose one of {', '.join(target_names)}"
            )
        cfg = _section(DistillConfig, values, f"students[{i}]")
        k = target_names.index(cfg.targets)
        t = targets[k]
        _check_student_dim(cfg, _teacher_dim(teachers[owners[k]]) if t.method == "identity" else t.dim, i)
        if cfg.online_teacher:
            _check_online_teacher(teachers[owners[k]], i, cfg.student, cfg.sr)
        students.append(cfg)
    names = [s.output_name() for s in students]
    if len(set(names)) != len(names):
        raise ConfigError(f"students: two entries write to the same directory ({names}); give each a 'name'")
    return tuple(students)


# keys of an evaluate.datasets entry that configure its evaluation (the others prepare it)
_EVAL_DATASET_KEYS = ("name", "protocol", "label_level", "n_folds")


def _load_eval_dataset(entry: Any, i: int, seed: int) -> EvalDataset:
    from data_prep.config import PrepareConfig

    where = f"evaluate.datasets[{i}]"
    if not isinstance(entry, dict) or "dataset" not in entry:
        raise ConfigError(
            f"{where}={entry!r}: give a mapping with 'dataset' and 'raw_dir', e.g. "
            "{dataset: urbansound8k, raw_dir: PATH, protocol: us8k}"
        )
    prep = {k: v for k, v in entry.items() if k not in _EVAL_DATASET_KEYS}
    cfg = _section(PrepareConfig, _seeded(prep, PrepareConfig, seed), where, extra_keys=_EVAL_DATASET_KEYS)
    name = safe_name(str(entry.get("name") or entry["dataset"]))
    extra = tuple((k, entry[k]) for k in ("label_level", "n_folds") if k in entry)
    return EvalDataset(name=name, prepare=cfg, protocol=str(entry.get("protocol", "auto")), overrides=extra)


def _load_evaluate(raw: dict, seed: int) -> tuple[Any, tuple[EvalDataset, ...], bool]:
    from .evaluate.config import EvalConfig

    if "evaluate" in raw and raw["evaluate"] is None:  # null disables the stage
        return None, (), False
    section = dict(raw.get("evaluate") or {})
    entries = section.pop("datasets", None) or []
    allow = section.pop("allow_overlap", False)
    if isinstance(allow, (list, tuple)) and all(isinstance(a, str) for a in allow):
        allow = tuple(safe_name(a) for a in allow)
    elif not isinstance(allow, bool):
        raise ConfigError(
            f"evaluate.allow_overlap={allow!r} must be true, false, or a list of evaluation dataset names"
        )
    if not isinstance(entries, list):
        raise ConfigError("evaluate.datasets must be a list of mappings ({dataset, raw_dir, protocol, name})")
    if entries and section.get("dataset"):
        raise ConfigError("evaluate: give either 'dataset' (a prepared folder) or 'datasets' (prepared by sea run)")
    datasets = tuple(_load_eval_dataset(e, i, seed) for i, e in enumerate(entries))
    names = [d.name for d in datasets]
    if len(set(names)) != len(names):
        raise ConfigError(f"evaluate.datasets: two entries share the name {names}; give each a 'name'")
    unknown = [a for a in allow if a not in names] if isinstance(allow, tuple) else []
    if unknown:
        raise ConfigError(f"evaluate.allow_overlap names {unknown}, which are not evaluation datasets ({names})")
    cfg = _section(EvalConfig, _seeded(section, EvalConfig, seed), "evaluate", extra_keys=("datasets", "allow_overlap"))
    return cfg, datasets, allow


def _load_export(raw: dict, seed: int, names: list[str]) -> tuple[Any, tuple[str, ...]]:
    if "export" in raw and raw["export"] is None:
        return None, tuple(names)
    from export.config import ExportConfig

    section = dict(raw.get("export") or {})
    only = section.pop("students", None)
    chosen = tuple(names)
    if only is not None:
        only = [only] if isinstance(only, str) else list(only)
        bad = [s for s in only if s not in names]
        if bad:
            raise ConfigError(f"export.students names {bad}, which are not students of this run ({names})")
        chosen = tuple(only)
    return _section(ExportConfig, _seeded(section, ExportConfig, seed), "export", extra_keys=("students",)), chosen


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

    Returns
    -------
    plan : RunPlan
        One resolved config per stage.

    Raises
    ------
    ConfigError
        Unknown key (the message lists the valid ones), bad value, or an impossible combination.
    """
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
    teachers, untrained = _load_teachers(raw, top_seed)
    targets, owners, target_names = _load_targets(raw, top_seed, teachers)
    students = _load_students(raw, top_seed, teachers, targets, owners, target_names)
    given = "cache_srs" in (raw.get("data") or {})
    prepare = _with_teacher_rates(_load_data(raw, top_seed), teachers, given, {s.sr for s in students})
    export, export_students = _load_export(raw, top_seed, [s.output_name() for s in students])
    evaluate, eval_datasets, allow_overlap = _load_evaluate(raw, top_seed)
    prepare = resolve_auto_part(prepare, eval_datasets)
    return RunPlan(
        path=str(path),
        run_dir=Path(rd),
        seed=top_seed,
        prepare=prepare,
        untrained=untrained,
        teachers=teachers,
        targets=targets,
        students=students,
        evaluate=evaluate,
        export=export,
        export_students=export_students,
        eval_datasets=eval_datasets,
        allow_overlap=allow_overlap,
        target_teachers=owners,
        target_name_list=target_names,
    )


def plan_to_dict(plan: RunPlan) -> dict[str, Any]:
    """The resolved plan as plain JSON (``RUN/run_config.json``, ``sea run --check``)."""

    def d(c):
        return None if c is None else config_to_dict(c)

    return {
        "config_file": plan.path,
        "run_dir": str(plan.run_dir),
        "seed": plan.seed,
        "data": d(plan.prepare),
        "teacher": [{**d(t), "untrained_teacher": plan.untrained} for t in plan.teachers]
        if len(plan.teachers) > 1
        else {**d(plan.teacher), "untrained_teacher": plan.untrained},
        "targets": [d(t) for t in plan.targets],
        "students": [d(s) for s in plan.students],
        "evaluate": None
        if plan.evaluate is None
        else {
            **d(plan.evaluate),
            "datasets": [
                {"name": e.name, "protocol": e.protocol, **d(e.prepare), **dict(e.overrides)}
                for e in plan.eval_datasets
            ],
            "allow_overlap": list(plan.allow_overlap) if isinstance(plan.allow_overlap, tuple) else plan.allow_overlap,
        },
        "export": None
        if plan.export is None
        else {**{k: v for k, v in d(plan.export).items() if k != "student"}, "students": list(plan.export_students)},
    }


# -- stages --------------------------------------------------------------------------------------


def _resolve_teacher(plan: RunPlan, cfg):
    """A teacher config with ``untrained_teacher: auto`` decided (loudly)."""
    if plan.untrained != "auto" or getattr(cfg, "model", "openl3") != "openl3":
        return cfg  # only OpenL3's official weights may be missing here; other families resolve their own
    from .teacher.weights import resolve_weights

    try:
        resolve_weights(cfg.input_repr, cfg.content_type, cfg.weights)
        return cfg
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
        return dataclasses.replace(cfg, untrained_teacher=True)


def _stage_end(out_dir: Path) -> Any:
    p = RunLayout.stage_file(out_dir)
    return read_json(p).get("finished") if p.is_file() else None


class _Runner:
    """Runs the stages of one plan, recording what each did for the summary."""

    def __init__(self, plan: RunPlan, todo: tuple[str, ...], overwrite: tuple[str, ...]):
        self.plan, self.todo, self.overwrite = plan, todo, overwrite
        self.run = plan.layout
        self.world = World(_device(plan))
        self.stages: dict[str, str] = {}
        self.parity_failures: list[str] = []
        self.teachers = list(plan.teachers)
        if "teacher" in todo or "evaluate" in todo:
            self.teachers = [_resolve_teacher(plan, t) for t in plan.teachers]

    def ow(self, stage: str) -> bool:
        return "all" in self.overwrite or stage in self.overwrite

    def banner(self, k: int, stage: str, what: str) -> None:
        if self.world.main:
            log.info("[%d/%d] %s: %s", k, len(self.todo), stage, what)

    def timed(self, out_dir: Path, fn) -> str:
        """Run ``fn`` and say whether it did work ("done in ...") or found the stage in ``out_dir`` finished."""
        before, t0 = _stage_end(out_dir), time.perf_counter()
        fn()
        after = _stage_end(out_dir)
        return "up to date" if before is not None and before == after else f"done in {time.perf_counter() - t0:.1f} s"

    def teacher_variant(self, k: int = 0) -> str:
        from .teacher.config import variant_name

        return variant_name(self.teachers[k])

    # one method per stage, named as in STAGES
    def prepare(self, k: int) -> str:
        from data_prep.stage import run

        plan, done = self.plan, []
        if self.world.main:
            self.banner(k, "prepare", f"{plan.prepare.dataset} -> {self.run.root}")
            ow = self.ow("prepare")
            done.append(self.timed(self.run.root, lambda: run(self.run.root, plan.prepare, overwrite=ow)))
            for d in plan.eval_datasets:
                out = self.run.dataset(d.name)
                self.banner(k, "prepare", f"evaluation dataset {d.name}: {d.prepare.dataset} -> {out}")
                cfg = dataclasses.replace(d.prepare, cache_srs=self.plan.prepare.cache_srs)
                done.append(f"{d.name}: " + self.timed(out, lambda out=out, cfg=cfg: run(out, cfg, overwrite=ow)))
            check_overlap(plan)  # before any teacher frame is computed
        self.world.barrier()
        return "; ".join(done)

    def teacher_stage(self, k: int) -> str:
        from .teacher.stage import run

        done = []
        for i, cfg in enumerate(self.teachers):
            variant = self.teacher_variant(i)
            self.banner(k, "teacher", variant + (" (UNTRAINED)" if cfg.untrained_teacher else ""))
            # every rank extracts its shards
            status = self.timed(
                self.run.teacher(variant), lambda cfg=cfg: run(self.run.root, cfg, overwrite=self.ow("teacher"))
            )
            done.append(status if len(self.teachers) == 1 else f"{variant}: {status}")
            self.world.barrier()
        return "; ".join(done)

    def targets(self, k: int) -> str:
        from .targets.stage import run

        done = []
        if self.world.main:
            for t, name, owner in zip(self.plan.targets, self.plan.target_names(), self.plan.target_teachers):
                self.banner(k, "targets", name)
                # several teachers: the name says whose frames (the stage's own default would not)
                cfg = dataclasses.replace(
                    t, teacher=self.teacher_variant(owner), name=name if len(self.teachers) > 1 else t.name
                )
                status = self.timed(
                    self.run.targets(name), lambda cfg=cfg: run(self.run.root, cfg, overwrite=self.ow("targets"))
                )
                done.append(f"{name}: {status}")
        self.world.barrier()
        return "; ".join(done)

    def distill(self, k: int) -> str:
        from .distill.stage import run

        done = []
        for cfg in self.plan.students:
            name = cfg.output_name()
            self.banner(k, "distill", f"{name} onto {cfg.targets}")
            # DDP under torchrun: every rank trains
            status = self.timed(
                self.run.student(name), lambda cfg=cfg: run(self.run.root, cfg, overwrite=self.ow("distill"))
            )
            done.append(f"{name}: {status}")
            self.world.barrier()
        return "; ".join(done)

    def evaluate(self, k: int) -> str:
        from .evaluate.stage import run

        plan, done = self.plan, []
        if self.world.main:
            for cfg, ev in _eval_configs(plan, self.teachers):
                self.banner(k, "evaluate", f"{ev.name}: {len(cfg.models)} models, protocol {cfg.protocol}")
                status = self.timed(
                    self.run.eval(ev.name), lambda cfg=cfg: run(self.run.root, cfg, overwrite=self.ow("evaluate"))
                )
                done.append(f"{ev.name}: {status}" if len(plan.evaluations()) > 1 else status)
        self.world.barrier()
        return "; ".join(done)

    def export(self, k: int) -> str:
        done = []
        if self.world.main:
            for name in self.plan.export_students:
                self.banner(k, "export", name + (" (int8)" if self.plan.export.builds_int8() else ""))
                done.append(f"{name}: {self._export_one(name)}")
        self.world.barrier()
        return "; ".join(done)

    def _export_one(self, name: str) -> str:
        from export.stage import run

        cfg = dataclasses.replace(self.plan.export, student=name, overwrite=self.ow("export"))
        head = None if cfg.classifier else _linear_head(self.plan, name)
        if head is not None:
            cfg = dataclasses.replace(cfg, classifier=str(head))
        try:
            return self.timed(self.run.export(name), lambda: run(self.run.root, cfg, overwrite=self.ow("export")))
        except ParityError as exc:
            # the artifacts and parity.json are on disk: finish the other students and the summary (which
            # marks this one FAIL), then raise once at the end
            self.parity_failures.append(f"{name}: {exc}")
            return "PARITY FAILED"

    def run_stage(self, k: int, stage: str) -> None:
        disabled = (stage == "evaluate" and self.plan.evaluate is None) or (
            stage == "export" and self.plan.export is None
        )
        if disabled:
            self.stages[stage] = "disabled in the config"
            return
        method = {"teacher": self.teacher_stage}.get(stage) or getattr(self, stage)
        status = method(k)
        if status is not None:
            self.stages[stage] = status


def _eval_configs(plan: RunPlan, teachers: list) -> list[tuple[Any, Evaluation]]:
    """One EvalConfig per evaluation: a dataset with one teacher, the teacher's reductions and its students."""
    from .teacher.config import variant_name

    by_dataset = {d.name: d for d in plan.eval_datasets}
    out = []
    for ev in plan.evaluations():
        mine = [i for i, owner in enumerate(plan.target_teachers) if owner == ev.teacher]
        models = ["teacher"]
        models += [f"teacher_pca:{plan.target_names()[i]}" for i in mine if plan.targets[i].method != "identity"]
        models += [
            str(plan.layout.checkpoint(n)) for n in plan.student_names() if plan.student_teacher(n) == ev.teacher
        ]
        cfg = dataclasses.replace(
            plan.evaluate,
            models=tuple(models),
            untrained_teacher=bool(teachers[ev.teacher].untrained_teacher),
            teacher=variant_name(teachers[ev.teacher]),
        )
        d = by_dataset.get(ev.dataset)
        if d is not None:
            cfg = dataclasses.replace(
                cfg, dataset=str(ev.dataset_dir), dataset_name=ev.name, protocol=d.protocol, **dict(d.overrides)
            )
        elif len(teachers) > 1:
            cfg = dataclasses.replace(cfg, dataset=str(ev.dataset_dir), dataset_name=ev.name)
        if hasattr(cfg, "allow_overlap"):  # its report says it is transductive
            cfg = dataclasses.replace(cfg, allow_overlap=plan.overlap_allowed(ev.dataset))
        out.append((cfg, ev))
    return out


def check_overlap(plan: RunPlan) -> dict[str, int]:
    """Refuse a plan whose evaluation audio is also in the distillation corpus (by md5), unless allowed.

    Students and PCA fitted on their own test audio score what they memorised: the paper specialises on one
    corpus and evaluates on others. Without ``evaluate.datasets`` the evaluation reads ``data`` itself, which
    overlaps completely. Files that differ but decode to a corpus clip's audio at another level, polarity,
    encoding or rate (:func:`sea.overlap.near_copies`) get a warning, not a refusal: that check is by correlation.

    Parameters
    ----------
    plan : RunPlan
        A plan whose prepare stage has run (the manifests exist).

    Returns
    -------
    overlaps : dict of str -> int
        Evaluation name -> clips whose audio is in the distillation corpus (also when allowed).

    Raises
    ------
    ConfigError
        One line with the overlap count, one example and the fix.
    """
    from .manifest import read_manifest
    from .overlap import shared_files

    if plan.evaluate is None:
        return {}
    corpus = {r.md5: r for r in read_manifest(plan.layout.manifest) if r.md5}
    overlaps = {}
    for name in dict.fromkeys(e.dataset for e in plan.evaluations()):
        clips = read_manifest(plan.eval_dataset_dir(name))
        shared = shared_files(plan.layout.root, plan.eval_dataset_dir(name))
        overlaps[name] = len(shared)
        if shared and not plan.overlap_allowed(name):
            ex, source = shared[0]
            raise ConfigError(
                f"evaluation dataset {name!r} shares the audio of {len(shared)} of its {len(clips)} clips with the "
                f"distillation corpus (by md5; e.g. {ex.path} is {source.path} of 'data'): the students and "
                "the PCA would be fitted on their own test audio. Evaluate on another corpus (evaluate.datasets: "
                f"[{{dataset: ..., raw_dir: ...}}]) or on folds the corpus does not hold ({{..., folds: [1, 2, 3]}}), "
                "or allow it for a transductive run with 'evaluate: "
                f"{{allow_overlap: true}}' (or a list of names, e.g. [{name}]; its reports then say so)"
            )
        if shared:
            log.warning(
                "evaluation %s: %d clips overlap the distillation corpus (allow_overlap: true)", name, len(shared)
            )
        elif not plan.overlap_allowed(name):
            _warn_near_copies(plan, name, clips, corpus)
    return overlaps


def _warn_near_copies(plan: RunPlan, name: str, clips: list, corpus: dict) -> None:
    """Warn about evaluation clips whose decoded audio is a corpus clip's although their files differ."""
    from .overlap import MIN_CORRELATION, near_copies

    pairs = near_copies(plan.layout.root, plan.eval_dataset_dir(name))
    if not pairs:
        return
    paths = {r.clip_id: r.path for r in clips}
    corpus_paths = {r.clip_id: r.path for r in corpus.values()}
    other, source, corr = pairs[0]
    log.warning(
        "evaluation %s: %d of its %d clips are corpus clips at another level, polarity, encoding or rate (same "
        "decoded audio, |correlation| >= %g; e.g. %s is %s of 'data', %.4f): the students and the PCA learnt from "
        "them, so their scores there are optimistic. Evaluate on recordings the corpus does not hold, or set "
        "'evaluate: {allow_overlap: true}' to say the run is transductive",
        name, len(pairs), len(clips), MIN_CORRELATION, paths.get(other, other), corpus_paths.get(source, source),
        corr,
    )  # fmt: skip


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (user + system), in seconds."""
    import os

    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _device(plan: RunPlan) -> str:
    """The device of the run's GPU stages: a torchrun job's process group must cover it."""
    devices = [
        *(getattr(t, "device", "cpu") for t in plan.teachers),
        *(getattr(s, "device", "cpu") for s in plan.students),
    ]
    return next((d for d in devices if str(d).startswith("cuda")), "cpu")


def _stage_slice(start: str, stop: str, overwrite: tuple[str, ...]) -> tuple[str, ...]:
    for name, value in (("--from", start), ("--to", stop)):
        if value not in STAGES:
            raise ConfigError(f"{name} {value!r} is not a stage; choose one of {', '.join(STAGES)}")
    bad = [s for s in overwrite if s not in STAGES and s != "all"]
    if bad:
        raise ConfigError(f"--overwrite {', '.join(bad)}: not a stage; choose from {', '.join(STAGES)} or all")
    i0, i1 = STAGES.index(start), STAGES.index(stop)
    if i0 > i1:
        raise ConfigError(f"--from {start} comes after --to {stop}; stages run in the order {' -> '.join(STAGES)}")
    return STAGES[i0 : i1 + 1]


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
        Empty on ranks other than 0 under torchrun.
    """
    from .summary import build_summary

    wall0, cpu0 = time.perf_counter(), _cpu_seconds()
    todo = _stage_slice(start, stop, overwrite)
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    runner = _Runner(plan, todo, overwrite)
    if runner.world.main:
        write_json(plan.layout.run_config, plan_to_dict(plan))
    for k, stage in enumerate(todo, 1):
        runner.run_stage(k, stage)
    summary = {}
    if runner.world.main:
        summary = build_summary(
            plan.run_dir,
            config_file=plan.path,
            students=plan.student_names(),
            export_students=plan.export_students,
            eval_names=plan.eval_names(),
            stages=runner.stages,
            allow_overlap=bool(plan.allow_overlap),
            timing={"wall_s": round(time.perf_counter() - wall0, 1), "cpu_s": round(_cpu_seconds() - cpu0, 1)},
        )
    if runner.parity_failures:
        summary["parity_failures"] = runner.parity_failures
        err = ParityError(
            "export parity failed (see the summary above and each export's parity.json):\n"
            + "\n".join(runner.parity_failures)
            + "\nset 'strict: false' in the export section to record such failures as warnings"
        )
        err.summary = summary  # the CLI still prints the table
        raise err
    return summary


def _linear_head(plan: RunPlan, student: str) -> Path | None:
    """``RUN/eval/<name>/heads/<student>.npz``: a deployable linear head for the export and the Pi bundle.

    Fitted on the primary evaluation's cached embeddings and labels (the device then prints that dataset's
    labels); refitted only when the evaluation is newer.
    """
    teacher = plan.student_teacher(student)
    ev = next((e for e in plan.evaluations() if e.teacher == teacher), None)
    if ev is None:
        return None
    name, run = ev.name, plan.layout
    stage_file = RunLayout.stage_file(run.eval(name))
    if not stage_file.is_file():
        return None
    from .evaluate.head import fit_linear_head

    path = run.eval_head(name, student)
    if path.is_file() and path.stat().st_mtime >= stage_file.stat().st_mtime:
        return path
    try:
        return fit_linear_head(plan.run_dir, student, path, eval_name=name, dataset_dir=ev.dataset_dir, seed=plan.seed)
    except SeaError as exc:
        log.warning("no classifier head for %s: %s", student, exc)
        return None
