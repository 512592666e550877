"""The prepare stage under faults: a second writer, SIGKILL, damaged caches, bad paths and configs."""

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from data_prep import folder
from sea.cache import AudioCache
from sea.cli import main
from sea.errors import ManifestError, SeaWarning
from sea.integrity import DamagedFileError
from sea.runs import read_stage
from tests.data_prep._trees import noise, write_csv

ROOT = Path(__file__).resolve().parents[2]


def _raw(root: Path, n: int, seconds: float = 1.0) -> Path:
    root.mkdir(parents=True)
    for k in range(n):
        sf.write(root / f"rec{k:03d}.wav", noise(seconds, 44100, 2, seed=k), 44100, subtype="PCM_16")
    return root


def _prepare(raw, run, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SeaWarning)
        return folder.prepare(raw, run, **kw)


def _outputs(run: Path) -> dict:
    """What a later stage reads: manifest and report bytes, cache samples bytes, cache index arrays."""
    out = {name: (run / name).read_bytes() for name in ("clips.jsonl", "data_report.json")}
    for d in sorted((run / "audio").iterdir()):
        out[f"{d.name}/samples"] = (d / "samples.f32").read_bytes()
        with np.load(d / "index.npz") as z:  # a zip: its member time stamps differ run to run, not its arrays
            out[f"{d.name}/index"] = {k: z[k].tolist() for k in z.files}
    return out


def _one_line_error(capsys, argv) -> str:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


def test_second_writer_refused_then_sigkill_resumes_bit_identical(tmp_path, capsys):
    raw = _raw(tmp_path / "raw", 24, seconds=2.0)
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "sea", "-q", "data", "prepare", "folder", str(raw), str(run)]
    env = {**os.environ, "SEA_NO_PROGRESS": "1"}
    first = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        partial = run / "audio" / "48000" / "samples.f32.partial"
        deadline = time.monotonic() + 120
        while not (partial.is_file() and partial.stat().st_size > 0):
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first prepare never started writing its cache"
            time.sleep(0.01)
        first.send_signal(signal.SIGSTOP)  # frozen mid-way through its caches, however fast the machine
        # a second prepare of the same run directory is refused, naming the holder
        err = _one_line_error(capsys, ["-q", "data", "prepare", "folder", str(raw), str(run)])
        assert "is locked by pid" in err and f"pid {first.pid}" in err
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert read_stage(run)["status"] == "running"  # killed mid-way: nothing trusts this run
    with pytest.raises(ManifestError):
        AudioCache(run, 48000)
    again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert read_stage(run)["status"] == "done" and not list(run.rglob("*.partial"))
    _prepare(raw, tmp_path / "clean")  # an uninterrupted run of the same command
    assert _outputs(run) == _outputs(tmp_path / "clean")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("prepared")
    raw = _raw(root / "raw", 3)
    _prepare(raw, root / "run")
    return raw, root / "run", _outputs(root / "run")


