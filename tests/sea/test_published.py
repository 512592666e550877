"""The published SEA students: edgel3's Keras files read with h5py, the kapre front-end, weights resolution, errors."""

from __future__ import annotations

import gzip
import http.server
import io
import json
import shutil
import threading
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from sea import students
from sea.errors import AudioError, ConfigError, ParameterError, SeaWarning, WeightsError
from sea.students import published as P
from tests.conftest import chirp, shared_path, tone

SHARED_FILE = ("models", "edgel3_sea_ust_audio_emb_64.h5.gz")
SR = 8000


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    """A private cache, no network unless a test opts in, one thread."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("SEA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SEA_OFFLINE", "1")
    monkeypatch.delenv("SEA_EDGEL3_URL", raising=False)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def gz_path() -> Path:
    return shared_path(*SHARED_FILE)


@pytest.fixture(scope="module")
def h5_bytes(gz_path) -> bytes:
    return gzip.decompress(gz_path.read_bytes())


@pytest.fixture(scope="module")
def model(gz_path):
    m, info = P.load_published("sea_ust_64", gz_path)
    return m, info


def _h5_tensors(h5_bytes: bytes) -> dict[str, dict[str, np.ndarray]]:
    """The file's tensors, read independently of sea: {layer: {short name: array}}."""
    out = {}
    with h5py.File(io.BytesIO(h5_bytes), "r") as f:
        for layer, g in f["model_weights"].items():
            names: list[str] = []
            g.visit(names.append)
            out[layer] = {n.rsplit("/", 1)[-1].split(":")[0]: g[n][()] for n in names if isinstance(g[n], h5py.Dataset)}
    return out


# --- what is in the file, and how sea reads it -------------------------------------------------------------------


@pytest.mark.claim
def test_loads_student_3_with_the_published_weights(model, gz_path, h5_bytes):
    m, info = model
    assert isinstance(m, P.PublishedStudent) and isinstance(m.student, students.SeaStudent)
    assert m.student.model_name == "sea_student_3" and m.student.final_relu  # post-ReLU, as published
    assert sum(p.numel() for p in m.student.parameters()) == 398_306  # SEA Table 1, Student 3
    assert info["family"] == "edgel3" and info["name"] == "sea_ust_64" and info["embedding_size"] == 64
    assert info["sr"] == 8000 and info["window_size"] == 1.0 and info["hop_size"] == 0.1 and not info["untrained"]
    assert info["weights"] == str(gz_path) and info["keras_version"] == "2.0.9"
    assert info["weights_sha256"] == P.PUBLISHED["sea_ust_64"]["sha256_h5"]  # the .h5 inside the .gz
    t = _h5_tensors(h5_bytes)
    # model_config order: conv2d_1..7 then audio_embedding_layer; BN k follows conv k-1 (BN 1 is the input BN)
    convs = [mod for mod in m.student.features if isinstance(mod, torch.nn.Conv2d)]
    bns = [mod for mod in m.student.features if isinstance(mod, torch.nn.BatchNorm2d)]
    for i, name in enumerate([f"conv2d_{k}" for k in range(1, 8)] + ["audio_embedding_layer"]):
        np.testing.assert_array_equal(convs[i].weight.detach().numpy(), t[name]["kernel"].transpose(3, 2, 0, 1))
        np.testing.assert_array_equal(convs[i].bias.detach().numpy(), t[name]["bias"])
    for i in range(9):
        bn = t[f"batch_normalization_{i + 1}"]
        np.testing.assert_array_equal(bns[i].running_var.numpy(), bn["moving_variance"])
        np.testing.assert_array_equal(bns[i].weight.detach().numpy(), bn["gamma"])
        assert bns[i].eps == 1e-3
    assert m.embedding_dim == 64 and m.window_length == 8000


def test_h5_and_h5gz_and_cache_give_the_same_model(tmp_path, gz_path, h5_bytes, model):
    h5 = tmp_path / "edgel3_sea_ust_audio_emb_64.h5"
    h5.write_bytes(h5_bytes)
    m2, info2 = P.load_published("sea_ust_64", h5)
    for k, v in model[0].state_dict().items():
        assert torch.equal(v, m2.state_dict()[k]), k
    assert info2["weights_sha256"] == model[1]["weights_sha256"]
    cache = tmp_path / "cache" / "edgel3"
    cache.mkdir(parents=True)
    shutil.copyfile(gz_path, cache / "edgel3_sea_ust_audio_emb_64.h5.gz")
    _, info3 = P.load_published("sea_ust_64")  # no weights= -> the cache
    assert info3["weights"] == str(cache / "edgel3_sea_ust_audio_emb_64.h5.gz")


