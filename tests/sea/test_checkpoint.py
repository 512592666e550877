"""sea.checkpoint: deterministic bytes, safe loading, damaged files in one line, the front-end's window."""

from __future__ import annotations

import hashlib
import os
import pickle

import pytest
import torch

from sea import students
from sea.checkpoint import checkpoint_frontend, load_checkpoint, load_student, save_checkpoint
from sea.errors import ManifestError
from sea.students.frontend import FRONTEND_PARAMS, frontend_params


def test_identical_checkpoints_are_identical_bytes(tmp_path):
    # the stage that follows hashes the checkpoint file: a random name inside the zip would change it every run
    ckpt = {"model_name": "m", "model_args": {"a": 1}, "state_dict": {"w": torch.arange(6.0)}}
    digests = set()
    for name in ("a.pt", "b.pt", "sub/c.pt"):
        save_checkpoint(tmp_path / name, ckpt)
        digests.add(hashlib.sha256((tmp_path / name).read_bytes()).hexdigest())
    assert len(digests) == 1
    assert torch.equal(load_checkpoint(tmp_path / "a.pt")["state_dict"]["w"], torch.arange(6.0))


def _student_ckpt(name="sea_mcu_xs", **model_args):
    torch.manual_seed(0)
    m = students.create(name, **model_args)
    return m, {"model_name": name, "model_args": dict(model_args), "state_dict": m.state_dict()}


# --- the untrusted-file guarantees (issue 18 §3, §5) ----------------------------------------------------------------


