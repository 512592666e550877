"""The SEA paper's published student (edgel3's sea_ust_64, ../shared/models) exported by `sea export sea_ust_64`
to int8 TFLite, the MCU bundle, the firmware and the Pi bundle, calibrated on a folder of real UrbanSound8K audio
(issue 15 §3): edgel3 users get the paper's model on current Python and on devices."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import shared_path

from .conftest import needs_export, sea_cli
from .test_pi import TORCH_FREE

pytestmark = [pytest.mark.export, needs_export]

WEIGHTS = ("models", "edgel3_sea_ust_audio_emb_64.h5.gz")
US8K = ("data", "us8k_fold10_sample", "UrbanSound8K", "audio", "fold10")
HAVE_GCC = shutil.which("gcc") is not None and shutil.which("make") is not None


@pytest.fixture(scope="module")
def published_export(tmp_path_factory) -> dict:
    """`sea export sea_ust_64 --weights GZ --calibration FOLDER` on 10 real recordings (8 distinct fsIDs)."""
    weights = shared_path(*WEIGHTS)
    audio = sorted(shared_path(*US8K).glob("*.wav"))
    root = tmp_path_factory.mktemp("published")
    calib = root / "calib"
    calib.mkdir()
    picked = audio[:: max(1, len(audio) // 10)][:10]
    for f in picked:
        (calib / f.name).symlink_to(f)
    out = root / "sea_ust_64"
    r = sea_cli("export", "sea_ust_64", "--weights", weights, "-o", out, "--calibration", calib,
                "--formats", "tflite,mcu,firmware,pi", "--n-calibration", "48", "--n-parity", "16",
                "--n-parity-tflm", "2", "--no-latency", "--window-hop-size", "1.0")  # fmt: skip
    return {"out": out, "run": r, "weights": weights, "audio": picked}


@pytest.mark.claim
def test_published_student_exports_to_every_device_format(published_export):
    r, out = published_export["run"], published_export["out"]
    assert r.returncode == 0, r.stderr
    assert "export written to" in r.stdout and "firmware" in r.stdout
    doc = json.loads((out / "frontend.json").read_text())
    assert doc["model_name"] == "sea_ust_64" and doc["embedding_dim"] == 64 and doc["window_size"] == 1.0
    parity = json.loads((out / "parity.json").read_text())
    assert parity["passed"] and not parity["windows"]["synthetic"] and 20 <= parity["windows"]["n_calibration"] <= 48
    for key in ("model_int8.tflite|ai-edge-litert", "model_int8.tflite|tflite-micro"):
        assert parity["results"][key]["mean_cosine"] >= 0.99, (key, parity["results"][key])
    stage = json.loads((out / "stage.json").read_text())
    assert stage["published"]["name"] == "sea_ust_64" and stage["architecture"] == "sea_student_3"
    assert stage["published"]["weights_sha256"].startswith("e8cd0eaa")
    for rel in ("mcu/model_int8.c", "firmware/sea_model.c", "pi/sea_edge.py", "pi/model_int8.tflite"):
        assert (out / rel).is_file(), rel
    fp = json.loads((out / "footprint.json").read_text())
    assert fp["devices"]["stm32h7"]["fits"]  # Student 3 fits the STM32H7 budget


def test_pi_bundle_equals_sea_students_get_embedding(published_export, tmp_path):
    """The torch-free Pi runner on the fp32 model gives edgel3's embedding as sea computes it (sea.students)."""
    import soundfile as sf

    from sea.students import get_embedding

    out = published_export["out"]
    wav = published_export["audio"][0]
    y, sr = sf.read(wav, dtype="float64")
    ref, ts = get_embedding(y, sr, model="sea_ust_64", hop_size=1.0, weights=published_export["weights"])
    # the runner resamples with scipy when it can; give it the 8 kHz audio sea decoded, to compare the models only
    from sea.audio import load

    y8, _ = load(wav, sr=8000)
    sf.write(tmp_path / "clip8k.wav", y8, 8000, subtype="FLOAT")
    r = subprocess.run([sys.executable, "-c", TORCH_FREE, "sea_edge.py", "model_fp32.tflite", str(tmp_path / "clip8k.wav"),
                        "--out", str(tmp_path / "e.npz"), "-q"], cwd=out / "pi", capture_output=True, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr.decode()
    z = np.load(tmp_path / "e.npz")
    np.testing.assert_allclose(z["timestamps"], ts)
    assert np.all(z["embedding"] >= 0)  # post-ReLU, as published
    np.testing.assert_allclose(z["embedding"], ref, rtol=2e-3, atol=2e-3 * float(np.abs(ref).max()))


@pytest.mark.skipif(not HAVE_GCC, reason="needs gcc and make to build the generated C")
def test_published_firmware_is_bit_exact_on_the_host(published_export, tmp_path):
    from export.firmware import check_firmware

    rep = check_firmware(published_export["out"], published_export["audio"][:1], targets=("host",),
                         out_dir=tmp_path / "o")  # fmt: skip
    host = rep["targets"]["host"]
    assert host["bit_exact"] and host["max_abs_diff_lsb"] <= 1, host
    assert rep["model_name"] == "sea_ust_64"