def test_conv1_against_an_independent_nhwc_computation(model, h5_bytes, rng):
    """Keras semantics (NHWC, kernel (kh=mel, kw=time, in, out), cross-correlation, 'same') from the raw tensors."""
    m, _ = model
    t = _h5_tensors(h5_bytes)
    x = torch.from_numpy(-80 * rng.random((1, 1, 64, 50)).astype(np.float32))
    with torch.no_grad():
        got = m.student.features[1](m.student.features[0](x))[0].numpy()  # input BN, conv2d_1: (32, 64, 50)
    g, b, mu, var = (t["batch_normalization_1"][k][0] for k in ("gamma", "beta", "moving_mean", "moving_variance"))
    s = (x[0, 0].numpy().astype(np.float64) - mu) / np.sqrt(var + 1e-3) * g + b
    k, bias = t["conv2d_1"]["kernel"], t["conv2d_1"]["bias"]
    sp = np.pad(s, 1)
    ref = np.zeros((32, 64, 50))
    for dy in range(3):
        for dx in range(3):
            ref += k[dy, dx, 0][:, None, None] * sp[None, dy : dy + 64, dx : dx + 50]
    ref += bias[:, None, None]
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-4)


@pytest.mark.claim
def test_frontend_reproduces_the_stored_dft_kernels_and_mel_filterbank(h5_bytes):
    """Issue 15 acceptance: sea's front-end equals the kernels and filterbank stored in the .h5 to float32 rounding."""
    from sea.students.frontend import dft_kernels_numpy, frontend_mel_basis, frontend_params

    mel = _h5_tensors(h5_bytes)["melspectrogram_1"]
    stored_re, stored_im = mel["real_kernels"][:, 0, 0, :], mel["imag_kernels"][:, 0, 0, :]
    assert stored_re.shape == (1024, 513) and mel["Variable"].shape == (513, 64)
    re, im = dft_kernels_numpy(1024)  # sea's exact float64 kernels
    fb = frontend_mel_basis(frontend_params())
    f32 = 2.0**-23  # one float32 rounding of each, relative; plus a floor for phases where cos/sin ~ 0
    for stored, ours in ((stored_re, re.T), (stored_im, im.T), (mel["Variable"], fb.T)):
        assert np.all(np.abs(stored - ours) <= f32 * np.abs(ours) + 1e-12)
    # rounded the way kapre rounds them (window to float32 first), they are the stored arrays bit for bit
    k_re, k_im = P.kapre_dft_kernels()
    assert np.array_equal(k_re, stored_re) and np.array_equal(k_im, stored_im)
    assert np.array_equal(fb.T.astype(np.float32), mel["Variable"])


def test_published_model_output_is_frontend_then_student(model, rng):
    m, _ = model
    y = torch.from_numpy((0.1 * rng.standard_normal((3, SR))).astype(np.float32))
    with torch.no_grad():
        out = m(y)
        logmel = students.frontend.StudentFrontend(mode="stft")(y)
        np.testing.assert_allclose(out.numpy(), m.student(logmel).numpy(), rtol=1e-5, atol=1e-4)
    assert out.shape == (3, 64) and out.min() >= 0  # post-ReLU


# --- float32 round-off of TensorFlow's conv-STFT ----------------------------------------------------------------


def test_roundoff_frames_are_recomputed_only_where_visible(model):
    m, _ = model
    fe = m.frontend
    calls = []
    real = P._tf_conv_float32

    def spy(frames, kernel, block=P.TF_DEPTH_BLOCK):
        calls.append(frames.shape[0])
        return real(frames, kernel, block)

    noise = torch.from_numpy((0.1 * np.random.default_rng(0).standard_normal((1, SR))).astype(np.float32))
    pure = torch.from_numpy(tone(1000, 1.0, SR, amp=0.2)[None])
    P._tf_conv_float32 = spy
    try:
        fe(noise)
        assert calls == []  # broadband audio: exact everywhere, no float32 emulation
        out_tf = fe(pure)
    finally:
        P._tf_conv_float32 = real
    assert calls and 0 < calls[0] <= 50
    exact = students.frontend.StudentFrontend(mode="stft")(pure)
    diff = (out_tf - exact).abs()
    assert diff.max() > 1.0  # the far bands differ by dBs: float32 round-off vs the exact (lower) values
    assert (diff > 1e-3).float().mean() < 0.9


