"""The export stage's reliability (issue 18) and manners (issue 19): lock, validation before writing, damaged
artifacts noticed by "up to date", kill -9 then rerun giving the same bytes, nothing swallowed, int8 following the
formats, a deployable head from another dataset, and no third-party chatter on stderr."""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sea.errors import ConfigError, ExportError, ParityError

from .conftest import make_checkpoint, needs_export, sea_cli, small_config

pytestmark = [pytest.mark.export, needs_export]

#: The CLI flags of small_config (so a subprocess export equals the session's mcu_export).
SMALL_FLAGS = ("--n-calibration", "24", "--n-parity", "12", "--n-parity-tflm", "3", "--latency-repeats", "3",
               "--no-teacher-latency", "--window-hop-size", "0.5")  # fmt: skip
#: Files whose bytes legitimately differ between two identical exports: timings (stage.json, the latency figures of
#: footprint.json) and the lock record.
TIMED = ("stage.json", "footprint.json", ".sea.lock")


def _hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file the export recorded in its stage.json (not what later commands add, e.g. check-firmware's
    build/ and check.json), but the timed ones."""
    files = json.loads((folder / "stage.json").read_text())["files"]
    return {
        rel: hashlib.sha256((folder / rel).read_bytes()).hexdigest()
        for rel in sorted(files)
        if Path(rel).name not in TIMED
    }


def _footprint_without_latency(folder: Path) -> dict:
    fp = json.loads((folder / "footprint.json").read_text())
    for key in ("latency_ms", "speedup_vs_teacher", "teacher_ms"):
        fp.pop(key, None)
    return fp


# -- kill -9 mid-export, then the same command again ------------------------------------------------------------


@pytest.fixture(scope="module")
def killed_then_rerun(mcu_export, tmp_path_factory):
    """`sea export CKPT -o OUT` SIGKILLed after the models are written (step 2 of its 'export <name>' bar), then
    the same command again; both as a user runs them (subprocesses, no flags but the small sizes)."""
    out = tmp_path_factory.mktemp("kill") / "killed"
    ckpt = mcu_export["checkpoint"]
    killed = sea_cli("export", ckpt, "-o", out, *SMALL_FLAGS, env={"SEA_FAULT_KILL": f"export {out.name}:2"})
    state = {
        "status": json.loads((out / "stage.json").read_text())["status"] if (out / "stage.json").is_file() else None,
        "models": (out / "model_int8.tflite").is_file(),
        "frontend": (out / "frontend.json").exists(),
    }
    rerun = sea_cli("export", ckpt, "-o", out, *SMALL_FLAGS)
    return out, killed, state, rerun


@pytest.mark.claim
def test_sigkill_mid_export_then_rerun_gives_identical_artifacts(killed_then_rerun, mcu_export):
    """The rerun ends with the same bytes as an uninterrupted export of the same checkpoint and calibration set
    (the session's mcu_export; only timings differ)."""
    out, killed, state, rerun = killed_then_rerun
    assert killed.returncode == -9, killed.stderr
    assert state == {"status": "running", "models": True, "frontend": False}
    assert rerun.returncode == 0, rerun.stderr
    assert "stale lock" in rerun.stderr  # the killed process's lock record is taken over, with a warning
    reference = Path(mcu_export["out_dir"])
    assert len(_hashes(reference)) > 30 and _hashes(out) == _hashes(reference)
    assert _footprint_without_latency(out) == _footprint_without_latency(reference)
    assert json.loads((out / "stage.json").read_text())["status"] == "done"


def test_export_stderr_has_no_third_party_line(killed_then_rerun):
    """Every stderr line of a plain `sea export` is sea's own (no torchvision, absl, oneDNN, XNNPACK, root logger)."""
    _, _, _, r = killed_then_rerun
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    foreign = [ln for ln in lines if not ln.startswith(("INFO sea", "WARNING sea", "warning: "))]
    assert not foreign, "third-party lines on stderr:\n" + "\n".join(foreign)
    assert any("-[✓] model_int8.tflite|tflite-micro" in ln for ln in lines)
    assert "tflite-runtime" not in r.stderr  # a skipped runtime is in parity.json, not on the terminal
    assert "export written to" in r.stdout and "firmware" in r.stdout
    assert "KiB" in r.stdout and " KB " not in r.stdout and " MB " not in r.stdout  # one unit convention


# -- "up to date" looks at the files ------------------------------------------------------------------------------


def test_truncated_tflite_is_noticed_and_rebuilt(export_run, tmp_path, caplog):
    from export import export_student

    ckpt = make_checkpoint(export_run, "sea_mcu_xs")
    cfg = small_config(calibration=str(export_run), formats=("tflite",), latency=False, int8=False)
    out = tmp_path / "exp"
    export_student(ckpt, out, cfg)
    model = out / "model_fp32.tflite"
    good = model.read_bytes()
    model.write_bytes(good[: len(good) // 2])
    with caplog.at_level(logging.INFO, logger="sea"):
        res = export_student(ckpt, out, cfg)
    assert f"{len(good) // 2} bytes where its stage wrote {len(good)}" in caplog.text  # its actual size, named
    assert model.read_bytes() == good
    assert res["footprint"]["artifacts"]["model_fp32.tflite"]["file_bytes"] == len(good)
    # an intact export is up to date: not rebuilt
    before = model.stat().st_mtime_ns
    export_student(ckpt, out, cfg)
    assert model.stat().st_mtime_ns == before


# -- one writer, and nothing written before validation ------------------------------------------------------------


def test_a_locked_run_is_refused(export_run):
    """A second process exporting into a run that another command holds exits 1 naming the holder's pid."""
    make_checkpoint(export_run, "sea_mcu_xs")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from sea.lock import run_lock\n"
         f"with run_lock({str(export_run)!r}):\n    print('held', flush=True); sys.stdin.readline()"],  # fmt: skip
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        r = sea_cli("export", export_run / "students" / "sea_mcu_xs" / "best.pt", "-o",
                    export_run / "export" / "locked", "--formats", "onnx", "--no-latency")  # fmt: skip
    finally:
        holder.communicate("\n", timeout=60)  # the holder finishes normally: no stale lock left for later tests
    assert r.returncode == 1
    assert f"locked by pid {holder.pid}" in r.stderr and "Traceback" not in r.stderr
    assert not (export_run / "export" / "locked").exists()


@pytest.mark.parametrize("case", ["calibration", "classifier", "formats", "out_is_file", "mcu_without_calibration"])
def test_bad_input_writes_nothing(export_run, tmp_path, case):
    from export import ExportConfig, export_student

    ckpt = make_checkpoint(export_run, "sea_mcu_xs")
    out = tmp_path / "o"
    kw = {"calibration": str(export_run), "latency": False}
    if case == "calibration":
        kw["calibration"] = str(tmp_path / "missing_run")
    elif case == "classifier":
        kw["classifier"] = str(tmp_path / "missing.npz")
    elif case == "out_is_file":
        out.write_text("a file")
    elif case == "mcu_without_calibration":
        kw = {"formats": ("mcu", "firmware")}
        ckpt = tmp_path / "copy" / "best.pt"  # outside a run: nothing to calibrate on
        ckpt.parent.mkdir()
        ckpt.write_bytes(make_checkpoint(export_run, "sea_mcu_xs").read_bytes())
    if case == "formats":
        with pytest.raises(ConfigError, match="did you mean 'tflite'"):
            export_student(ckpt, out, ExportConfig(formats=("tflit",), **kw))
    else:
        with pytest.raises((ExportError, ConfigError)) as err:
            export_student(ckpt, out, ExportConfig(**kw))
        assert "\n" not in str(err.value)
    assert (out.is_file() and out.read_text() == "a file") if case == "out_is_file" else not out.exists()


# -- int8 follows the formats -----------------------------------------------------------------------------------


def test_int8_follows_the_formats(export_run, tmp_path, caplog):
    """mcu and firmware imply int8; without anything to calibrate on they are skipped with a warning, never silently."""
    from export import ExportConfig, export_model
    from sea import students

    model = students.create("sea_mcu_xs").eval()
    with caplog.at_level(logging.WARNING, logger="sea.export"):
        res = export_model(model, tmp_path / "a", ExportConfig(formats=("onnx", "mcu", "firmware"), latency=False))
    assert "firmware and mcu skipped" in caplog.text and "--calibration" in caplog.text
    assert not (tmp_path / "a" / "mcu").exists() and res["formats"] == ["onnx"]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="sea.export"):
        res = export_model(model, tmp_path / "b", ExportConfig(formats=("onnx", "mcu"), int8=False, latency=False))
    assert "mcu skipped (--no-int8)" in caplog.text and res["formats"] == ["onnx"]
    # with a calibration source the plain `sea export CKPT` builds int8, mcu and firmware: see the kill -9 test


# -- nothing swallowed ------------------------------------------------------------------------------------------


def test_non_strict_export_does_not_swallow_a_bug(export_run, tmp_path, monkeypatch):
    """--no-strict tolerates parity misses (ParityError) only; a bug in a step propagates with its type."""
    from export import export_student, parity

    ckpt = make_checkpoint(export_run, "sea_mcu_xs")
    cfg = small_config(calibration=str(export_run), formats=("onnx",), latency=False, strict=False, int8=False)

    def bug(*a, **k):
        raise TypeError("a bug in a parity helper")

    monkeypatch.setattr(parity, "parity_report", bug)
    with pytest.raises(TypeError, match="a bug in a parity helper"):
        export_student(ckpt, tmp_path / "bug", cfg)
    monkeypatch.undo()

    def miss(results):
        raise ParityError("1 exported artifact(s) disagree")

    monkeypatch.setattr(parity, "raise_failures", miss)
    export_student(ckpt, tmp_path / "miss", cfg)  # tolerated: recorded, warned
    with pytest.raises(ParityError):
        export_student(ckpt, tmp_path / "strict", small_config(calibration=str(export_run), formats=("onnx",),
                                                               latency=False, int8=False))  # fmt: skip
    # a strict failure leaves the stage unfinished, so the next run does not call it "up to date"
    assert json.loads((tmp_path / "strict" / "stage.json").read_text())["status"] == "running"


def test_a_runtime_bug_is_not_recorded_as_a_parity_miss(monkeypatch):
    from export import parity

    rec = parity._Recorder(np.ones((2, 3)))
    rec.record("m.onnx", "onnxruntime", lambda: (_ for _ in ()).throw(RuntimeError("cannot run")), 0.99)
    assert rec.results["m.onnx|onnxruntime"]["error"] == "RuntimeError: cannot run"
    with pytest.raises(AttributeError):
        rec.record("m.onnx", "onnxruntime", lambda: None.shape, 0.99)


def test_arena_search_reports_other_tflm_errors_with_their_type(mcu_export, monkeypatch):
    """Only TFLM's "failed to allocate" means "does not fit the arena"; anything else is named with its type."""
    from export import footprint, tflite

    path = Path(mcu_export["out_dir"]) / "model_int8.tflite"
    assert (
        footprint.measure_arena(path) == mcu_export["footprint"]["artifacts"]["model_int8.tflite"]["tflm_arena_bytes"]
    )

    def broken(p, n):
        raise ValueError("Invalid model file path")

    monkeypatch.setattr(tflite, "tflm_interpreter", broken)
    with pytest.raises(ExportError, match="ValueError: Invalid model file path") as err:
        footprint.measure_arena(path)
    assert "does not fit" not in str(err.value)


# -- a deployable head from another dataset ---------------------------------------------------------------------


def test_head_of_another_dataset_skips_the_accuracy_figure(mcu_export, tmp_path):
    """sea run fits the head on the primary evaluation dataset; on the run's windows its accuracy means nothing
    unless the label sets agree: parity.json says why it is skipped, the Pi bundle still ships the head."""
    from export import parity

    ref = np.random.default_rng(0).random((6, 4))
    labels = np.array([0, 1, 2, 0, 1, 2])
    np.savez(tmp_path / "other.npz", W=np.eye(4, 3), b=np.zeros(3), labels=np.array(["dog", "siren", "drill"]))
    np.savez(tmp_path / "same.npz", W=np.eye(4, 3), b=np.zeros(3), labels=np.array(["class0", "class1", "class2"]))
    names = ["class0", "class1", "class2"]
    other = parity.downstream(tmp_path / "other.npz", ref, {"m|rt": ref}, labels, label_names=names)
    assert "not the run's" in other["skipped"] and "still shipped" in other["skipped"]
    assert "reference_accuracy" in parity.downstream(tmp_path / "same.npz", ref, {"m|rt": ref}, labels,
                                                     label_names=names)  # fmt: skip
    unlabelled = parity.downstream(tmp_path / "same.npz", ref, {}, -np.ones(6, np.int64), label_names=None)
    assert "no labels" in unlabelled["skipped"]


def test_export_with_a_foreign_head(export_run, tmp_path):
    from export import export_student

    ckpt = make_checkpoint(export_run, "sea_mcu_xs")
    np.savez(tmp_path / "head.npz", W=np.eye(16, 3), b=np.zeros(3), labels=np.array(["dog", "siren", "drill"]))
    cfg = small_config(calibration=str(export_run), formats=("onnx", "pi"), int8=False, latency=False,
                       classifier=str(tmp_path / "head.npz"))  # fmt: skip
    res = export_student(ckpt, tmp_path / "o", cfg)
    assert "not the run's" in res["parity"]["downstream"]["skipped"]
    assert (tmp_path / "o" / "pi" / "classifier.npz").is_file()



def test_c_stderr_captured_drops_the_chatter_and_restores_stderr_when_the_body_fails(capfd):
    import os

    from export.quiet import c_stderr_captured

    with c_stderr_captured("ok step"):
        os.write(2, b"chatter\n")
    assert capfd.readouterr().err == ""
    with pytest.raises(RuntimeError, match="boom"), c_stderr_captured("failing step"):
        os.write(2, b"why it failed\n")
        raise RuntimeError("boom")
    os.write(2, b"after\n")  # fd 2 is stderr again
    assert capfd.readouterr().err == "after\n"
