"""edgel3 users keep their habits: sea reproduces edgel3 0.2.1's SEA-student embeddings, calls and command lines.

References: ``tests/fixtures/edgel3_ref`` (made with edgel3's own code in its pinned environment, see
``make_fixtures.py`` and ``VERSIONS.txt``): ``get_embedding`` on exact arrays at 6, 8, 16, 22.05 (UrbanSound8K),
44.1 and 48 kHz, centred or not, hops 0.1-0.5 s, and ``process_file`` on stored files. The UrbanSound8K clips are
not redistributed: their runs keep only edgel3's embeddings and read the audio from ``../shared``.

Acceptance (issue 15): median relative L2 per frame <= 1e-3 on every run. sea gets ~1e-6 on all of them, the pure
digital tones included (TensorFlow's float32 round-off is reproduced where it shows, see sea.students.published).
"""

from __future__ import annotations

import json
import shlex
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import sea.students
from sea.cli import main
from sea.errors import SeaWarning
from tests.conftest import shared_path

FIX = Path(__file__).parent / "fixtures" / "edgel3_ref"
RUNS = json.loads((FIX / "cases.json").read_text())["runs"]
TOL = 1e-3  # issue 15: median relative L2 per frame
US8K = ("data", "us8k_fold10_sample", "UrbanSound8K", "audio", "fold10")


@pytest.fixture(scope="module")
def model():
    return sea.students.load_published("sea_ust_64", shared_path("models", "edgel3_sea_ust_audio_emb_64.h5.gz"))[0]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """The shared weights in a private cache, offline: what a user who downloaded them once has."""
    src = shared_path("models", "edgel3_sea_ust_audio_emb_64.h5.gz")
    d = tmp_path / "cache" / "edgel3"
    d.mkdir(parents=True)
    (d / src.name).symlink_to(src)
    monkeypatch.setenv("SEA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SEA_OFFLINE", "1")
    return d


def _ref(run: dict) -> tuple[np.ndarray, np.ndarray]:
    z = np.load(FIX / "ref" / f"{run['run']}.npz")
    return z["embedding"], z["timestamps"]


def _rel_l2(ours: np.ndarray, ref: np.ndarray) -> np.ndarray:
    ref = ref.astype(np.float64)
    return np.linalg.norm(ours.astype(np.float64) - ref, axis=1) / np.maximum(np.linalg.norm(ref, axis=1), 1e-12)


def _check(ours, ts, run):
    ref, ref_ts = _ref(run)
    assert ours.shape == ref.shape and ours.dtype == np.float32, run["run"]
    np.testing.assert_array_equal(ts, ref_ts)
    rel = _rel_l2(ours, ref)
    assert np.median(rel) <= TOL, f"{run['run']}: median relative L2 {np.median(rel):.2e}"
    assert rel.max() <= TOL, f"{run['run']}: max relative L2 {rel.max():.2e}"
    return rel


def _ids(runs):
    return [r["run"] for r in runs]


SYNTHETIC = [r for r in RUNS if r["kind"] == "get_embedding" and not r["audio"].startswith("us8k:")]
REAL = [r for r in RUNS if r["audio"].startswith("us8k:")]
FILES = [r for r in RUNS if r["kind"] == "process_file"]


def test_fixtures_cover_the_acceptance_cases():
    rates = {r["sr"] for r in RUNS if "sr" in r}
    assert rates >= {6000, 8000, 16000, 22050, 44100, 48000}
    assert {(r["center"], r["hop_size"]) for r in RUNS if "center" in r} >= {(True, 0.1), (False, 0.1), (True, 0.5)}
    assert any(r["roundoff_sensitive"] for r in SYNTHETIC) and len(REAL) >= 8 and len(FILES) >= 3
    assert "edgel3==0.2.1" in (FIX / "VERSIONS.txt").read_text()


@pytest.mark.claim
@pytest.mark.parametrize("run", SYNTHETIC, ids=_ids(SYNTHETIC))
def test_get_embedding_equals_edgel3_on_synthetic_audio(model, run):
    audio, sr = sf.read(FIX / run["audio"], dtype=run["read"])
    assert sr == run["sr"] and list(audio.shape) == run["shape"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SeaWarning)  # clips under 1 s are zero-padded, with a warning (as in edgel3)
        emb, ts = sea.students.get_embedding(audio, sr, model=model, hop_size=run["hop_size"], center=run["center"])
    _check(emb, ts, run)


