"""The export stage: a student checkpoint -> ONNX / TFLite / MCU / Pi artifacts with parity and footprint reports.

:func:`run` exports a student of a run (``sea run``), :func:`export_student` a checkpoint anywhere
(``sea export CKPT -o OUT``); both end in :func:`export_model`, which reads as the stage's recipe:

1. skip an export that is up to date, clear a stale one;
2. cut calibration and held-out parity windows from the run (:mod:`export.calibration`);
3. write the ONNX and TFLite models and ``frontend.json`` (:mod:`export.artifacts`);
4. run every model in every runtime against PyTorch: ``parity.json`` (:mod:`export.parity`);
5. measure sizes, memory and latency: ``footprint.json`` (:mod:`export.footprint`);
6. write the ``mcu/`` and ``pi/`` bundles, print the footprint table, and raise one
   :class:`~sea.errors.ParityError` if an artifact missed its tolerance.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from sea.config import config_to_dict
from sea.errors import ConfigError, ExportError
from sea.layout import RunLayout
from sea.runs import Stage
from sea.utils import Pathlike, read_json, write_json

from . import parity
from .artifacts import FRONTEND_JSON, ExportNet, build_net, convert, reference_outputs, write_bundles, write_frontend
from .calibration import Windows, load_windows, synthetic_windows
from .config import ExportConfig
from .footprint import footprint_report, format_table

log = logging.getLogger("sea.export")

__all__ = ["export_model", "export_student", "run"]


def run(run_dir: Pathlike, config: ExportConfig, *, overwrite: bool = False) -> Path:
    """Export the student ``config.student`` of a run into ``RUN/export/<student>``.

    Calibration and parity windows come from the run's own 8 kHz audio unless
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
    ParityError
        An artifact misses its parity tolerance and ``config.strict`` (the artifacts and reports are written).
    """
    if not config.student:
        raise ConfigError("ExportConfig.student is empty; name the run's student to export (RUN/students/<name>)")
    layout = RunLayout(run_dir)
    config = dataclasses.replace(config, overwrite=config.overwrite or overwrite)
    own_run = RunLayout(layout.root.resolve()) if layout.is_prepared() else None
    _export_checkpoint(layout.checkpoint(config.student), layout.export(config.student), config, own_run)
    return layout.export(config.student)


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


def _export_checkpoint(checkpoint: Pathlike, out_dir: Pathlike, config: ExportConfig, run: RunLayout | None):
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
        extra={
            "model_args": ckpt.get("model_args", {}),
            "teacher": ckpt.get("teacher"),
            "target_spec": ckpt.get("target_spec"),
        },
    )


def export_model(
    model,
    out_dir: Pathlike,
    config: ExportConfig | None = None,
    *,
    model_name: str = "student",
    calibration: Pathlike | None = None,
    inputs: dict[str, Path] | None = None,
    extra: dict | None = None,
) -> dict[str, Any]:
    """Export an in-memory student.

    Parameters
    ----------
    model : torch.nn.Module
        The student ``[B, 1, 64, 50] -> [B, D]``.
    out_dir : path
        Output folder.
    config : ExportConfig, optional
        Export settings (default ``ExportConfig()``).
    model_name : str
        Registry name, recorded in the reports and bundles.
    calibration : path, optional
        Run directory or window array for calibration and parity (default ``config.calibration``);
        without one, fp32 parity runs on synthetic tones and int8 is refused.
    inputs : dict of str to Path, optional
        Extra inputs whose hashes decide whether the export is up to date (e.g. the checkpoint).
    extra : dict, optional
        Extra keys for ``stage.json``.

    Returns
    -------
    summary : dict
        As :func:`export_student`.
    """
    config = config or ExportConfig()
    config.validate()
    out = Path(out_dir)
    calibration = calibration if calibration is not None else config.calibration
    stage = _stage(out, config, calibration, inputs)
    if stage.is_done() and not config.overwrite:
        log.info("export in %s is up to date (use --overwrite to redo it)", out)
        return _summary(out)
    _clear_previous(out, config.overwrite)
    if config.int8 and calibration is None:
        raise ConfigError(
            "--int8 needs real target-domain calibration windows: pass --calibration RUN_DIR (a run with audio/8000); "
            "int8 is never calibrated on random data"
        )
    net = build_net(model, config.with_frontend)
    held, calib = _windows(net, config, calibration)
    x_held, x_cal = _model_input(net, held), None if calib is None else _model_input(net, calib)
    ref, example = reference_outputs(net, x_held, x_cal)
    out.mkdir(parents=True, exist_ok=True)
    formats = _formats(config)
    with stage.running():
        artifacts = convert(net, example, x_cal, out, config, formats)
        quant = write_frontend(out, net, artifacts, model_name=model_name, embedding_dim=ref.shape[1])
        results = _write_parity(out, ref, artifacts, x_held, held=held, calib=calib, source=calibration, config=config)
        fp = footprint_report(net, example, artifacts, config, model_name)
        write_json(out / "footprint.json", fp)
        write_bundles(
            out, net, artifacts, formats=formats, quant=quant, footprint=fp, config=config, model_name=model_name
        )
        stage.counts.update({"n_artifacts": len(artifacts), "n_parity_windows": int(len(held))})
        stage.extra.update({"model_name": model_name, **(extra or {}), "artifacts": sorted(artifacts)})
        print(format_table(fp))
        _check_parity(results, config.strict)
    return _summary(out)


def _stage(out: Path, config: ExportConfig, calibration: Pathlike | None, inputs: dict[str, Path] | None) -> Stage:
    stage_inputs = dict(inputs or {})
    if calibration is not None:
        manifest = RunLayout(calibration).manifest
        stage_inputs["calibration"] = manifest if manifest.is_file() else Path(calibration)
    # overwrite is an action, not a setting: it must not make the next plain run look stale; the student
    # is named by the checkpoint input, so an export's fingerprint is the same from `sea run` and `sea export`
    record = config_to_dict(dataclasses.replace(config, overwrite=False))
    del record["student"]
    return Stage(out, "export", record, inputs={k: v for k, v in stage_inputs.items() if Path(v).exists()})


def _clear_previous(out: Path, overwrite: bool) -> None:
    # a sea export made from another checkpoint or other settings is stale: rebuild it, like every stage
    stale = out.exists() and RunLayout.stage_file(out).is_file()
    if stale and not overwrite:
        log.info("export in %s was made from other inputs or settings; rebuilding it", out)
    if (overwrite or stale) and out.exists():
        for name in ("mcu", "pi"):
            shutil.rmtree(out / name, ignore_errors=True)


def _windows(net: ExportNet, config: ExportConfig, calibration: Pathlike | None) -> tuple[Windows, Windows | None]:
    """Held-out parity windows and calibration windows (None without a calibration source)."""
    if calibration is None:
        log.warning(
            "no calibration run: fp32 parity uses synthetic tones (pass --calibration RUN_DIR for real windows)"
        )
        held, calib = synthetic_windows(config.n_parity, config.seed), None
    else:
        calib, held = load_windows(
            calibration,
            n_calibration=config.n_calibration,
            n_holdout=config.n_parity,
            holdout_fraction=config.holdout_fraction,
            hop_size=config.window_hop_size,
            seed=config.seed,
            input_shape=net.student_shape,
        )
        if net.with_frontend and (calib.audio is None or held.audio is None):
            raise ExportError(
                "--with-frontend needs audio windows; pass a run directory (or an (N, 8000) audio array) as --calibration"
            )
    if len(held) == 0:
        raise ExportError(
            f"no held-out windows could be cut from {calibration!r}; the run needs at least 2 non-empty clips"
        )
    if calib is not None and len(calib) == 0:
        raise ExportError(f"no calibration windows could be cut from {calibration!r}")
    return held, calib


def _model_input(net: ExportNet, windows: Windows) -> np.ndarray:
    return windows.audio if net.with_frontend else windows.logmel


def _formats(config: ExportConfig) -> set[str]:
    formats = set(config.formats)
    if "mcu" in formats and not config.int8:
        log.warning("the mcu bundle needs an int8 model; skipped (add --int8)")
        formats.discard("mcu")
    return formats


def _write_parity(out: Path, ref, artifacts, x_held, *, held, calib, source, config: ExportConfig) -> dict[str, dict]:
    results, runs = parity.measure(ref, artifacts, x_held, config)
    head = parity.downstream(config.classifier, ref, runs, held.labels) if config.classifier else None
    doc = parity.parity_report(results, held=held, calib=calib, source=source, config=config, downstream_report=head)
    write_json(out / "parity.json", doc)
    return results


def _check_parity(results: dict[str, dict], strict: bool) -> None:
    try:
        parity.raise_failures(results)
    except Exception:
        if strict:
            raise
        log.warning("parity failures ignored (--no-strict)")


def _summary(out: Path) -> dict[str, Any]:
    res: dict[str, Any] = {"out_dir": str(out), "artifacts": {}}
    for name in ("model_fp32.onnx", "model_int8.onnx", "model_fp32.tflite", "model_int8.tflite", FRONTEND_JSON):
        if (out / name).is_file():
            res["artifacts"][name] = str(out / name)
    for sub in ("mcu", "pi"):
        if (out / sub).is_dir():
            res["artifacts"][sub] = str(out / sub)
    for rep in ("parity", "footprint"):
        p = out / f"{rep}.json"
        res[rep] = read_json(p) if p.is_file() else None
    return res