class _Payload:
    """Unpickling this would create a marker file: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.claim
@pytest.mark.parametrize("where", ["top", "state_dict", "model_args"])
def test_malicious_checkpoint_runs_nothing_and_says_why(tmp_path, where):
    marker = tmp_path / "PWNED"
    _, ckpt = _student_ckpt()
    ckpt = {"format": "sea-student", "format_version": 1, **ckpt}
    if where == "top":
        ckpt["extra"] = _Payload(marker)
    elif where == "state_dict":
        ckpt["state_dict"] = {**ckpt["state_dict"], "evil": _Payload(marker)}
    else:
        ckpt["model_args"] = {"out_dim": _Payload(marker)}
    path = tmp_path / "best.pt"
    torch.save(ckpt, path)
    for load in (load_checkpoint, load_student):
        with pytest.raises(ManifestError) as exc:
            load(path)
        msg = str(exc.value)
        assert str(path) in msg and "arbitrary Python objects" in msg and "weights only" in msg
        assert "(io.open)" in msg  # names what it refused
        assert "weights_only=False" not in msg and "weights_only" not in msg  # never points to the unsafe option
        assert "\n" not in msg
    assert not marker.exists()
    # a plain pickle (not a torch zip) is refused too, without running
    with open(tmp_path / "plain.pt", "wb") as fh:
        pickle.dump({"x": _Payload(marker)}, fh)
    with pytest.raises(ManifestError):
        load_checkpoint(tmp_path / "plain.pt")
    assert not marker.exists()


def test_cli_refuses_a_malicious_checkpoint_in_one_line(tmp_path, capsys):
    from sea.cli import main

    marker = tmp_path / "PWNED"
    _, ckpt = _student_ckpt()
    torch.save({"format": "sea-student", **ckpt, "x": _Payload(marker)}, tmp_path / "best.pt")
    code = main(["export", str(tmp_path / "best.pt"), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and not marker.exists()
    assert "arbitrary Python objects" in err and "weights_only" not in err and "Traceback" not in err


@pytest.mark.claim
@pytest.mark.parametrize("cut", ["half", "tail", "empty", "head"])
def test_truncated_checkpoint_is_one_line_naming_the_file_and_the_fix(tmp_path, cut):
    m, ckpt = _student_ckpt()
    path = save_checkpoint(tmp_path / "students" / "s" / "best.pt", ckpt)
    data = path.read_bytes()
    keep = {"half": len(data) // 2, "tail": len(data) - 30, "empty": 0, "head": 10}[cut]
    path.write_bytes(data[:keep])
    for load in (load_checkpoint, load_student):
        with pytest.raises(ManifestError) as exc:
            load(path)
        msg = str(exc.value)
        assert str(path) in msg and "--overwrite" in msg and "sea distill" in msg, msg
        assert "Errno" not in msg and "miniz" not in msg and "\n" not in msg, msg
    with pytest.raises(ManifestError, match="sea export --overwrite"):
        load_checkpoint(path, fix="run 'sea export --overwrite'")
    # the directory form picks best.pt and says the same
    with pytest.raises(ManifestError, match="best.pt"):
        load_student(path.parent)


def test_weights_that_do_not_fit_the_architecture(tmp_path):
    _, ckpt = _student_ckpt()
    ckpt["model_name"] = "sea_mcu_s"
    save_checkpoint(tmp_path / "x.pt", ckpt)
    with pytest.raises(ManifestError, match="do not fit sea_mcu_s"):
        load_student(tmp_path / "x.pt")


def test_no_file_or_not_a_sea_checkpoint(tmp_path):
    with pytest.raises(ManifestError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    torch.save({"w": torch.zeros(2)}, tmp_path / "plain.pt")
    with pytest.raises(ManifestError, match="not a sea student checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(ManifestError, match="not a torch zip archive"):
        load_checkpoint(tmp_path / "text.pt")


# --- windows of any length (issue 15 §2) ----------------------------------------------------------------------------


def test_checkpoint_records_the_frontend_and_rebuilds_a_three_second_student(tmp_path):
    m, ckpt = _student_ckpt("sea_mcu_s", input_shape=[1, 64, 150])
    ckpt["frontend"] = frontend_params(3.0)
    save_checkpoint(tmp_path / "a.pt", ckpt)
    model, back = load_student(tmp_path / "a.pt")
    assert back["frontend"]["window_size"] == 3.0 and back["frontend"]["n_frames"] == 150
    assert model.input_shape == (1, 64, 150)
    x = -80 * torch.rand(2, 1, 64, 150)
    with torch.no_grad():
        assert torch.equal(model(x), m.eval()(x))
    # a front-end that disagrees with the student's shape is a programming error caught at save time
    ckpt["frontend"] = frontend_params(1.0)
    with pytest.raises(ValueError, match="output_shape"):
        save_checkpoint(tmp_path / "b.pt", ckpt)
    del ckpt["frontend"]
    with pytest.raises(ValueError, match="frontend"):
        save_checkpoint(tmp_path / "b.pt", ckpt)


def test_old_checkpoints_without_frontend_load_as_one_second(tmp_path):
    m, ckpt = _student_ckpt("sea_student_3")
    # written as sea did before: no "frontend", or one without window_size
    torch.save({"format": "sea-student", "format_version": 1, **ckpt}, tmp_path / "old.pt")
    old_fe = {k: v for k, v in FRONTEND_PARAMS.items() if k != "window_size"}
    torch.save({"format": "sea-student", "format_version": 1, **ckpt, "frontend": old_fe}, tmp_path / "old2.pt")
    for name in ("old.pt", "old2.pt"):
        model, back = load_student(tmp_path / name)
        assert back["frontend"] == FRONTEND_PARAMS and model.input_shape == (1, 64, 50)
        assert checkpoint_frontend(load_checkpoint(tmp_path / name))["window_size"] == 1.0
    # a student saved without a frontend record gets the 1-s one written in
    save_checkpoint(tmp_path / "new.pt", ckpt)
    assert load_checkpoint(tmp_path / "new.pt")["frontend"] == FRONTEND_PARAMS


def test_frontend_only_checkpoint_rebuilds_the_right_shape(tmp_path):
    # model_args without input_shape but a 3-s front-end: the student is built for 150 frames
    m, ckpt = _student_ckpt("sea_student_3", input_shape=(1, 64, 150))
    ckpt["model_args"] = {}
    torch.save({"format": "sea-student", **ckpt, "frontend": frontend_params(3.0)}, tmp_path / "c.pt")
    model, _ = load_student(tmp_path / "c.pt")
    assert model.input_shape == (1, 64, 150)
    assert os.path.getsize(tmp_path / "c.pt") > 0
