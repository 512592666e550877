import json
import warnings
from pathlib import Path

import numpy as np
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


def test_every_broken_corpus_file_is_a_clip_or_skipped(tmp_path):
    """Nothing dropped silently: each file of tests/broken_audio.py is in clips.jsonl or in the skipped list."""
    from tests.broken_audio import make_corpus

    raw = tmp_path / "corpus"
    cases = make_corpus(raw)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recs = read_manifest(folder.prepare(raw, tmp_path / "run", cache_srs=(8000,)))
    rep = json.loads((tmp_path / "run" / "data_report.json").read_text())
    clips = {r.path.rsplit("/", 1)[-1] for r in recs}
    skipped = {s["path"].rsplit("/", 1)[-1]: s["reason"] for s in rep["skipped"]}
    assert not clips & set(skipped) and clips | set(skipped) == set(cases)
    assert clips == {name for name, ok in cases.items() if ok}
    assert skipped["dir_named.wav"] == "not a regular file" and skipped["symlink_loop.wav"] == "broken symbolic link"
    assert skipped["zero_length.wav"] == skipped["header_only.wav"] == "empty audio"
    assert skipped["text_named.wav"] == skipped["corrupt_bytes.wav"] == "unreadable / not audio"
    assert skipped["nan_inf_float.wav"] == "NaN/Inf samples"
    if not cases["unreadable.wav"]:  # not as root, who reads mode-000 files
        assert skipped["unreadable.wav"] == "unreadable (permission denied)"
    # the half-truncated WAV is kept, with a warning naming both lengths
    trunc = [w for w in rep["warnings"] if w["kind"] == "truncated file (shorter than its header)"]
    assert [w["path"].rsplit("/", 1)[-1] for w in trunc] == ["truncated_half.wav"]
    assert "header declares 44100 samples (2.000 s), file holds 22050 (1.000 s)" in trunc[0]["detail"]
    assert any("truncated file" in str(w.message) for w in caught)
    assert rep["n_candidates"] == len(cases) and rep["n_clips"] + rep["n_skipped"] == len(cases)


def test_csv_sensor_and_timestamp_columns(tmp_path):
    raw = tmp_path / "raw"
    tree(raw)
    write_csv(raw / "sensors.csv", ["path", "sensor_id", "timestamp", "group"], [
        ["sensor_a/day1/rec1.wav", "a", "2019-03-04T13:05:00", "r1"],
        ["sensor_a/rec2.flac", "a", "2019-03-11T23:59:59Z", "r1"],
        ["rec3.wav", "b", "", ""],
    ])  # fmt: skip
    recs = {r.clip_id: r for r in read_manifest(_prepare(raw, tmp_path / "run", csv="sensors.csv"))}
    a1, a2, b = recs["sensor_a__day1__rec1"], recs["sensor_a__rec2"], recs["rec3"]
    assert a1.label is None and a1.label_id is None  # no label column: unlabelled sensor audio
    assert a1.meta == {"group": "r1", "sensor_id": "a", "timestamp": "2019-03-04T13:05:00", "date": "2019-03-04"}
    assert (a2.meta["timestamp"], a2.meta["date"]) == ("2019-03-11T23:59:59+00:00", "2019-03-11")
    assert b.meta == {"sensor_id": "b"}  # no time: the targets stage falls back to clip buckets
    write_csv(raw / "sensors.csv", ["path", "timestamp"], [["rec3.wav", "2019-03-04T13:05:00"], ["rec1.wav", "13:05"]])
    with pytest.raises(DatasetError, match=r"sensors.csv' row 3: timestamp='13:05' is not an ISO 8601 date-time"):
        _prepare(raw, tmp_path / "run2", csv="sensors.csv")
    assert not (tmp_path / "run2").exists()  # validated before anything is written


