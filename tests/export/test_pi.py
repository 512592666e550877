"""The Raspberry Pi bundle: sea_edge.py runs alone in an empty folder and matches sea's own embeddings."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .conftest import needs_export

pytestmark = [pytest.mark.export, needs_export]


def _runner_module(path: Path):
    spec = importlib.util.spec_from_file_location("sea_edge_under_test", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _sea_reference(checkpoint, y: np.ndarray, hop_size: float) -> np.ndarray:
    """sea's own embeddings: PyTorch fp32 student on sea.framing windows through the torch front-end."""
    import torch

    from sea.checkpoint import load_student
    from sea.framing import windows
    from sea.students.frontend import StudentFrontend

    model, _ = load_student(checkpoint)
    w = torch.from_numpy(windows(y, 8000, hop_size=hop_size, center=True))
    with torch.no_grad():
        return model(StudentFrontend()(w)).numpy()


def _mean_cos(a, b):
    from export.parity import cosine_rows

    return float(cosine_rows(a, b).mean())


@pytest.fixture(scope="module")
def bundle(mcu_export, tmp_path_factory) -> Path:
    """The Pi bundle copied into an otherwise empty folder."""
    dst = tmp_path_factory.mktemp("pi_copy") / "bundle"
    shutil.copytree(Path(mcu_export["out_dir"]) / "pi", dst)
    return dst


@pytest.fixture(scope="module")
def clip(export_run, tmp_path_factory):
    """A held-out-style 3.3-s clip from the run at 8 kHz, and the same clip at 22.05 kHz."""
    import soundfile as sf

    from sea.audio import resample
    from sea.cache import AudioCache

    cache = AudioCache(export_run, 8000)
    y = np.concatenate([cache.get(c) for c in cache.clip_ids[-2:]])[: int(3.3 * 8000)].astype(np.float32)
    d = tmp_path_factory.mktemp("wav")
    sf.write(d / "clip8k.wav", y, 8000, subtype="FLOAT")
    sf.write(d / "clip22k.wav", resample(y, 8000, 22050), 22050, subtype="FLOAT")
    sf.write(d / "silence.wav", np.zeros(16000, np.float32), 8000)
    return y, d


def test_runner_imports_sea_frontend_unchanged(bundle):
    from sea.students import frontend_numpy

    # the bundle ships sea's numpy front-end file byte for byte, and the runner holds no copy of it
    assert (bundle / "frontend_numpy.py").read_bytes() == Path(frontend_numpy.__file__).read_bytes()
    runner = (bundle / "sea_edge.py").read_text()
    assert "from frontend_numpy import" in runner
    assert "def logmel_numpy" not in runner and "def mel_filterbank_numpy" not in runner


def test_runner_frontend_is_sea_frontend(bundle):
    from sea.students.frontend import logmel_numpy

    edge = _runner_module(bundle / "sea_edge.py")
    import json

    params = json.loads((bundle / "frontend.json").read_text())["frontend"]
    y = np.random.default_rng(1).standard_normal((3, 8000)).astype(np.float32) * 0.1
    np.testing.assert_array_equal(edge.logmel_numpy(y, params), logmel_numpy(y))
    assert np.all(edge.logmel_numpy(np.zeros((1, 8000)), params) == 0)  # silence: finite, all 0 dB


def test_runner_resampler(bundle, monkeypatch):
    edge = _runner_module(bundle / "sea_edge.py")
    sr = 22050
    t = np.arange(int(1.5 * sr)) / sr
    y = np.sin(2 * np.pi * 1000 * t) + 0.5 * np.sin(2 * np.pi * 6000 * t)  # 6 kHz must be removed at 8 kHz
    monkeypatch.setitem(sys.modules, "scipy", None)  # force the numpy windowed-sinc path
    monkeypatch.setitem(sys.modules, "scipy.signal", None)
    out = edge.resample(y, sr, 8000)
    assert out.shape == (int(np.floor(y.shape[0] * 8000 / sr)),)
    ref = np.sin(2 * np.pi * 1000 * np.arange(out.shape[0]) / 8000)
    mid = slice(400, -400)
    assert np.max(np.abs(out[mid] - ref[mid])) < 0.02


def _run(python, bundle, *args, stdin=None, env=None):
    return subprocess.run(
        [python, "sea_edge.py", *map(str, args)], cwd=bundle, capture_output=True, input=stdin, timeout=300, env=env
    )


@pytest.mark.parametrize("model", ["model_int8.tflite", "model_fp32.tflite", "model_int8.onnx"])
def test_runner_matches_sea(bundle, clip, mcu_export, model, tmp_path):
    y, d = clip
    r = _run(sys.executable, bundle, model, d / "clip8k.wav", "--out", tmp_path / "e.npz", "-q")
    assert r.returncode == 0, r.stderr.decode()
    z = np.load(tmp_path / "e.npz")
    ref = _sea_reference(mcu_export["checkpoint"], y, 1.0)
    assert z["embedding"].shape == ref.shape
    np.testing.assert_allclose(z["timestamps"], np.arange(ref.shape[0]) * 1.0)
    assert _mean_cos(z["embedding"], ref) >= (0.9999 if "fp32" in model else 0.99)


