import json
import warnings

import numpy as np
import pytest

from data_prep import urbansound8k
from sea.audio import load, resample
from sea.cache import AudioCache
from sea.errors import ConfigError, DatasetError, SeaWarning
from sea.manifest import read_manifest, resolve_path
from sea.runs import read_stage
from tests.data_prep._trees import US8K_HEADER, fmt_tag, us8k_tree, write_csv


def _prepare(raw, run, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SeaWarning)
        return urbansound8k.prepare(raw, run, **kw)


@pytest.mark.parametrize("class_header", ["class", "class_name"])
def test_acceptance_real_like_sample(tmp_path, class_header):
    raw = tmp_path / "US8K"
    tree = us8k_tree(raw, class_header=class_header)
    # the clips really are WAVE_FORMAT_EXTENSIBLE 24-bit stereo
    assert fmt_tag(raw / "audio/fold1/100852-0-0-0.wav") == 0xFFFE
    with pytest.warns(SeaWarning, match="skipped"):
        manifest = urbansound8k.prepare(raw, tmp_path / "run")
    recs = {r.clip_id: r for r in read_manifest(manifest)}
    assert set(recs) == set(tree["good"])
    for cid, want in tree["good"].items():
        r = recs[cid]
        assert (r.fold, r.label, r.label_id, r.sr, r.channels) == (
            want["fold"],
            want["label"],
            want["label_id"],
            want["sr"],
            want["channels"],
        )
        assert r.duration == pytest.approx(0.3, abs=1e-4)  # = end - start in the CSV
        assert r.meta["salience"] == 1 and r.meta["start"] == 1.0
        assert r.meta["group"] == r.meta["fsID"] == cid.split("-")[0]  # the recording, for grouped CV
        assert resolve_path(r, tmp_path / "run").is_file() and len(r.md5) == 32
    rep = json.loads((tmp_path / "run" / "data_report.json").read_text())
    skipped = {s["clip_id"]: s["reason"] for s in rep["skipped"]}
    assert skipped == tree["bad"]
    assert rep["n_clips"] == 4 and rep["n_skipped"] == 4
    assert rep["subtypes"] == {"PCM_16": 1, "PCM_24": 3}
    assert rep["formats"]["WAVEX"] == 3
    assert rep["sample_rates"] == {"44100": 2, "48000": 2}
    assert rep["folds"] == {"1": 2, "2": 1, "3": 1}
    kinds = rep["warning_counts"]
    assert kinds["short clip"] == 4 and kinds["file without a CSV row (ignored)"] == 1
    st = read_stage(tmp_path / "run")
    assert st["status"] == "done" and st["stage"] == "prepare" and st["counts"]["n_clips"] == 4
    assert st["config"]["dataset"] == "urbansound8k" and st["config"]["cache_srs"] == [48000, 8000]
    assert "metadata" in st["inputs"]


def test_strict_lists_every_bad_file(tmp_path):
    raw = tmp_path / "raw"
    us8k_tree(raw)
    with pytest.raises(DatasetError) as e:
        _prepare(raw, tmp_path / "run", strict=True)
    msg = str(e.value)
    assert "4 file(s) cannot be used with --strict" in msg
    for name, reason in [("103199-4-0-0", "unreadable"), ("102857-5-0-0", "empty"), ("102305-6-0-0", "NaN/Inf"),
                         ("103074-7-0-0", "missing file")]:  # fmt: skip
        assert name in msg and reason in msg
    assert not (tmp_path / "run" / "clips.jsonl").exists()


def test_missing_column_message(tmp_path):
    raw = tmp_path / "raw"
    (raw / "audio" / "fold1").mkdir(parents=True)
    header = [h for h in US8K_HEADER if h != "fold"]
    write_csv(raw / "metadata" / "UrbanSound8K.csv", header, [["a.wav", 1, 0, 1, 1, 0, "air_conditioner"]])
    with pytest.raises(DatasetError, match=r"has no column 'fold'; columns found: slice_file_name, fsID"):
        _prepare(raw, tmp_path / "run")
    header = US8K_HEADER[:-1] + ["label"]
    write_csv(raw / "metadata" / "UrbanSound8K.csv", header, [["a.wav", 1, 0, 1, 1, 1, 0, "x"]])
    with pytest.raises(DatasetError, match=r"no column 'class' or 'class_name'"):
        _prepare(raw, tmp_path / "run")


def test_bad_layouts(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        _prepare(tmp_path / "nope", tmp_path / "run")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"metadata/UrbanSound8K.csv' does not exist"):
        _prepare(tmp_path / "empty", tmp_path / "run")
    raw = tmp_path / "raw"
    write_csv(raw / "metadata" / "UrbanSound8K.csv", US8K_HEADER, [["a.wav", 1, 0, 1, 1, "one", 0, "x"]])
    (raw / "audio").mkdir()
    with pytest.raises(DatasetError, match=r"column 'fold'='one' is not an integer"):
        _prepare(raw, tmp_path / "run")