@pytest.mark.claim
def test_tf_conv_emulation_is_bit_exact_with_tensorflow():
    """kapre's conv-STFT made by TensorFlow 2.0.4 (edgel3's env, tests/fixtures/edgel3_ref/make_fixtures.py) on frames
    of a pure tone: sea's emulation gives the same float32 values bit for bit; an exact DFT does not."""
    z = np.load(Path(__file__).parents[1] / "fixtures" / "edgel3_ref" / "ref" / "tf_conv_stft.npz")
    re, im = P.kapre_dft_kernels()
    kernel = np.concatenate([re, im], axis=1).astype(np.float64)
    frames = z["frames"].astype(np.float64)
    got = P._tf_conv_float32(frames, kernel).astype(np.float32)
    assert np.array_equal(got[:, :513], z["re"]) and np.array_equal(got[:, 513:], z["im"])
    exact = (frames @ kernel).astype(np.float32)
    assert not np.array_equal(exact[:, :513], z["re"])
    other_blocks = P._tf_conv_float32(frames, kernel, block=512).astype(np.float32)
    assert not np.array_equal(other_blocks[:, :513], z["re"])


def test_tf_conv_emulation_is_an_fma_chain_in_blocks():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 1024)).astype(np.float32)
    k = rng.standard_normal((1024, 5)).astype(np.float32)
    got = P._tf_conv_float32(x.astype(np.float64), k.astype(np.float64), 256)
    ref = np.zeros((3, 5), np.float32)
    for b0 in range(0, 1024, 256):
        acc = np.zeros((3, 5), np.float32)
        for n in range(b0, b0 + 256):
            acc = (acc.astype(np.float64) + x[:, n, None].astype(np.float64) * k[n].astype(np.float64)).astype(
                np.float32
            )
        ref = (ref.astype(np.float64) + acc).astype(np.float32)
    assert np.array_equal(got.astype(np.float32), ref)
    assert got.dtype == np.float64 and np.array_equal(got, got.astype(np.float32))


# --- names, checkpoints ------------------------------------------------------------------------------------------


def test_names_and_edgel3_selectors():
    assert P.published_name("sea_ust_128") == "sea_ust_128"
    assert P.published_name(model_type="sea", emb_dim=256) == "sea_ust_256"
    assert P.published_name(model_type="sea") == "sea_ust_64"
    with pytest.raises(ConfigError, match="did you mean 'sea_ust_64'"):
        P.published_name("sea_ust_46")
    with pytest.raises(ConfigError, match="sparse EdgeL3 models.*not supported"):
        P.published_name(model_type="sparse")
    with pytest.raises(ConfigError, match="emb_dim=32"):
        P.published_name(model_type="sea", emb_dim=32)
    with pytest.raises(ConfigError, match="disagree"):
        P.published_name("sea_ust_64", emb_dim=128)
    assert set(P.PUBLISHED) == {"sea_ust_64", "sea_ust_128", "sea_ust_256", "sea_ust_512"}
    assert [P.PUBLISHED[n]["student"] for n in ("sea_ust_512", "sea_ust_256", "sea_ust_128", "sea_ust_64")] == [
        f"sea_student_{i}" for i in range(4)
    ]


def test_published_checkpoint_exports_like_any_student(tmp_path, gz_path, model):
    from sea.checkpoint import load_student, save_checkpoint

    ckpt = P.published_checkpoint("sea_ust_64", gz_path)
    assert ckpt["teacher"]["family"] == "edgel3" and ckpt["frontend"]["window_size"] == 1.0
    save_checkpoint(tmp_path / "best.pt", ckpt)
    student, back = load_student(tmp_path / "best.pt")
    x = -80 * torch.rand(2, 1, 64, 50)
    with torch.no_grad():
        assert torch.equal(student(x), model[0].student(x))
    assert back["published"]["weights_sha256"] == model[1]["weights_sha256"]


# --- weights resolution ------------------------------------------------------------------------------------------


def test_no_weights_anywhere_names_every_place_and_the_fix(tmp_path):
    with pytest.raises(WeightsError) as e:
        P.load_published("sea_ust_256")
    msg = str(e.value)
    for part in ("--weights", str(tmp_path / "cache" / "edgel3"), "SEA_OFFLINE", "edgel3_sea_ust_audio_emb_256.h5.gz",
                 "github.com/ksangeeta2429/edgel3/raw/models"):  # fmt: skip
        assert part in msg, part
    with pytest.raises(WeightsError, match="does not exist"):
        P.load_published("sea_ust_64", tmp_path / "missing.h5")


def _serve(directory: Path, monkeypatch):
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(directory), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *a: None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.delenv("SEA_OFFLINE")
    monkeypatch.setenv("SEA_EDGEL3_URL", f"http://127.0.0.1:{server.server_port}/{{file}}")
    return server


