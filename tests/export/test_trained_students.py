"""Acceptance: sea_student_3 and the smallest MCU student, *trained* on the synthetic run, export to every int8
artifact and pass parity at the default tolerances in onnxruntime, ai-edge-litert and tflite-micro.

Random-weight students (the other export tests) quantize differently from trained ones, so this test distils both
on synthetic urban sounds with the real (untrained) OpenL3 code and exports with ``strict`` parity (~4 min).
"""

from __future__ import annotations

import pytest
import yaml

from sea.layout import RunLayout
from sea.utils import read_json
from tests.export.conftest import needs_export

pytestmark = [needs_export, pytest.mark.slow]

CONFIG = {
    "seed": 0,
    "data": {"dataset": "synthetic", "n_clips": 60, "duration": 4.0},
    "teacher": {"input_repr": "mel128", "content_type": "music", "embedding_size": 512, "hop_size": 0.5},
    "targets": {"method": "pca", "dim": 64, "sampler": "random", "n_points": 100000},
    "students": ["sea_student_3", "sea_mcu_xs"],
    "distill": {"epochs": 8, "patience": 8, "lr": 0.001},
    "evaluate": {"classifiers": ["logreg"], "hop_size": 0.5},
    "export": {"int8": True, "formats": ["onnx", "tflite", "mcu", "pi"], "n_calibration": 100, "n_parity": 32,
               "n_parity_tflm": 4, "latency_repeats": 3, "teacher_latency": False, "strict": True},
}  # fmt: skip


def test_trained_students_pass_int8_parity_everywhere(tmp_path, monkeypatch):
    from sea.pipeline import load_run_config, run_pipeline

    monkeypatch.setenv("SEA_OFFLINE", "1")
    monkeypatch.setenv("SEA_NO_PROGRESS", "1")
    cfg = dict(CONFIG, run_dir=str(tmp_path / "run"))
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.warns(Warning):  # the untrained-teacher warning
        run_pipeline(load_run_config(path))  # strict: raises ParityError on any miss
    for name in ("sea_student_3", "sea_mcu_xs"):
        exp = RunLayout(tmp_path / "run").export(name)
        for art in ("model_fp32.onnx", "model_int8.onnx", "model_fp32.tflite", "model_int8.tflite"):
            assert (exp / art).is_file(), (name, art)
        assert (exp / "mcu" / "model_int8.h").is_file() and (exp / "pi" / "sea_edge.py").is_file()
        par = read_json(exp / "parity.json")
        assert par["passed"] is True
        for key in ("model_int8.onnx|onnxruntime", "model_int8.tflite|ai-edge-litert", "model_int8.tflite|tflite-micro"):
            r = par["results"][key]
            assert r["passed"] and r["mean_cosine"] >= 0.99, (name, key, r)
        fp = read_json(exp / "footprint.json")
        if name == "sea_mcu_xs":
            assert fp["mcu"]["arena_bytes"] <= 64 * 1024
        else:  # sea_paper.md: two 64x50x32 int8 tensors live in block 1 -> ~205 KB, ~400 KB of int8 weights
            assert fp["mcu"]["arena_bytes"] <= 225 * 1024
            assert fp["artifacts"]["model_int8.tflite"]["file_bytes"] <= 460 * 1024
