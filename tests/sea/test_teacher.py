"""OpenL3 teacher: network facts, front-ends vs independent numpy, framing, edge cases, CLI."""

from __future__ import annotations

import multiprocessing
import os
import threading
import warnings

import numpy as np
import pytest
import torch

import sea.teacher as T
import sea.teacher.model as model_mod
from sea import framing
from sea.errors import AudioError, ParameterError, SeaWarning, UntrainedTeacherWarning
from sea.teacher.frontends import Frontend
from sea.teacher.model import AUDIO_POOLING_SIZES, OpenL3Audio, conv_macs
from tests.conftest import chirp

SR = 48000


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _untrained(input_repr="mel128", size=512, frontend="kapre", content_type="music"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedTeacherWarning)
        return T.load_teacher(input_repr, content_type, size, frontend=frontend, untrained=True)[0]


class Probe(torch.nn.Module):
    """Stand-in teacher exposing the windows it receives: samples every 1000, plus sum."""

    frontend_name = "kapre"

    def __init__(self) -> None:
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return torch.cat([x[:, ::1000], x.sum(1, keepdim=True)], dim=1).float()


# -- network facts --------------------------------------------------------------------------------


def test_parameter_count_is_openl3s():
    m = OpenL3Audio("mel256", 6144)
    total, trainable = m.count_parameters()
    assert total == 4_689_860
    assert trainable == 4_687_042
    assert sum(p.numel() for p in m.parameters()) == 4_687_042
    # BN eps is Keras' 1e-3 everywhere; 8 BNs (input + 7) and 8 convs
    bns = [x for x in m.modules() if isinstance(x, torch.nn.BatchNorm2d)]
    assert len(bns) == 8 and all(b.eps == 1e-3 for b in bns)
    assert len([x for x in m.modules() if isinstance(x, torch.nn.Conv2d)]) == 8


def test_conv_macs_match_reference():
    assert conv_macs("mel256") == pytest.approx(10.20e9, rel=1e-3)
    assert conv_macs("mel128") == pytest.approx(5.10e9, rel=1e-3)
    assert conv_macs("linear") == pytest.approx(10.16e9, rel=1e-3)


def test_model_cost_counts_the_network_not_the_winograd_gemms():
    from sea.students.cost import model_cost

    m = _untrained("mel128", 512)
    c = model_cost(m, (48000,))  # traced through the front-end and the CPU eval path
    assert c["params"] == T.N_TRAINABLE and m.cpu_kernels
    assert conv_macs("mel128") <= c["macs"] <= 1.02 * conv_macs("mel128")  # + the mel filterbank matmul


@pytest.mark.parametrize("input_repr", ["linear", "mel128", "mel256"])
@pytest.mark.parametrize("size", [512, 6144])
def test_output_shapes(input_repr, size):
    m = _untrained(input_repr, size)
    x = torch.from_numpy(chirp(300, 8000, 1.0, SR))[None]
    spec = m.spectrogram(x)
    F_, T_ = {"linear": (257, 197), "mel128": (128, 199), "mel256": (256, 199)}[input_repr]
    assert spec.shape == (1, 1, F_, T_)
    with torch.inference_mode():
        y = m(x)
    assert y.shape == (1, size) and y.dtype == torch.float32
    assert torch.isfinite(y).all()


def test_content_type_only_changes_weights():
    a = _untrained("mel128", 512, content_type="env")
    b = _untrained("mel128", 512, content_type="music")
    assert {k: v.shape for k, v in a.state_dict().items()} == {k: v.shape for k, v in b.state_dict().items()}


def _reference_cnn(m: OpenL3Audio, spec: torch.Tensor) -> torch.Tensor:
    """Unfolded conv -> BN -> ReLU reference, returning the conv8 map (NCHW)."""
    y = m.input_bn(spec)
    for i in range(1, 9):
        y = getattr(m, f"conv{i}")(y)
        if i < 8:
            y = torch.relu(getattr(m, f"bn{i}")(y))
        if i in (2, 4, 6):
            y = torch.nn.functional.max_pool2d(y, 2)
    return y


