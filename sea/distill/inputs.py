"""What a distillation reads: the target set, the 8 kHz audio cache and an optional starting checkpoint.

:func:`plan_run` resolves them (``targets: auto``, ``init_from`` by student name) and checks they exist before any
training starts; the resulting :class:`Plan` is what :mod:`sea.distill.session` trains.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cache import INDEX_NAME
from ..config import config_to_dict, did_you_mean
from ..constants import STUDENT_SR, TEACHER_SR
from ..errors import ConfigError, ManifestError
from ..layout import RunLayout
from ..runs import Stage, read_stage, require_stage
from ..utils import Pathlike
from .config import DistillConfig

__all__ = ["Plan", "missing_chain", "plan_run", "resolve_init", "resolve_targets"]


@dataclass(frozen=True)
class Plan:
    """A distillation job with its inputs resolved.

    Attributes
    ----------
    run : RunLayout
    config : DistillConfig
    targets : str
        The target set's name under ``RUN/targets/``.
    resolved : dict
        The config as recorded in ``stage.json`` and the checkpoints: ``targets`` and ``name`` resolved,
        ``init_from`` as a checkpoint path.
    stage : Stage
        The record of ``RUN/students/<name>`` (config, input hashes, counts).
    """

    run: RunLayout
    config: DistillConfig
    targets: str
    resolved: dict[str, Any]
    stage: Stage

    @property
    def name(self) -> str:
        """The student's directory name under ``RUN/students/``."""
        return self.resolved["name"]

    @property
    def out(self) -> Path:
        """``RUN/students/<name>``."""
        return self.run.student(self.name)


def plan_run(run: RunLayout, config: DistillConfig) -> Plan:
    """Resolve the target set and ``init_from``, check the inputs exist, and build the stage record.

    Parameters
    ----------
    run : RunLayout
    config : DistillConfig
        Validated.

    Returns
    -------
    plan : Plan

    Raises
    ------
    ManifestError
        An input is missing: the message names every command still to run, in order.
    """
    targets = resolve_targets(run.root, config.targets)
    chain = missing_chain(run, targets, config.sr)
    if chain:
        raise ManifestError(_chain_message(run, f"target set {targets!r}", chain))
    require_stage(run.targets(targets), f"target set {targets!r}", f"sea targets fit {run.root}")
    audio_index = run.audio(config.sr) / INDEX_NAME
    name = config.output_name()
    resolved = {**config_to_dict(config), "targets": targets, "name": name}
    inputs: dict[str, Pathlike] = {"targets": run.targets(targets), "audio": audio_index}
    init = resolve_init(run.root, config.init_from)
    if init is not None:
        if init.parent.resolve() == run.student(name).resolve():
            raise ConfigError(
                f"DistillConfig.init_from={config.init_from!r} is this student's own output ({name}); "
                f"give the QAT student another name, e.g. name: {config.student}_qat"
            )
        inputs["init"] = init
        resolved["init_from"] = str(init)
    stage = Stage(run.student(name), "distill", resolved, inputs=inputs)
    return Plan(run=run, config=config, targets=targets, resolved=resolved, stage=stage)


def missing_chain(run: RunLayout, targets: str | None = None, sr: int = STUDENT_SR) -> list[str]:
    """The commands still to run, in order, before ``sea distill`` can train on ``run``.

    Parameters
    ----------
    run : RunLayout
    targets : str, optional
        The target set to distil onto; None: any finished one.
    sr : int
        The student's rate, whose audio cache the run needs (8 kHz by default).

    Returns
    -------
    commands : list of str
        Empty when the run has its clips, an audio cache at ``sr``, a finished teacher store and the target set.
    """
    root = run.root
    chain = []
    prepared = run.manifest.is_file()
    if not prepared:
        chain.append(f"sea data prepare DATASET RAW_DIR {root}")
    elif not (run.audio(sr) / INDEX_NAME).is_file():
        chain.append(f"sea data prepare DATASET RAW_DIR {root} --cache-srs {TEACHER_SR},{sr} --overwrite")
    if not prepared or not _finished_dirs(run.teacher_root):
        chain.append(f"sea teacher extract {root}")
    done = _finished_dirs(run.targets_root)
    if chain or not (targets in done if targets else done):
        chain.append(f"sea targets fit {root}" + (f" --name {targets}" if targets else ""))
    return chain


def _finished_dirs(root: Path) -> list[str]:
    """Names of the sub-directories of ``root`` with a finished ``stage.json``."""
    if not root.is_dir():
        return []
    out = []
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        try:
            rec = read_stage(d)
        except ManifestError:  # a damaged record: require_stage names it later
            rec = {"status": "done"}
        if rec and rec.get("status") == "done":
            out.append(d.name)
    return out


def _chain_message(run: RunLayout, what: str, chain: list[str]) -> str:
    steps = ", then ".join(f"'{c}'" for c in chain)
    return f"no {what} to distil onto in {str(run.root)!r} yet; run {steps}, then 'sea distill {run.root}' again"


def resolve_targets(run_dir: Pathlike, targets: str = "auto") -> str:
    """Return the name of the target set to distil onto.

    Parameters
    ----------
    run_dir : path
    targets : str
        A directory name under ``RUN/targets/``, or ``"auto"``: the only finished target set.

    Returns
    -------
    name : str
    """
    run = RunLayout(run_dir)
    root = run.targets_root
    have = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if targets != "auto":
        if targets not in have:
            chain = missing_chain(run, targets)
            if len(chain) > 1 or not have:
                raise ManifestError(_chain_message(run, f"target set {targets!r}", chain))
            raise ManifestError(
                f"target set {targets!r} not found under {str(root)!r}{did_you_mean(targets, have)} (available: "
                f"{', '.join(have)}); pass --targets NAME or run 'sea targets fit {run_dir} --name {targets}'"
            )
        return targets
    done = _finished_dirs(root)
    if not done:
        raise ManifestError(_chain_message(run, "target set", missing_chain(run)))
    if len(done) > 1:
        raise ConfigError(f"several target sets under {str(root)!r} ({', '.join(done)}); pass --targets NAME")
    return done[0]


def resolve_init(run_dir: Pathlike, init_from: str) -> Path | None:
    """Return the checkpoint a run starts from.

    Parameters
    ----------
    run_dir : path
    init_from : str
        A student name under ``RUN/students/``, a checkpoint file or a student directory; ``""`` for none.

    Returns
    -------
    checkpoint : Path or None
        The best checkpoint of that student, or the file; None when ``init_from`` is empty.
    """
    if not init_from:
        return None
    run = RunLayout(run_dir)
    in_run = run.checkpoint(init_from)
    for c in (in_run, Path(init_from), Path(init_from) / in_run.name):
        if c.is_file():
            return c
    raise ManifestError(
        f"DistillConfig.init_from={init_from!r} is neither a student of {str(run_dir)!r} "
        f"(with best.pt: {', '.join(run.student_names()) or 'none'}) nor a checkpoint file; distil the float student "
        "first"
    )
