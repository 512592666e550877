"""An openl3 user's command lines and Python calls, typed as openl3 0.4.2's tutorial and CLI have them (issue 19).

Only the program name changes (``openl3`` -> ``sea teacher embed``, ``openl3.`` -> ``sea.teacher.``). Offline:
the weights are the seeded ones of ``tests/fixtures/openl3_ref`` (the same ``.h5`` layout openl3 writes), found
in the user cache (``$SEA_CACHE_DIR/openl3``) exactly where sea looks for downloaded weights, so the defaults
(mel256, music, 6144) reproduce openl3's own numbers on the fixture clip. ``--untrained-teacher`` /
``untrained_teacher=True`` is sea's dry run without any weights. Tests about files, names and options run
with ``cheap_cnn`` (the CNN replaced by a pooling of the real spectrogram): a window of OpenL3 is 5-10 GMAC.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import sea.teacher as openl3  # what an openl3 user's code calls
from sea.cli import main
from tests.sea.test_openl3_reference import FIXTURES, build_h5, recipe
from tests.sea.test_teacher_embed_inputs import cheap_cnn  # noqa: F401  (a fixture)

VARIANTS = [("mel256", "music"), ("mel128", "env"), ("linear", "env")]


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    """A user's folders (``/path/to``, ``/different/dir``) and a weights cache holding openl3's files."""
    import json

    root = tmp_path_factory.mktemp("user")
    cache = root / "cache"
    (cache / "openl3").mkdir(parents=True)
    layouts = json.loads((FIXTURES / "h5_layout.json").read_text())
    for input_repr, content_type in VARIANTS:
        name = f"openl3_audio_{input_repr}_{content_type}.h5"
        build_h5(cache / "openl3" / name, layouts[name], recipe.weights(input_repr, content_type))
    path_to = root / "path" / "to"
    path_to.mkdir(parents=True)
    shutil.copy(FIXTURES / "audio" / "c_16k_short.wav", path_to / "file.wav")  # 0.6 s at 16 kHz
    rng = np.random.default_rng(7)
    for k in (1, 2, 3):
        sf.write(path_to / f"file{k}.wav", 0.2 * rng.standard_normal(int(0.3 * 22050)), 22050, subtype="PCM_16")
    (path_to / "audio" / "dir").mkdir(parents=True)
    for name in ("a.wav", "b.flac"):
        sf.write(path_to / "audio" / "dir" / name, 0.2 * rng.standard_normal(4410), 44100, subtype="PCM_16")
    (root / "different" / "dir").mkdir(parents=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEA_CACHE_DIR", str(cache))
        mp.setenv("SEA_OFFLINE", "1")
        yield root


def sh(line: str, user: Path) -> int:
    """Run one shell line of the openl3 docs with ``openl3`` replaced by ``sea teacher embed``."""
    line = line.replace("/path/to", str(user / "path" / "to")).replace("/different/dir", str(user / "different/dir"))
    args = line.split()
    assert args[0] == "openl3"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return main(["teacher", "embed", *args[1:]])


def npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path) as z:
        return z["embedding"], z["timestamps"]


def test_default_line_writes_file_npz_with_openl3s_numbers(user):
    assert sh("openl3 audio /path/to/file.wav", user) == 0
    emb, ts = npz(user / "path/to/file.npz")
    with np.load(FIXTURES / "reference.npz") as ref:  # openl3 0.4.2: mel256, music, 6144, centred, hop 0.1
        want, want_ts = ref["c_mel256_music_6144_kapre/embedding"], ref["c_mel256_music_6144_kapre/timestamps"]
    assert emb.shape == want.shape == (2, 6144) and emb.dtype == np.float32
    np.testing.assert_array_equal(ts, want_ts)
    rel = np.linalg.norm(emb - want, axis=1) / np.linalg.norm(want, axis=1)
    assert rel.max() < 1e-5, rel


@pytest.mark.usefixtures("cheap_cnn")
def test_output_dir_suffix_many_files_and_directories(user):
    out = user / "different/dir"
    assert sh("openl3 audio /path/to/file1.wav --output /different/dir", user) == 0  # the docs' abbreviation
    assert (out / "file1.npz").is_file()
    assert sh("openl3 audio /path/to/file1.wav /path/to/file2.wav /path/to/file3.wav -o /different/dir -ow", user) == 0
    assert all((out / f"file{k}.npz").is_file() for k in (1, 2, 3))
    assert sh("openl3 audio /path/to/file1.wav --suffix somesuffix -t 0.5", user) == 0
    assert (user / "path/to/file1_somesuffix.npz").is_file()
    assert sh("openl3 audio /path/to/audio/dir", user) == 0
    assert sorted(p.name for p in (user / "path/to/audio/dir").glob("*.npz")) == ["a.npz", "b.npz"]


@pytest.mark.usefixtures("cheap_cnn")
def test_model_options_long_and_short(user):
    out = user / "different/dir"
    assert sh("openl3 audio /path/to/file2.wav --content-type env --input-repr mel128 --embedding-size 512 "
              "-o /different/dir/a", user) == 0  # fmt: skip
    assert npz(out / "a/file2.npz")[0].shape == (1, 512)
    line = (
        "openl3 audio /path/to/file2.wav -o /different/dir/b --audio-embedding-size 512 --no-audio-centering "
        "--audio-hop-size 0.1 --audio-batch-size 16 --audio-frontend kapre --quiet"
    )  # issue 19's line
    assert sh(line, user) == 0
    emb, ts = npz(out / "b/file2.npz")
    assert emb.shape == (1, 512) and ts.tolist() == [0.0]  # 0.3 s, not centred: one window at 0
    assert sh("openl3 audio /path/to/file.wav -o /different/dir/c -i linear -c env -as 512 -t 0.25 -ab 2 -af librosa "
              "-n -x sfx -q", user) == 0  # fmt: skip
    emb, ts = npz(out / "c/file_sfx.npz")
    assert emb.shape == (1, 512) and ts.tolist() == [0.0]


@pytest.mark.usefixtures("cheap_cnn")
def test_existing_outputs_are_skipped_unless_overwrite(user, capsys):
    target = user / "different/dir/d/file3.npz"
    assert sh("openl3 audio /path/to/file3.wav -o /different/dir/d -as 512", user) == 0
    first = target.stat().st_mtime_ns
    target.write_bytes(target.read_bytes())  # a later mtime if rewritten
    stamp = target.stat().st_mtime_ns
    capsys.readouterr()
    assert sh("openl3 audio /path/to/file3.wav -o /different/dir/d -as 512", user) == 0
    assert target.stat().st_mtime_ns == stamp and "1 skipped" in capsys.readouterr().err
    assert sh("openl3 audio /path/to/file3.wav -o /different/dir/d -as 512 --overwrite", user) == 0
    assert target.stat().st_mtime_ns != stamp and first <= target.stat().st_mtime_ns


@pytest.mark.parametrize(
    "line",
    [
        "openl3 audio /path/to/file.wav --audio-embedding-size",  # missing value
        "openl3 audio /path/to/file.wav --input-repr mel64",  # not a choice
        "openl3 audio /path/to/file.wav --audio-hop-size fast",  # not a number
        "openl3 audio /path/to/file.wav --bogus",  # unknown option
        "openl3 image /path/to/file.png",  # sea embeds audio only
        "openl3 audio",  # no input
    ],
)
def test_usage_errors_show_the_embed_usage(user, capsys, line):
    with pytest.raises(SystemExit) as e:
        sh(line, user)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: sea teacher embed") and "error:" in err


@pytest.mark.usefixtures("cheap_cnn")
def test_missing_weights_offline_is_one_line_and_untrained_teacher_needs_none(user, capsys, monkeypatch):
    monkeypatch.setenv("SEA_CACHE_DIR", str(user / "empty-cache"))
    assert sh("openl3 audio /path/to/file1.wav -o /different/dir/e", user) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: no OpenL3 weights for mel256/music") and "--weights" in err[0]
    assert not (user / "different/dir/e").exists()  # nothing made before the weights are found
    assert sh("openl3 audio /path/to/file1.wav -o /different/dir/e -as 512 --untrained-teacher", user) == 0
    with np.load(user / "different/dir/e/file1.npz") as z:
        assert bool(z["untrained"]) and z["embedding"].shape == (1, 512)


# -- the Python API, as openl3's tutorial calls it ------------------------------------------------------------


def test_get_audio_embedding_as_the_tutorial(user):
    audio, sr = sf.read(str(user / "path/to/file.wav"))
    emb, ts = openl3.get_audio_embedding(audio, sr)
    cli, cli_ts = npz(user / "path/to/file.npz") if (user / "path/to/file.npz").exists() else (None, None)
    with np.load(FIXTURES / "reference.npz") as ref:
        want = ref["c_mel256_music_6144_kapre/embedding"]
    assert emb.shape == want.shape and np.abs(emb - want).max() / np.abs(want).max() < 1e-5
    if cli is not None:
        np.testing.assert_array_equal(emb, cli)


@pytest.mark.usefixtures("cheap_cnn")
def test_get_audio_embedding_options_as_the_tutorial(user):
    audio, sr = sf.read(str(user / "path/to/file.wav"))
    emb, ts = openl3.get_audio_embedding(audio, sr, content_type="env", input_repr="linear", embedding_size=512)
    assert emb.shape == (2, 512)
    emb, ts = openl3.get_audio_embedding(audio, sr, center=False, hop_size=0.5, verbose=0, embedding_size=512)
    assert emb.shape == (1, 512) and ts.tolist() == [0.0]


@pytest.mark.usefixtures("cheap_cnn")
def test_lists_preloaded_models_and_process_audio_file(user):
    a1, sr1 = sf.read(str(user / "path/to/file1.wav"))
    a2, sr2 = sf.read(str(user / "path/to/file.wav"))
    model = openl3.load_audio_embedding_model(input_repr="mel256", content_type="music", embedding_size=512)
    emb_list, ts_list = openl3.get_audio_embedding([a1, a2], [sr1, sr2], batch_size=32, model=model)
    assert [e.shape for e in emb_list] == [(1, 512), (2, 512)] and len(ts_list) == 2
    emb_list, _ = openl3.get_audio_embedding([a1, a1], sr1, batch_size=32, model=model)
    np.testing.assert_array_equal(emb_list[0], emb_list[1])
    out = user / "different/dir/api"
    openl3.process_audio_file(str(user / "path/to/file2.wav"), model=model, suffix="suffix", output_dir=str(out))
    assert npz(out / "file2_suffix.npz")[0].shape == (1, 512)
    paths = [str(user / f"path/to/file{k}.wav") for k in (1, 2, 3)]
    openl3.process_audio_file(paths, batch_size=32, model=model, output_dir=str(out))
    assert all((out / f"file{k}.npz").is_file() for k in (1, 2, 3))
    with pytest.raises(Exception, match="frontend='kapre'"):  # a kapre model with the librosa front-end, as openl3
        openl3.get_audio_embedding(a1, sr1, model=model, frontend="librosa")
    assert openl3.get_output_path("/path/to/file.wav", "suffix.npz", "/x") == Path("/x/file_suffix.npz")


@pytest.mark.usefixtures("cheap_cnn")
def test_untrained_teacher_keyword_for_dry_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("SEA_CACHE_DIR", str(tmp_path / "nothing"))
    monkeypatch.setenv("SEA_OFFLINE", "1")
    audio = 0.1 * np.random.default_rng(0).standard_normal(8000)
    with pytest.warns(Warning, match="RANDOM weights"):
        emb, ts = openl3.get_audio_embedding(audio, 8000, embedding_size=512, hop_size=0.5, untrained_teacher=True)
    assert emb.shape == (2, 512)
    sf.write(tmp_path / "x.wav", audio, 8000)
    with pytest.warns(Warning, match="RANDOM weights"):
        outs = openl3.process_audio_file(str(tmp_path / "x.wav"), embedding_size=512, untrained_teacher=True)
    assert outs == [tmp_path / "x.npz"]
    with np.load(tmp_path / "x.npz") as z:
        assert bool(z["untrained"])
