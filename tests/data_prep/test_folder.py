import json
import warnings

import pytest
import soundfile as sf

from data_prep import folder
from sea.errors import DatasetError, SeaWarning
from sea.manifest import read_manifest
from tests.data_prep._trees import noise, write_csv


def tree(root):
    (root / "sensor_a" / "day1").mkdir(parents=True)
    sf.write(root / "sensor_a" / "day1" / "rec1.wav", noise(1.0, 16000), 16000)
    sf.write(root / "sensor_a" / "rec2.flac", noise(0.8, 22050, 2, seed=1), 22050)
    sf.write(root / "rec3.wav", noise(0.6, 8000, seed=2), 8000, subtype="PCM_24")
    (root / "notes.txt").write_text("field notes")
    (root / "image.png").write_bytes(b"\x89PNG....")
    (root / ".hidden.wav").write_bytes(b"junk")
    (root / "broken.ogg").write_bytes(b"not an ogg")


def _prepare(*a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SeaWarning)
        return folder.prepare(*a, **k)


def test_folder_unlabeled(tmp_path):
    raw = tmp_path / "raw"
    tree(raw)
    recs = {r.clip_id: r for r in read_manifest(_prepare(raw, tmp_path / "run"))}
    assert set(recs) == {"sensor_a__day1__rec1", "sensor_a__rec2", "rec3"}
    assert all(r.label is None and r.label_id is None and r.fold is None for r in recs.values())
    assert recs["sensor_a__rec2"].channels == 2 and recs["sensor_a__rec2"].sr == 22050
    assert recs["rec3"].duration == pytest.approx(0.6)
    rep = json.loads((tmp_path / "run" / "data_report.json").read_text())
    skipped = {s["path"].rsplit("/", 1)[-1]: s["reason"] for s in rep["skipped"]}
    assert skipped == {"image.png": "not an audio file extension", "broken.ogg": "unreadable / not audio"}
    assert any("notes.txt" in n for n in rep["notes"])
    assert rep["classes"] == {"(unlabeled)": 3}
    with pytest.raises(DatasetError, match=r"2 file\(s\) cannot be used with --strict: .*image.png"):
        _prepare(raw, tmp_path / "run2", strict=True)


def test_folder_with_csv(tmp_path):
    raw = tmp_path / "raw"
    tree(raw)
    write_csv(raw / "labels.csv", ["path", "label", "split"],
              [["sensor_a/day1/rec1.wav", "siren", "train"], ["rec3.wav", "dog", "test"], ["missing.wav", "dog", "train"]])  # fmt: skip
    recs = {r.clip_id: r for r in read_manifest(_prepare(raw, tmp_path / "run", csv="labels.csv"))}
    assert set(recs) == {"sensor_a__day1__rec1", "rec3"}
    assert (recs["rec3"].label, recs["rec3"].label_id, recs["rec3"].split) == ("dog", 0, "test")
    assert (recs["sensor_a__day1__rec1"].label_id, recs["sensor_a__day1__rec1"].split) == (1, "train")
    rep = json.loads((tmp_path / "run" / "data_report.json").read_text())
    assert {s["reason"] for s in rep["skipped"]} == {"missing file", "not an audio file extension"}
    assert rep["warning_counts"]["audio file not in the CSV (ignored)"] == 2  # rec2.flac, broken.ogg
    write_csv(raw / "labels.csv", ["path", "label", "fold"], [["rec3.wav", "dog", "x"]])
    with pytest.raises(DatasetError, match=r"column 'fold'='x' is not an integer"):
        _prepare(raw, tmp_path / "run3", csv="labels.csv")
    write_csv(raw / "labels.csv", ["file", "label"], [["rec3.wav", "dog"]])
    with pytest.raises(DatasetError, match=r"no column 'path'; columns found: file, label"):
        _prepare(raw, tmp_path / "run3", csv="labels.csv")


def test_folder_run_dir_inside_raw_is_not_input(tmp_path):
    raw = tmp_path / "raw"
    tree(raw)
    _prepare(raw, raw / "run")
    _prepare(raw, raw / "run", overwrite=True)
    rep = json.loads((raw / "run" / "data_report.json").read_text())
    assert rep["n_clips"] == 3 and rep["n_skipped"] == 2
    # the audio lies outside the run dir, so manifest paths are absolute
    assert all(r.path.startswith(str(raw.resolve())) for r in read_manifest(raw / "run"))
