"""The ``targets`` stage: sample teacher frames, fit the reduction φ, report on held-out clips.

:func:`run` fits one target set into ``RUN/targets/<name>`` (files listed in
:mod:`sea.targets.reader`); :func:`fit_targets` also expands ``sampler="all"``
into one target set per sampler. ``apply_targets`` (:mod:`sea.targets.apply`)
then projects every frame, and ``open_targets`` reads the targets.

Examples
--------
>>> out = run(run_dir, TargetsConfig(method="pca", dim=64, sampler="spl"))
>>> apply_targets(run_dir, out.name)
>>> open_targets(run_dir, out.name).read(np.arange(8)).shape
(8, 64)
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from ..config import config_to_dict
from ..errors import ConfigError, ManifestError
from ..layout import RunLayout
from ..lock import run_lock
from ..runs import Stage, require_stage
from .config import TargetsConfig
from .fit import fit_reduction, plan_fit
from .reader import REPORT_NAME, SAMPLE_INDICES_NAME
from .samplers import SAMPLERS
from .teacher_store import open_store, resolve_teacher_dir

log = logging.getLogger(__name__)

__all__ = ["fit_targets", "run"]


def run(run_dir: str | Path, config: TargetsConfig | None = None, *, overwrite: bool = False) -> Path:
    """Fit the reduction φ of one target set on sampled teacher frames.

    Writes ``reducer.npz``, ``sample_indices.npy``, ``report.json`` and
    ``stage.json`` into ``RUN/targets/<name>``. The config, the teacher store
    (finished and intact), the target dimension and the buckets are checked
    before anything is written; the run directory is locked while the stage works.

    Parameters
    ----------
    run_dir : path
        A run with a finished teacher frame store (``RUN/teacher/<variant>``).
    config : TargetsConfig, optional
        The stage's config (default: ``TargetsConfig()``). ``sampler="all"`` is
        for :func:`fit_targets`, which fits one target set per sampler.
    overwrite : bool
        Refit even when a finished ``stage.json`` matches.

    Returns
    -------
    out_dir : Path
        ``RUN/targets/<name>``.

    Raises
    ------
    ConfigError
        On an invalid config, ``dim`` above the teacher's embedding size, or ``sampler="all"`` with a
        method other than identity.
    ManifestError
        When the run has no (or not the named, or a damaged) teacher frame store, or a teacher frame is NaN/Inf.
    RunLockedError
        When another process is writing the run directory.
    """
    config = config or TargetsConfig()
    config.validate()
    if config.sampler == "all" and config.method != "identity":
        raise ConfigError("TargetsConfig.sampler='all' fits several target sets; call fit_targets or 'sea targets fit'")
    layout = RunLayout(run_dir)
    if not layout.root.is_dir():
        raise ManifestError(
            f"run directory {str(layout.root)!r} does not exist; prepare it ('sea data prepare DATASET RAW_DIR "
            f"{layout.root}') and extract the teacher frames ('sea teacher extract {layout.root}') first"
        )
    with run_lock(layout.root):
        teacher_dir = resolve_teacher_dir(layout.root, config.teacher)
        require_stage(teacher_dir, "teacher frame store", f"sea teacher extract {layout.root}")
        store = open_store(teacher_dir)
        plan = plan_fit(layout, store, config)
        name = config.default_name(store.dim)
        out = layout.targets(name)
        inputs: dict[str, Path] = {"teacher": teacher_dir}
        if layout.manifest.is_file():
            inputs["clips"] = layout.manifest
        resolved = {**config_to_dict(config), "name": name, "teacher": teacher_dir.name}
        stage = Stage(out, "targets", resolved, inputs=inputs)
        if not overwrite and stage.is_done():
            log.info("targets %s: already done, skipping (use --overwrite to refit)", name)
            return out
        with stage.running():
            report = fit_reduction(layout, name, store, teacher_dir, config, plan)
            stage.track(layout.reducer(name), layout.reducer(name).with_suffix(".json"), out / SAMPLE_INDICES_NAME)
            stage.track(out / REPORT_NAME)
            stage.counts.update(
                n_frames=int(len(store)),
                n_points=int(report["n_points"]),
                n_heldout_frames=int(report["heldout"]["n_frames"]),
            )
            stage.extra["reducer"] = report["reducer"]
            stage.extra["teacher"] = report["teacher"]
            stage.extra["warnings"] = report["warnings"]
    return out


def fit_targets(
    run_dir: str | Path, config: TargetsConfig | None = None, *, overwrite: bool = False
) -> Path | list[Path]:
    """Fit one target set, or one per sampler when ``config.sampler == "all"`` (``sea targets fit``).

    Parameters
    ----------
    run_dir : path
        A run with a finished teacher frame store (``RUN/teacher/<variant>``).
    config : TargetsConfig, optional
        The stage's config (default: ``TargetsConfig()``).
    overwrite : bool
        Refit even when a finished ``stage.json`` matches.

    Returns
    -------
    out_dir : Path or list of Path
        ``RUN/targets/<name>`` from :func:`run`; with ``sampler="all"`` one per
        sampler, named ``<name>_<sampler>`` when ``config.name`` is set.
    """
    config = config or TargetsConfig()
    config.validate()
    if config.sampler != "all" or config.method == "identity":
        return run(run_dir, config, overwrite=overwrite)
    outs = []
    for s in SAMPLERS:
        name = f"{config.name}_{s}" if config.name else ""
        outs.append(run(run_dir, dataclasses.replace(config, sampler=s, name=name), overwrite=overwrite))
    return outs