def test_download_checks_the_pinned_git_blob_id_and_sha256(tmp_path, gz_path, monkeypatch):
    served = tmp_path / "served"
    served.mkdir()
    shutil.copyfile(gz_path, served / "edgel3_sea_ust_audio_emb_64.h5.gz")  # the real file: matches the real pins
    (served / "edgel3_sea_ust_audio_emb_128.h5.gz").write_bytes(gz_path.read_bytes()[:-100])  # damaged in transit
    server = _serve(served, monkeypatch)
    try:
        with pytest.raises(WeightsError, match="git blob id .* pinned as 162576876259e8267eb6cefe09470dbf153ed6fc"):
            P.load_published("sea_ust_128")
        assert not list((tmp_path / "cache" / "edgel3").glob("*128*"))
        m, info = P.load_published("sea_ust_64")
        cached = tmp_path / "cache" / "edgel3" / "edgel3_sea_ust_audio_emb_64.h5.gz"
        assert info["weights"] == str(cached) and cached.is_file()
    finally:
        server.shutdown()
    monkeypatch.setenv("SEA_OFFLINE", "1")  # offline afterwards: the cache serves
    assert P.load_published("sea_ust_64")[1]["weights"] == str(cached)


def test_offline_download_fails_fast(monkeypatch):
    import time

    monkeypatch.delenv("SEA_OFFLINE")
    monkeypatch.setenv("SEA_EDGEL3_URL", "http://127.0.0.1:9/{file}")
    t0 = time.monotonic()
    with pytest.raises(WeightsError, match=r"download failed: could not download http://127\.0\.0\.1:9/"):
        P.load_published("sea_ust_64")
    assert time.monotonic() - t0 < 20


def _edited_h5(tmp_path, h5_bytes, edit) -> Path:
    path = tmp_path / f"edited_{edit.__name__}.h5"
    path.write_bytes(h5_bytes)
    with h5py.File(path, "r+") as f:
        cfg = json.loads(f.attrs["model_config"])
        edit(cfg["config"]["layers"])
        f.attrs["model_config"] = json.dumps(cfg).encode()
    return path


def test_files_that_are_not_a_sea_student(tmp_path, h5_bytes, gz_path):
    def kernel5(layers):
        layers[3]["config"]["kernel_size"] = [5, 5]

    def no_pool(layers):
        del layers[9]

    def other_mel(layers):
        layers[1]["config"]["n_mels"] = 128

    for edit, match in ((kernel5, r"conv2d_1.kernel_size=\[5, 5\]"), (no_pool, "layer 9 is Conv2D, expected MaxPooling2D"),
                        (other_mel, "melspectrogram_1.n_mels=128")):  # fmt: skip
        with pytest.raises(WeightsError, match=match):
            P.load_published("sea_ust_64", _edited_h5(tmp_path, h5_bytes, edit))
    cut = tmp_path / "cut.h5.gz"
    cut.write_bytes(gz_path.read_bytes()[:100_000])
    with pytest.raises(WeightsError, match="not a readable Keras HDF5"):
        P.load_published("sea_ust_64", cut)
    text = tmp_path / "text.h5"
    text.write_text("hello")
    with pytest.raises(WeightsError, match="not a readable Keras HDF5"):
        P.load_published("sea_ust_64", text)
    with pytest.raises(WeightsError, match="64-d SEA student, not sea_ust_128"):
        P.load_published("sea_ust_128", gz_path)


def test_a_valid_but_altered_file_warns(tmp_path, h5_bytes):
    path = tmp_path / "tuned.h5"
    path.write_bytes(h5_bytes)
    with h5py.File(path, "r+") as f:
        d = f["model_weights/conv2d_1/conv2d_1/bias:0"]
        d[...] = d[()] + 0.01
    with pytest.warns(SeaWarning, match="not edgel3's published one"):
        P.load_published("sea_ust_64", path)


