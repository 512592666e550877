"""End-to-end export of the smallest MCU student: artifacts, parity, footprint, frontend.json, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from .conftest import make_checkpoint, needs_export, small_config

pytestmark = [pytest.mark.export, needs_export]


def test_all_artifacts_written(mcu_export):
    out = Path(mcu_export["out_dir"])
    for name in (
        "model_fp32.onnx",
        "model_int8.onnx",
        "model_fp32.tflite",
        "model_int8.tflite",
        "frontend.json",
        "parity.json",
        "footprint.json",
        "stage.json",
    ):
        assert (out / name).is_file(), name
    for name in ("model_int8.c", "model_int8.h", "sea_model_config.h", "README.md"):
        assert (out / "mcu" / name).is_file(), name
    for name in ("sea_edge.py", "frontend_numpy.py", "frontend.json", "model_int8.tflite", "README.md"):
        assert (out / "pi" / name).is_file(), name
    for name in ("firmware.json", "sea.h", "sea_model.c", "sea_model_data.c", "sea_frontend_tables.c", "Makefile"):
        assert (out / "firmware" / name).is_file(), name
    # The ONNX weights live inside the file (external_data=False).
    assert not list(out.glob("*.data"))
    assert not list(out.glob("*.pre.onnx"))  # onnxruntime's pre-processed graph is a temporary


def test_firmware_is_made_from_the_exported_int8_model(mcu_export):
    """The firmware format: sea's C project generated from this export's model_int8.tflite and frontend.json."""
    import hashlib

    out = Path(mcu_export["out_dir"])
    meta = json.loads((out / "firmware" / "firmware.json").read_text())
    assert meta["tflite_sha256"] == hashlib.sha256((out / "model_int8.tflite").read_bytes()).hexdigest()
    assert meta["frontend_sha256"] == hashlib.sha256((out / "frontend.json").read_bytes()).hexdigest()
    assert meta["window_samples"] == 8000 and meta["model_name"] == "sea_mcu_xs"
    assert mcu_export["formats"] == ["firmware", "mcu", "onnx", "pi", "tflite"]


def test_stage_json_records_every_file(mcu_export):
    """Every file a device or a later command trusts is recorded (size + hashes) in the export's stage.json."""
    from sea.runs import verify_stage

    out = Path(mcu_export["out_dir"])
    files = json.loads((out / "stage.json").read_text())["files"]
    for rel in ("model_int8.tflite", "model_fp32.onnx", "frontend.json", "parity.json", "footprint.json",
                "mcu/model_int8.c", "mcu/sea_model_config.h", "pi/sea_edge.py", "pi/model_int8.tflite",
                "firmware/firmware.json", "firmware/sea_model.c", "firmware/Makefile"):  # fmt: skip
        assert rel in files and files[rel]["size"] == (out / rel).stat().st_size, rel
    verify_stage(out, fix="sea export --overwrite")


def test_parity_passes_in_every_runtime(mcu_export):
    res = mcu_export["parity"]["results"]
    assert mcu_export["parity"]["passed"]
    assert res["model_fp32.onnx|onnxruntime"]["mean_cosine"] >= 0.9999
    assert res["model_fp32.tflite|ai-edge-litert"]["mean_cosine"] >= 0.9999
    for key in ("model_int8.onnx|onnxruntime", "model_int8.tflite|ai-edge-litert", "model_int8.tflite|tflite-micro"):
        assert res[key]["passed"] and res[key]["mean_cosine"] >= 0.99, key
        assert res[key]["max_abs_diff"] > 0  # really quantized
    # tflite-runtime is reported (run, or skipped with the reason).
    assert "model_int8.tflite|tflite-runtime" in res
    w = mcu_export["parity"]["windows"]
    assert w["n"] > 0 and not w["synthetic"] and w["n_calibration"] > 0


def test_heldout_clips_are_not_calibration_clips(export_run):
    from export.calibration import load_windows
    from sea.cache import AudioCache

    cal, held = load_windows(export_run, n_calibration=50, n_holdout=50, holdout_fraction=0.3)
    assert set(cal.clip_ids).isdisjoint(held.clip_ids)
    assert len(cal) and len(held)
    assert cal.logmel.shape[1:] == (1, 64, 50)
    assert np.all(cal.logmel <= 0) and np.all(cal.logmel >= -80)
    assert set(cal.clip_ids) | set(held.clip_ids) <= set(AudioCache(export_run, 8000).clip_ids)


def test_frontend_json_and_input_quantization(mcu_export):
    from export.tflite import litert_interpreter
    from sea.students.frontend import FRONTEND_PARAMS, logmel_numpy

    out = Path(mcu_export["out_dir"])
    doc = json.loads((out / "frontend.json").read_text())
    for k, v in FRONTEND_PARAMS.items():
        assert doc["frontend"][k] == (list(v) if isinstance(v, tuple) else v), k
    q = doc["input_quantization"]
    assert q["dtype"] == "int8" and q["scale"] > 0 and -128 <= q["zero_point"] <= 127
    # A device feeding round(x/scale)+zp gets the same int8 tensor as the interpreter's own quantization.
    it = litert_interpreter(out / "model_int8.tflite")
    d = it.get_input_details()[0]
    assert d["dtype"] == np.int8
    assert np.isclose(d["quantization"][0], q["scale"]) and d["quantization"][1] == q["zero_point"]
    x = logmel_numpy(np.sin(np.arange(8000) * 0.3).astype(np.float32))
    qx = np.clip(np.round(x / q["scale"]) + q["zero_point"], -128, 127)
    assert qx.min() >= -128 and qx.max() <= 127 and len(np.unique(qx)) > 10  # uses the range, no clipping to one value