def test_cache_holds_openl3s_samples_for_a_44k_stereo_file(tmp_path):
    """The 48 kHz cache = openl3's reading of the file: float64, mean downmix, resampy kaiser_best, float32."""
    from sea.audio import load, resample
    from sea.cache import AudioCache

    raw = tmp_path / "raw"
    raw.mkdir()
    sf.write(raw / "st.wav", noise(1.3, 44100, 2, seed=4), 44100, subtype="PCM_24")
    _prepare(raw, tmp_path / "run")  # default res_type: kaiser_best
    for sr in (48000, 8000):
        y, file_sr = load(raw / "st.wav", sr=None, mono=True, dtype="float64")
        want = resample(y, file_sr, sr, res_type="kaiser_best").astype(np.float32)
        got = np.asarray(AudioCache(tmp_path / "run", sr).get("st"))
        assert got.dtype == np.float32 and got.shape == want.shape == (int(1.3 * 44100) * sr // 44100,)
        # fails with the old soxr default (and, once resampling is resampy-0.2.2-exact, with a float32 decode)
        np.testing.assert_array_equal(got, want)


def test_teacher_embed_sees_the_cache_windows(tmp_path):
    """'sea teacher embed' on the file feeds the teacher exactly the windows a prepared run cuts from its cache."""
    import torch

    from sea import framing
    from sea.cache import AudioCache
    from sea.teacher import embed_files

    class Windows(torch.nn.Module):  # a stand-in teacher whose embedding is its input window
        def __init__(self):
            super().__init__()
            self.zero = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return x + self.zero

    raw = tmp_path / "raw"
    raw.mkdir()
    sf.write(raw / "st.wav", noise(1.6, 44100, 2, seed=5), 44100, subtype="PCM_16")
    _prepare(raw, tmp_path / "run", cache_srs=(48000,))
    (out,) = embed_files([raw / "st.wav"], tmp_path / "emb", model=Windows(), hop_size=0.5, verbose=False)
    got = np.load(out)["embedding"]
    want = framing.windows(AudioCache(tmp_path / "run", 48000).get("st"), 48000, hop_size=0.5)
    assert got.shape == want.shape == (4, 48000)
    np.testing.assert_array_equal(got, want)


def test_links_to_folders_are_followed_once(tmp_path):
    raw, elsewhere = tmp_path / "raw", tmp_path / "elsewhere"
    elsewhere.mkdir()
    sf.write(elsewhere / "far.wav", noise(0.6, 16000), 16000)
    tree(raw)
    (raw / "linked").symlink_to(elsewhere)  # a dataset assembled from links: followed
    (raw / "sensor_a" / "loop").symlink_to(raw)  # a link back up: a loop, noted and not followed
    recs = {r.clip_id for r in read_manifest(_prepare(raw, tmp_path / "run"))}
    assert recs == {"sensor_a__day1__rec1", "sensor_a__rec2", "rec3", "linked__far"}
    rep = json.loads((tmp_path / "run" / "data_report.json").read_text())
    assert any("not followed again" in n and n.endswith("sensor_a/loop") for n in rep["notes"])


def test_parts_a_and_b_split_by_recording(tmp_path):
    """part a / part b: disjoint halves by recording (the CSV's group), together the whole folder."""
    import csv

    import numpy as np
    import soundfile as sf

    from data_prep.config import PrepareConfig
    from data_prep.stage import run
    from sea.manifest import read_manifest

    raw = tmp_path / "raw"
    raw.mkdir()
    rows = []
    for g in range(12):
        for k in range(3):  # three slices per recording
            name = f"rec{g}_{k}.wav"
            sf.write(raw / name, 0.1 * np.random.default_rng(g * 10 + k).standard_normal(8000), 8000)
            rows.append({"path": name, "group": f"rec{g}"})
    with open(raw / "meta.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["path", "group"])
        w.writeheader()
        w.writerows(rows)
    parts = {}
    for part in ("a", "b"):
        cfg = PrepareConfig(dataset="folder", raw_dir=str(raw), csv="meta.csv", cache_srs=(8000,), part=part)
        run(tmp_path / part, cfg)
        parts[part] = read_manifest(tmp_path / part)
    groups = {p: {r.meta["group"] for r in recs} for p, recs in parts.items()}
    assert groups["a"] and groups["b"] and not groups["a"] & groups["b"]
    assert groups["a"] | groups["b"] == {f"rec{g}" for g in range(12)}
    assert sum(len(r) for r in parts.values()) == 36  # every slice of a recording on its recording's side


def test_parts_are_stratified_by_class():
    """Every class with two recordings or more has recordings in both parts (a grouped evaluation of part b
    can then learn every class it tests); a one-recording class goes to one side; the split is deterministic."""
    from data_prep.clips import Candidate, ClipList, select_part

    cands = []
    for cls, n_rec in (("dog", 2), ("siren", 5), ("drill", 1), ("horn", 9)):
        for g in range(n_rec):
            cands += [Candidate(path=Path(f"{cls}{g}_{k}.wav"), clip_id=f"{cls}{g}_{k}", label=cls,
                                meta={"group": f"{cls}-{g}"}) for k in range(2)]  # fmt: skip
    clips = ClipList(candidates=cands)
    a, b = (select_part(clips, p, 0.5).candidates for p in ("a", "b"))
    rec = lambda cs: {c.meta["group"] for c in cs}  # noqa: E731
    assert not rec(a) & rec(b) and len(a) + len(b) == len(cands)
    for cls in ("dog", "siren", "horn"):
        assert any(c.label == cls for c in a) and any(c.label == cls for c in b), cls
    assert sum(c.label == "drill" for c in a) + sum(c.label == "drill" for c in b) == 2
    assert {g for g in rec(b) if g.startswith("horn")} == {g for g in rec(select_part(clips, "b", 0.5).candidates)
                                                          if g.startswith("horn")}  # fmt: skip
    assert len({g for g in rec(b) if g.startswith("horn")}) == round(0.5 * 9)
