"""Student front-end: kapre-0.1.4 maths, numpy twin vs torch, filterbank vs librosa."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sea.students.frontend import (
    FRONTEND_PARAMS,
    StudentFrontend,
    dft_kernels_numpy,
    frontend_mel_basis,
    frontend_params,
    hann_periodic,
    logmel_numpy,
    mel_filterbank_numpy,
    same_padding,
)
from tests.conftest import chirp, tone

TOL_DB = 1e-4
SR = 8000


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _reference_kapre(y: np.ndarray, sr: int = SR, n_dft: int = 1024, hop: int = 160) -> np.ndarray:
    """Slow, independent transcription of kapre 0.1.4 Melspectrogram (Keras 'same' conv DFT) using librosa."""
    import librosa

    n_frames = int(np.ceil(len(y) / hop))
    total = max((n_frames - 1) * hop + n_dft - len(y), 0)
    yp = np.concatenate([np.zeros(total // 2), np.asarray(y, np.float64), np.zeros(total - total // 2)])
    w = librosa.filters.get_window("hann", n_dft, fftbins=True)
    n = np.arange(n_dft)
    k = np.arange(n_dft // 2 + 1)[:, None]
    re_k = np.cos(2 * np.pi * k * n / n_dft) * w
    im_k = -np.sin(2 * np.pi * k * n / n_dft) * w
    frames = np.stack([yp[t * hop : t * hop + n_dft] for t in range(n_frames)], axis=1)  # [n_dft, T]
    power = (re_k @ frames) ** 2 + (im_k @ frames) ** 2
    fb = librosa.filters.mel(
        sr=sr, n_fft=n_dft, n_mels=64, fmin=0, fmax=sr / 2, htk=True, norm="slaney", dtype=np.float64
    )
    mag = np.sqrt(fb @ power)  # power_melgram = 1.0
    db = 10 * np.log10(np.maximum(mag, 1e-10))
    return np.maximum(db - db.max(), -80.0)


def _signals(rng) -> dict[str, np.ndarray]:
    t = np.arange(SR) / SR
    return {
        "noise": 0.1 * rng.standard_normal(SR),
        "chirp": chirp(50, 3900, 1.0, SR).astype(np.float64),
        "tone": tone(440, 1.0, SR).astype(np.float64),
        "tone_plus_noise": tone(1000, 1.0, SR).astype(np.float64) + 1e-3 * rng.standard_normal(SR),
        "silence": np.zeros(SR),
        "impulse": np.eye(1, SR, 4000)[0],
        "loud_clipped": np.clip(3 * np.sin(2 * np.pi * 200 * t), -1, 1),
    }


def test_params_and_same_padding():
    assert same_padding(8000, 1024, 160) == (50, 432, 432)
    p = FRONTEND_PARAMS
    assert (p["n_frames"], p["pad_left"], p["pad_right"]) == (50, 432, 432)
    assert p["output_shape"] == [1, 64, 50]
    # 'same' padding gives exactly ceil(n / hop) frames for a valid conv over the padded signal
    for n, k, h in [(8000, 1024, 160), (8001, 1024, 160), (48000, 2048, 242), (100, 16, 7)]:
        n_frames, left, right = same_padding(n, k, h)
        assert n_frames == -(-n // h)
        assert (n + left + right - k) // h + 1 == n_frames
        assert right - left in (0, 1)
    import json

    assert json.loads(json.dumps(FRONTEND_PARAMS)) == FRONTEND_PARAMS  # export writes it to frontend.json
    q = frontend_params()
    q["output_shape"].append(0)
    assert FRONTEND_PARAMS["output_shape"] == [1, 64, 50]


def test_hann_and_dft_kernels():
    import scipy.signal

    np.testing.assert_allclose(hann_periodic(1024), scipy.signal.get_window("hann", 1024, fftbins=True), atol=1e-15)
    re, im = dft_kernels_numpy(1024)
    assert re.shape == im.shape == (513, 1024)
    x = np.random.default_rng(0).standard_normal(1024)
    spec = np.fft.rfft(x * hann_periodic(1024))
    np.testing.assert_allclose(re @ x, spec.real, atol=1e-10)
    np.testing.assert_allclose(im @ x, spec.imag, atol=1e-10)


@pytest.mark.parametrize(
    "sr,n_fft,n_mels,fmin,fmax,htk,norm",
    [
        (8000, 1024, 64, 0.0, 4000.0, True, "slaney"),  # the student front-end
        (8000, 1024, 64, 0.0, 4000.0, True, None),
        (48000, 2048, 256, 0.0, 24000.0, False, "slaney"),
        (16000, 512, 40, 50.0, 7000.0, False, None),
    ],
)
def test_mel_filterbank_equals_librosa(sr, n_fft, n_mels, fmin, fmax, htk, norm):
    import librosa

    ours = mel_filterbank_numpy(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm)
    ref = librosa.filters.mel(
        sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm, dtype=np.float64
    )
    assert ours.shape == (n_mels, n_fft // 2 + 1)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12 * np.abs(ref).max())


def test_numpy_twin_matches_independent_kapre_reference(rng):
    for name, y in _signals(rng).items():
        ours = logmel_numpy(y)
        ref = _reference_kapre(y)
        assert ours.shape == (64, 50) and ours.dtype == np.float32
        err = np.abs(ours - ref).max()
        assert err < TOL_DB, f"{name}: numpy twin differs from the kapre reference by {err} dB"


def test_silence_is_all_zero_db():
    # 10 log10(amin) everywhere, minus its own max -> 0 dB everywhere (kapre / openl3 semantics), not -80
    assert np.array_equal(logmel_numpy(np.zeros(SR)), np.zeros((64, 50), np.float32))
    out = StudentFrontend()(torch.zeros(2, SR))
    assert torch.equal(out, torch.zeros(2, 1, 64, 50))


def test_output_layout_and_range(rng):
    fe = StudentFrontend()
    y = np.stack([tone(150, 1.0, SR), tone(3000, 1.0, SR)]).astype(np.float64)
    out = fe(torch.from_numpy(y))
    assert out.shape == (2, 1, 64, 50) and out.dtype == torch.float32
    assert float(out.max()) == 0.0 and float(out.min()) >= -80.0
    per_window_max = out.amax(dim=(1, 2, 3))
    assert torch.equal(per_window_max, torch.zeros(2))  # max-normalised per window, not per batch
    # mel bin 0 is the lowest band: the 150 Hz tone peaks far below the 3 kHz tone
    low, high = (int(out[i, 0, :, 25].argmax()) for i in range(2))
    assert low < 10 < 40 < high
    # a batch gives the same result as one window at a time
    single = fe(torch.from_numpy(y[1:]))
    assert torch.equal(single[0], out[1])
    batch_np = logmel_numpy(y)
    assert batch_np.shape == (2, 64, 50)
    np.testing.assert_array_equal(batch_np[1], logmel_numpy(y[1]))


@pytest.mark.parametrize("mode", ["conv", "stft"])
def test_numpy_twin_matches_torch_float64(rng, mode):
    fe = StudentFrontend(mode=mode)
    sigs = _signals(rng)
    y = np.stack(list(sigs.values()))
    ref = logmel_numpy(y)
    out = fe(torch.from_numpy(y)).numpy()[:, 0]
    for i, name in enumerate(sigs):
        err = np.abs(out[i] - ref[i]).max()
        assert err <= TOL_DB, f"{mode}/{name}: torch vs numpy {err} dB"
    # float32 input is accepted too
    out32 = fe(torch.from_numpy(y.astype(np.float32))).numpy()[:, 0]
    np.testing.assert_allclose(out32, logmel_numpy(y.astype(np.float32)), atol=TOL_DB, rtol=0)


def test_float32_frontend_on_broadband_audio(rng):
    # float32 (the exported model's precision) holds 1e-4 dB when no band sits near the -80 dB floor
    y = (0.1 * rng.standard_normal((8, SR))).astype(np.float32)
    ref = logmel_numpy(y)
    for mode in ("conv", "stft"):
        out = StudentFrontend(mode=mode, dtype=torch.float32)(torch.from_numpy(y)).numpy()[:, 0]
        assert np.abs(out - ref).max() <= TOL_DB, mode
    fe = StudentFrontend().float()
    assert fe.compute_dtype == torch.float32


def test_24bit_wav_and_real_layout_audio(tmp_path, tiny_run, rng):
    import soundfile as sf

    from sea.audio import load
    from sea.cache import AudioCache

    # a 24-bit PCM file written and read back through sea.audio
    y = 0.5 * chirp(100, 3500, 3.0, SR) + 0.01 * rng.standard_normal(3 * SR).astype(np.float32)
    path = tmp_path / "x24.wav"
    sf.write(path, y, SR, subtype="PCM_24")
    y2, sr = load(path, sr=SR)
    assert sr == SR and y2.dtype == np.float32
    windows = [y2[i * 4000 : i * 4000 + SR] for i in range(4)]
    # windows cut from a run's 8 kHz cache, as distillation does (the last one zero-padded at the end)
    cache = AudioCache(tiny_run, SR)
    for cid in cache.clip_ids[:3]:
        n = cache.n_samples(cid)
        windows += [cache.window(cid, 0, SR), cache.window(cid, n - SR // 2, SR)]
    batch = np.stack(windows)
    ref = logmel_numpy(batch)
    for mode in ("conv", "stft"):
        out = StudentFrontend(mode=mode)(torch.from_numpy(batch)).numpy()[:, 0]
        assert np.abs(out - ref).max() <= TOL_DB, mode
    assert np.abs(ref - np.stack([_reference_kapre(w) for w in windows])).max() <= TOL_DB


def test_numpy_twin_is_self_contained(rng, tmp_path):
    # the Pi bundle ships frontend_numpy.py unchanged next to its runner: it must import nothing but numpy
    import ast
    import importlib.util
    import shutil

    import sea.students.frontend_numpy as fe

    tree = ast.parse(Path(fe.__file__).read_text(encoding="utf-8"))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= {"numpy", "__future__"}, imported
    assert not any(isinstance(n, ast.ImportFrom) and n.level for n in ast.walk(tree)), "relative import"
    # loaded from a copy outside the package, it computes what sea computes
    copy = tmp_path / "frontend_numpy.py"
    shutil.copyfile(fe.__file__, copy)
    spec = importlib.util.spec_from_file_location("standalone_frontend", copy)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    y = 0.1 * rng.standard_normal((2, SR))
    params = json_roundtrip(FRONTEND_PARAMS)
    np.testing.assert_array_equal(mod.logmel_numpy(y, params), logmel_numpy(y))


def json_roundtrip(d):
    import json

    return json.loads(json.dumps(d))


def test_bad_input_raises():
    with pytest.raises(ValueError, match="8000"):
        logmel_numpy(np.zeros(7999))
    from sea.errors import ParameterError

    with pytest.raises(ParameterError, match="mode"):
        StudentFrontend(mode="fft")


# --- windows of any length (issue 15 §2) -----------------------------------------------------------------------------


@pytest.mark.parametrize("window_size,n_frames", [(1.0, 50), (3.0, 150), (0.96, 48), (2.5, 125), (10.0, 500)])
def test_frontend_params_follow_the_window(window_size, n_frames):
    p = frontend_params(window_size)
    assert p["window_size"] == window_size and p["window_length"] == round(window_size * SR)
    assert p["n_frames"] == n_frames == -(-p["window_length"] // 160)
    assert p["output_shape"] == [1, 64, n_frames]
    assert (p["n_frames"], p["pad_left"], p["pad_right"]) == same_padding(p["window_length"], 1024, 160)
    assert json_roundtrip(p) == p
    others = {k: v for k, v in p.items() if k not in ("window_size", "window_length", "n_frames", "pad_left",
                                                      "pad_right", "output_shape")}  # fmt: skip
    assert others == {k: v for k, v in FRONTEND_PARAMS.items() if k in others}  # the maths does not change
    assert FRONTEND_PARAMS["window_size"] == 1.0 and frontend_params() == FRONTEND_PARAMS


def test_three_second_logmel_is_kapre_on_the_whole_window(rng):
    y = 0.5 * chirp(60, 3800, 3.0, SR).astype(np.float64) + 0.01 * rng.standard_normal(3 * SR)
    p = frontend_params(3.0)
    ours = logmel_numpy(y, p)
    assert ours.shape == (64, 150)
    ref = _reference_kapre(y)  # the same Keras 'same' conv DFT over 24000 samples, dB normalised over the window
    assert np.abs(ours - ref).max() <= TOL_DB
    for mode in ("conv", "stft"):
        out = StudentFrontend(mode=mode, params=p)(torch.from_numpy(y[None])).numpy()[0, 0]
        assert np.abs(out - ours).max() <= TOL_DB, mode
    # a 1-s front-end refuses 3-s windows (and vice versa) instead of computing a different number of frames
    from sea.errors import ParameterError

    with pytest.raises(ParameterError, match=r"\[B, 8000\]"):
        StudentFrontend()(torch.from_numpy(y[None]))
    with pytest.raises(ValueError, match="24000"):
        logmel_numpy(y[:SR], p)


def test_old_params_without_window_size_mean_one_second():
    from sea.students.frontend import params_window_size

    old = {k: v for k, v in FRONTEND_PARAMS.items() if k != "window_size"}  # frontend.json / checkpoints before
    assert params_window_size(old) == 1.0
    assert params_window_size(frontend_params(3.0)) == 3.0
    out = StudentFrontend(params=old)(torch.zeros(1, SR))
    assert out.shape == (1, 1, 64, 50)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), 0.1, 1.00001, "x", None])
def test_bad_window_size(bad):
    from sea.errors import ParameterError

    with pytest.raises(ParameterError, match="window_size"):
        frontend_params(bad)


# --- students at a wider band (sr above 8 kHz) ------------------------------------------------------------------------


@pytest.mark.parametrize("sr,n_dft,hop", [(16000, 2048, 320), (24000, 4096, 480), (44100, 8192, 882)])
def test_wider_band_frontend_is_kapre_maths_at_that_rate(rng, sr, n_dft, hop):
    """Same maths, 20-ms hop, a power-of-two DFT of >= 128 ms, 64 mel bands to sr/2: the network's input is unchanged."""
    p = frontend_params(3.0, sr)
    assert (p["sr"], p["n_dft"], p["hop_length"], p["fmax"]) == (sr, n_dft, hop, sr / 2)
    assert p["window_length"] == 3 * sr and p["n_frames"] == 150 and p["output_shape"] == [1, 64, 150]
    assert (p["n_frames"], p["pad_left"], p["pad_right"]) == same_padding(3 * sr, n_dft, hop)
    y = 0.5 * chirp(60, 0.45 * sr, 3.0, sr).astype(np.float64) + 0.01 * rng.standard_normal(3 * sr)
    ours = logmel_numpy(y, p)
    assert np.abs(ours - _reference_kapre(y, sr, n_dft, hop)).max() <= TOL_DB
    out = StudentFrontend(mode="stft", params=p)(torch.from_numpy(y[None])).numpy()[0, 0]
    assert np.abs(out - ours).max() <= TOL_DB
    assert frontend_params(1.0, 8000) == FRONTEND_PARAMS  # 8 kHz stays SEA's front-end, bit for bit


def test_a_wider_band_student_hears_above_4_khz():
    """A 6 kHz tone: all an 8 kHz student gets is silence; a 16 kHz one puts it in the mel band holding 6 kHz."""
    p8, p16 = frontend_params(1.0), frontend_params(1.0, 16000)
    y16 = tone(6000, 1.0, 16000).astype(np.float64)
    mel16 = logmel_numpy(y16, p16)
    centres = np.argmax(frontend_mel_basis(p16), axis=1) * 16000 / p16["n_dft"]  # peak frequency of each band
    assert np.argmax(mel16.mean(axis=1)) == np.argmin(np.abs(centres - 6000))
    from sea.audio import resample

    y8 = resample(y16.astype(np.float32), 16000, 8000)  # what an 8 kHz student is given: nothing above 4 kHz
    assert np.abs(y8[800:-800]).max() < 0.01 * np.abs(y16).max()  # (edges: the tone's onset is broadband)
    assert logmel_numpy(y8, p8).shape == mel16.shape == (64, 50)


@pytest.mark.parametrize("bad", [7999, 8001, 96000, 0, "16k", None])
def test_bad_student_rate(bad):
    from sea.errors import ParameterError

    with pytest.raises(ParameterError, match="sr="):
        frontend_params(1.0, bad)
