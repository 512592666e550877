"""Claims: sea_student_3 and the smallest MCU student, *trained* by `sea run` on the synthetic set, export to every
int8 artifact with strict parity at the default tolerances in onnxruntime, ai-edge-litert and tflite-micro; Student 3's
int8 footprint fits the STM32H7 with its two 64x50x32 block-1 tensors; the firmware of both is bit-exact with LiteRT.

Random-weight students (the other export tests) quantize differently from trained ones, so this distils both with the
real (untrained) OpenL3 code, once per session and as small as the claims allow (24 clips, 4 epochs).
"""

from __future__ import annotations

import shutil

import pytest
import yaml

from sea.layout import RunLayout
from sea.utils import read_json
from tests.export.conftest import needs_export

pytestmark = [needs_export, pytest.mark.export, pytest.mark.claim]
HAVE_GCC = shutil.which("gcc") is not None and shutil.which("make") is not None

CONFIG = {
    "seed": 0,
    "data": {"dataset": "synthetic", "n_clips": 24, "duration": 2.0},
    "teacher": {"input_repr": "mel128", "content_type": "music", "embedding_size": 512, "hop_size": 0.5,
                "untrained_teacher": "auto", "batch_size": 32},
    "targets": {"method": "pca", "dim": 64, "sampler": "random"},
    "students": ["sea_student_3", "sea_mcu_xs"],
    "distill": {"epochs": 4, "patience": 4, "lr": 0.001, "batch_size": 32},
    "evaluate": None,
    "export": {"int8": True, "formats": ["onnx", "tflite", "mcu", "firmware", "pi"], "n_calibration": 64,
               "n_parity": 16, "n_parity_tflm": 3, "latency": False, "strict": True},
}  # fmt: skip
STUDENTS = ("sea_student_3", "sea_mcu_xs")


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """A tiny `sea run` (prepare, teacher, targets, distill, export) of both students; strict parity raises."""
    import os

    from sea.pipeline import load_run_config, run_pipeline

    root = tmp_path_factory.mktemp("trained")
    cfg = dict(CONFIG, run_dir=str(root / "run"))
    path = root / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    old = {k: os.environ.get(k) for k in ("SEA_OFFLINE", "SEA_NO_PROGRESS")}
    os.environ.update(SEA_OFFLINE="1", SEA_NO_PROGRESS="1")
    try:
        with pytest.warns(Warning):  # the untrained-teacher warning
            run_pipeline(load_run_config(path))  # strict: raises ParityError on any miss
    finally:
        for k, v in old.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    return RunLayout(root / "run")


@pytest.mark.parametrize("name", STUDENTS)
def test_trained_students_pass_int8_parity_everywhere(trained_run, name):
    exp = trained_run.export(name)
    for art in ("model_fp32.onnx", "model_int8.onnx", "model_fp32.tflite", "model_int8.tflite"):
        assert (exp / art).is_file(), (name, art)
    assert (exp / "mcu" / "model_int8.h").is_file() and (exp / "pi" / "sea_edge.py").is_file()
    assert (exp / "firmware" / "sea_model.c").is_file()
    par = read_json(exp / "parity.json")
    assert par["passed"] is True and par["tolerances"]["int8_mean_cosine"] == 0.99
    for key in ("model_int8.onnx|onnxruntime", "model_int8.tflite|ai-edge-litert", "model_int8.tflite|tflite-micro"):
        r = par["results"][key]
        assert r["passed"] and r["mean_cosine"] >= 0.99, (name, key, r)
    for key in ("model_fp32.onnx|onnxruntime", "model_fp32.tflite|ai-edge-litert"):
        assert par["results"][key]["mean_cosine"] >= 0.9999, (name, key)


def test_trained_footprints(trained_run):
    """sea_mcu_xs in 64 KiB of TFLM arena; Student 3 (sea_paper.md): two 64x50x32 int8 tensors live together in
    block 1 (~205 KB peak), ~400 KB of int8 weights, and it fits the STM32H7."""
    xs = read_json(trained_run.export("sea_mcu_xs") / "footprint.json")
    assert xs["mcu"]["arena_bytes"] <= 64 * 1024
    s3 = read_json(trained_run.export("sea_student_3") / "footprint.json")
    i8 = s3["artifacts"]["model_int8.tflite"]
    assert 2 * 64 * 50 * 32 <= i8["peak_activation_bytes"] <= 215_000
    assert s3["mcu"]["arena_bytes"] <= 225 * 1024 and i8["tflm_arena_bytes"] <= 230_000
    assert i8["file_bytes"] <= 460 * 1024 and i8["tensor_weight_bytes"] <= 450_000
    assert s3["devices"]["stm32h7"]["fits"]


@pytest.mark.skipif(not HAVE_GCC, reason="needs gcc and make to build the generated C")
@pytest.mark.parametrize("name", STUDENTS)
def test_trained_firmware_is_bit_exact_on_the_host(trained_run, name, tmp_path):
    """The generated C of each trained student equals ai-edge-litert's int8 network bit for bit on held-out audio."""
    from export.firmware import check_firmware
    from sea.manifest import read_manifest

    clips = [trained_run.root / rec.path for rec in read_manifest(trained_run.root)][-2:]
    rep = check_firmware(trained_run.export(name), clips, targets=("host",), out_dir=tmp_path)
    host = rep["targets"]["host"]
    assert host["bit_exact"] and host["max_abs_diff_lsb"] <= 1, (name, host)