@pytest.mark.parametrize("damage", ["truncate", "alter", "alter_unsampled"])
def test_damaged_cache_is_named_and_prepare_redoes_it(prepared, tmp_path, capsys, monkeypatch, damage):
    raw, run0, clean = prepared
    run = tmp_path / "run"
    import shutil

    shutil.copytree(run0, run)  # a copy: stage.json's absolute raw_dir still names the same raw folder
    samples = run / "audio" / "8000" / "samples.f32"
    data = bytearray(samples.read_bytes())
    if damage == "truncate":
        samples.write_bytes(data[: len(data) // 2])
    elif damage == "alter":
        data[100] ^= 0xFF  # in a block the cheap check hashes
        samples.write_bytes(bytes(data))
    else:  # a byte the sampled hash skips: found by the full sha256 of --verify
        data[len(data) // 2 + 2048] ^= 0xFF
        samples.write_bytes(bytes(data))
        from sea import integrity

        monkeypatch.setattr(integrity, "_full", True)
    with pytest.raises(DamagedFileError) as e:
        AudioCache(run, 8000)
    msg = str(e.value)
    assert "\n" not in msg and str(samples) in msg
    assert f"sea data prepare folder {raw.resolve()} {run} --overwrite" in msg and "--overwrite prepare" in msg
    assert ("truncated" in msg) if damage == "truncate" else ("altered" in msg)
    AudioCache(run, 48000)  # the intact cache still opens
    # "up to date" looks at the files: the same command redoes the stage instead of trusting the damaged cache
    before = read_stage(run)["finished"]
    assert main(["-q", "data", "prepare", "folder", str(raw), str(run)]) == 0
    assert read_stage(run)["finished"] != before and _outputs(run) == clean
    redone = read_stage(run)["finished"]
    assert main(["-q", "data", "prepare", "folder", str(raw), str(run)]) == 0  # now up to date: not redone
    assert read_stage(run)["finished"] == redone


def test_damaged_index_and_manifest_are_one_line_errors(prepared, tmp_path, capsys):
    raw, run0, _ = prepared
    run = tmp_path / "run"
    import shutil

    shutil.copytree(run0, run)
    (run / "audio" / "48000" / "index.npz").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(DamagedFileError, match=r"48000 Hz audio cache .*index.npz' (is damaged|was altered)"):
        AudioCache(run, 48000)
    manifest = run / "clips.jsonl"
    good = manifest.read_text().splitlines()
    for garbage, says in [
        (b"\xff\xfe\x00garbage", "clips.jsonl:2: not UTF-8"),
        (b"[1, 2, 3]", "clips.jsonl:2: expected a JSON object"),
        (b"{broken", "clips.jsonl:2: not valid JSON"),
        (json.dumps({**json.loads(good[0]), "clip_id": "x", "duration": "long"}).encode(), "duration='long' must be a number"),
        (json.dumps({**json.loads(good[0]), "clip_id": "x", "meta": [1]}).encode(), "meta=[1] must be an object"),
    ]:  # fmt: skip
        manifest.write_bytes(good[0].encode() + b"\n" + garbage + b"\n")
        assert says in _one_line_error(capsys, ["data", "info", str(run)])
    (run / "data_report.json").write_text("{not json")
    manifest.write_text("\n".join(good) + "\n")
    assert "data_report.json" in _one_line_error(capsys, ["data", "info", str(run)])


def test_bad_output_paths_are_one_line_errors(prepared, tmp_path, capsys, monkeypatch):
    raw = prepared[0]
    afile = tmp_path / "afile"
    afile.write_text("x")
    err = _one_line_error(capsys, ["data", "prepare", "folder", str(raw), str(afile)])
    assert "is an existing file" in err and afile.read_text() == "x"
    err = _one_line_error(capsys, ["data", "prepare", "folder", str(raw), str(afile / "run")])
    assert "is a file, not a folder" in err
    # a write that fails mid-way (read-only directory, full disk): one line naming the file, stage left unfinished
    from data_prep import engine

    def refuse(run_dir, sr):
        raise PermissionError(13, "Permission denied", str(Path(run_dir) / "audio" / str(sr)))

    monkeypatch.setattr(engine, "CacheWriter", refuse)
    err = _one_line_error(capsys, ["data", "prepare", "folder", str(raw), str(tmp_path / "run")])
    assert "cannot write" in err and "audio/48000" in err and "Permission denied" in err
    assert read_stage(tmp_path / "run")["status"] == "running"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_parent_is_refused_before_writing(prepared, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        assert "is not writable" in _one_line_error(
            capsys, ["data", "prepare", "folder", str(prepared[0]), str(ro / "run")]
        )
    finally:
        ro.chmod(0o700)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--duration", "-1"], "duration=-1.0 s is out of range 0.5-60 s"),
        (["--n-clips", "0"], "n_clips=0 must be >= 1"),
        (["--seed", "-3"], "synth_seed=-3 must be >= 0"),
        (["--cache-srs", "48000,-8000"], "cache rate -8000 Hz is out of range"),
        (["--config", "{tmp}/c.yaml"], "PrepareConfig.duration='x' has the wrong type"),
    ],
)
def test_config_errors_before_anything_is_written(tmp_path, capsys, argv, message):
    (tmp_path / "c.yaml").write_text("duration: x\n")
    run = tmp_path / "run"
    argv = ["data", "prepare", "synthetic", str(run), *[a.replace("{tmp}", str(tmp_path)) for a in argv]]
    assert message in _one_line_error(capsys, argv)
    assert not run.exists()


def test_failed_prepare_leaves_a_finished_one_finished(prepared, tmp_path, capsys):
    raw, run0, clean = prepared
    run = tmp_path / "run"
    import shutil

    shutil.copytree(run0, run)
    stage = (run / "stage.json").read_bytes()
    write_csv(raw / "bad.csv", ["path", "timestamp"], [["rec000.wav", "yesterday"]])
    try:
        err = _one_line_error(capsys, ["data", "prepare", "folder", str(raw), str(run), "--csv", "bad.csv"])
    finally:
        (raw / "bad.csv").unlink()
    assert "timestamp='yesterday' is not an ISO 8601 date-time" in err
    assert (run / "stage.json").read_bytes() == stage and _outputs(run) == clean
    # a synthetic set that would overwrite other files is refused before the lock or a stage record
    other = tmp_path / "other"
    (other / "raw").mkdir(parents=True)
    (other / "raw" / "mine.txt").write_text("x")
    err = _one_line_error(capsys, ["data", "prepare", "synthetic", str(other), "--n-clips", "3"])
    assert "already holds other files" in err and sorted(p.name for p in other.iterdir()) == ["raw"]


def test_outputs_do_not_depend_on_the_number_of_workers(prepared, tmp_path):
    from data_prep.engine import resolve_workers

    raw, _, clean = prepared
    for workers in (1, 3):
        _prepare(raw, tmp_path / f"w{workers}", workers=workers)
        assert _outputs(tmp_path / f"w{workers}") == clean
        assert "workers" not in read_stage(tmp_path / f"w{workers}")["config"]  # not recorded: a rerun stays up to date
    assert resolve_workers(0) >= 1 and resolve_workers(5) == 5