# --- get_embedding: framing and input checks ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "n,center,hop,frames",
    [(1909, True, 0.1, 1), (1909, False, 0.1, 1), (32000, True, 0.1, 36), (32000, False, 0.1, 31),
     (32000, True, 0.5, 8), (32000, False, 0.5, 7), (8000, True, 0.1, 6), (8000, False, 0.1, 1),
     (8001, False, 0.25, 2)],
)  # fmt: skip
def test_edgel3_framing(n, center, hop, frames):
    """SPEC.md §1: T = 1 + ceil(max(n' - 8000, 0) / hop), n' = n + 4000 with centring; windows as edgel3 cuts them."""
    from sea.students.inference import _windows

    y = np.arange(1, n + 1, dtype=np.float64)
    w = _windows(y, int(hop * SR), center)
    assert w.shape == (frames, SR)
    a = np.pad(y, (4000, 0)) if center else y  # edgel3: np.pad at the start only, then _pad_audio at the end
    pad = SR - a.size if a.size < SR else int(np.ceil((a.size - SR) / (hop * SR))) * int(hop * SR) - (a.size - SR)
    a = np.pad(a, (0, max(pad, 0)))
    want = np.stack([a[t * int(hop * SR) : t * int(hop * SR) + SR] for t in range(frames)])
    assert np.array_equal(w, want)


def test_get_embedding_shapes_timestamps_and_batches(model, rng):
    m, _ = model
    y = (0.3 * chirp(100, 3000, 2.0, SR) + 0.01 * rng.standard_normal(2 * SR)).astype(np.float32)
    e, ts = students.get_embedding(y, SR, model=m, hop_size=0.25)
    assert (
        e.shape == (7, 64) and e.dtype == np.float32 and ts.dtype == np.float64
    )  # 1 + ceil((16000 + 4000 - 8000) / 2000)
    np.testing.assert_array_equal(ts, np.arange(7) * 0.25)
    e2, _ = students.get_embedding(y, SR, model=m, hop_size=0.25, batch_size=2)
    np.testing.assert_allclose(e2, e, rtol=1e-6, atol=1e-5)
    # (N, C): averaged over channels, as edgel3 does
    e3, _ = students.get_embedding(np.stack([y, y], axis=1), SR, model=m, hop_size=0.25)
    np.testing.assert_array_equal(e3, e)


def test_get_embedding_input_errors(model):
    m, _ = model
    y = np.zeros(SR, np.float32) + 0.1
    for kwargs, err, match in [
        ({"audio": np.zeros((2, 2, 2))}, ParameterError, "shape"),
        ({"audio": (y * 1000).astype(np.int16)}, ParameterError, "float samples"),
        ({"audio": np.array([], np.float32)}, AudioError, "empty"),
        ({"audio": np.full(SR, np.nan, np.float32)}, AudioError, "NaN"),
        ({"sr": 0}, ParameterError, "sr=0"),
        ({"sr": 22050.5}, ParameterError, "sr="),
        ({"hop_size": 0}, ParameterError, "hop_size"),
        ({"hop_size": float("inf")}, ParameterError, "hop_size"),
        ({"center": "yes"}, ParameterError, "center"),
        ({"batch_size": 0}, ParameterError, "batch_size"),
        ({"model": 3}, ParameterError, "model=3"),
    ]:
        args = {"audio": y, "sr": SR, "model": m, **kwargs}
        with pytest.raises(err, match=match):
            students.get_embedding(args.pop("audio"), args.pop("sr"), **args)


def test_silence_and_short_audio_warn_and_still_embed(model):
    m, _ = model
    with pytest.warns(SeaWarning, match="all zeros"):
        e, ts = students.get_embedding(np.zeros(SR), SR, model=m)
    assert e.shape == (6, 64) and np.isfinite(e).all()
    with pytest.warns(SeaWarning, match="shorter than the 1-s window"):
        e, _ = students.get_embedding(tone(440, 0.3, 22050), 22050, model=m)
    assert e.shape == (1, 64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        students.get_embedding(tone(440, 1.5, SR) + 0.01, SR, model=m)  # nothing to say about normal audio


def test_cli_names_match_the_library():
    from sea.cli.students import PUBLISHED_NAMES

    assert set(PUBLISHED_NAMES) == set(P.PUBLISHED)


def test_fast_inference_copy_follows_the_student(gz_path):
    m, _ = P.load_published("sea_ust_64", gz_path)
    x = torch.from_numpy((0.1 * np.random.default_rng(1).standard_normal((4, SR))).astype(np.float32))
    with torch.no_grad():
        ref = m.student(m.frontend(x))
        np.testing.assert_allclose(m(x).numpy(), ref.numpy(), rtol=1e-5, atol=1e-4)  # folded BN, channels-last
        m.student.features[1].bias.add_(1.0)  # the student changes: the inference copy is rebuilt
        np.testing.assert_allclose(m(x).numpy(), m.student(m.frontend(x)).numpy(), rtol=1e-5, atol=1e-4)
    assert not np.allclose(m(x).detach().numpy(), ref.numpy(), atol=1e-3)
    m.train()
    assert m(x).requires_grad  # training runs the student itself
    assert not any(k.startswith("_fused") for k in m.state_dict())