@pytest.mark.parametrize("input_repr,size", [("mel128", 6144), ("mel128", 512)])
def test_folded_forward_and_channels_last_flatten(input_repr, size):
    m = _untrained(input_repr, size)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # non-trivial BN statistics so folding is really exercised
        for i in range(1, 8):
            bn = getattr(m, f"bn{i}")
            bn.weight.uniform_(0.5, 1.5, generator=g)
            bn.bias.normal_(0, 0.1, generator=g)
            bn.running_mean.normal_(0, 0.1, generator=g)
            bn.running_var.uniform_(0.5, 2.0, generator=g)
    x = torch.from_numpy(chirp(500, 12000, 1.0, SR))[None]
    with torch.inference_mode():
        out = m(x)
        fmap = _reference_cnn(m, m.spectrogram(x)).numpy()[0]  # (512, H, W)
    ph, pw = AUDIO_POOLING_SIZES[input_repr][size]
    c, h, w = fmap.shape
    pooled = fmap.reshape(c, h // ph, ph, w // pw, pw).max(axis=(2, 4))  # (512, H', W')
    keras_flat = pooled.transpose(1, 2, 0).reshape(-1)  # Keras Flatten of (H', W', C)
    np.testing.assert_allclose(out.numpy()[0], keras_flat, rtol=1e-4, atol=1e-4 * np.abs(keras_flat).max())
    # no ReLU after the last conv: embeddings can be negative
    assert (out < 0).any()


# -- front-ends vs independent numpy ---------------------------------------------------------------


def _np_frames(x: np.ndarray, n_fft: int, left: int, right: int, n_frames: int) -> np.ndarray:
    xp = np.concatenate([np.zeros(left), x, np.zeros(right)])
    return np.stack([xp[242 * j : 242 * j + n_fft] for j in range(n_frames)])


def _np_db(s: np.ndarray) -> np.ndarray:
    d = 10 * np.log10(np.maximum(s, 1e-10))
    return np.maximum(d - d.max(), -80)


def _np_frontend(x: np.ndarray, input_repr: str, frontend: str) -> np.ndarray:
    import librosa

    x = x.astype(np.float64)
    n_fft = 512 if input_repr == "linear" else 2048
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    if input_repr == "linear":
        frames = _np_frames(x, 512, 0, 0, 197)
        return _np_db(np.abs(np.fft.rfft(frames * hann, axis=1)).T)
    n_mels = int(input_repr[3:])
    pad = {"kapre": (0, 2047), "librosa": (1024, 1024), "legacy": (982, 982)}[frontend]
    spec = np.fft.rfft(_np_frames(x, 2048, *pad, 199) * hann, axis=1).T  # (1025, 199)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # legacy htk mel256: 2 empty bands, by design
        mel = librosa.filters.mel(
            sr=SR, n_fft=2048, n_mels=n_mels, htk=frontend == "legacy", norm="slaney", dtype=np.float64
        )
    if frontend == "legacy":
        return _np_db(np.sqrt(mel @ np.abs(spec) ** 2))
    return _np_db(mel @ np.abs(spec))


@pytest.mark.parametrize(
    "input_repr,frontend",
    [("mel256", "kapre"), ("mel128", "kapre"), ("linear", "kapre"), ("mel128", "librosa"), ("mel256", "legacy")],
)
def test_frontend_matches_independent_numpy(input_repr, frontend, rng):
    """float32 torch.stft vs float64 numpy rfft: within 0.01 dB wherever the bin is above -60 dB."""
    x = chirp(100, 20000, 1.0, SR) + 0.01 * rng.standard_normal(SR).astype(np.float32)
    got = Frontend(input_repr, frontend)(torch.from_numpy(x)[None])[0, 0].numpy()
    ref = _np_frontend(x, input_repr, frontend)
    assert got.shape == ref.shape
    assert got.max() == 0.0 and got.min() >= -80.0
    live = ref > -60
    assert live.mean() > 0.3
    assert np.abs(got - ref)[live].max() < 1e-2
    assert np.abs(got - ref).mean() < 5e-2


@pytest.mark.parametrize("input_repr", ["linear", "mel256"])
def test_kapre_fft_paths_agree(input_repr, rng, monkeypatch):
    """CPU inference uses TF's rfft bits (scipy); autograd and ``cpu_kernels=False`` use torch.stft."""
    import sea.teacher.frontends as fe_mod

    calls = []
    real = fe_mod._tf_rfft
    monkeypatch.setattr(fe_mod, "_tf_rfft", lambda f: calls.append(f.shape) or real(f))
    x = torch.from_numpy((chirp(100, 20000, 1.0, SR) + 0.01 * rng.standard_normal(SR)).astype(np.float32))[None]
    fe = Frontend(input_repr, "kapre")
    with torch.inference_mode():
        fast = fe(x)
    assert len(calls) == 1
    fe.cpu_kernels = False
    with torch.inference_mode():
        plain = fe(x)
    fe.cpu_kernels = True
    graded = fe(x.clone().requires_grad_(True))
    assert len(calls) == 1 and graded.requires_grad
    live = plain > -20  # 10 log10 of a magnitude: -20 dB is 1% of the peak, far above float32 FFT noise
    assert live.float().mean() > 0.02  # a chirp: a ridge of bins
    assert (fast - plain).abs()[live].max() < 1e-3
    with torch.inference_mode():
        mag_fast = fe.magnitude(x[0:1])
        fe.cpu_kernels = False
        mag_plain = fe.magnitude(x[0:1])
        fe.cpu_kernels = True
    assert (mag_fast - mag_plain).abs().max() < 1e-6 * mag_plain.max()
    assert (graded - plain).abs().max() == 0


def test_librosa_frontend_matches_openl3_librosa_code(rng):
    """openl3's _librosa_mel_frontend formula, run with librosa itself (float64): agreement ~1e-6 dB."""
    import librosa

    x = (chirp(200, 9000, 1.0, SR) + 0.05 * rng.standard_normal(SR)).astype(np.float64)
    s = librosa.feature.melspectrogram(y=x, sr=SR, n_mels=128, n_fft=2048, hop_length=242, center=True, power=1.0)
    s = librosa.power_to_db(S=s, ref=1.0, amin=1e-10, top_db=80.0)
    s -= s.max()
    got = Frontend("mel128", "librosa")(torch.from_numpy(x)[None])[0, 0].numpy()
    np.testing.assert_allclose(got, s, atol=1e-3)
    lin = np.abs(librosa.stft(y=x, n_fft=512, hop_length=242, center=False))
    lin = librosa.power_to_db(S=lin, ref=1.0, amin=1e-10, top_db=80.0)
    lin -= lin.max()
    got = Frontend("linear", "librosa")(torch.from_numpy(x)[None])[0, 0].numpy()
    np.testing.assert_allclose(got, lin, atol=1e-3)


def test_frontends_differ_as_documented(rng):
    """(A), (B) and (C) are different spectrograms for mel (alignment, mel scale, power vs magnitude)."""
    x = torch.from_numpy(chirp(200, 9000, 1.0, SR))[None]
    a, b, c = (Frontend("mel256", f)(x) for f in ("kapre", "librosa", "legacy"))
    assert (a - b).abs().mean() > 0.5 and (a - c).abs().mean() > 0.5
    # legacy htk mel256 with n_fft 2048 has 2 empty bands, sitting at the -80 floor
    assert int((c[0, 0] == -80).all(dim=1).sum()) == 2


def test_silent_window_spectrogram_is_all_zero():
    for input_repr in ("mel128", "mel256"):
        for frontend in ("kapre", "librosa", "legacy"):
            s = Frontend(input_repr, frontend)(torch.zeros(2, SR))
            assert torch.all(s == 0), (input_repr, frontend)


def test_db_max_is_per_example():
    x = torch.from_numpy(np.stack([chirp(300, 5000, 1.0, SR), 0.001 * chirp(300, 5000, 1.0, SR)]))
    s = Frontend("mel128", "kapre")(x)
    assert s[0].max() == 0 and s[1].max() == 0
    # a 60 dB quieter copy gives the same normalised spectrogram where both are above the floor
    live = (s[0] > -20) & (s[1] > -20)
    assert (s[0] - s[1])[live].abs().max() < 1e-2


# -- framing, timestamps, edge cases -----------------------------------------------------------------


def test_timestamps_openl3_rules_chirp_44k():
    sr = 44100
    y = chirp(200, 8000, 2.0, sr)
    emb, ts = T.get_embedding(y, sr, model=Probe(), verbose=False)
    assert emb.shape[0] == 16
    np.testing.assert_allclose(ts, np.arange(16) * 0.1)
    assert ts.dtype == np.float64 and emb.dtype == np.float32


def test_timestamps_linear_no_center_hop_half():
    sr = 44100
    y = chirp(200, 8000, 2.0, sr)
    emb, ts = T.get_embedding(y, sr, model=Probe(), center=False, hop_size=0.5, verbose=False)
    assert emb.shape[0] == 3
    np.testing.assert_allclose(ts, [0.0, 0.5, 1.0])


@pytest.mark.parametrize(
    "n,hop,center", [(48000, 0.1, True), (96001, 0.25, False), (250_000, 0.1, True), (100, 1.0, False)]
)
def test_windows_match_framing_rules(n, hop, center, rng):
    y = rng.standard_normal(n).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SeaWarning)
        emb, ts = T.get_embedding(y, SR, model=Probe(), hop_size=hop, center=center, batch_size=3, verbose=False)
    ref = framing.windows(y, SR, hop_size=hop, center=center)
    assert emb.shape[0] == ref.shape[0] == framing.n_frames(n, SR, hop_size=hop, center=center)
    np.testing.assert_array_equal(emb[:, :-1], ref[:, ::1000])
    np.testing.assert_allclose(emb[:, -1], ref.sum(1), rtol=1e-4, atol=1e-3)


