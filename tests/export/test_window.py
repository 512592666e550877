"""Windows of any length (issue 15 §2, contract 7): a student trained on 3-s windows (BirdNET's) exports with its own
window, and the Pi runner, the MCU bundle and the firmware all take it from frontend.json. So does a student at a
wider band (16 kHz here): its rate, DFT size and hop come from frontend.json too."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_run

from .conftest import make_checkpoint, needs_export, small_config
from .test_pi import TORCH_FREE

pytestmark = [pytest.mark.export, needs_export]

HAVE_GCC = shutil.which("gcc") is not None and shutil.which("make") is not None


@pytest.fixture(scope="module")
def export_3s(export_run) -> dict:
    from export import export_student

    ckpt = make_checkpoint(export_run, "sea_mcu_xs", seed=7, window_size=3.0, out_name="sea_mcu_xs_3s")
    cfg = small_config(calibration=str(export_run), formats=("tflite", "mcu", "firmware", "pi"), latency=False,
                       n_parity_tflm=2, window_hop_size=1.0)  # fmt: skip
    res = export_student(ckpt, export_run / "export" / "sea_mcu_xs_3s", cfg)
    res["checkpoint"] = ckpt
    return res


def test_frontend_json_and_models_carry_the_3s_window(export_3s):
    out = Path(export_3s["out_dir"])
    doc = json.loads((out / "frontend.json").read_text())
    assert doc["window_size"] == 3.0 and doc["window_length"] == 24000 and doc["n_frames"] == 150
    assert doc["frontend"]["window_size"] == 3.0 and doc["input_shape"] == [1, 1, 64, 150]
    assert doc["framing"]["frame_size"] == 3.0
    assert export_3s["parity"]["passed"] and export_3s["parity"]["results"]["model_int8.tflite|tflite-micro"]["passed"]
    assert export_3s["footprint"]["window_size"] == 3.0 and export_3s["footprint"]["input_shape"] == [1, 1, 64, 150]
    header = (out / "mcu" / "sea_model_config.h").read_text()
    assert "#define SEA_N_FRAMES 150" in header and "#define SEA_INPUT_SIZE 9600" in header
    assert "#define SEA_FE_WINDOW_LENGTH 24000" in header
    fw = json.loads((out / "firmware" / "firmware.json").read_text())
    assert fw["window_samples"] == 24000 and fw["input"]["shape"] == [1, 1, 64, 150]
    assert "#define SEA_WINDOW_SAMPLES 24000" in (out / "firmware" / "sea.h").read_text()
    assert "3 s long" in (out / "pi" / "README.md").read_text()


def test_pi_runner_uses_the_3s_window(export_3s, export_run, tmp_path):
    import soundfile as sf
    import torch

    from sea.cache import AudioCache
    from sea.checkpoint import load_student
    from sea.framing import windows
    from sea.students.frontend import StudentFrontend

    cache = AudioCache(export_run, 8000)
    y = np.concatenate([cache.get(c) for c in cache.clip_ids[:3]]).astype(np.float32)[: 5 * 8000]
    sf.write(tmp_path / "five.wav", y, 8000, subtype="FLOAT")
    bundle = Path(export_3s["out_dir"]) / "pi"
    r = subprocess.run([sys.executable, "-c", TORCH_FREE, "sea_edge.py", "model_fp32.tflite", str(tmp_path / "five.wav"),
                        "--out", str(tmp_path / "e.npz"), "-q"], cwd=bundle, capture_output=True, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr.decode()
    z = np.load(tmp_path / "e.npz")
    model, ckpt = load_student(export_3s["checkpoint"])
    w = windows(y, 8000, hop_size=1.0, center=True, frame_size=3.0)
    with torch.no_grad():
        ref = model(StudentFrontend(params=ckpt["frontend"])(torch.from_numpy(w))).numpy()
    assert z["embedding"].shape == ref.shape and ref.shape[0] == 5  # openl3 framing: 1 + ceil((5 + 1.5 - 3) / 1)
    np.testing.assert_allclose(z["timestamps"], np.arange(5) * 1.0)  # centres of 3-s windows, hop 1 s
    np.testing.assert_allclose(z["embedding"], ref, rtol=1e-3, atol=1e-4)


def _firmware_on_host(export: dict, run: Path, sr: int, clip: int, tmp_path: Path) -> tuple[dict, np.ndarray]:
    """Write clip ``clip`` of ``run``'s ``sr`` cache as 16-bit PCM, run the export's C firmware on it on the host;
    return the check's report and the firmware's embeddings."""
    import soundfile as sf

    from export.firmware import check_firmware
    from sea.cache import AudioCache

    cache = AudioCache(run, sr)
    sf.write(tmp_path / "clip.wav", cache.get(cache.clip_ids[clip]), sr, subtype="PCM_16")
    rep = check_firmware(export["out_dir"], [tmp_path / "clip.wav"], targets=("host",), out_dir=tmp_path / "o")
    return rep, np.load(tmp_path / "o" / "clip.npy")


@pytest.mark.skipif(not HAVE_GCC, reason="needs gcc and make to build the generated C")
def test_firmware_runs_the_3s_window_on_the_host(export_3s, export_run, tmp_path):
    rep, emb = _firmware_on_host(export_3s, export_run, 8000, 0, tmp_path)
    host = rep["targets"]["host"]
    assert host["bit_exact"] and host["max_abs_diff_lsb"] <= 1 and rep["window_size"] == 3.0
    assert emb.shape == (2, 64)  # a 2-s clip, hop 1 s: centres 0 s and 1 s


def test_a_frontend_that_does_not_fit_the_student_is_refused_before_writing(tmp_path):
    """A 3-s front-end record for a student built for 1-s windows (a mismatched checkpoint) is one clear error."""
    from export import ExportConfig, export_model
    from sea import students
    from sea.errors import ExportError
    from sea.students.frontend import frontend_params

    model = students.create("sea_mcu_xs").eval()
    with pytest.raises(ExportError, match=r"takes \[1, 64, 50\] log-mels but its front-end makes \[1, 64, 150\]"):
        export_model(model, tmp_path / "o", ExportConfig(formats=("onnx",), latency=False),
                     frontend=frontend_params(3.0))  # fmt: skip
    assert not (tmp_path / "o").exists()


# -- a student at a wider band: 16 kHz ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run_16k(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("exp16") / "run", n_clips=6, srs=(16000,))


@pytest.fixture(scope="module")
def export_16k(run_16k) -> dict:
    from export import export_student

    ckpt = make_checkpoint(run_16k, "sea_mcu_xs", seed=3, sr=16000)
    cfg = small_config(calibration=str(run_16k), formats=("tflite", "mcu", "firmware", "pi"), latency=False,
                       n_parity_tflm=2)  # fmt: skip
    res = export_student(ckpt, run_16k / "export" / "sea_mcu_xs", cfg)
    res["checkpoint"] = ckpt
    return res


def test_a_16k_student_exports_with_its_rate(export_16k):
    out = Path(export_16k["out_dir"])
    fe = json.loads((out / "frontend.json").read_text())["frontend"]
    assert (fe["sr"], fe["n_dft"], fe["hop_length"], fe["fmax"], fe["window_length"]) == (16000, 2048, 320, 8000, 16000)
    assert export_16k["parity"]["passed"]
    header = (out / "mcu" / "sea_model_config.h").read_text()
    assert "#define SEA_SAMPLE_RATE 16000" in header and "#define SEA_FE_N_DFT 2048" in header
    assert "#define SEA_FE_FMAX 8000.0f" in header
    assert "#define SEA_SAMPLE_RATE 16000" in (out / "firmware" / "sea.h").read_text()
    assert "#define SEA_FE_SAMPLE_RATE 16000" in (out / "firmware" / "sea_frontend_tables.h").read_text()
    assert "-r 16000" in (out / "pi" / "README.md").read_text()


def test_pi_runner_embeds_at_the_students_rate(export_16k, run_16k, tmp_path):
    """A 48 kHz file is resampled to the student's 16 kHz (not to 8 kHz), then embedded as the student does."""
    import soundfile as sf
    import torch

    from sea.audio import resample
    from sea.cache import AudioCache
    from sea.checkpoint import load_student
    from sea.framing import windows
    from sea.students.frontend import StudentFrontend

    cache = AudioCache(run_16k, 16000)
    y = np.asarray(cache.get(cache.clip_ids[0]), np.float32)
    sf.write(tmp_path / "a.wav", y, 16000, subtype="FLOAT")
    bundle = Path(export_16k["out_dir"]) / "pi"
    r = subprocess.run([sys.executable, "-c", TORCH_FREE, "sea_edge.py", "model_fp32.tflite", str(tmp_path / "a.wav"),
                        "--hop-size", "0.5", "--out", str(tmp_path / "e.npz"), "-q"], cwd=bundle, capture_output=True,
                       timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr.decode()
    assert b"resampled" not in r.stderr  # the file is at the student's rate
    model, ckpt = load_student(export_16k["checkpoint"])
    w = windows(y, 16000, hop_size=0.5, center=True, frame_size=1.0)
    with torch.no_grad():
        ref = model(StudentFrontend(params=ckpt["frontend"])(torch.from_numpy(w))).numpy()
    z = np.load(tmp_path / "e.npz")
    np.testing.assert_allclose(z["embedding"], ref, rtol=1e-3, atol=1e-4)
    sf.write(tmp_path / "b.wav", resample(y, 16000, 48000), 48000, subtype="FLOAT")
    r = subprocess.run([sys.executable, "-c", TORCH_FREE, "sea_edge.py", "model_fp32.tflite", str(tmp_path / "b.wav"),
                        "-q"], cwd=bundle, capture_output=True, timeout=300)  # fmt: skip
    assert r.returncode == 0 and b"resampled to 16000 Hz" in r.stderr, r.stderr.decode()


@pytest.mark.skipif(not HAVE_GCC, reason="needs gcc and make to build the generated C")
def test_firmware_runs_a_16k_student_on_the_host(export_16k, run_16k, tmp_path):
    """The C front-end (a 2048-point FFT here) and the network match the int8 TFLite model bit for bit."""
    rep, emb = _firmware_on_host(export_16k, run_16k, 16000, 1, tmp_path)
    host = rep["targets"]["host"]
    assert host["bit_exact"] and host["max_abs_diff_lsb"] <= 1
    assert emb.shape == (3, 64)  # a 2-s clip, hop 1 s, centred: 0, 1 and 2 s


def test_calibration_needs_audio_at_the_students_rate(export_run, tmp_path):
    """An 8 kHz run cannot calibrate a 16 kHz student: one error naming the rate, nothing written."""
    from export import export_student
    from sea.errors import SeaError

    ckpt = make_checkpoint(export_run, "sea_mcu_xs", sr=16000, out_name="sea_mcu_xs_16k")
    with pytest.raises(SeaError, match=r"no 16000 Hz audio cache"):
        export_student(ckpt, tmp_path / "o", small_config(calibration=str(export_run), formats=("tflite",)))