def test_runner_wrong_rate_silence_and_stream(bundle, clip, mcu_export, tmp_path):
    y, d = clip
    r = _run(
        sys.executable, bundle, "model_int8.tflite", d / "clip22k.wav", "--hop-size", "0.5", "--out", tmp_path / "r.npz"
    )
    assert r.returncode == 0, r.stderr.decode()
    assert b"resampled to 8000 Hz" in r.stderr
    emb = np.load(tmp_path / "r.npz")["embedding"]
    assert _mean_cos(emb, _sea_reference(mcu_export["checkpoint"], y, 0.5)) >= 0.98  # resampled twice, so a bit lower
    r = _run(sys.executable, bundle, ".", d / "silence.wav", "--out", tmp_path / "s.npz")
    assert r.returncode == 0, r.stderr.decode()
    assert np.all(np.isfinite(np.load(tmp_path / "s.npz")["embedding"]))
    pcm = (np.clip(y, -1, 1) * 32767).astype("<i2").tobytes()
    r = _run(
        sys.executable,
        bundle,
        "model_int8.tflite",
        "--stream",
        "--hop-size",
        "0.5",
        "--out",
        tmp_path / "st.npz",
        stdin=pcm,
    )
    assert r.returncode == 0, r.stderr.decode()
    st = np.load(tmp_path / "st.npz")
    n_expected = 1 + (y.shape[0] - 8000) // 4000
    assert st["embedding"].shape[0] == n_expected and np.all(np.isfinite(st["embedding"]))
    np.testing.assert_allclose(st["timestamps"], 0.5 + 0.5 * np.arange(n_expected))  # window centres
    # streaming window k covers [k*hop, k*hop + 1 s): compare with uncentred windows
    import torch

    from sea.checkpoint import load_student
    from sea.students.frontend import StudentFrontend

    model, _ = load_student(mcu_export["checkpoint"])
    w = np.stack([y[k * 4000 : k * 4000 + 8000] for k in range(n_expected)])
    w = np.round(np.clip(w, -1, 1) * 32767) / 32768.0
    with torch.no_grad():
        ref = model(StudentFrontend()(torch.from_numpy(w.astype(np.float32)))).numpy()
    assert _mean_cos(st["embedding"], ref) >= 0.99


def test_runner_prints_labels_with_classifier(bundle, clip, mcu_export, tmp_path):
    y, d = clip
    b2 = tmp_path / "b2"
    shutil.copytree(bundle, b2)
    import json

    dim = json.loads((bundle / "frontend.json").read_text())["embedding_dim"]
    np.savez(b2 / "classifier.npz", W=np.eye(dim, 3), b=np.zeros(3), labels=np.array(["dog", "siren", "drill"]))
    r = _run(sys.executable, b2, "model_int8.tflite", d / "clip8k.wav")
    assert r.returncode == 0, r.stderr.decode()
    lines = [ln for ln in r.stdout.decode().splitlines() if ln.strip()]
    assert lines and all("->" in ln and any(k in ln for k in ("dog", "siren", "drill")) for ln in lines)


#: Run sea_edge.py with torch, librosa, scipy and sea made unimportable: what a Pi with numpy, soundfile and
#: ai-edge-litert only has (no pip, no network: it cannot skip for a reason CI does not share).
TORCH_FREE = r"""
import importlib.abc, runpy, sys
BLOCKED = ("torch", "torchaudio", "torchvision", "librosa", "scipy", "sea", "tensorflow", "resampy", "soxr")
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not installed on this (simulated) Raspberry Pi")
        return None
sys.meta_path.insert(0, Block())
script, sys.argv = sys.argv[1], sys.argv[1:]
runpy.run_path(script, run_name="__main__")
"""


def _edge(bundle: Path, *args, stdin=None):
    """Run the bundle's sea_edge.py torch-free (see TORCH_FREE), in the bundle folder."""
    return subprocess.run([sys.executable, "-c", TORCH_FREE, "sea_edge.py", *map(str, args)], cwd=bundle,
                          capture_output=True, input=stdin, timeout=300)  # fmt: skip