def test_short_audio_warns_and_gives_one_padded_frame():
    m = _untrained("mel128", 512)
    y = np.random.default_rng(0).standard_normal(48).astype(np.float32)
    with pytest.warns(SeaWarning, match="shorter than"):
        emb, ts = T.get_embedding(y, SR, model=m, verbose=False)
    assert emb.shape == (1, 512) and list(ts) == [0.0]
    assert np.all(np.isfinite(emb))


def test_empty_audio_raises():
    with pytest.raises(AudioError, match="empty"):
        T.get_embedding(np.zeros(0, np.float32), SR, model=Probe(), verbose=False)
    with pytest.raises(AudioError, match="1-D"):
        T.get_embedding(np.zeros((4, 2, 2), np.float32), SR, model=Probe(), verbose=False)
    with pytest.raises(AudioError, match="NaN"):
        T.get_embedding(np.full(100, np.nan), SR, model=Probe(), verbose=False)
    with pytest.raises(ParameterError, match="hop_size"):
        T.get_embedding(np.ones(100), SR, model=Probe(), hop_size=0, verbose=False)


def test_silent_audio_warns_and_is_finite():
    m = _untrained("mel128", 512)
    with pytest.warns(SeaWarning, match="all zeros"):
        emb, ts = T.get_embedding(np.zeros(SR * 2), SR, model=m, hop_size=0.5, verbose=False)
    assert emb.shape == (4, 512) and np.all(np.isfinite(emb))  # 1 + ceil((96000 + 24000 - 48000) / 24000)
    # every window is silent, so every embedding is the same (spectrogram all zeros)
    np.testing.assert_allclose(emb, np.broadcast_to(emb[0], emb.shape), atol=1e-6)