def test_rerun_is_noop_and_overwrite_redoes(tmp_path):
    raw, run = tmp_path / "raw", tmp_path / "run"
    us8k_tree(raw, bad=False)
    _prepare(raw, run)
    first = read_stage(run)
    _prepare(raw, run)
    assert read_stage(run)["started"] == first["started"] and read_stage(run)["finished"] == first["finished"]
    mtime = (run / "clips.jsonl").stat().st_mtime_ns
    _prepare(raw, run, overwrite=True)
    assert (run / "clips.jsonl").stat().st_mtime_ns != mtime
    # a changed config reruns and drops the caches of rates no longer asked for
    _prepare(raw, run, cache_srs=(16000,))
    assert sorted(p.name for p in (run / "audio").iterdir()) == ["16000"]
    assert read_stage(run)["config"]["cache_srs"] == [16000]


def test_folds_keep_the_held_out_folds_only(tmp_path):
    """folds=(1, 3): the clips of those folds; the other folds' rows, a missing file among them, are left out
    (counted in a note, never opened), and the record and the CLI carry the choice."""
    raw = tmp_path / "raw"
    tree = us8k_tree(raw)
    _prepare(raw, tmp_path / "all")
    manifest = _prepare(raw, tmp_path / "run", folds=(1, 3))
    recs = read_manifest(manifest)
    assert sorted(r.fold for r in recs) == [1, 1, 3]
    assert {r.clip_id for r in recs} == {c for c, v in tree["good"].items() if v["fold"] in (1, 3)}
    rep = json.loads((tmp_path / "run" / "data_report.json").read_text())
    # fold 3's NaN file is still reported; fold 4's missing file and fold 2's broken ones are not its business
    assert {s["clip_id"] for s in rep["skipped"]} == {"102305-6-0-0"}
    assert any(n.startswith("folds 1, 3: 4 of 8 clips; 4 clips of folds 2, 4 left out") for n in rep["notes"])
    assert read_stage(tmp_path / "run")["config"]["folds"] == [1, 3]
    assert "folds" not in read_stage(tmp_path / "all")["config"]  # the default keeps earlier runs' records
    with pytest.raises(ConfigError, match=r"fold\(s\) \[7\] hold no clip of this dataset; its folds are 1, 2, 3, 4"):
        _prepare(raw, tmp_path / "bad", folds=(1, 7))
    with pytest.raises(ConfigError, match=r"folds=\[1, 1\] must be distinct"):
        _prepare(raw, tmp_path / "bad", folds=(1, 1))
    assert not (tmp_path / "bad").exists()


def test_folds_flag_of_sea_data_prepare(tmp_path):
    from sea.cli import main

    raw = tmp_path / "raw"
    us8k_tree(raw, bad=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SeaWarning)
        assert main(["-q", "data", "prepare", "urbansound8k", str(raw), str(tmp_path / "run"), "--folds", "2,3"]) == 0
    assert sorted(r.fold for r in read_manifest(tmp_path / "run")) == [2, 3]


def test_cache_equals_load_and_resample(tmp_path):
    raw, run = tmp_path / "raw", tmp_path / "run"
    us8k_tree(raw, bad=False)
    _prepare(raw, run, cache_srs=(48000, 8000))
    for sr in (48000, 8000):
        cache = AudioCache(run, sr)
        for r in read_manifest(run):
            # openl3's reading: float64, mean over channels, kaiser_best in float64, float32 at the end
            y, file_sr = load(resolve_path(r, run), sr=None, mono=True, dtype="float64")
            want = resample(y, file_sr, sr, res_type="kaiser_best")
            got = np.asarray(cache.get(r.clip_id))
            assert got.shape == want.shape == (int(len(y) * sr / file_sr),)
            np.testing.assert_array_equal(got, want.astype(np.float32))


def test_download_without_soundata_or_network(tmp_path, monkeypatch):
    import socket
    import sys

    monkeypatch.setitem(sys.modules, "soundata", None)
    with pytest.raises(DatasetError, match=r"pip install 'sea\[download\]'"):
        urbansound8k.download(tmp_path)

    class FakeSoundata:
        @staticmethod
        def initialize(*a, **k):
            raise AssertionError("must not be reached offline")

    def offline(*a, **k):
        raise OSError("Network is unreachable")

    monkeypatch.setitem(sys.modules, "soundata", FakeSoundata)
    monkeypatch.setattr(socket, "create_connection", offline)
    with pytest.raises(DatasetError, match=r"cannot reach zenodo.org .*download urbansound8k manually from https://"):
        urbansound8k.download(tmp_path)


def test_network_error_during_download_is_clear(tmp_path, monkeypatch):
    import socket
    import sys
    import urllib.error

    class DS:
        def download(self):
            raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    class FakeSoundata:
        @staticmethod
        def initialize(name, data_home):
            return DS()

    class Conn:
        def close(self):
            pass

    monkeypatch.setitem(sys.modules, "soundata", FakeSoundata)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: Conn())
    with pytest.raises(DatasetError, match="cannot reach zenodo.org"):
        urbansound8k.download(tmp_path)
