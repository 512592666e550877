"""OpenL3 weights: Keras-layout .h5 read by position with h5py, conversion, resolution order, errors, CLI."""

from __future__ import annotations

import gzip
import http.server
import threading
import time
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile as sf
import torch

import sea.teacher as T
from sea.cli import main
from sea.errors import UntrainedTeacherWarning, WeightsError
from sea.teacher import weights as W
from sea.teacher.model import CONV_CHANNELS, OpenL3Audio
from tests.conftest import chirp

SR = 48000


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    """Private cache, no installed openl3, no network unless a test opts in."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("SEA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SEA_OFFLINE", "1")
    monkeypatch.delenv("SEA_OPENL3_URL", raising=False)
    monkeypatch.setattr(W, "_installed_openl3_file", lambda *a: None)
    yield
    torch.set_num_threads(n)


def keras_weights(seed: int = 0, n_conv: int = 8) -> list[list[np.ndarray]]:
    """Random weights in Keras layout, true order: BN(1), then conv_i (+ BN_i for i < 8)."""
    r = np.random.default_rng(seed)

    def bn(c, mean=0.0, var=1.0):
        return [
            r.uniform(0.5, 1.5, c).astype(np.float32),
            r.normal(0, 0.1, c).astype(np.float32),
            (mean + r.normal(0, 0.1, c)).astype(np.float32),
            (var * r.uniform(0.5, 2.0, c)).astype(np.float32),
        ]

    layers = [bn(1, mean=-40.0, var=400.0)]
    for i, (cin, cout) in enumerate(CONV_CHANNELS[:n_conv], start=1):
        k = r.normal(0, np.sqrt(2.0 / (9 * cin)), (3, 3, cin, cout)).astype(np.float32)
        layers.append([k, r.normal(0, 0.01, cout).astype(np.float32)])
        if i < 8:
            layers.append(bn(cout))
    return layers


BN_NAMES = ("gamma:0", "beta:0", "moving_mean:0", "moving_variance:0")


def write_keras_h5(
    path: Path, layers, *, nested: bool = False, bytes_attrs: bool = True, kapre_layer: bool = True
) -> Path:
    """A Keras-2 HDF5 weights file: groups sorted alphabetically by h5py, true order in ``layer_names``.

    Names start at 9 (as in a Keras session that built other models first), so
    alphabetical order ('conv2d_10' < 'conv2d_9') differs from the true order.
    """
    entries = [("input_1", [])]
    if kapre_layer:  # a v0.2.0-style spectrogram layer: weighted but neither BN- nor conv-shaped
        entries.append(
            (
                "melspectrogram_1",
                [
                    ("real_kernels:0", np.zeros((16, 1, 1, 9), np.float32)),
                    ("imag_kernels:0", np.zeros((16, 1, 1, 9), np.float32)),
                ],
            )
        )
    n_bn, n_conv = 9, 9
    for arrays in layers:
        if len(arrays) == 4:
            entries.append((f"batch_normalization_{n_bn}", list(zip(BN_NAMES, arrays))))
            n_bn += 1
        else:
            name = f"conv2d_{n_conv}" if n_conv < 16 else "audio_embedding_layer"
            entries.append((name, [("kernel:0", arrays[0]), ("bias:0", arrays[1])]))
            entries.append((f"activation_{n_conv}", []))
            n_conv += 1
            if n_conv in (11, 13, 15):
                entries.append((f"max_pooling2d_{n_conv}", []))
    with h5py.File(path, "w") as f:
        root = f.create_group("model_weights") if nested else f
        names = [n for n, _ in entries]
        root.attrs["layer_names"] = np.array([n.encode() for n in names]) if bytes_attrs else names
        root.attrs["backend"] = b"tensorflow"
        for name, ws in entries:
            g = root.create_group(name)
            wn = [f"{name}/{w}" for w, _ in ws]
            g.attrs["weight_names"] = np.array([w.encode() for w in wn], dtype="S") if bytes_attrs else wn
            for w, a in ws:
                g.create_dataset(f"{name}/{w}", data=a)
        root.create_group("top_level_model_weights")  # extra empty group, not in layer_names
    assert list(h5py.File(path, "r").keys() if not nested else h5py.File(path, "r")["model_weights"].keys()) != names
    return path


def torch_model_from_keras(layers, input_repr="mel128", size=512) -> OpenL3Audio:
    """Set the torch weights directly from the Keras arrays (the reference for the loader)."""
    m = OpenL3Audio(input_repr, size)
    it = iter(layers)
    with torch.no_grad():

        def set_bn(bn, arrays):
            for t, a in zip((bn.weight, bn.bias, bn.running_mean, bn.running_var), arrays):
                t.copy_(torch.from_numpy(a))

        set_bn(m.input_bn, next(it))
        for i in range(1, 9):
            k, b = next(it)
            conv = getattr(m, f"conv{i}")
            conv.weight.copy_(torch.from_numpy(k).permute(3, 2, 0, 1))
            conv.bias.copy_(torch.from_numpy(b))
            if i < 8:
                set_bn(getattr(m, f"bn{i}"), next(it))
    return m.eval()


@pytest.mark.parametrize("nested,bytes_attrs", [(False, True), (True, False)])
def test_h5_loaded_by_position_equals_direct_weights(tmp_path, nested, bytes_attrs):
    layers = keras_weights(1)
    h5 = write_keras_h5(tmp_path / "openl3_audio_mel128_env.h5", layers, nested=nested, bytes_attrs=bytes_attrs)
    model, info = T.load_teacher("mel128", "env", 512, weights=h5)
    assert info["weights_path"] == str(h5) and info["untrained"] is False
    assert info["weights_sha256"] == W.sha256_file(h5)
    ref = torch_model_from_keras(layers)
    x = torch.from_numpy(np.stack([chirp(300, 9000, 1.0, SR), chirp(9000, 100, 1.0, SR)]))
    with torch.inference_mode():
        np.testing.assert_allclose(model(x).numpy(), ref(x).numpy(), rtol=1e-5, atol=1e-5)
    # converted .pt cached, and loading it (or the h5 again, through the cache) gives the same state
    pts = list((tmp_path / "cache" / "openl3").glob("*.pt"))
    assert len(pts) == 1
    m2, _ = T.load_teacher("mel128", "env", 512, weights=pts[0])
    for k, v in model.state_dict().items():
        assert torch.equal(v, m2.state_dict()[k]), k


def test_conv1_layer_matches_keras_semantics(tmp_path):
    """Independent NHWC numpy cross-correlation with the Keras kernel (kh=freq, kw=time): no flip, right axes."""
    layers = keras_weights(2)
    h5 = write_keras_h5(tmp_path / "w.h5", layers)
    model, _ = T.load_teacher("mel128", "music", 512, weights=h5)
    x = torch.from_numpy(chirp(300, 9000, 1.0, SR))[None]
    with torch.inference_mode():
        spec = model.spectrogram(x)
        got = model.conv1(model.input_bn(spec))[0].numpy()  # (64, F, T)
    g, b, mu, var = layers[0]
    s = spec[0, 0].numpy().astype(np.float64)
    s = (s - mu[0]) / np.sqrt(var[0] + 1e-3) * g[0] + b[0]
    k, bias = layers[1]
    sp = np.pad(s, 1)
    ref = np.zeros((64,) + s.shape)
    for dy in range(3):
        for dx in range(3):
            ref += k[dy, dx, 0][:, None, None] * sp[None, dy : dy + s.shape[0], dx : dx + s.shape[1]]
    ref += bias[:, None, None]
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-3)


def test_truncated_or_foreign_h5_names_expected_shapes(tmp_path):
    short = write_keras_h5(tmp_path / "short.h5", keras_weights(0, n_conv=5))
    with pytest.raises(WeightsError, match=r"expected exactly 16") as e:
        T.load_teacher("mel256", "music", 512, weights=short)
    assert "(3, 3, 512, 512)" in str(e.value) and "(3, 3, 1, 64)" in str(e.value)
    good = write_keras_h5(tmp_path / "good.h5", keras_weights(0))
    cut = tmp_path / "cut.h5"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(WeightsError, match=r"\(3, 3, 512, 512\)"):
        T.load_teacher("mel256", "music", 512, weights=cut)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    with pytest.raises(WeightsError, match=r"layer_names.*\(3, 3, 512, 512\)"):
        T.load_teacher("mel256", "music", 512, weights=foreign)
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5" * 100)
    with pytest.raises(WeightsError, match="not a readable HDF5"):
        T.load_teacher("mel256", "music", 512, weights=junk)
    with pytest.raises(WeightsError, match="does not exist"):
        T.load_teacher("mel256", "music", 512, weights=tmp_path / "missing.h5")


def test_no_weights_anywhere_explains_all_options(tmp_path):
    with pytest.raises(WeightsError) as e:
        T.load_teacher("mel256", "music", 512)
    msg = str(e.value)
    for part in (
        "--weights",
        "installed openl3",
        str(tmp_path / "cache" / "openl3"),
        "SEA_OFFLINE",
        "--untrained-teacher",
        "openl3_audio_mel256_music.h5",
        "github.com/marl/openl3",
    ):
        assert part in msg, part


def test_offline_download_fails_fast(monkeypatch):
    monkeypatch.delenv("SEA_OFFLINE")
    monkeypatch.setenv("SEA_OPENL3_URL", "http://127.0.0.1:9/openl3_audio_{input_repr}_{content_type}.h5.gz")
    t0 = time.monotonic()
    with pytest.raises(WeightsError, match=r"download failed: could not download http://127\.0\.0\.1:9/"):
        T.load_teacher("mel128", "env", 512)
    assert time.monotonic() - t0 < 20


def _serve(directory: Path):
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(directory), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *a: None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _serve_weights(served: Path, monkeypatch):
    """Serve ``served`` as the official URL, online."""
    server = _serve(served)
    monkeypatch.delenv("SEA_OFFLINE")
    monkeypatch.setenv(
        "SEA_OPENL3_URL",
        f"http://127.0.0.1:{server.server_port}/openl3_audio_{{input_repr}}_{{content_type}}-v0_4_0.h5.gz",
    )
    return server


def test_download_validates_layout_and_records_hash(tmp_path, monkeypatch):
    served = tmp_path / "served"
    served.mkdir()
    h5 = write_keras_h5(tmp_path / "src.h5", keras_weights(3))
    (served / "openl3_audio_mel128_env-v0_4_0.h5.gz").write_bytes(gzip.compress(h5.read_bytes()))
    bad = write_keras_h5(tmp_path / "bad.h5", keras_weights(3, n_conv=4))
    (served / "openl3_audio_mel128_music-v0_4_0.h5.gz").write_bytes(gzip.compress(bad.read_bytes()))
    for content in ("env", "music"):  # pin the served files in place of the official ones
        blob = W.git_blob_sha1(served / f"openl3_audio_mel128_{content}-v0_4_0.h5.gz")
        monkeypatch.setitem(W.OPENL3_GIT_SHA1, ("mel128", content), blob)
    server = _serve_weights(served, monkeypatch)
    try:
        model, info = T.load_teacher("mel128", "env", 512)
        cached = tmp_path / "cache" / "openl3" / "openl3_audio_mel128_env.h5"
        assert info["weights_path"] == str(cached) and cached.is_file()
        assert (cached.parent / (cached.name + ".sha256")).read_text().strip() == W.sha256_file(h5)
        ref = torch_model_from_keras(keras_weights(3))
        for k, v in ref.state_dict().items():
            assert torch.equal(v, model.state_dict()[k]), k
        with pytest.raises(WeightsError, match="expected exactly 16"):
            T.load_teacher("mel128", "music", 512)
        assert not (tmp_path / "cache" / "openl3" / "openl3_audio_mel128_music.h5").exists()
    finally:
        server.shutdown()
    # now offline: the cache (step 3) is used
    monkeypatch.setenv("SEA_OFFLINE", "1")
    _, info = T.load_teacher("mel128", "env", 6144)
    assert info["weights_path"].endswith("openl3_audio_mel128_env.h5")


def test_download_refuses_a_file_that_misses_the_pinned_git_blob_id(tmp_path, monkeypatch):
    served = tmp_path / "served"
    served.mkdir()
    h5 = write_keras_h5(tmp_path / "src.h5", keras_weights(3))  # a valid layout, but not the official file
    (served / "openl3_audio_mel256_env-v0_4_0.h5.gz").write_bytes(gzip.compress(h5.read_bytes()))
    server = _serve_weights(served, monkeypatch)
    try:
        blob = W.git_blob_sha1(served / "openl3_audio_mel256_env-v0_4_0.h5.gz")
        with pytest.raises(WeightsError, match=f"git blob id {blob}, but the official v0.4.0 file is pinned as "
                           "34dbd7a91cdd2de6a3d6d036ac0a24d27d78e3cc"):  # fmt: skip
            T.load_teacher("mel256", "env", 512)
        assert not list((tmp_path / "cache" / "openl3").glob("openl3_audio_mel256_env*"))
    finally:
        server.shutdown()


def test_download_checks_the_pinned_sha256_where_one_is_known(tmp_path, monkeypatch):
    """mel256/music also has sha256 pins (of the .h5.gz and the .h5): a file with the right git blob id but
    another sha256 is refused, and one matching all pins is accepted."""
    served = tmp_path / "served"
    served.mkdir()
    h5 = write_keras_h5(tmp_path / "src.h5", keras_weights(5))
    gz = served / "openl3_audio_mel256_music-v0_4_0.h5.gz"
    gz.write_bytes(gzip.compress(h5.read_bytes()))
    monkeypatch.setitem(W.OPENL3_GIT_SHA1, ("mel256", "music"), W.git_blob_sha1(gz))
    server = _serve_weights(served, monkeypatch)
    cache = tmp_path / "cache" / "openl3"
    try:
        pinned = W.OPENL3_SHA256[("mel256", "music")]["gz"]
        with pytest.raises(WeightsError, match=f"has sha256 {W.sha256_file(gz)}, but the official v0.4.0 file is "
                           f"pinned as {pinned}"):  # fmt: skip
            T.load_teacher("mel256", "music", 512)
        assert not list(cache.glob("openl3_audio_mel256_music*"))
        monkeypatch.setitem(W.OPENL3_SHA256, ("mel256", "music"), {"gz": W.sha256_file(gz), "h5": "0" * 64})
        with pytest.raises(WeightsError, match=f"the .h5 inside .* has sha256 {W.sha256_file(h5)}"):
            T.load_teacher("mel256", "music", 512)
        assert not list(cache.glob("openl3_audio_mel256_music*"))
        monkeypatch.setitem(W.OPENL3_SHA256, ("mel256", "music"), {"gz": W.sha256_file(gz), "h5": W.sha256_file(h5)})
        _, info = T.load_teacher("mel256", "music", 512)
        assert info["weights_path"] == str(cache / "openl3_audio_mel256_music.h5")
    finally:
        server.shutdown()


def test_git_blob_sha1_equals_git_hash_object(tmp_path):
    import shutil
    import subprocess

    p = tmp_path / "x.bin"
    p.write_bytes(np.random.default_rng(0).bytes(3_000_001))
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    want = subprocess.run(["git", "hash-object", str(p)], capture_output=True, text=True, check=True).stdout.strip()
    assert W.git_blob_sha1(p) == want
    assert set(W.OPENL3_GIT_SHA1) == {(r, c) for r in ("linear", "mel128", "mel256") for c in ("env", "music")}


def test_resolution_prefers_explicit_then_installed_then_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache" / "openl3"
    cache.mkdir(parents=True)
    write_keras_h5(cache / "openl3_audio_linear_env.h5", keras_weights(4))
    assert W.resolve_weights("linear", "env") == cache / "openl3_audio_linear_env.h5"
    pkg = tmp_path / "site" / "openl3"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise ImportError('must not be imported')\n")
    write_keras_h5(pkg / "openl3_audio_linear_env.h5", keras_weights(5))
    monkeypatch.undo()  # restore the real installed-package lookup...
    monkeypatch.setenv("SEA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SEA_OFFLINE", "1")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert W.resolve_weights("linear", "env") == pkg / "openl3_audio_linear_env.h5"
    explicit = write_keras_h5(tmp_path / "mine.h5", keras_weights(6))
    assert W.resolve_weights("linear", "env", explicit) == explicit


# -- files and CLI ---------------------------------------------------------------------------------------


def test_cli_embed_writes_openl3_npz_and_skips_existing(tmp_path, capsys):
    audio = tmp_path / "in"
    audio.mkdir()
    sf.write(audio / "a.wav", chirp(300, 6000, 1.5, 44100), 44100)
    sf.write(audio / "b.flac", np.stack([chirp(500, 900, 0.8, 32000)] * 2, axis=1), 32000)
    out = tmp_path / "out"
    args = [
        "-q",
        "teacher",
        "embed",
        str(audio),
        "-o",
        str(out),
        "--untrained-teacher",
        "--input-repr",
        "mel128",
        "--embedding-size",
        "512",
        "--hop-size",
        "0.5",
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(args) == 0
    a = np.load(out / "a.npz")
    assert set(a.files) == {"embedding", "timestamps", "untrained", "sea_teacher_variant", "sea_teacher"}
    assert a["embedding"].shape == (3, 512) and a["embedding"].dtype == np.float32
    np.testing.assert_array_equal(a["timestamps"], [0.0, 0.5, 1.0])
    assert a["timestamps"].dtype == np.float64
    assert bool(a["untrained"]) and str(a["sea_teacher_variant"]) == "mel128_music_512_kapre"
    b = np.load(out / "b.npz")
    assert b["embedding"].shape == (2, 512)
    mtime = (out / "a.npz").stat().st_mtime_ns
    time.sleep(0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(args) == 0
        assert (out / "a.npz").stat().st_mtime_ns == mtime
        assert main(args + ["--overwrite", "-x", "v2"]) == 0
    assert (out / "a_v2.npz").is_file()
    # same numbers as the array API on the file's float64 samples
    y, sr = sf.read(audio / "a.wav")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedTeacherWarning)
        e, ts = T.get_embedding(
            y, sr, input_repr="mel128", embedding_size=512, hop_size=0.5, untrained=True, verbose=False
        )
    np.testing.assert_allclose(a["embedding"], e, rtol=1e-5, atol=1e-5)


def test_cli_embed_without_weights_exits_1(tmp_path, capsys):
    sf.write(tmp_path / "a.wav", chirp(300, 6000, 1.0, SR), SR)
    assert main(["-q", "teacher", "embed", str(tmp_path / "a.wav")]) == 1
    err = capsys.readouterr().err
    assert "error: no OpenL3 weights" in err and "--untrained-teacher" in err


def test_embed_flags_build_an_embed_config_with_embed_files_defaults():
    """`sea teacher embed` flags (openl3 0.4.2's spellings too) come from EmbedConfig, whose defaults are embed_files'."""
    import argparse
    import dataclasses
    import inspect

    from sea.cli import teacher as teacher_cli
    from sea.config import config_from_args
    from sea.errors import ConfigError
    from sea.teacher import core
    from sea.teacher.config import EmbedConfig

    defaults = EmbedConfig()
    file_kw = {**core._FRAMING_DEFAULTS, **core._MODEL_DEFAULTS, "precision": "float32", "output_dir": None}
    file_kw["res_type"] = inspect.signature(T.get_embedding).parameters["res_type"].default
    file_kw["suffix"] = inspect.signature(T.embed_files).parameters["suffix"].default
    array_kw = inspect.signature(T.get_embedding).parameters
    for f in dataclasses.fields(EmbedConfig):
        assert getattr(defaults, f.name) == file_kw[f.name], f.name
        if f.name in array_kw:
            assert getattr(defaults, f.name) == array_kw[f.name].default, f.name

    parser = argparse.ArgumentParser()
    teacher_cli.register(parser.add_subparsers(), "teacher", "the teacher group")

    def config(*flags: str) -> EmbedConfig:
        return config_from_args(EmbedConfig, parser.parse_args(["teacher", "embed", "a.wav", *flags]))

    assert config() == defaults
    short = config("-o", "out", "-x", "v2", "-i", "mel128", "-c", "env", "-as", "512", "-t", "0.5", "-ab", "4")
    long = config("--output-dir", "out", "--suffix", "v2", "--input-repr", "mel128", "--content-type", "env",
                  "--embedding-size", "512", "--hop-size", "0.5", "--batch-size", "4")  # fmt: skip
    openl3_long = config("--output-dir", "out", "--suffix", "v2", "--input-repr", "mel128", "--content-type", "env",
                         "--audio-embedding-size", "512", "--audio-hop-size", "0.5", "--audio-batch-size", "4")  # fmt: skip
    expected = EmbedConfig(output_dir="out", suffix="v2", input_repr="mel128", content_type="env", embedding_size=512,
                           hop_size=0.5, batch_size=4)  # fmt: skip
    assert short == long == openl3_long == expected
    for centering in ("--no-centering", "--no-audio-centering", "-n"):
        assert config(centering, "--untrained-teacher", "-af", "librosa") == EmbedConfig(
            center=False, untrained=True, frontend="librosa"
        )
    # openl3's -t is the hop size (sea once read it as the content type)
    for flags in (["-i", "mel64"], ["--frontend", "tf"], ["--precision", "half"], ["--center"], ["-t", "env"]):
        with pytest.raises(SystemExit):
            config(*flags)
    with pytest.raises(ConfigError, match="embedding_size=1024"):
        config("-s", "1024")


def test_cli_extract_is_registered(capsys):
    with pytest.raises(SystemExit) as e:
        main(["teacher", "extract", "--help"])
    assert e.value.code == 0
    assert "RUN_DIR" in capsys.readouterr().out


def test_long_file_streams_in_blocks(tmp_path):
    """A 25-s 44.1 kHz file (3 read blocks) gives exactly the windows of the one-shot path."""
    from tests.sea.test_teacher import Probe

    y = (np.random.default_rng(0).standard_normal(int(25.3 * 44100)) * 0.1).astype(np.float64)
    sf.write(tmp_path / "long.wav", y, 44100, subtype="DOUBLE")
    outs = T.embed_files([tmp_path / "long.wav"], model=Probe(), hop_size=0.37, verbose=False, batch_size=5)
    got = np.load(outs[0])
    ref, ts = T.get_embedding(y, 44100, model=Probe(), hop_size=0.37, verbose=False)
    assert got["embedding"].shape == ref.shape
    # block-wise kaiser_best resampling is bit-identical to one-shot (see below), so the windows are too
    np.testing.assert_array_equal(got["embedding"], ref)
    np.testing.assert_array_equal(got["timestamps"], ts)


def test_file_embedding_memory_is_bounded_not_the_whole_output(tmp_path):
    """`sea teacher embed` streams audio blocks in and embedding batches out to the .npz: a 2-minute file with a
    24000-d stand-in embedding (115 MB of output) is written with a small fraction of that traced in memory."""
    import tracemalloc

    class Wide(torch.nn.Module):
        frontend_name = "kapre"

        def __init__(self) -> None:
            super().__init__()
            self.dummy = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return x[:, :24000].float() + self.dummy

    sr = 16000
    sf.write(tmp_path / "warm.wav", np.zeros(sr, dtype=np.float32), sr, subtype="FLOAT")
    T.embed_files([tmp_path / "warm.wav"], model=Wide(), verbose=False)  # one-time costs (JIT, filter tables)
    y = (np.random.default_rng(1).standard_normal(120 * sr) * 0.1).astype(np.float32)
    sf.write(tmp_path / "long.wav", y, sr, subtype="FLOAT")
    tracemalloc.start()
    try:
        outs = T.embed_files([tmp_path / "long.wav"], model=Wide(), hop_size=0.1, verbose=False, batch_size=16)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    got = np.load(outs[0])
    emb = got["embedding"]
    assert emb.shape[0] > 1190 and emb.shape[1] == 24000 and emb.dtype == np.float32
    assert peak < emb.nbytes / 3, (peak, emb.nbytes)
    ref, ts = T.get_embedding(y, sr, model=Wide(), hop_size=0.1, verbose=False)
    assert emb.shape == ref.shape
    np.testing.assert_allclose(emb, ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(got["timestamps"], ts)


@pytest.mark.parametrize("sr,res_type", [(44100, "kaiser_best"), (22050, "kaiser_best"), (11025, "kaiser_best"),
                                         (96000, "kaiser_best"), (48000, "kaiser_best"), (22050, "soxr_vhq")])  # fmt: skip
def test_file_blocks_equal_one_shot(tmp_path, monkeypatch, sr, res_type):
    """Files resample block by block (bounded memory), bit-identical to resampling the whole file at once
    with sea.audio.resample (a 1-ulp change would move kapre's noise floor); the downmix is openl3's mean."""
    from sea.audio import resample
    from sea.teacher import core

    monkeypatch.setattr(core, "_BLOCK_SAMPLES", 48_000)  # 1-s blocks, so 3.3 s of audio is 4 blocks
    y = np.random.default_rng(sr).standard_normal((int(3.3 * sr), 2)) * 0.1
    sf.write(tmp_path / "a.wav", y, sr, subtype="DOUBLE")
    n, blocks, _ = core._file_blocks(tmp_path / "a.wav", np.float64, res_type)
    parts = list(blocks)
    assert len(parts) >= 3  # really in blocks
    got = np.concatenate(parts)
    ref = resample(np.mean(y, axis=1), sr, 48000, res_type=res_type)
    assert n == got.shape[0] == ref.shape[0]
    if res_type == "kaiser_best":
        assert got.tobytes() == ref.tobytes()
    else:  # soxr's stream and one shot agree to rounding
        np.testing.assert_allclose(got, ref, atol=1e-6)
