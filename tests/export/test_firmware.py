"""The firmware export: C front-end vs sea's numpy front-end, frontend.json validation, the generated project's
hygiene, and sea_mcu_s end to end on the host and on an emulated Cortex-M4 (bit-exact with ai-edge-litert, within
the issue's RAM / flash / speed targets)."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.export.conftest import needs_export, random_bn

HAVE_GCC = shutil.which("gcc") is not None and shutil.which("make") is not None
HAVE_ARM = all(shutil.which(t) for t in ("arm-none-eabi-gcc", "arm-none-eabi-size", "qemu-system-arm"))
needs_gcc = pytest.mark.skipif(not HAVE_GCC, reason="needs gcc and make on the host to build the generated C")
needs_arm = pytest.mark.skipif(
    not HAVE_ARM,
    reason="needs the Arm toolchain: apt-get install -y gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm",
)

ALLOWED_SYSTEM_HEADERS = {"stdint.h", "stddef.h", "string.h", "stdio.h", "stdlib.h", "math.h", "arm_acle.h"}


def _fe():
    from export.firmware._compat import frontend_numpy

    return frontend_numpy()


def _frontend_doc(params: dict, scale: float, zp: int, name: str = "test") -> dict:
    return {
        "format": "sea-frontend",
        "format_version": 1,
        "model_name": name,
        "model_input": "logmel",
        "input_shape": [1, 1, params["n_mels"], params["n_frames"]],
        "frontend": params,
        "input_quantization": {"dtype": "int8", "scale": scale, "zero_point": zp},
    }


def _reduce_model(path: Path, n_mels: int, n_frames: int, scale: float, zp: int) -> Path:
    """A one-op int8 model on the log-mel input (max over frames): enough to run the C front-end."""
    from export.firmware.tflite_builder import build_single_op_model

    q = dict(scale=np.float32(scale), zero_point=zp)
    return build_single_op_model(
        path,
        "REDUCE_MAX",
        [dict(shape=[1, 1, n_mels, n_frames], **q), dict(shape=[1], dtype="int32", data=np.array([3]))],
        dict(shape=[1, 1, n_mels], **q),
        {"keepDims": False},
    )


def _audio(sr: int, n: int, seed: int) -> np.ndarray:
    """Test signals: tone + noise, a chirp, near-silence, a clipped square wave, digital silence in the middle."""
    r = np.random.default_rng(seed)
    t = np.arange(n) / sr
    sigs = [
        0.3 * np.sin(2 * np.pi * 440 * t) + 0.01 * r.standard_normal(n),
        0.5 * np.sin(2 * np.pi * (50 * t + 0.5 * (sr / 2.2) * t**2 / t[-1])),
        1e-4 * r.standard_normal(n),
        np.clip(2.0 * np.sign(np.sin(2 * np.pi * 180 * t)), -1, 1),
        np.where((t > t[-1] * 0.3) & (t < t[-1] * 0.6), 0.0, 0.2 * r.standard_normal(n)),
    ]
    return np.clip(np.round(np.stack(sigs) * 32768), -32768, 32767).astype("<i2")


def _make_frontend_firmware(tmp: Path, params: dict, scale: float, zp: int) -> Path:
    from export.firmware import write_firmware

    _reduce_model(tmp / "model_int8.tflite", params["n_mels"], params["n_frames"], scale, zp)
    (tmp / "frontend.json").write_text(json.dumps(_frontend_doc(params, scale, zp)))
    return write_firmware(tmp, out_dir=tmp / "firmware")


def _params(**kw) -> dict:
    fe = _fe()
    p = fe.frontend_params()
    p.update(kw)
    p["n_fft"] = p["win_length"] = p["n_dft"]
    p["n_frames"], p["pad_left"], p["pad_right"] = fe.same_padding(p["window_length"], p["n_dft"], p["hop_length"])
    p["output_shape"] = [1, p["n_mels"], p["n_frames"]]
    return p


FRONTENDS = {
    # sea's student front-end (n_dft 1024: radix-8 stages only)
    "student": {},
    # other radix mixes of the FFT (8 + 2, 8 + 8 + 4, 8 + 8 + 8 + 2) and shapes
    "ndft256_hop80": dict(n_dft=256, hop_length=80, n_mels=40, window_length=4000),
    "ndft512_htk_off": dict(n_dft=512, hop_length=128, n_mels=48, htk=False, norm=None, fmin=50.0, fmax=3800.0),
    "ndft2048_power2": dict(n_dft=2048, hop_length=400, n_mels=64, power_melgram=2.0, top_db=60.0),
    # a 3-s window (BirdNET-length teachers): 150 frames
    "window_3s": dict(window_length=24000, window_size=3.0),
}


@needs_export
@needs_gcc
@pytest.mark.parametrize("variant", sorted(FRONTENDS))
def test_c_frontend_matches_numpy(variant, tmp_path):
    """The C front-end's int8 features equal sea's numpy front-end quantised (a float32 step off at most)."""
    p = _params(**FRONTENDS[variant])
    scale, zp = (p["top_db"] + 1.0) / 255.0, 127  # [-top_db, 0] dB onto the int8 range, like real calibration
    fw = _make_frontend_firmware(tmp_path, p, scale, zp)
    subprocess.run(["make", "-s", "-C", str(fw), "host"], check=True, capture_output=True)
    pcm = _audio(p["sr"], p["window_length"], seed=len(variant))
    # the last window is shorter than a full one: sea_embed zero-pads it
    (tmp_path / "x.pcm").write_bytes(pcm.tobytes()[: -2 * (p["window_length"] // 3)])
    subprocess.run(
        [str(fw / "build/host/sea_host"), "-r", "-x", str(tmp_path / "f.bin"), str(tmp_path / "x.pcm"), "/dev/null"],
        check=True,
        capture_output=True,
    )
    got = np.fromfile(tmp_path / "f.bin", np.int8).reshape(len(pcm), -1)
    y = pcm.astype(np.float32) / 32768
    y[-1, -(p["window_length"] // 3) :] = 0
    ref = np.clip(np.round(_fe().logmel_numpy(y, p) / np.float32(scale)) + zp, -128, 127).reshape(len(pcm), -1)
    steps = got.astype(int) - ref.astype(int)
    assert np.abs(steps).max() <= 1, f"{variant}: the C front-end moved an input by {np.abs(steps).max()} steps"
    assert (steps != 0).mean() < 2e-3, f"{variant}: {(steps != 0).sum()} of {steps.size} inputs moved by a step"
    if HAVE_ARM and variant == "student":
        # host and Cortex-M4 compute the same bits (own log, explicit fmaf, no FMA contraction)
        (tmp_path / "w.pcm").write_bytes(pcm[:2].tobytes())
        from export.firmware import toolchain as tc

        elf = tc.build(fw, "cortex-m4", dsp=True)
        tc.run_qemu(elf, tmp_path / "w.pcm", tmp_path / "e.bin", tmp_path / "f4.bin", p["window_length"])
        subprocess.run(
            [str(fw / "build/host/sea_host"), "-x", str(tmp_path / "fh.bin"), str(tmp_path / "w.pcm"), "/dev/null"],
            check=True,
            capture_output=True,
        )
        assert (tmp_path / "f4.bin").read_bytes() == (tmp_path / "fh.bin").read_bytes()


# ----------------------------------------------------------------------------------------------------------------
# frontend.json validation
# ----------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def valid_export(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("fejson")
    p = _params()
    _reduce_model(d / "model_int8.tflite", p["n_mels"], p["n_frames"], 0.3, 127)
    (d / "frontend.json").write_text(json.dumps(_frontend_doc(p, 0.3, 127)))
    return d


def _corrupt(doc: dict, case: str):
    fe = doc["frontend"]
    if case == "missing_key":
        del fe["hop_length"]
    elif case == "nan":
        fe["amin"] = float("nan")
    elif case == "wrong_type":
        fe["n_mels"] = "64"
    elif case == "bool_as_int":
        fe["sr"] = True
    elif case == "n_mels_mismatch":
        fe["n_mels"] = 40
    elif case == "n_frames_mismatch":
        fe["hop_length"] = 200
    elif case == "not_power_of_two":
        fe["n_dft"] = 1000
    elif case == "fmax_above_nyquist":
        fe["fmax"] = 6000.0
    elif case == "bad_norm":
        fe["norm"] = "l2"
    elif case == "scale_mismatch":
        doc["input_quantization"]["scale"] = 0.25
    elif case == "zero_point_mismatch":
        doc["input_quantization"]["zero_point"] = 0
    elif case == "audio_input":
        doc["model_input"] = "audio"
    return doc


CORRUPTIONS = {
    "missing_key": "'frontend.hop_length' is missing",
    "nan": "'frontend.amin'",
    "wrong_type": "'frontend.n_mels'",
    "bool_as_int": "'frontend.sr'",
    "n_mels_mismatch": "'frontend.n_mels'",
    "n_frames_mismatch": "'frontend.n_frames'",
    "not_power_of_two": "'frontend.n_dft'",
    "fmax_above_nyquist": "'frontend.fmax'",
    "bad_norm": "'frontend.norm'",
    "scale_mismatch": "'input_quantization'",
    "zero_point_mismatch": "'input_quantization'",
    "audio_input": "'model_input'",
    "not_json": "not valid JSON",
    "no_file": "frontend.json not found",
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_corrupted_frontend_json_is_a_clear_error(case, valid_export, tmp_path):
    """A corrupted or mismatched frontend.json stops generation with one line naming the file, key, rule and fix."""
    from export.firmware import write_firmware
    from sea.errors import ExportError

    shutil.copyfile(valid_export / "model_int8.tflite", tmp_path / "model_int8.tflite")
    fe_path = tmp_path / "frontend.json"
    if case == "not_json":
        fe_path.write_text('{"frontend": {"sr": 8000,')
    elif case != "no_file":
        doc = json.loads((valid_export / "frontend.json").read_text())
        fe_path.write_text(json.dumps(_corrupt(doc, case)))
    with pytest.raises(ExportError) as err:
        write_firmware(tmp_path, out_dir=tmp_path / "fw")
    msg = str(err.value)
    assert "\n" not in msg
    assert str(fe_path) in msg and CORRUPTIONS[case] in msg, msg
    if case not in ("no_file", "audio_input"):
        assert "sea export" in msg or "must be" in msg, msg
    assert not (tmp_path / "fw").exists()


def test_valid_frontend_json_generates(valid_export, tmp_path):
    from export.firmware import write_firmware

    fw = write_firmware(valid_export, out_dir=tmp_path / "fw")
    meta = json.loads((fw / "firmware.json").read_text())
    assert meta["window_samples"] == 8000 and meta["memory"]["arena_bytes"] > 0


# ----------------------------------------------------------------------------------------------------------------
# sea_mcu_s end to end
# ----------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mcu_s_export(tmp_path_factory) -> Path:
    """sea_mcu_s with random weights and realistic BatchNorm statistics, int8 TFLite calibrated on log-mels of
    tonal/noisy audio, and the frontend.json sea export writes next to it."""
    import torch

    from export.tflite import export_tflite_int8, io_quantization
    from sea import students

    d = tmp_path_factory.mktemp("mcu_s")
    r = np.random.default_rng(0)
    t = np.arange(8000) / 8000.0
    audio = []
    for i in range(16):
        f = 100.0 * 2 ** (r.random() * 5)
        y = 0.3 * np.sin(2 * np.pi * f * t) + (0.002 + 0.05 * r.random()) * r.standard_normal(8000)
        if i % 4 == 3:
            y[: int(r.integers(1000, 6000))] = 0  # onsets: the log-mel floor is reached, as in real clips
        audio.append(y * (0.1 + r.random()))
    lm = _fe().logmel_numpy(np.asarray(audio))[:, None].astype(np.float32)
    torch.manual_seed(0)
    model = random_bn(students.create("sea_mcu_s").eval())
    export_tflite_int8(model, torch.from_numpy(lm[:2]), d / "model_int8.tflite", lm)
    q = io_quantization(d / "model_int8.tflite")["input"]
    (d / "frontend.json").write_text(
        json.dumps(_frontend_doc(_fe().frontend_params(), q["scale"], q["zero_point"], "sea_mcu_s"))
    )
    return d


def _wav(path: Path, seconds: float, sr: int, seed: int) -> Path:
    import soundfile as sf

    r = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    y = 0.25 * np.sin(2 * np.pi * 330 * t) * np.exp(-t) + 0.02 * r.standard_normal(len(t))
    y[len(t) // 2 :] += 0.2 * np.sin(2 * np.pi * 1250 * t[len(t) // 2 :])
    sf.write(str(path), y.astype(np.float32), sr, subtype="PCM_16")
    return path


@needs_export
@needs_gcc
def test_generated_project_hygiene(mcu_s_export, tmp_path):
    """Only the C standard library and arm_acle.h are included; it builds with -Wall -Wextra -Werror -std=c99."""
    from export.firmware import write_firmware

    fw = write_firmware(mcu_s_export, out_dir=tmp_path / "fw")
    local = {p.name for p in fw.iterdir()}
    for src in sorted(fw.glob("*.[ch]")):
        text = src.read_text()
        for inc in re.findall(r'^\s*#\s*include\s*([<"][^>"]+[>"])', text, re.M):
            name = inc[1:-1]
            if inc.startswith('"'):
                assert name in local, f"{src.name} includes {inc}, not in the project"
            else:
                assert name in ALLOWED_SYSTEM_HEADERS, f"{src.name} includes {inc}"
        assert "Copyright" not in text and "Licensed under" not in text, f"{src.name} carries third-party text"
    mk = (fw / "Makefile").read_text()
    assert "-std=c99 -Wall -Wextra -Werror" in mk
    r = subprocess.run(["make", "-s", "-C", str(fw), "host"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    meta = json.loads((fw / "firmware.json").read_text())
    assert meta["macs_per_window"] > 5_000_000 and meta["memory"]["arena_bytes"] >= meta["memory"]["peak_live_bytes"]
    assert [la["kind"] for la in meta["layers"]].count("conv") == 6


@pytest.mark.claim
@needs_export
@needs_gcc
@needs_arm
def test_mcu_s_end_to_end_host_and_cortex_m4(mcu_s_export, tmp_path):
    """sea_mcu_s: bit-exact with ai-edge-litert on the host and the emulated Cortex-M4, within the issue's targets."""
    from export.firmware import check_firmware

    audio = [_wav(tmp_path / "clip_a.wav", 2.4, 16000, 1), _wav(tmp_path / "clip_b.wav", 1.2, 8000, 2)]
    out = tmp_path / "emb"
    rep = check_firmware(mcu_s_export, audio, targets=("host", "cortex-m4"), out_dir=out)
    on_disk = json.loads((mcu_s_export / "firmware" / "check.json").read_text())
    assert on_disk["macs_per_window"] == rep["macs_per_window"] > 5_000_000
    for name in ("host", "cortex-m4"):
        r = rep["targets"][name]
        for key in ("bit_exact", "max_abs_diff_lsb", "flash_bytes", "ram_bytes", "instructions_per_window"):
            assert key in r
        assert r["bit_exact"], f"{name}: network output differs from LiteRT on the same int8 input"
        assert r["max_abs_diff_lsb"] <= 1
        assert r["input_steps"]["max_steps"] <= 1
        assert r["identical_across_targets"]
    m4 = rep["targets"]["cortex-m4"]
    assert m4["flash_bytes"] <= 150 * 1024, m4["flash_bytes"]
    assert m4["ram_bytes"] <= 64 * 1024, m4["ram_bytes"]
    assert m4["instructions_per_mac"] <= 1.5
    assert m4["ms_per_window_at_80mhz"] <= 100.0
    assert m4["plain_c"]["bit_exact"] and m4["plain_c"]["instructions_per_mac"] > m4["instructions_per_mac"]
    assert math.isclose(m4["instructions_per_tick"], 40.0, rel_tol=1e-3)  # 1 ns per instruction, 25 MHz SysTick
    # the Pi runner's --out layout: float32 (T, D) and the timestamps
    a = np.load(out / "clip_a.npy")
    assert a.dtype == np.float32 and a.shape == (3, 64)
    np.testing.assert_allclose(np.load(out / "clip_a_timestamps.npy"), [0.0, 1.0, 2.0])


def test_missing_toolchain_says_what_to_install(monkeypatch):
    """Without the Arm compiler or QEMU the error names the apt-get packages."""
    from export.firmware import FirmwareToolchainError, check_toolchain

    monkeypatch.setenv("SEA_FW_QEMU_SYSTEM_ARM", "/nonexistent/qemu-system-arm")
    monkeypatch.setenv("SEA_FW_ARM_NONE_EABI_GCC", "/nonexistent/arm-none-eabi-gcc")
    with pytest.raises(FirmwareToolchainError) as err:
        check_toolchain(("host", "cortex-m4"))
    msg = str(err.value)
    assert "apt-get install -y gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm" in msg
    assert "cortex-m4" in msg
