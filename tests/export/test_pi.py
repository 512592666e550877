"""The Raspberry Pi bundle: sea_edge.py runs alone in an empty folder and matches sea's own embeddings."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from .conftest import needs_export

pytestmark = [pytest.mark.export, needs_export]
EDGE_PACKAGES = ("numpy", "soundfile", "ai-edge-litert")


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


def _edge_venv() -> Path:
    """A torch-free venv with only numpy, soundfile and ai-edge-litert, built once and cached."""
    key = hashlib.sha256((sys.version + "|".join(EDGE_PACKAGES)).encode()).hexdigest()[:12]
    root = Path(os.environ.get("SEA_EDGE_VENV") or Path(tempfile.gettempdir()) / f"sea-edge-venv-{key}")
    py = root / "bin" / "python"
    if (root / ".ok").is_file() and py.exists():
        return py
    shutil.rmtree(root, ignore_errors=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, capture_output=True, timeout=120)
        r = subprocess.run(
            [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", *EDGE_PACKAGES],
            capture_output=True,
            timeout=600,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.skip(f"cannot build the torch-free edge venv: {exc}")
    if r.returncode != 0:
        pytest.skip(f"pip install {' '.join(EDGE_PACKAGES)} failed (offline?): {r.stderr.decode()[-300:]}")
    (root / ".ok").write_text("ok")
    return py


def test_bundle_runs_without_torch(bundle, clip, mcu_export, tmp_path):
    py = str(_edge_venv())
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    probe = subprocess.run([py, "-c", "import torch"], capture_output=True, env=env, cwd=tmp_path)
    assert probe.returncode != 0, "the edge venv must not see torch"
    for mod in ("librosa", "sea"):
        assert subprocess.run([py, "-c", f"import {mod}"], capture_output=True, env=env, cwd=tmp_path).returncode != 0
    y, d = clip
    r = _run(py, bundle, "model_int8.tflite", d / "clip8k.wav", "--out", tmp_path / "e.npz", env=env)
    assert r.returncode == 0, r.stderr.decode()
    assert b"ai-edge-litert" in r.stderr
    emb = np.load(tmp_path / "e.npz")["embedding"]
    assert _mean_cos(emb, _sea_reference(mcu_export["checkpoint"], y, 1.0)) >= 0.99