def test_stereo_equals_mean_mono(rng):
    m = _untrained("mel128", 512)
    st = rng.standard_normal((30000, 2)) * 0.1
    e1, t1 = T.get_embedding(st, 32000, model=m, hop_size=0.5, verbose=False)
    e2, t2 = T.get_embedding(st.mean(axis=1), 32000, model=m, hop_size=0.5, verbose=False)
    np.testing.assert_array_equal(e1, e2)
    np.testing.assert_array_equal(t1, t2)


def test_list_input_and_batch_size_invariance(rng):
    m = _untrained("mel128", 512)
    a = chirp(300, 3000, 1.3, SR)
    b = rng.standard_normal(20000).astype(np.float32) * 0.1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SeaWarning)
        embs, tss = T.get_embedding([a, b], [SR, 16000], model=m, hop_size=0.25, batch_size=2, verbose=False)
        e_one, _ = T.get_embedding(a, SR, model=m, hop_size=0.25, batch_size=7, verbose=False)
    assert isinstance(embs, list) and len(embs) == 2 and len(tss) == 2
    assert embs[0].shape[0] == framing.n_frames(a.shape[0], SR, hop_size=0.25, center=True)
    np.testing.assert_allclose(embs[0], e_one, rtol=1e-5, atol=1e-5)