def test_bundle_runs_without_torch(bundle, clip, mcu_export, tmp_path):
    blocked = subprocess.run(
        [sys.executable, "-c", TORCH_FREE.replace('runpy.run_path(script, run_name="__main__")', "import torch"), "x"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert "not installed on this (simulated) Raspberry Pi" in blocked.stderr, blocked.stderr
    y, d = clip
    r = _edge(bundle, "model_int8.tflite", d / "clip8k.wav", "--out", tmp_path / "e.npz")
    assert r.returncode == 0, r.stderr.decode()
    assert b"ai-edge-litert" in r.stderr
    emb = np.load(tmp_path / "e.npz")["embedding"]
    assert _mean_cos(emb, _sea_reference(mcu_export["checkpoint"], y, 1.0)) >= 0.99


# -- issue 18 / 19: bad input, options, timing, timestamps ------------------------------------------------------


def test_runner_broken_corpus(bundle, tmp_path):
    """The broken-audio corpus through the torch-free runner: every good file embedded into OUT/<stem>.npy, every
    bad one named on one line at the end, exit 1, no traceback."""
    from tests.broken_audio import make_corpus

    cases = make_corpus(tmp_path / "corpus")
    files = sorted(tmp_path / "corpus" / name for name in cases)
    r = _edge(bundle, "model_int8.tflite", *files, "--out", tmp_path / "emb", "-q")
    err = r.stderr.decode()
    assert r.returncode == 1 and "Traceback" not in err, err
    failed = [ln for ln in err.splitlines() if ln.startswith("  failed: ")]
    for name, good in cases.items():
        named = [ln for ln in failed if f"corpus/{name}:" in ln]
        assert bool(named) != good, (name, named)
    written = {p.name for p in (tmp_path / "emb").glob("*.npy") if not p.name.endswith("_timestamps.npy")}
    expected = {("good_flac" if n == "good.flac" else "good_ogg" if n == "good.ogg" else Path(n).stem) + ".npy"
                for n, good in cases.items() if good}  # fmt: skip
    assert written == expected
    assert f"{len(expected)} file(s) embedded, {len(cases) - len(expected)} failed" in err
    assert "NaN or Inf samples" in err and "is a directory" in err
    emb = np.load(tmp_path / "emb" / "short_0.05s.npy")
    assert emb.shape[0] == 1 and np.all(np.isfinite(emb))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stream", "--sr", "0"], "--sr 0 must be"),
        (["AUDIO", "--hop-size", "inf"], "--hop-size inf must be"),
        (["AUDIO", "--hop-size", "0"], "--hop-size 0.0 must be"),
        (["--stream"], "stdin ended after 0 samples"),
        (["AUDIO", "AUDIO", "--out", "x.npz"], "names one file but 2 inputs"),
        (["AUDIO", "--frontend", "BADJSON"], "is not a valid frontend.json"),
        (["AUDIO", "--frontend", "NOKEY"], "has no frontend.hop_length"),
        (["--stream", "AUDIO"], "give no AUDIO file"),
        ([], "give AUDIO file(s), or --stream"),
    ],
)
def test_runner_option_errors_are_one_line(bundle, clip, tmp_path, args, message):
    _, d = clip
    (tmp_path / "bad.json").write_text('{"frontend": {"sr": 8000,')
    doc = json.loads((bundle / "frontend.json").read_text())
    del doc["frontend"]["hop_length"]
    (tmp_path / "nokey.json").write_text(json.dumps(doc))
    subs = {"AUDIO": d / "clip8k.wav", "BADJSON": tmp_path / "bad.json", "NOKEY": tmp_path / "nokey.json"}
    r = _edge(bundle, "model_int8.tflite", *[subs.get(a, a) for a in args], stdin=b"")
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert message in err and "Traceback" not in err, err
    assert len([ln for ln in err.splitlines() if ln.startswith("error:")]) == 1


def test_runner_timing_and_timestamps_agree_between_modes(bundle, clip, tmp_path):
    """--timing prints front-end, model and total latency per window; a window of the stream and the file window
    with the same timestamp (its centre) hold the same samples, so the same embedding."""
    import soundfile as sf

    y, _ = clip
    pcm = np.round(np.clip(y, -1, 1) * 32767).astype("<i2")
    sf.write(tmp_path / "pcm16.wav", pcm, 8000, subtype="PCM_16")
    f = _edge(bundle, "model_fp32.tflite", tmp_path / "pcm16.wav", "--hop-size", "0.5", "--out", tmp_path / "f.npz",
              "--timing", "-q")  # fmt: skip
    s = _edge(bundle, "model_fp32.tflite", "--stream", "--hop-size", "0.5", "--out", tmp_path / "s.npz", "-q",
              stdin=pcm.tobytes())  # fmt: skip
    assert f.returncode == 0 and s.returncode == 0, (f.stderr, s.stderr)
    timing = [ln for ln in f.stderr.decode().splitlines() if ln.startswith("# timing")]
    fz, sz = np.load(tmp_path / "f.npz"), np.load(tmp_path / "s.npz")
    assert len(timing) == len(fz["timestamps"]) + 1
    assert all("front-end" in ln and "model" in ln and "total" in ln for ln in timing)
    assert "median over" in timing[-1]
    common = [t for t in sz["timestamps"] if np.any(np.isclose(fz["timestamps"], t))]
    assert len(common) == len(sz["timestamps"]) >= 3
    for t, e in zip(sz["timestamps"], sz["embedding"]):
        i = int(np.argmin(np.abs(fz["timestamps"] - t)))
        np.testing.assert_allclose(e, fz["embedding"][i], rtol=1e-5, atol=1e-5)
