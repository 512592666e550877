import numpy as np
import pytest
import soundfile as sf

from sea.audio import info, load, resample, to_mono
from sea.errors import AudioError, ParameterError


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE", "PCM_U8"])
@pytest.mark.parametrize("channels", [1, 2, 5])
def test_decode_formats(tmp_path, rng, subtype, channels):
    sr = 22050
    y = (0.5 * rng.uniform(-1, 1, size=(sr // 4, channels))).astype(np.float32)
    path = tmp_path / "x.wav"
    sf.write(path, y, sr, subtype=subtype)
    out, out_sr = load(path, mono=False)
    assert out_sr == sr and out.shape == y.shape and out.dtype == np.float32
    tol = {"PCM_U8": 1e-2, "PCM_16": 1e-4}.get(subtype, 1e-6)
    np.testing.assert_allclose(out, y, atol=tol)
    mono, _ = load(path)
    np.testing.assert_allclose(mono, y.mean(axis=1), atol=tol)


def test_extensible_24bit_stereo(tmp_path, rng):
    y = (0.3 * rng.standard_normal((4410, 2))).clip(-1, 1)
    p = tmp_path / "ext.wav"
    sf.write(p, y, 44100, format="WAVEX", subtype="PCM_24")
    raw = p.read_bytes()
    assert raw[20:22] == b"\xfe\xff"  # WAVE_FORMAT_EXTENSIBLE tag
    out, sr = load(p, sr=48000)
    assert sr == 48000 and out.ndim == 1 and out.shape[0] == int(4410 * 48000 / 44100)


@pytest.mark.parametrize("orig,target", [(8000, 48000), (44100, 48000), (96000, 8000), (48000, 8000)])
def test_resample_length_and_content(orig, target):
    t = np.arange(orig) / orig
    y = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    out = resample(y, orig, target)
    assert out.shape == (int(orig * target / orig),)
    tt = np.arange(out.shape[0]) / target
    ref = np.sin(2 * np.pi * 440 * tt)
    mid = slice(out.shape[0] // 10, -out.shape[0] // 10)
    assert np.max(np.abs(out[mid] - ref[mid])) < 1e-2


def test_bad_inputs(tmp_path):
    with pytest.raises(AudioError, match="does not exist"):
        load(tmp_path / "missing.wav")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"this is not audio at all" * 10)
    with pytest.raises(AudioError, match="cannot decode .*junk.wav"):
        load(junk)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros((0, 1)), 16000)
    with pytest.raises(AudioError, match=r"is empty \(0 samples\)"):
        load(empty)
    nan = tmp_path / "nan.wav"
    y = np.zeros(100, np.float32)
    y[3] = np.nan
    sf.write(nan, y, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="1 NaN/Inf samples"):
        load(nan)
    low = tmp_path / "low.wav"
    sf.write(low, np.zeros(100, np.float32) + 0.1, 4000)
    with pytest.raises(AudioError, match="sample rate 4000 Hz; supported rates are 8000-96000"):
        load(low)
    with pytest.raises(ParameterError, match="res_type='fast'"):
        resample(np.zeros(10), 8000, 16000, res_type="fast")
    with pytest.raises(ParameterError):
        to_mono(np.zeros((2, 2, 2)))
    assert info(low)["sr"] == 4000