def test_untrained_is_seeded_and_warns():
    with pytest.warns(UntrainedTeacherWarning):
        a, info = T.load_teacher("mel128", "env", 512, untrained=True)
    with pytest.warns(UntrainedTeacherWarning):
        b, _ = T.load_teacher("mel128", "env", 512, untrained=True)
    assert info["untrained"] is True and info["weights_path"] is None and info["weights_sha256"] is None
    assert info["variant"] == "mel128_env_512_kapre"
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k


def test_invalid_choices_raise():
    with pytest.raises(ParameterError, match="input_repr"):
        T.load_teacher("mel64", untrained=True)
    with pytest.raises(ParameterError, match="embedding_size"):
        T.load_teacher("mel128", "env", 128, untrained=True)
    with pytest.raises(ParameterError, match="frontend"):
        T.load_teacher("mel128", "env", 512, frontend="tf", untrained=True)


def test_bfloat16_precision_error_is_small():
    m = _untrained("mel128", 512)
    y = chirp(300, 9000, 1.2, SR)
    e32, _ = T.get_embedding(y, SR, model=m, hop_size=0.5, verbose=False)
    e16, _ = T.get_embedding(y, SR, model=m, hop_size=0.5, verbose=False, precision="bfloat16")
    rel = np.linalg.norm(e16 - e32, axis=1) / np.linalg.norm(e32, axis=1)
    assert 0 < rel.max() < 0.1
    assert m.autocast_dtype is None  # restored


# -- CPU kernels (im2col conv1, Winograd conv7/8, pool before ReLU, chunking) ------------------------


@pytest.mark.parametrize(
    "h,w,relu,strip",
    [(32, 24, True, None), (16, 24, False, None), (7, 5, True, 1), (1, 3, False, 2), (30, 9, False, 3)],
)
def test_winograd_conv3x3_equals_conv2d(h, w, relu, strip):
    from sea.teacher.winograd import winograd_conv3x3, winograd_filter

    g = torch.Generator().manual_seed(h * 100 + w)
    x = torch.randn(3, 24, h, w, generator=g).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(40, 24, 3, 3, generator=g) / 15
    bias = torch.randn(40, generator=g)
    ref = torch.nn.functional.conv2d(x.double(), weight.double(), bias.double(), padding=1)
    ref = ref.relu() if relu else ref
    with torch.inference_mode():
        y = winograd_conv3x3(x, winograd_filter(weight), bias, relu=relu, strip_rows=strip)
    assert y.shape == ref.shape and y.stride(1) == 1  # channels innermost (channels-last strides)
    assert float((y.double() - ref).norm() / ref.norm()) < 5e-6
    if not relu:
        assert (y < 0).any()