def test_footprint_report(mcu_export):
    fp = mcu_export["footprint"]
    i8 = fp["artifacts"]["model_int8.tflite"]
    f32 = fp["artifacts"]["model_fp32.tflite"]
    assert fp["params"] > 0 and fp["macs"] > 0
    # liveness peak is what TFLM's planner needs: the measured arena is at least that, plus a small tail
    assert i8["peak_activation_bytes"] <= i8["tflm_arena_bytes"] <= i8["peak_activation_bytes"] + 32 * 1024
    assert 3.5 < f32["peak_activation_bytes"] / i8["peak_activation_bytes"] < 4.5  # int8 vs fp32 activations
    assert i8["file_bytes"] < f32["file_bytes"] / 2
    # Acceptance: the MCU-class student stays within 64 KB of activation memory.
    assert i8["peak_activation_bytes"] <= 64 * 1024
    assert fp["devices"]["cortex_m4"]["fits"] and fp["devices"]["stm32h7"]["fits"]
    lat = fp["latency_ms"]
    assert lat["model_int8.tflite|ai-edge-litert"] > 0 and lat["model_int8.onnx|onnxruntime"] > 0


def test_onnx_dynamic_batch(mcu_export):
    import torch

    from export.onnx import run_onnx
    from sea.checkpoint import load_student

    model, _ = load_student(mcu_export["checkpoint"])
    x = np.random.default_rng(0).uniform(-80, 0, (5, 1, 64, 50)).astype(np.float32)
    y = run_onnx(Path(mcu_export["out_dir"]) / "model_fp32.onnx", x, batch=5)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    assert y.shape == (5, model.embedding_dim)
    np.testing.assert_allclose(y, ref, atol=1e-4)


def test_rerun_is_a_noop(mcu_export, export_run):
    from export import export_student

    out = Path(mcu_export["out_dir"])
    before = (out / "model_int8.tflite").stat().st_mtime_ns
    export_student(mcu_export["checkpoint"], out, small_config(calibration=str(export_run)))
    assert (out / "model_int8.tflite").stat().st_mtime_ns == before


def test_cli_export_onnx(export_run, tmp_path, capsys):
    from sea.cli import main
    from sea.layout import RunLayout

    ckpt = RunLayout(export_run).checkpoint("sea_mcu_xs")
    if not ckpt.is_file():
        make_checkpoint(export_run, "sea_mcu_xs")
    out = tmp_path / "cli_out"
    # no --calibration: the run the checkpoint lives in is used
    rc = main(
        [
            "-q",
            "export",
            str(ckpt),
            "-o",
            str(out),
            "--formats",
            "onnx",
            "--int8",
            "--n-calibration",
            "8",
            "--n-parity",
            "6",
            "--no-latency",
        ]
    )
    assert rc == 0
    assert (out / "model_int8.onnx").is_file() and not (out / "model_fp32.tflite").exists()
    assert "model_int8.onnx" in capsys.readouterr().out
    assert json.loads((out / "parity.json").read_text())["windows"]["source"] == str(export_run.resolve())


def test_stage_run_exports_a_student_of_the_run(export_run):
    from export import ExportConfig
    from export.stage import run
    from sea.errors import ConfigError
    from sea.layout import RunLayout

    make_checkpoint(export_run, "sea_mcu_s", seed=1)
    cfg = ExportConfig(student="sea_mcu_s", formats=("onnx",), n_parity=4, latency=False)
    out = run(export_run, cfg)
    assert out == RunLayout(export_run).export("sea_mcu_s")
    assert (out / "model_fp32.onnx").is_file() and not (out / "model_int8.onnx").exists()
    parity = json.loads((out / "parity.json").read_text())
    assert parity["windows"]["source"] == str(export_run.resolve()) and not parity["windows"]["synthetic"]
    stage = json.loads((out / "stage.json").read_text())
    assert stage["input_paths"]["checkpoint"] == str(RunLayout(export_run).checkpoint("sea_mcu_s"))
    assert "student" not in stage["config"]  # the checkpoint names the student; sea run and sea export agree
    with pytest.raises(ConfigError, match="student is empty"):
        run(export_run, ExportConfig())


def test_cli_errors(tmp_path, capsys):
    from sea.cli import main

    assert main(["export", str(tmp_path / "missing.pt"), "-o", str(tmp_path / "o")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "missing.pt"), "-o", str(tmp_path / "o"), "--formats", "onnx,coreml"]) == 1
    assert "coreml" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["export", str(tmp_path / "missing.pt")])  # -o is required
    assert e.value.code == 2
