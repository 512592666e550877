import json
import warnings

import pytest
import soundfile as sf

from data_prep import sonyc_ust
from sea.errors import DatasetError, SeaWarning
from sea.manifest import read_manifest
from tests.data_prep._trees import noise, write_csv

FINE = ["1-1_small-sounding-engine", "1-X_engine-of-uncertain-size", "5-3_siren", "8-1_dog-barking-whining"]
COARSE = ["1_engine", "5_alert-signal", "8_dog"]
CTX = ["year", "week", "day", "hour", "borough", "block", "latitude", "longitude"]
HEADER = ["split", "sensor_id", "audio_filename", "annotator_id", *CTX, *(f + "_presence" for f in FINE),
          *(c + "_presence" for c in COARSE), *(f + "_proximity" for f in FINE)]  # fmt: skip


def row(split, sensor, name, ann, fine, day=2, year=2019, week=7, hour=13):
    coarse = [max(fine[0], fine[1]), fine[2], fine[3]]
    prox = ["near" if v == 1 else "-1" for v in fine] if ann > 0 else ["-1"] * 4
    return [split, sensor, name, ann, year, week, day, hour, 1, 42, 40.73, -73.99, *fine, *coarse, *prox]


def tree(root):
    rows = [
        # train: volunteer 1 tags engine, volunteer 2 dog; the verified row (siren) must be IGNORED on train
        row("train", 3, "00_000001.wav", 11, [1, 0, 0, 0]),
        row("train", 3, "00_000001.wav", 12, [0, 0, 0, 1]),
        row("train", 3, "00_000001.wav", 13, [0, 0, 0, 0]),
        row("train", 3, "00_000001.wav", 0, [0, 0, 1, 0]),
        # train: nobody tags anything; -1 (not labelled by a team member) is not a positive
        row("train", 4, "00_000002.wav", 11, [0, 0, 0, 0]),
        row("train", 4, "00_000002.wav", -5, [-1, -1, -1, -1]),
        # validate: volunteers say engine+dog, the verified row says siren only -> siren
        row("validate", 9, "01_000003.wav", 21, [1, 0, 0, 1], day=5),
        row("validate", 9, "01_000003.wav", 22, [1, 0, 0, 0], day=5),
        row("validate", 9, "01_000003.wav", 0, [0, 0, 1, 0], day=5),
        # test: verified uncertain-size engine (an X tag) -> coarse engine
        row("test", 20, "02_000004.wav", 31, [0, 0, 0, 0]),
        row("test", 20, "02_000004.wav", 0, [0, 1, 0, 0]),
        # validate clip without a verified row -> volunteer rule + warning
        row("validate", 9, "01_000005.wav", 21, [0, 0, 1, 0]),
    ]
    write_csv(root / "annotations.csv", HEADER, rows)
    # files in per-archive subfolders, as extracted from audio-N.tar.gz
    for k, name in enumerate(["00_000001.wav", "00_000002.wav", "01_000003.wav", "02_000004.wav", "01_000005.wav"]):
        p = root / f"audio-{k % 2}" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        sf.write(p, noise(1.0, 48000, seed=k), 48000)


def test_sonyc_aggregation(tmp_path):
    tree(tmp_path / "raw")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        sonyc_ust.prepare(tmp_path / "raw", tmp_path / "run")
    assert any("without a verified row" in str(x.message) for x in w if issubclass(x.category, SeaWarning))
    recs = {r.clip_id: r for r in read_manifest(tmp_path / "run")}
    assert set(recs) == {"00_000001", "00_000002", "01_000003", "02_000004", "01_000005"}
    r = recs["00_000001"]
    assert (r.split, r.label, r.label_id) == ("train", ["engine", "dog"], [0, 7])
    assert r.meta["fine_labels"] == ["1-1_small-sounding-engine", "8-1_dog-barking-whining"]
    assert r.meta["label_source"] == "volunteers" and r.meta["n_annotators"] == 3
    assert recs["00_000002"].label == [] and recs["00_000002"].label_id == []
    r = recs["01_000003"]
    assert (r.split, r.label, r.label_id, r.meta["label_source"]) == ("validate", ["alert-signal"], [4], "verified")
    assert r.meta["fine_labels"] == ["5-3_siren"]
    assert r.meta["sensor_id"] == "9" and r.meta["weekday"] == 5 and r.meta["hour"] == 13 and "day" not in r.meta
    # 2019, ISO week 7, day 5 (0 = Monday): Saturday 16 February 2019, 13:00 local time
    assert (r.meta["date"], r.meta["timestamp"]) == ("2019-02-16", "2019-02-16T13:00:00")
    assert r.meta["latitude"] == pytest.approx(40.73) and r.meta["borough"] == 1
    r = recs["02_000004"]
    assert (r.split, r.label, r.meta["fine_labels"]) == ("test", ["engine"], ["1-X_engine-of-uncertain-size"])
    assert recs["01_000005"].meta["label_source"] == "volunteers" and recs["01_000005"].label == ["alert-signal"]
    assert all(r.fold is None and r.duration == 1.0 for r in recs.values())
    rep = json.loads((tmp_path / "run" / "data_report.json").read_text())
    assert rep["splits"] == {"train": 2, "validate": 2, "test": 1}
    assert rep["class_by_split"]["engine"] == {"train": 1, "test": 1}