def test_cpu_chunks_on_worker_threads_match_one_thread():
    """With 2+ torch threads the chunks run on single-threaded workers; same values, caller's thread count kept."""
    m = _untrained("mel128", 6144)
    x = torch.from_numpy(np.stack([chirp(300 + 400 * k, 9000, 1.0, SR) for k in range(10)]).astype(np.float32))
    torch.set_num_threads(2)  # the autouse fixture restores it
    with torch.inference_mode():
        m.cpu_workers = 1
        serial = m(x)
        m.cpu_workers = None
        assert m._chunk_workers(3) is not None
        pooled = m(x)  # 5 chunks of 2 on 2 workers
        assert pooled.is_inference()
        names = set(model_mod._POOLS[(2, 1)].map(lambda _: threading.current_thread().name, range(4)))
        assert all(n.startswith("sea-teacher") for n in names)
        assert set(model_mod._POOLS[(2, 1)].map(lambda _: torch.get_num_threads(), range(4))) == {1}
    assert torch.get_num_threads() == 2
    assert float(((pooled - serial).norm(dim=1) / serial.norm(dim=1)).max()) < 1e-5
    with torch.no_grad():  # outside inference mode the workers return normal tensors
        assert not m(x).is_inference()
    with torch.inference_mode(), pytest.raises(ParameterError, match=r"got \(10, 100\)"):
        m(torch.zeros(10, 100))  # the caller's shape, not a chunk's
    boom = RuntimeError("boom")

    def fail(_):
        raise boom

    m.spectrogram = fail  # an error inside a worker reaches the caller
    with torch.inference_mode(), pytest.raises(RuntimeError, match="boom"):
        m(x)
    del m.spectrogram
    with torch.inference_mode():
        assert m._chunk_workers(1) is None  # one chunk: no pool
        torch.set_num_threads(1)
        assert m._chunk_workers(3) is None


def _embed_in_child(m, x, queue):
    torch.set_num_threads(2)
    with torch.inference_mode():
        queue.put(m(x).numpy())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_cpu_worker_pool_after_fork():
    """A forked child (e.g. a fork-started worker) gets its own pool instead of the parent's dead threads."""
    m = _untrained("mel128", 512)
    x = torch.from_numpy(np.stack([chirp(300 + 400 * k, 9000, 1.0, SR) for k in range(6)]).astype(np.float32))
    torch.set_num_threads(2)
    with torch.inference_mode():
        ref = m(x).numpy()
    assert model_mod._POOLS
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_embed_in_child, args=(m, x, queue))
    child.start()
    try:
        got = queue.get(timeout=120)
    finally:
        child.join(10)
        if child.is_alive():
            child.kill()
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("input_repr,size", [("linear", 512), ("mel128", 6144), ("mel256", 512)])
def test_cpu_kernels_and_chunking_match_plain_conv(input_repr, size):
    m = _untrained(input_repr, size)
    assert m.cpu_kernels and m.cpu_chunk == 2
    x = torch.from_numpy(np.stack([chirp(300 + 400 * k, 9000, 1.0, SR) for k in range(6)]).astype(np.float32))
    with torch.inference_mode():
        m.cpu_chunk = 4
        fast = m(x)  # 6 windows: chunks of 4 and 2
        m.cpu_kernels, m.cpu_chunk = False, 0
        plain = m(x)
    err = (fast - plain).norm(dim=1) / plain.norm(dim=1)
    assert float(err.max()) < 1e-5
    assert not torch.equal(fast, plain)  # the fast path really ran (different rounding)
