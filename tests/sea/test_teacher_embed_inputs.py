"""Bad input at `sea teacher embed` (issue 18 section 3): the good files are embedded, every bad one is named.

The broken-audio corpus (tests/broken_audio.py) goes through the command as a user types it: one line per
unreadable file at the end, exit 1, no traceback; readable files (odd formats, unicode names, a 0.05-s clip,
a truncated WAV) each get their ``.npz``. Output names never collide silently, and an unusable ``-o`` is one
line before anything is computed.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sea.cli import main
from tests.broken_audio import make_corpus

# random weights, 512-d, one window per second
FAST = ["--untrained-teacher", "-i", "mel128", "-as", "512", "-t", "1.0"]


@pytest.fixture
def cheap_cnn(monkeypatch):
    """Replace OpenL3's CNN (5-10 GMAC per window) by a pooling of its front-end's spectrogram to D values.

    For tests of file handling, naming and framing: everything but the convolutions runs (decoding,
    resampling, framing, the spectrogram, the weights' loading). The numerics are tested elsewhere.
    """
    import torch

    from sea.teacher.model import OpenL3Audio

    def embed_spectrogram(self, s):
        s = self.input_bn(s)
        return torch.nn.functional.adaptive_avg_pool2d(s, (self.embedding_size, 1)).flatten(1).float()

    monkeypatch.setattr(OpenL3Audio, "embed_spectrogram", embed_spectrogram)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    return root, make_corpus(root)


@pytest.fixture(scope="module")
def embedded(corpus, tmp_path_factory):
    """`sea teacher embed audio CORPUS -o OUT` once for the module: (root, cases, out, exit code, stderr lines)."""
    import contextlib
    import io
    import warnings

    import torch

    from sea.teacher.model import OpenL3Audio

    def embed_spectrogram(self, s):  # as cheap_cnn, for this module-scoped run
        s = self.input_bn(s)
        return torch.nn.functional.adaptive_avg_pool2d(s, (self.embedding_size, 1)).flatten(1).float()

    root, cases = corpus
    out = tmp_path_factory.mktemp("out")
    err = io.StringIO()
    with contextlib.redirect_stderr(err), warnings.catch_warnings(), pytest.MonkeyPatch.context() as mp:
        mp.setattr(OpenL3Audio, "embed_spectrogram", embed_spectrogram)
        rc = main(["teacher", "embed", "audio", str(root), "-o", str(out), *FAST])  # prints warnings as lines
    lines = err.getvalue().splitlines()
    return root, cases, out, rc, lines, [line for line in lines if line.startswith("warning: ")]


def _output(out: Path, name: str) -> Path:
    # good.flac and good.ogg share a stem: each keeps its extension in the name (sea.files.output_paths)
    stem, ext = name.rsplit(".", 1)
    return out / (f"{stem}_{ext}.npz" if stem == "good" else f"{stem}.npz")


def test_every_readable_file_is_embedded(embedded):
    _, cases, out, _, _, _ = embedded
    for name, readable in cases.items():
        if readable:
            with np.load(_output(out, name)) as z:
                assert z["embedding"].shape[1] == 512 and z["embedding"].shape[0] == z["timestamps"].shape[0] >= 1
                assert np.isfinite(z["embedding"]).all() and bool(z["untrained"])


def test_every_unreadable_file_is_one_line_at_the_end_and_exit_1(embedded):
    root, cases, out, rc, err, _ = embedded
    assert rc == 1
    assert not any("Traceback" in line for line in err)
    bad = sorted(name for name, readable in cases.items() if not readable)
    failed = [line for line in err if line.startswith("  failed: ")]
    assert len(failed) == len(bad)
    for name in bad:
        (line,) = [f for f in failed if f.startswith(f"  failed: {root / name}: ")]
        assert name in line.split(": ", 2)[2]  # the reason names the file too
        assert not _output(out, name).exists()
    summary = next(line for line in err if " written, " in line)
    assert summary.startswith(f"{sum(cases.values())} written, 0 skipped") and summary.endswith(f"{len(bad)} failed")


def test_odd_but_usable_files_warn(embedded):
    *_, warned = embedded
    assert any("short_0.05s.wav is shorter than the 1-s window" in w for w in warned)
    assert any("truncated_half.wav' is truncated: its header declares 44100 samples" in w for w in warned)
    assert any("share the output name good.npz" in w for w in warned)


def test_same_stem_never_writes_one_npz_twice(tmp_path, capsys, cheap_cnn):
    y = 0.1 * np.random.default_rng(0).standard_normal(8000)
    sf.write(tmp_path / "a.flac", y, 8000)
    sf.write(tmp_path / "a.ogg", -y, 8000, format="OGG", subtype="VORBIS")
    rc = main(["teacher", "embed", str(tmp_path / "a.flac"), str(tmp_path / "a.ogg"), "-o", str(tmp_path / "o"), *FAST])
    assert rc == 0 and "share the output name a.npz" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["a_flac.npz", "a_ogg.npz"]
    with np.load(tmp_path / "o" / "a_flac.npz") as a, np.load(tmp_path / "o" / "a_ogg.npz") as b:
        assert not np.array_equal(a["embedding"], b["embedding"])


def test_output_dir_that_is_a_file_is_one_line(tmp_path, capsys, cheap_cnn):
    sf.write(tmp_path / "a.wav", np.zeros(800), 8000)
    (tmp_path / "taken").write_text("x")
    rc = main(["teacher", "embed", str(tmp_path / "a.wav"), "-o", str(tmp_path / "taken"), *FAST])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and err == [
        f"error: output folder {str(tmp_path / 'taken')!r} is an existing file; give a folder (-o DIR)"
    ]


def test_read_only_output_dir_is_one_line(tmp_path, capsys, monkeypatch, cheap_cnn):
    sf.write(tmp_path / "a.wav", np.zeros(800), 8000)
    (tmp_path / "ro").mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p).name == "ro" else real_access(p, mode))
    rc = main(["teacher", "embed", str(tmp_path / "a.wav"), "-o", str(tmp_path / "ro"), *FAST])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and "is not writable" in err[0] and "ro'" in err[0]
    assert not any((tmp_path / "ro").iterdir())


def test_nan_in_the_middle_of_a_long_file_names_the_sample_and_writes_nothing(tmp_path, capsys, cheap_cnn):
    y = 0.1 * np.random.default_rng(1).standard_normal(3 * 16000).astype(np.float32)
    y[40000] = np.nan
    sf.write(tmp_path / "late_nan.wav", y, 16000, subtype="FLOAT")
    rc = main(["teacher", "embed", str(tmp_path / "late_nan.wav"), *FAST])
    err = capsys.readouterr().err
    assert rc == 1 and "contains NaN/Inf samples (the first at sample 40000)" in err
    assert not (tmp_path / "late_nan.npz").exists() and not list(tmp_path.glob(".late_nan*"))


# -- --teacher FAMILY[:NAME]: other teachers of the registry, same .npz layout ------------------------------

EDGEL3_WEIGHTS = Path(__file__).resolve().parents[2] / ".." / "shared" / "models" / "edgel3_sea_ust_audio_emb_64.h5.gz"


@pytest.mark.skipif(not EDGEL3_WEIGHTS.is_file(), reason="the published SEA student's weights are in ../shared/models")
def test_teacher_edgel3_embeds_1s_windows_at_8khz(tmp_path):
    import json

    from sea.audio import load
    from sea.framing import windows
    from sea.teacher.registry import load_teacher_model

    y = 0.2 * np.random.default_rng(3).standard_normal((int(1.7 * 22050), 2))
    sf.write(tmp_path / "x.wav", y, 22050, subtype="PCM_16")
    rc = main(["-q", "teacher", "embed", "--teacher", "edgel3:sea_ust_64", "--weights", str(EDGEL3_WEIGHTS),
               str(tmp_path / "x.wav"), "-o", str(tmp_path / "o")])  # fmt: skip
    assert rc == 0
    with np.load(tmp_path / "o" / "x.npz") as z:
        emb, ts, who = z["embedding"], z["timestamps"], json.loads(str(z["sea_teacher"]))
        assert str(z["sea_teacher_variant"]) == "edgel3_sea_ust_64"
    assert (who["family"], who["name"], who["sr"], who["window_size"]) == ("edgel3", "sea_ust_64", 8000, 1.0)
    assert who["weights_sha256"].startswith("e8cd0eaac5d4")
    assert emb.shape == (13, 64) and np.allclose(ts, np.arange(13) * 0.1)  # edgel3's framing at 8 kHz, hop 0.1
    # the windows are sea.framing's over sea.audio.load at 8 kHz (edgel3's float64 read, mean, kaiser_best)
    model, spec = load_teacher_model({"model": "edgel3:sea_ust_64", "weights": str(EDGEL3_WEIGHTS)})
    audio, _ = load(tmp_path / "x.wav", sr=8000, dtype="float64")
    np.testing.assert_allclose(emb, model(windows(audio, 8000, hop_size=0.1)), rtol=1e-5, atol=1e-5)


@pytest.mark.usefixtures("cheap_cnn")
def test_teacher_openl3_variant_sets_the_openl3_options(tmp_path):
    sf.write(tmp_path / "x.wav", np.zeros(800) + 0.1, 8000)
    assert main(["-q", "teacher", "embed", "--teacher", "openl3:mel128_env_512", "--untrained-teacher",
                 str(tmp_path / "x.wav")]) == 0  # fmt: skip
    with np.load(tmp_path / "x.npz") as z:
        assert z["embedding"].shape == (1, 512) and str(z["sea_teacher_variant"]) == "mel128_env_512_kapre"


def test_unknown_teacher_is_one_line_with_a_suggestion(tmp_path, capsys):
    sf.write(tmp_path / "x.wav", np.zeros(800), 8000)
    assert main(["teacher", "embed", "--teacher", "edgel3:sea_ust_6", str(tmp_path / "x.wav")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "did you mean 'sea_ust_64'" in err[0]
    assert not (tmp_path / "x.npz").exists()