def test_sonyc_bad_input(tmp_path):
    raw = tmp_path / "raw"
    write_csv(raw / "annotations.csv", ["split", "sensor_id", "audio_filename"], [["train", 1, "a.wav"]])
    with pytest.raises(DatasetError, match=r"has no column 'annotator_id'; columns found: split, sensor_id"):
        sonyc_ust.prepare(raw, tmp_path / "run")
    write_csv(
        raw / "annotations.csv", ["split", "sensor_id", "audio_filename", "annotator_id"], [["train", 1, "a.wav", 1]]
    )
    with pytest.raises(DatasetError, match="no '<n>_<coarse>_presence' columns"):
        sonyc_ust.prepare(raw, tmp_path / "run")
    tree(raw)
    rows = [row("dev", 3, "00_000001.wav", 11, [1, 0, 0, 0])]
    write_csv(raw / "annotations.csv", HEADER, rows)
    with pytest.raises(DatasetError, match=r"split='dev' must be one of train, validate, test"):
        sonyc_ust.prepare(raw, tmp_path / "run")


def test_sonyc_download_offline(tmp_path, monkeypatch):
    import socket

    def offline(*a, **k):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", offline)
    with pytest.raises(DatasetError, match=r"cannot reach zenodo.org .*https://zenodo.org/records/3966543"):
        sonyc_ust.download(tmp_path)
    assert len(sonyc_ust.ZENODO_FILES) == 22 and "annotations.csv" in sonyc_ust.ZENODO_FILES


def test_sonyc_md5s_pinned_for_every_record_file():
    names = ["annotations.csv", "dcase-ust-taxonomy.yaml", "README.md", *(f"audio-{k}.tar.gz" for k in range(19))]
    assert sorted(sonyc_ust.ZENODO_FILES) == sorted(names)
    for name, md5 in sonyc_ust.ZENODO_FILES.items():
        assert md5.startswith("md5:") and len(md5) == 36 and int(md5[4:], 16) >= 0, name
    assert len(set(sonyc_ust.ZENODO_FILES.values())) == 22


@pytest.fixture
def local_zenodo(tmp_path, monkeypatch):
    """Serve ``tmp_path/srv/files/*`` over HTTP on 127.0.0.1 in place of the Zenodo record."""
    import functools
    import http.server
    import threading

    from data_prep import download as dl

    srv = tmp_path / "srv"
    (srv / "files").mkdir(parents=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(srv))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setattr(sonyc_ust, "ZENODO_URL", f"http://127.0.0.1:{httpd.server_address[1]}")
    monkeypatch.setattr(dl, "check_online", lambda *a, **k: None)
    yield srv / "files"
    httpd.shutdown()
    thread.join(5)


def test_sonyc_download_rejects_a_file_that_misses_its_pinned_md5(tmp_path, local_zenodo):
    (local_zenodo / "annotations.csv").write_text("split,sensor_id\ntrain,1\n")  # not the real file
    home = tmp_path / "home"
    with pytest.raises(
        DatasetError, match=r"annotations.csv does not match its pinned md5:70b507b15bb4cfcce4870925302f276b"
    ):
        sonyc_ust.download(home, files=["annotations.csv"])
    assert not (home / "annotations.csv").exists()


def test_sonyc_download_verifies_and_extracts_audio(tmp_path, local_zenodo, monkeypatch):
    import hashlib
    import tarfile

    wav = tmp_path / "00_000001.wav"
    sf.write(wav, noise(0.5, 8000), 8000)
    with tarfile.open(local_zenodo / "audio-3.tar.gz", "w:gz") as tar:
        tar.add(wav, arcname="00_000001.wav")
    md5 = hashlib.md5((local_zenodo / "audio-3.tar.gz").read_bytes()).hexdigest()
    monkeypatch.setitem(sonyc_ust.ZENODO_FILES, "audio-3.tar.gz", f"md5:{md5}")
    home = sonyc_ust.download(tmp_path / "home", files=["audio-3.tar.gz"])
    assert sf.info(home / "audio-3" / "00_000001.wav").samplerate == 8000


def test_sonyc_download_unknown_file(tmp_path):
    with pytest.raises(
        DatasetError, match=r"unknown SONYC-UST file\(s\) \['audio-19.tar.gz'\]; choose from annotations.csv"
    ):
        sonyc_ust.download(tmp_path, files=["audio-19.tar.gz"])