@pytest.mark.claim
@pytest.mark.parametrize("run", REAL, ids=_ids(REAL))
def test_get_embedding_equals_edgel3_on_real_urbansound8k(model, run):
    path = shared_path(*US8K, run["audio"].split(":", 1)[1])
    audio, sr = sf.read(path)  # float64, as edgel3.process_file reads
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SeaWarning)  # clips under 1 s are zero-padded, with a warning (as in edgel3)
        emb, ts = sea.students.get_embedding(audio, sr, model=model, hop_size=run["hop_size"], center=run["center"])
    rel = _check(emb, ts, run)
    assert len(rel) == len(ts) > 0 and np.median(rel) <= TOL  # real audio: every frame compared, within tolerance


def _flags(kwargs: dict) -> list[str]:
    flags = []
    if kwargs.get("center") is False:
        flags.append("--no-centering")
    if "hop_size" in kwargs:
        flags += ["--hop-size", str(kwargs["hop_size"])]
    if kwargs.get("suffix"):
        flags += ["-x", kwargs["suffix"]]
    return flags


@pytest.mark.claim
def test_sea_students_embed_equals_edgel3_process_file(tmp_path, cache, capsys):
    for run in FILES:
        out = tmp_path / run["run"]
        assert main(["students", "embed", str(FIX / run["audio"]), "-o", str(out), *_flags(run["kwargs"])]) == 0
        produced = sorted(out.glob("*.npz"))
        assert [p.name for p in produced] == [run["output_name"]]
        z = np.load(produced[0])
        assert set(z.files) == {"embedding", "timestamps"}
        _check(z["embedding"], z["timestamps"], run)
    assert "4 written" not in capsys.readouterr().err


# --- edgel3's documented Python calls, verbatim (edgel3 -> sea.students) ----------------------------------------

# From edgel3's tutorial (docs/source/tutorial.rst) for the SEA models; only the module name changes.
PYTHON_CALLS = """\
emb, ts = edgel3.get_embedding(audio, sr, model_type='sea', emb_dim=64)
emb, ts = edgel3.get_embedding(audio, sr, center=True)
emb, ts = edgel3.get_embedding(audio, sr, hop_size=0.5)
emb, ts = edgel3.get_embedding(audio, sr, verbose=0)
model = edgel3.models.load_embedding_model(model_type='sea', emb_dim=64)
emb1, ts1 = edgel3.get_embedding(audio1, sr1, model=model)
edgel3.process_file(audio_filepath)
edgel3.process_file(audio_filepath, suffix='suffix')
edgel3.process_file(audio_filepath, output_dir='/different/dir', suffix='suffix')
edgel3.process_file(audio_filepath, model=model, output_dir='/different/dir', suffix='suffix')
data = np.load('/path/to/file.npz')
emb, ts = data['embedding'], data['timestamps']
"""


def _to_sea(line: str, tmp_path: Path) -> str:
    line = line.replace("edgel3.models.", "sea.students.").replace("edgel3.", "sea.students.")
    return line.replace("/different/dir", str(tmp_path / "different" / "dir")).replace("/path/to", str(tmp_path))


@pytest.mark.claim
def test_edgel3_python_calls_verbatim(tmp_path, cache):
    run = next(r for r in SYNTHETIC if r["case"] == "syn_44100_stereo_chirp_noise_1p2s" and r["center"])
    shutil.copyfile(FIX / run["audio"], tmp_path / "file.wav")
    audio, sr = sf.read(tmp_path / "file.wav")  # the tutorial's first line: soundfile.read, float64
    ns = {"sea": sea, "np": np, "audio": audio, "sr": sr, "audio1": audio, "sr1": sr,
          "audio_filepath": str(tmp_path / "file.wav")}  # fmt: skip
    results = {}
    for line in PYTHON_CALLS.splitlines():
        exec(_to_sea(line, tmp_path), ns)  # noqa: S102 - the documented calls, run as written
        results[line] = (ns.get("emb"), ns.get("ts"))
    ref, ref_ts = _ref(run)
    emb, ts = results[PYTHON_CALLS.splitlines()[0]]
    assert np.median(_rel_l2(emb, ref)) <= TOL and np.array_equal(ts, ref_ts)
    assert results[PYTHON_CALLS.splitlines()[2]][0].shape == (3, 64)  # hop 0.5 on 1.2 s, centred
    assert isinstance(ns["model"], sea.students.PublishedStudent)
    np.testing.assert_allclose(ns["emb1"], emb, rtol=1e-6, atol=1e-5)
    for name in ("file.npz", "file_suffix.npz", "different/dir/file_suffix.npz"):
        z = np.load(tmp_path / name)
        assert np.median(_rel_l2(z["embedding"], ref)) <= TOL and np.array_equal(z["timestamps"], ref_ts), name
    np.testing.assert_array_equal(ns["emb"], np.load(tmp_path / "file.npz")["embedding"])


