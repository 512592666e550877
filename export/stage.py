"""The export stage: a student -> ONNX / TFLite / MCU / firmware / Pi artifacts with parity and footprint reports.

:func:`run` exports a student of a run (``sea run``), :func:`export_student` a checkpoint anywhere
(``sea export CKPT -o OUT``), :func:`export_published` one of the SEA paper's published students
(``sea export sea_ust_64 -o OUT``); all end in :func:`export_model`, which reads as the stage's recipe:

1. validate the config, the model and the calibration source, and decide the formats (before writing anything);
2. take the run-directory lock; skip an export that is up to date (its recorded files intact), clear a stale one;
3. cut calibration and held-out parity windows of the student's window length (:mod:`export.calibration`);
4. write the ONNX and TFLite models and ``frontend.json`` (:mod:`export.artifacts`);
5. run every model in every runtime against PyTorch: ``parity.json`` (:mod:`export.parity`);
6. measure sizes, memory and latency: ``footprint.json`` (:mod:`export.footprint`);
7. write the ``mcu/``, ``firmware/`` and ``pi/`` bundles, record every file in ``stage.json``, print the
   footprint table, and raise one :class:`~sea.errors.ParityError` if an artifact missed its tolerance.

Each step advances a progress bar named ``export <student>`` (the reliability tests stop an export mid-way through
``SEA_FAULT_KILL``); a killed export leaves ``stage.json`` "running", and the next run rebuilds it from scratch, to
the same bytes (the conversions are deterministic for one checkpoint and one calibration set).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sea.config import config_to_dict
from sea.errors import ConfigError, ExportError, ManifestError, ParityError
from sea.layout import RunLayout
from sea.runs import STAGE_FILE, Stage, read_stage, require_stage
from sea.utils import Pathlike, read_json, write_json

from . import parity
from .artifacts import (
    FRONTEND_JSON,
    ExportNet,
    build_net,
    convert,
    reference_outputs,
    write_firmware_bundle,
    write_frontend,
    write_mcu,
    write_pi,
)
from .calibration import (
    Windows,
    audio_folder_fingerprint,
    is_audio_folder,
    load_windows,
    run_label_names,
    synthetic_windows,
)
from .config import INT8_FORMATS, ExportConfig
from .footprint import footprint_report, format_table

log = logging.getLogger("sea.export")

__all__ = ["export_model", "export_published", "export_source", "export_student", "run"]

#: Files and folders an export writes; a rebuild removes exactly these (nothing else in the folder).
OUTPUTS = ("model_fp32.onnx", "model_int8.onnx", "model_int8.pre.onnx", "model_fp32.tflite", "model_int8.tflite",
           FRONTEND_JSON, "parity.json", "footprint.json", "mcu", "firmware", "pi")  # fmt: skip


def run(run_dir: Pathlike, config: ExportConfig, *, overwrite: bool = False) -> Path:
    """Export the student ``config.student`` of a run into ``RUN/export/<student>``.

    Calibration and parity windows come from the run's own audio at the student's rate unless
    ``config.calibration`` names another source.

    Parameters
    ----------
    run_dir : path
        The run directory (``RUN/students/<student>/best.pt`` must exist).
    config : ExportConfig
        Export settings; ``student`` names the student.
    overwrite : bool
        Rebuild an export that is up to date (as does ``config.overwrite``).

    Returns
    -------
    out_dir : Path
        ``RUN/export/<student>``.

    Raises
    ------
    ConfigError
        ``config.student`` is empty, or a setting is invalid.
    ManifestError
        The student was not distilled (or its checkpoint is damaged): the message names the command.
    ParityError
        An artifact misses its parity tolerance and ``config.strict`` (the artifacts and reports are written).
    """
    if not config.student:
        raise ConfigError("ExportConfig.student is empty; name the run's student to export (RUN/students/<name>)")
    config.validate()
    layout = RunLayout(run_dir)
    _require_student(layout, config.student)
    config = dataclasses.replace(config, overwrite=config.overwrite or overwrite)
    own_run = RunLayout(layout.root.resolve()) if layout.is_prepared() else None
    _export_checkpoint(layout.checkpoint(config.student), layout.export(config.student), config, own_run,
                       label=config.student)  # fmt: skip
    return layout.export(config.student)


def _require_student(layout: RunLayout, name: str) -> None:
    student_dir = layout.student(name)
    command = f"sea distill {layout.root}"
    if RunLayout.stage_file(student_dir).is_file():
        require_stage(
            student_dir, f"student {name!r}", command, fix=f"sea run CONFIG --overwrite distill ({command} --overwrite)"
        )
    elif not layout.checkpoint(name).is_file():
        raise ManifestError(
            f"student {name!r} not found in {str(layout.root)!r} (no {layout.checkpoint(name)}); run '{command}' first"
        )


def export_student(checkpoint: Pathlike, out_dir: Pathlike, config: ExportConfig | None = None) -> dict[str, Any]:
    """Export a distilled student checkpoint.

    Parameters
    ----------
    checkpoint : path
        ``RUN/students/<name>/best.pt`` (or its folder), as written by ``sea distill``. Without
        ``config.calibration``, windows come from the run the checkpoint lives in, if any.
    out_dir : path
        Output folder (``RUN/export/<name>`` by convention).
    config : ExportConfig, optional
        Export settings (default ``ExportConfig()``).

    Returns
    -------
    summary : dict
        ``out_dir``, ``artifacts`` (name -> path), ``parity`` and ``footprint`` (the JSON reports).
    """
    found = RunLayout.of_checkpoint(Path(checkpoint).resolve())
    return _export_checkpoint(checkpoint, out_dir, config or ExportConfig(), None if found is None else found[0])


def export_published(name: str, out_dir: Pathlike, config: ExportConfig | None = None, *,
                     weights: Pathlike | None = None) -> dict[str, Any]:  # fmt: skip
    """Export one of the SEA paper's published students (edgel3's ``sea_ust_<D>``) like a distilled one.

    Parameters
    ----------
    name : {"sea_ust_64", "sea_ust_128", "sea_ust_256", "sea_ust_512"}
        The published student (:func:`sea.students.published.load_published`).
    out_dir : path
        Output folder.
    config : ExportConfig, optional
        Export settings; int8 formats need ``calibration`` (a run or a folder of target-domain audio).
    weights : path, optional
        edgel3's ``.h5`` / ``.h5.gz`` (default: the cache, then the pinned download).

    Returns
    -------
    summary : dict
        As :func:`export_student`.

    Notes
    -----
    The exported network is sea's ``sea_student_N`` with the published weights, post-ReLU as published (its
    embeddings are >= 0), on sea's exact log-mel front-end, which equals edgel3's kapre front-end except in the
    float32 round-off of pure digital tones (:mod:`sea.students.published`).
    """
    import torch

    from sea import students
    from sea.students.published import published_checkpoint

    config = config or ExportConfig()
    config.validate()
    ckpt = published_checkpoint(name, weights)
    with torch.random.fork_rng(devices=[]):
        model = students.create(ckpt["model_name"], **(ckpt.get("model_args") or {}))
    model.load_state_dict(ckpt["state_dict"])
    ident = ckpt["published"]
    return export_model(
        model.eval(), out_dir, config, model_name=ident["name"], calibration=config.calibration,
        inputs={"weights": Path(ident["weights"])}, frontend=ckpt["frontend"],
        extra={"model_args": {}, "architecture": ckpt["model_name"], "teacher": ident, "published": ident},
    )  # fmt: skip


def export_source(source: str | None, out_dir: Pathlike, config: ExportConfig | None = None, *,
                  published: str | None = None, weights: Pathlike | None = None) -> str:  # fmt: skip
    """What ``sea export SOURCE -o OUT`` does: export a checkpoint or a published student, and say where.

    Parameters
    ----------
    source : str or None
        A checkpoint (``RUN/students/<name>/best.pt`` or its folder) or a published student's name
        (``sea_ust_64``...); None with ``published``.
    out_dir : path
        Output folder.
    config : ExportConfig, optional
    published : str, optional
        A published student's name (``--published``), instead of ``source``.
    weights : path, optional
        The published student's ``.h5`` / ``.h5.gz`` (``--weights``).

    Returns
    -------
    text : str
        The line to print: where the export is, and the formats it holds.

    Raises
    ------
    ConfigError
        Neither or both of ``source`` and ``published``, an unknown published name, ``weights`` with a checkpoint.
    """
    from sea.config import did_you_mean
    from sea.students.published import PUBLISHED

    if (source is None) == (published is None):
        raise ConfigError("give one model to export: a CHECKPOINT, a published student's name "
                          f"({', '.join(PUBLISHED)}), or --published NAME")  # fmt: skip
    name = published or source
    if name in PUBLISHED or published is not None:
        res = export_published(str(name), out_dir, config, weights=weights)
    elif not Path(str(source)).exists() and not str(source).endswith(".pt") and "/" not in str(source):
        raise ConfigError(f"{source!r} is neither a checkpoint nor a published student{did_you_mean(source, PUBLISHED)}; "
                          f"give RUN/students/<name>/best.pt or one of {', '.join(PUBLISHED)}")  # fmt: skip
    elif weights is not None:
        raise ConfigError("--weights is for a published student (sea_ust_64...); a checkpoint holds its own weights")
    else:
        res = export_student(source, out_dir, config)
    formats = ", ".join(res.get("formats") or sorted(res["artifacts"]))
    return f"export written to {res['out_dir']} ({formats})"


def _export_checkpoint(checkpoint: Pathlike, out_dir: Pathlike, config: ExportConfig, run: RunLayout | None,
                       *, label: str | None = None):  # fmt: skip
    from sea.checkpoint import load_student

    config.validate()
    model, ckpt = load_student(checkpoint)
    calibration = config.calibration
    if calibration is None and run is not None:
        log.info("calibration/parity windows from the checkpoint's run %s", run.root)
        calibration = str(run.root)
    return export_model(
        model,
        out_dir,
        config,
        model_name=ckpt["model_name"],
        calibration=calibration,
        inputs={"checkpoint": Path(checkpoint)},
        frontend=ckpt["frontend"],
        label=label,
        extra={
            "model_args": ckpt.get("model_args", {}),
            "teacher": ckpt.get("teacher"),
            "target_spec": ckpt.get("target_spec"),
        },
    )


@dataclasses.dataclass
class _Plan:
    """Everything an export decided before writing: the settings in force, the formats, the network, the record."""

    out: Path
    config: ExportConfig  # int8 resolved
    formats: set[str]
    calibration: Pathlike | None
    net: ExportNet
    stage: Stage
    model_name: str
    label: str
    lock_dir: Path
    extra: dict


def export_model(
    model,
    out_dir: Pathlike,
    config: ExportConfig | None = None,
    *,
    model_name: str = "student",
    calibration: Pathlike | None = None,
    inputs: dict[str, Path] | None = None,
    extra: dict | None = None,
    frontend: dict | None = None,
    label: str | None = None,
) -> dict[str, Any]:
    """Export an in-memory student.

    Parameters
    ----------
    model : torch.nn.Module
        The student ``[B, 1, 64, n_frames] -> [B, D]``.
    out_dir : path
        Output folder.
    config : ExportConfig, optional
        Export settings (default ``ExportConfig()``).
    model_name : str
        Registry name, recorded in the reports and bundles.
    calibration : path, optional
        Run directory, audio folder or window array for calibration and parity (default ``config.calibration``);
        without one, fp32 parity runs on synthetic tones and int8 is refused (or, when only implied by the
        formats, skipped with a warning).
    inputs : dict of str to Path, optional
        Extra inputs whose hashes decide whether the export is up to date (e.g. the checkpoint).
    extra : dict, optional
        Extra keys for ``stage.json``.
    frontend : dict, optional
        The front-end the student was trained with (the checkpoint's ``frontend``: its window); default 1 s.
    label : str, optional
        Name of the export in its progress bar (``export <label>``); default the output folder's name.

    Returns
    -------
    summary : dict
        As :func:`export_student`.
    """
    config = config or ExportConfig()
    config.validate()
    calibration = calibration if calibration is not None else config.calibration
    plan = _plan(model, Path(out_dir), config, calibration, inputs, frontend, model_name, label or Path(out_dir).name)
    plan.extra.update(extra or {})
    with _lock(plan.lock_dir):
        if plan.stage.is_done() and not config.overwrite:
            log.info("export in %s is up to date (use --overwrite to redo it)", plan.out)
            return _summary(plan.out)
        _clear_previous(plan.out)
        _build(plan)
    return _summary(plan.out)


def _plan(model, out: Path, config: ExportConfig, calibration, inputs, frontend, model_name: str, label: str) -> _Plan:
    """Validate everything and decide the formats; writes nothing."""
    if out.exists() and not out.is_dir():
        raise ExportError(f"output folder {str(out)!r} is an existing file; give a folder (-o DIR)")
    if calibration is not None and not Path(calibration).exists():
        raise ExportError(
            f"calibration source {str(calibration)!r} does not exist; pass a run directory built by 'sea data prepare', "
            "a folder of target-domain audio, or a .npy of windows"
        )
    if config.classifier and not Path(config.classifier).is_file():
        raise ExportError(f"classifier {config.classifier!r} does not exist; give a .npz with W [D, C] and b [C]")
    formats, int8 = _formats(config, calibration)
    config = dataclasses.replace(config, int8=int8)
    net = build_net(model, config.with_frontend, frontend)
    if "firmware" in formats and net.with_frontend:
        log.warning("firmware skipped: it takes the log-mel-input model and computes the front-end in C; "
                    "drop --with-frontend to build it")  # fmt: skip
        formats.discard("firmware")
    stage = _stage(out, config, calibration, inputs, formats)
    return _Plan(out, config, formats, calibration, net, stage, model_name, label, _lock_root(out), {})


def _formats(config: ExportConfig, calibration) -> tuple[set[str], bool]:
    """The formats to build and whether int8 models are built (int8 follows the formats unless set)."""
    formats = set(config.formats)
    int8 = config.builds_int8()
    needing = sorted(formats & set(INT8_FORMATS))
    if int8 and calibration is None:
        if config.int8 is True or formats <= set(INT8_FORMATS):
            raise ConfigError(
                f"{'--int8' if config.int8 else '--formats ' + ','.join(needing)} needs real target-domain calibration "
                "windows: pass --calibration RUN_OR_AUDIO_DIR (a run with an audio cache at the student's rate, e.g. "
                "audio/8000, or a folder of audio files); "
                "int8 is never calibrated on random data"
            )
        log.warning("%s skipped: %s int8 models calibrated on real windows; pass --calibration RUN_OR_AUDIO_DIR",
                    " and ".join(needing), "they need" if len(needing) > 1 else "it needs")  # fmt: skip
        int8 = False
    if not int8 and needing:
        if config.int8 is False:
            log.warning("%s skipped (--no-int8): %s full-int8 models", " and ".join(needing),
                        "they run" if len(needing) > 1 else "it runs")  # fmt: skip
        formats -= set(needing)
    return formats, int8


def _stage(out: Path, config: ExportConfig, calibration, inputs: dict[str, Path] | None, formats: set[str]) -> Stage:
    stage_inputs = dict(inputs or {})
    record = config_to_dict(dataclasses.replace(config, overwrite=False))
    # overwrite is an action, not a setting: it must not make the next plain run look stale; the student
    # is named by the checkpoint input, so an export's fingerprint is the same from `sea run` and `sea export`
    del record["student"]
    record["formats"] = sorted(formats)
    if calibration is not None:
        manifest = RunLayout(calibration).manifest
        if manifest.is_file():
            stage_inputs["calibration"] = manifest
        elif is_audio_folder(calibration):
            record["calibration_audio"] = audio_folder_fingerprint(calibration)
        else:
            stage_inputs["calibration"] = Path(calibration)
    return Stage(out, "export", record, inputs={k: v for k, v in stage_inputs.items() if Path(v).exists()})


def _lock_root(out: Path) -> Path:
    """The run directory an export folder belongs to (``RUN/export/<name>``), else the export folder itself."""
    resolved = out.resolve()
    if resolved.parent.name == "export" and RunLayout(resolved.parent.parent).is_prepared():
        return resolved.parent.parent
    return resolved


@contextlib.contextmanager
def _lock(root: Path):
    from sea.lock import run_lock

    with run_lock(root):
        yield


def _clear_previous(out: Path) -> None:
    """Remove a previous (stale, unfinished or overwritten) export's files; leave anything else in the folder."""
    if not out.exists():
        return
    previous = RunLayout.stage_file(out).is_file()
    if previous:
        log.info("rebuilding the export in %s", out)
    for name in OUTPUTS:
        p = out / name
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()


def _build(plan: _Plan) -> None:
    """Run the export's steps under one progress bar, record the files, check parity.

    A strict parity failure raises inside the stage, so ``stage.json`` stays "running": the artifacts and reports
    are on disk, and the next run rebuilds (and fails) again rather than calling the export up to date.
    """
    from sea.progress import progress

    steps = _steps(plan)
    state: dict[str, Any] = {"files": []}
    plan.out.mkdir(parents=True, exist_ok=True)
    with plan.stage.running(), progress(total=len(steps), desc=f"export {plan.label}", unit="step") as bar:
        for name, step in steps:
            log.debug("export step: %s", name)
            step(plan, state)
            bar.update(1)
        plan.stage.track(*state["files"])
        plan.stage.counts.update({"n_artifacts": len(state["artifacts"]), "n_parity_windows": int(len(state["held"]))})
        plan.stage.extra.update({"model_name": plan.model_name, **plan.extra, "artifacts": sorted(state["artifacts"]),
                                 "formats": sorted(plan.formats)})  # fmt: skip
        print(format_table(state["footprint"]))
        _check_parity(state["results"], plan.config.strict)


def _steps(plan: _Plan) -> list[tuple[str, Callable[[_Plan, dict], None]]]:
    steps = [("windows", _step_windows), ("convert", _step_convert), ("frontend.json", _step_frontend),
             ("parity", _step_parity), ("footprint", _step_footprint)]  # fmt: skip
    if "mcu" in plan.formats:
        steps.append(("mcu", _step_mcu))
    if "firmware" in plan.formats:
        steps.append(("firmware", _step_firmware))
    if "pi" in plan.formats:
        steps.append(("pi", _step_pi))
    return steps


def _step_windows(plan: _Plan, state: dict) -> None:
    held, calib = _windows(plan.net, plan.config, plan.calibration)
    state["held"], state["calib"] = held, calib
    state["x_held"] = _model_input(plan.net, held)
    state["x_cal"] = None if calib is None else _model_input(plan.net, calib)
    state["ref"], state["example"] = reference_outputs(plan.net, state["x_held"], state["x_cal"])


def _step_convert(plan: _Plan, state: dict) -> None:
    state["artifacts"] = convert(plan.net, state["example"], state["x_cal"], plan.out, plan.config, plan.formats)
    state["files"] += list(state["artifacts"].values())
    if "model_int8.tflite" not in state["artifacts"] and plan.formats & set(INT8_FORMATS):
        log.warning("%s skipped: no int8 TFLite model was made", " and ".join(sorted(plan.formats & set(INT8_FORMATS))))
        plan.formats -= set(INT8_FORMATS)


def _step_frontend(plan: _Plan, state: dict) -> None:
    state["quant"] = write_frontend(plan.out, plan.net, state["artifacts"], model_name=plan.model_name,
                                    embedding_dim=state["ref"].shape[1])  # fmt: skip
    state["files"].append(plan.out / FRONTEND_JSON)


def _step_parity(plan: _Plan, state: dict) -> None:
    state["results"] = _write_parity(plan, state)
    state["files"].append(plan.out / "parity.json")


def _step_footprint(plan: _Plan, state: dict) -> None:
    fp = footprint_report(plan.net, state["example"], state["artifacts"], plan.config, plan.model_name,
                          teacher=plan.extra.get("teacher"))  # fmt: skip
    write_json(plan.out / "footprint.json", fp)
    state["footprint"] = fp
    state["files"].append(plan.out / "footprint.json")


def _step_mcu(plan: _Plan, state: dict) -> None:
    state["files"] += write_mcu(plan.out, plan.net, state["artifacts"], quant=state["quant"],
                                footprint=state["footprint"], config=plan.config, model_name=plan.model_name)  # fmt: skip


def _step_firmware(plan: _Plan, state: dict) -> None:
    state["files"] += write_firmware_bundle(plan.out, state["artifacts"], model_name=plan.model_name)


def _step_pi(plan: _Plan, state: dict) -> None:
    state["files"] += write_pi(plan.out, state["artifacts"], classifier=plan.config.classifier,
                               model_name=plan.model_name)  # fmt: skip


def _windows(net: ExportNet, config: ExportConfig, calibration: Pathlike | None) -> tuple[Windows, Windows | None]:
    """Held-out parity windows and calibration windows (None without a calibration source)."""
    if calibration is None:
        log.warning(
            "no calibration source: fp32 parity uses synthetic tones (pass --calibration RUN_OR_AUDIO_DIR for real "
            "windows)"
        )
        held, calib = synthetic_windows(config.n_parity, config.seed, net.fe_params), None
    else:
        calib, held = load_windows(
            calibration,
            n_calibration=config.n_calibration,
            n_holdout=config.n_parity,
            holdout_fraction=config.holdout_fraction,
            hop_size=config.window_hop_size,
            seed=config.seed,
            input_shape=net.student_shape,
            params=net.fe_params,
        )
        if net.with_frontend and (calib.audio is None or held.audio is None):
            raise ExportError(
                "--with-frontend needs audio windows; pass a run directory, an audio folder or an "
                f"(N, {net.fe_params['window_length']}) audio array as --calibration"
            )
    if len(held) == 0:
        raise ExportError(
            f"no held-out windows could be cut from {str(calibration)!r}; the run needs at least 2 non-empty clips"
        )
    if calib is not None and len(calib) == 0:
        raise ExportError(f"no calibration windows could be cut from {str(calibration)!r}")
    return held, calib


def _model_input(net: ExportNet, windows: Windows) -> np.ndarray:
    return windows.audio if net.with_frontend else windows.logmel


def _write_parity(plan: _Plan, state: dict) -> dict[str, dict]:
    config, held = plan.config, state["held"]
    results, runs = parity.measure(state["ref"], state["artifacts"], state["x_held"], config)
    head = None
    if config.classifier:
        head = parity.downstream(config.classifier, state["ref"], runs, held.labels,
                                 label_names=run_label_names(plan.calibration))  # fmt: skip
    doc = parity.parity_report(results, held=held, calib=state["calib"], source=plan.calibration, config=config,
                               downstream_report=head)  # fmt: skip
    write_json(plan.out / "parity.json", doc)
    return results


def _check_parity(results: dict[str, dict], strict: bool) -> None:
    try:
        parity.raise_failures(results)
    except ParityError:
        if strict:
            raise
        log.warning("parity failures recorded in parity.json and ignored (--no-strict)")


def _summary(out: Path) -> dict[str, Any]:
    res: dict[str, Any] = {"out_dir": str(out), "artifacts": {}}
    for name in ("model_fp32.onnx", "model_int8.onnx", "model_fp32.tflite", "model_int8.tflite", FRONTEND_JSON):
        if (out / name).is_file():
            res["artifacts"][name] = str(out / name)
    for sub in ("mcu", "firmware", "pi"):
        if (out / sub).is_dir():
            res["artifacts"][sub] = str(out / sub)
    for rep in ("parity", "footprint"):
        p = out / f"{rep}.json"
        res[rep] = read_json(p) if p.is_file() else None
    record = read_stage(out) if (out / STAGE_FILE).is_file() else None
    res["formats"] = (record or {}).get("formats")
    return res