def _time_tree(root, when, header=HEADER):
    """One train clip per ``(sensor, year, week, day, hour)`` of ``when``."""
    rows = []
    for k, (sensor, year, week, day, hour) in enumerate(when):
        name = f"{sensor:02d}_{k:06d}.wav"
        r = row("train", sensor, name, 11, [0, 0, 0, 0], day=day, year=year, week=week, hour=hour)
        rows.append([v for h, v in zip(HEADER, r) if h in header])
        p = root / "audio" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        sf.write(p, noise(0.2, 8000, seed=k), 8000)
    write_csv(root / "annotations.csv", header, rows)


def _prepare_quiet(raw, run):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SeaWarning)
        return read_manifest(sonyc_ust.prepare(raw, run, cache_srs=(8000,)))


def test_a_year_of_mondays_is_52_days_not_one(tmp_path):
    import datetime as dt

    # sensor 3: every Monday of 2019, twice (09:00 and 17:00); sensor 4: the same Mondays once
    when = [(s, 2019, w, 0, h) for w in range(1, 53) for s, h in ((3, 9), (3, 17), (4, 12))]
    _time_tree(tmp_path / "raw", when)
    recs = _prepare_quiet(tmp_path / "raw", tmp_path / "run")
    pairs = {(r.meta["sensor_id"], r.meta["date"]) for r in recs}
    assert len(pairs) == len({(s, y, w, d) for s, y, w, d, _ in when}) == 104  # one per distinct (sensor, date)
    mondays = sorted({r.meta["date"] for r in recs})
    assert len(mondays) == 52 and all(dt.date.fromisoformat(d).weekday() == 0 for d in mondays)
    assert mondays[0] == "2019-01-07" and mondays[-1] == "2019-12-30"  # ISO 2019-W01-1 is in 2018: W01 of 2020
    assert {r.meta["timestamp"][11:] for r in recs} == {"09:00:00", "17:00:00", "12:00:00"}
    rep = json.loads((tmp_path / "run" / "data_report.json").read_text())
    assert any("ISO 8601 weeks" in n and "0 with week 0" in n for n in rep["notes"])
    assert rep["dataset_details"] == {
        "version": "v2", "week_numbering": "iso", "n_rows_with_week": 156, "n_week_0": 0, "n_week_53": 0,
    }  # fmt: skip


def test_week_numbering_follows_the_data(tmp_path):
    # a week 0 exists only in Monday-started (%W) numbering: then week 1 starts on the year's first Monday
    when = [(1, 2019, 0, 1, 8), (1, 2019, 1, 0, 8), (1, 2019, 52, 0, 8)]
    _time_tree(tmp_path / "raw", when)
    recs = _prepare_quiet(tmp_path / "raw", tmp_path / "run")
    assert [r.meta["date"] for r in recs] == ["2019-01-01", "2019-01-07", "2019-12-30"]
    rep = json.loads((tmp_path / "run" / "data_report.json").read_text())
    assert any("Monday-started weeks from 0" in n and "1 with week 0" in n for n in rep["notes"])
    assert rep["dataset_details"]["week_numbering"] == "monday"
    # week 53 of a year with 52 ISO weeks names no date: no date, a warning, the clip is kept
    _time_tree(tmp_path / "raw2", [(1, 2019, 53, 0, 8), (1, 2020, 53, 3, 8)])
    recs = {r.clip_id: r for r in _prepare_quiet(tmp_path / "raw2", tmp_path / "run2")}
    assert "date" not in recs["01_000000"].meta and recs["01_000001"].meta["date"] == "2020-12-31"
    rep = json.loads((tmp_path / "run2" / "data_report.json").read_text())
    assert rep["warning_counts"]["no recording date (bad year/week/day)"] == 1


def test_v1_layout_without_time_columns(tmp_path):
    raw = tmp_path / "raw"
    v1_header = [h for h in HEADER if h not in CTX]
    rows = [
        [v for h, v in zip(HEADER, r) if h in v1_header]
        for r in (
            row("train", 3, "a.wav", 11, [1, 0, 0, 0]),
            row("validate", 9, "b.wav", 21, [0, 0, 0, 1]),
            row("validate", 9, "b.wav", 0, [0, 0, 1, 0]),
        )
    ]
    write_csv(raw / "annotations.csv", v1_header, rows)
    for split, name in (("train", "a.wav"), ("validate", "b.wav")):  # v1's archive extracts to train/, validate/
        (raw / split).mkdir(parents=True)
        sf.write(raw / split / name, noise(0.5, 44100), 44100)
    recs = {r.clip_id: r for r in _prepare_quiet(raw, tmp_path / "run")}
    assert (recs["a"].label, recs["b"].label, recs["b"].meta["label_source"]) == (
        ["engine"],
        ["alert-signal"],
        "verified",
    )
    assert recs["b"].meta["sensor_id"] == "9" and not {"date", "timestamp", "year"} & set(recs["b"].meta)
    rep = json.loads((tmp_path / "run" / "data_report.json").read_text())
    assert any("v1 layout" in n for n in rep["notes"]) and rep["splits"] == {"train": 1, "validate": 1}
    assert rep["dataset_details"] == {"version": "v1"}