def test_edgel3_sparse_calls_get_a_clear_error(cache):
    from sea.errors import ConfigError

    audio = np.zeros(8000, np.float32) + 0.1
    with pytest.raises(ConfigError, match="sparse EdgeL3 models.*not supported.*model_type='sea'"):
        sea.students.get_embedding(audio, 8000, model_type="sparse", retrain_type="kd", sparsity=87.0)
    with pytest.raises(ConfigError, match="not supported"):
        sea.students.load_embedding_model(model_type="sparse", retrain_type="ft", sparsity=53.5)


# --- edgel3's documented command lines, verbatim (edgel3 -> sea students embed) ---------------------------------

CLI_LINES = """\
$ edgel3 /path/to/file.wav
$ edgel3 /path/to/file.wav --output /different/dir
$ edgel3 /path/to/file1.wav /path/to/file2.wav /path/to/file3.wav
$ edgel3 /path/to/audio/dir
$ edgel3 /path/to/file.wav --suffix somesuffix
$ edgel3 /path/to/file.wav --no-centering
$ edgel3 /path/to/file.wav --hop-size 0.5
$ edgel3 /path/to/file.wav --quiet
$ edgel3 /path/to/file.wav --output /different/dir --suffix somesuffix --model-type sea --emb-dim 64 --no-centering --hop-size 0.5 --quiet
"""  # noqa: E501


def _sea_argv(line: str, tmp_path: Path) -> list[str]:
    words = shlex.split(_to_sea(line, tmp_path))
    assert words[:2] == ["$", "edgel3"]
    return ["students", "embed", *words[2:], "--overwrite"]


@pytest.mark.claim
def test_edgel3_command_lines_verbatim(tmp_path, cache, capsys):
    src = FIX / "audio" / "syn_44100_stereo_chirp_noise_1p2s.wav"
    for name in ("file.wav", "file1.wav", "file2.wav", "file3.wav", "audio/dir/a.wav", "audio/dir/sub/b.wav"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, tmp_path / name)
    for line in CLI_LINES.splitlines():
        assert main(_sea_argv(line, tmp_path)) == 0, line
        assert "Traceback" not in capsys.readouterr().err
    for name in ("file.npz", "different/dir/file.npz", "file1.npz", "file2.npz", "file3.npz", "audio/dir/a.npz",
                 "audio/dir/sub/b.npz", "file_somesuffix.npz", "different/dir/file_somesuffix.npz"):  # fmt: skip
        assert (tmp_path / name).is_file(), name
    # the last, full line equals edgel3's process_file(center=False, hop_size=0.5) on this file
    run = next(r for r in FILES if r["kwargs"] == {"center": False, "hop_size": 0.5, "suffix": "cli"})
    z = np.load(tmp_path / "different" / "dir" / "file_somesuffix.npz")
    _check(z["embedding"], z["timestamps"], run)


def test_edgel3_lines_sea_cannot_serve_fail_in_one_line(tmp_path, cache, capsys):
    shutil.copyfile(FIX / "audio" / "syn_6000_chirp_noise_0p9s.wav", tmp_path / "file.wav")
    for line, match in [
        ("$ edgel3 /path/to/file.wav --model-type sea --emb-dim 256", "no weights for the published SEA student sea_ust_256"),
        ("$ edgel3 /path/to/file.wav --model-type sparse --model-sparsity 53.5 --retrain-type kd", "not supported"),
    ]:  # fmt: skip
        assert main(_sea_argv(line, tmp_path)) == 1
        err = capsys.readouterr().err
        assert match in err and "--weights" in err or "sparse" in line
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.claim
def test_cli_broken_audio_corpus(tmp_path, cache, capsys):
    """Issue 18: the good files are embedded, each bad one is named in one line, exit 1, no traceback."""
    from sea.files import output_paths
    from tests.broken_audio import make_corpus

    cases = make_corpus(tmp_path / "corpus")
    files = sorted((tmp_path / "corpus").iterdir())
    with pytest.warns(UserWarning):  # good.flac and good.ogg share a stem: each keeps its extension in the name
        names = {p.name: o for p, o in output_paths(files, tmp_path / "out").items()}
    code = main(["students", "embed", *map(str, files), "-o", str(tmp_path / "out"), "--hop-size", "0.5"])
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err
    for name, good in cases.items():
        npz = names[name]
        if good:
            assert npz.is_file(), name
            z = np.load(npz)
            assert z["embedding"].shape[1] == 64 and np.isfinite(z["embedding"]).all(), name
        else:
            assert not npz.exists(), name
            # named in one line: a failure, or (a directory given as an input) a warning that it holds no audio
            line = next((ln for ln in err.splitlines() if name in ln and ("failed:" in ln or "warning:" in ln)), None)
            assert line is not None, f"{name} is not reported:\n{err}"
    n_failed = sum(not g and not (tmp_path / "corpus" / n).is_dir() for n, g in cases.items())
    assert f"{sum(cases.values())} written, 0 skipped (exist; --overwrite), {n_failed} failed" in err
