"""Distillation: losses, config errors, data alignment/split/order, training, outputs, resume, DDP, CLI."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from sea.checkpoint import load_checkpoint, load_student
from sea.cli import main
from sea.distill import DistillConfig, distill, report_text
from sea.distill.data import WindowSource, epoch_batches, group_labels, split_rows
from sea.distill.losses import DistillLoss, cosine_loss, mse_loss, relational_loss
from sea.errors import ConfigError, ManifestError
from sea.runs import Stage, read_stage

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def build_run(run_dir: Path, *, n_clips: int = 36, hop_size: float = 0.1, teacher_dim: int = 32, dim: int = 8) -> Path:
    """A synthetic run (stand-in teacher store, 8 kHz cache) with a fitted PCA target set ``pca<dim>``."""
    import warnings

    from sea.evaluate.demo import make_demo_run
    from sea.targets import TargetsConfig, fit_targets

    make_demo_run(run_dir, n_clips=n_clips, hop_size=hop_size, teacher_dim=teacher_dim, pca_dims=(dim,), students={})
    with Stage(run_dir / "teacher" / "standin", "teacher", {"standin": True}).running():
        pass  # the demo store has no stage.json; the targets stage requires one
    shutil.rmtree(run_dir / "targets" / f"pca{dim}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_targets(run_dir, TargetsConfig(dim=dim, name=f"pca{dim}", n_points=100_000))
    return run_dir


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return build_run(tmp_path_factory.mktemp("distill") / "run")


def cfg(**kw) -> DistillConfig:
    base = dict(
        student="sea_mcu_xs",
        student_args={"out_dim": 8},
        targets="pca8",
        epochs=2,
        batch_size=32,
        lr=3e-3,
        max_steps_per_epoch=4,
        bn_recalibrate=4,
        num_workers=1,
        val_fraction=0.25,
        patience=0,
    )
    base.update(kw)
    return DistillConfig(**base)


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["state_dict"]


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)


# -- losses ----------------------------------------------------------------------------------------------------


def test_mse_and_cosine_losses():
    y = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    t = torch.tensor([[1.0, 1.0], [0.0, -2.0]])
    assert float(mse_loss(y, t)) == pytest.approx((0 + 1 + 0 + 16) / 4)
    # cos: row 0 = 1/sqrt(2), row 1 = -1
    assert float(cosine_loss(y, t)) == pytest.approx(((1 - 2**-0.5) + 2) / 2)
    assert float(cosine_loss(3 * t, t)) == pytest.approx(0.0, abs=1e-6)


def test_relational_loss_structure_and_rotation_invariance(rng):
    t = torch.from_numpy(rng.standard_normal((16, 8))).float()
    q, _ = torch.linalg.qr(torch.from_numpy(rng.standard_normal((8, 8))).float())
    y = 2.5 * t @ q  # rotated and scaled: same pairwise cosines
    assert float(relational_loss(y, t)) == pytest.approx(0.0, abs=1e-10)
    assert float(mse_loss(y, t)) > 1.0  # the coordinates differ, only the structure matches
    assert float(relational_loss(t, t)) == 0.0
    shuffled = t[torch.randperm(16, generator=torch.Generator().manual_seed(0))]
    assert float(relational_loss(shuffled, t)) > 0.05
    y.requires_grad_(True)
    relational_loss(y + 0.1 * torch.randn_like(y), t).backward()
    assert torch.isfinite(y.grad).all()
    with pytest.raises(ConfigError, match="batch of >= 2"):
        relational_loss(t[:1], t[:1])


def test_distill_loss_weighting():
    y, t = torch.randn(8, 4), torch.randn(8, 4)
    total, parts = DistillLoss(mse=2.0, relational=0.5)(y, t)
    assert set(parts) == {"mse", "relational"}
    assert float(total) == pytest.approx(2 * float(mse_loss(y, t)) + 0.5 * float(relational_loss(y, t)), rel=1e-6)
    with pytest.raises(ConfigError, match="all 0"):
        DistillLoss(mse=0.0)
    with pytest.raises(ConfigError, match="cosine=-1"):
        DistillLoss(cosine=-1)


# -- config ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"student": "sea_student_9"}, "unknown student 'sea_student_9'; available students: sea_student_0"),
        ({"mse": 0.0}, "all 0; give at least one a positive weight"),
        ({"mse": -1.0}, r"mse=-1.0 must be a finite loss weight >= 0"),
        ({"relational": float("nan")}, "relational=nan must be a finite"),
        ({"relational": 0.1, "batch_size": 1}, "batch_size=1 must be >= 2 with a relational loss"),
        ({"batch_size": 0}, "batch_size=0 must be >= 1"),
        ({"lr": 0.0}, "lr=0.0 must be > 0"),
        ({"val_fraction": 1.0}, r"val_fraction=1.0 must be in \[0, 1\)"),
        ({"lr_factor": 1.5}, r"lr_factor=1.5 must be in \(0, 1\)"),
        ({"device": "tpu"}, "device='tpu' must be auto, cpu, cuda or cuda:N"),
        ({"student_args": [1, 2]}, "student_args=.* must be a mapping"),
        ({"name": "a/b"}, "name='a/b' must be a plain directory name"),
    ],
)
def test_config_errors(kw, match):
    with pytest.raises(ConfigError, match=match):
        DistillConfig(**kw).validate()


def test_config_yaml_and_hash(tmp_path):
    from sea.config import config_hash, load_config

    y = tmp_path / "d.yaml"
    y.write_text("student: sea_mcu_s\nstudent_args: {out_dim: 32}\nrelational: 0.1\n")
    c = load_config(DistillConfig, y, {"lr": 1e-3})
    assert c.student_args == {"out_dim": 32} and c.relational == 0.1 and c.lr == 1e-3 and c.output_name() == "sea_mcu_s"
    assert config_hash(c) != config_hash(load_config(DistillConfig, y, {"lr": 2e-3}))
    with pytest.raises(ConfigError, match="unknown DistillConfig key"):
        load_config(DistillConfig, overrides={"learning_rate": 1})


# -- data --------------------------------------------------------------------------------------------------------


def test_windows_align_with_teacher_frames(run):
    from sea.cache import AudioCache
    from sea.targets import open_targets

    reader = open_targets(run, "pca8")
    src = WindowSource(run, reader)
    cache = AudioCache(run, 8000)
    store = reader.store
    rows = np.array([0, 1, 5, 20, len(store) - 1, 137])
    audio, targets = src(rows)
    assert audio.shape == (6, 8000) and audio.dtype == np.float32 and targets.shape == (6, 8)
    for i, r in enumerate(rows):
        start = int(round(store.timestamps[r] * 8000)) - 4000  # centred 1-s window at the frame's timestamp
        np.testing.assert_array_equal(audio[i], cache.window(str(store.clip_ids[r]), start, 8000))
    np.testing.assert_allclose(targets, reader.read(rows))
    assert not audio[0, :4000].any() and audio[0, 4000:].any()  # frame 0 is zero-padded on the left


def test_split_by_group_and_epoch_order(run):
    from sea.targets import open_targets

    clip_ids = WindowSource(run, open_targets(run, "pca8")).clip_ids
    for key in ("clip", "fold"):
        groups = group_labels(run, clip_ids, key)
        tr, va = split_rows(groups, 0.25, seed=3)
        assert tr.size + va.size == clip_ids.size and va.size > 0
        assert not set(groups[tr]) & set(groups[va])  # no group (hence no clip) on both sides
        assert not set(clip_ids[tr]) & set(clip_ids[va])
        tr2, va2 = split_rows(groups, 0.25, seed=3)
        np.testing.assert_array_equal(va, va2)
        # the held-out groups are the first of default_rng([seed, 0])'s permutation: runs keep their split
        uniq = np.unique(groups)
        held = np.random.default_rng([3, 0]).permutation(uniq)[: int(round(0.25 * uniq.size))]
        assert set(groups[va]) == set(held)
    with pytest.raises(ConfigError, match="val_by='colour'.*choose 'clip' or one of.*fold"):
        group_labels(run, clip_ids, "colour")

    rows = np.arange(100, dtype=np.int64)
    a = epoch_batches(rows, seed=1, epoch=3, batch_size=16)
    np.testing.assert_array_equal(
        np.concatenate(a), np.concatenate(epoch_batches(rows, seed=1, epoch=3, batch_size=16))
    )
    assert not np.array_equal(np.concatenate(a), np.concatenate(epoch_batches(rows, seed=1, epoch=4, batch_size=16)))
    assert sorted(np.concatenate(a).tolist()) == list(range(100)) and [b.size for b in a] == [16] * 6 + [4]
    r0 = epoch_batches(rows, seed=1, epoch=3, batch_size=16, rank=0, world=2, max_steps=5)
    r1 = epoch_batches(rows, seed=1, epoch=3, batch_size=16, rank=1, world=2, max_steps=5)
    assert len(r0) == len(r1) == 5 and all(b.size == 8 for b in r0 + r1)
    for g, b0, b1 in zip(a, r0, r1):  # the ranks split each global batch
        assert sorted(np.concatenate([b0, b1]).tolist()) == sorted(g.tolist())


# -- training ------------------------------------------------------------------------------------------------------


def test_outputs_checkpoint_contract_and_determinism(run):
    out = distill(run, cfg(name="contract", relational=0.1, cosine=0.1))
    assert out == run / "students" / "contract"
    for f in ("ckpt.pt", "best.pt", "log.csv", "fidelity.json", "stage.json"):
        assert (out / f).is_file(), f
    assert any((out / "tb").iterdir())
    model, ck = load_student(out / "best.pt")
    assert ck["model_name"] == "sea_mcu_xs" and ck["model_args"] == {"out_dim": 8}
    assert ck["target_spec"]["name"] == "pca8" and ck["target_spec"]["dim"] == 8
    assert ck["teacher"]["variant"] == "standin" and ck["teacher"]["untrained"] is False
    assert ck["frontend"]["sr"] == 8000 and ck["config"]["relational"] == 0.1 and ck["config"]["targets"] == "pca8"
    with torch.no_grad():
        assert model(torch.zeros(3, 1, 64, 50)).shape == (3, 8)
    full = load_checkpoint(out / "ckpt.pt")
    assert full["epoch"] == 2 and full["step"] == 8 and {"optimizer", "scheduler", "torch_rng"} <= set(full)
    rows = list(csv.DictReader(open(out / "log.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2] and [int(r["step"]) for r in rows] == [4, 8]
    assert {"train_loss", "val_loss", "lr", "time"} <= set(rows[0]) and float(rows[0]["val_loss"]) > 0
    fid = json.loads((out / "fidelity.json").read_text())
    assert len(fid["r2_per_dim"]) == 8 and fid["split"] == "val" and fid["n_frames"] > 0
    assert {"mse", "r2_mean", "r2_weighted", "cosine_mean"} <= set(fid) and "r2_mean" in fid["initial"]
    st = read_stage(out)
    assert st["status"] == "done" and st["counts"]["world_size"] == 1 and st["counts"]["steps"] == 8
    assert set(st["inputs"]) == {"targets", "audio"} and 0 <= st["counts"]["data_wait_fraction"] < 1

    # same seed -> bitwise the same weights; another seed -> different
    again = distill(run, cfg(name="contract2", relational=0.1, cosine=0.1))
    assert_same_weights(weights(out / "ckpt.pt"), weights(again / "ckpt.pt"))
    other = distill(run, cfg(name="contract3", relational=0.1, cosine=0.1, seed=1, epochs=1))
    assert not torch.equal(weights(other / "ckpt.pt")["head.weight"], weights(out / "ckpt.pt")["head.weight"])


def test_rerun_is_noop_overwrite_retrains_config_change_reruns(run):
    c = cfg(name="noop", epochs=1)
    out = distill(run, c)
    h1 = read_stage(out)["config_hash"]
    m = (out / "best.pt").stat().st_mtime_ns
    assert distill(run, c) == out and (out / "best.pt").stat().st_mtime_ns == m  # no-op
    distill(run, c, overwrite=True)
    assert (out / "best.pt").stat().st_mtime_ns != m and read_stage(out)["counts"]["resumed_from_epoch"] == 0
    distill(run, cfg(name="noop", epochs=1, lr=1e-3))
    assert read_stage(out)["config_hash"] != h1 and load_checkpoint(out / "best.pt")["config"]["lr"] == 1e-3


def test_linear_student_beats_post_relu_student(run):
    """The post-ReLU student cannot output negative PCA coordinates; the signed twin fits them."""
    kw = dict(epochs=6, max_steps_per_epoch=0, bn_recalibrate=8)
    lin = json.loads((distill(run, cfg(name="xs_lin", **kw)) / "fidelity.json").read_text())
    relu_args = {"out_dim": 8, "final_relu": True}
    relu = json.loads((distill(run, cfg(name="xs_relu", student_args=relu_args, **kw)) / "fidelity.json").read_text())
    bar = 0.5
    assert lin["r2_weighted"] > bar and lin["cosine_mean"] > 0.6, lin
    assert lin["initial"]["r2_weighted"] < bar  # the untrained student fails the bar
    assert relu["r2_weighted"] < lin["r2_weighted"] - 0.2, (relu, lin)
    assert lin["r2_mean"] > relu["r2_mean"]


@pytest.mark.slow
def test_sea_student_3_lin_beats_sea_student_3(tmp_path):
    """The paper comparison: Student 3 (post-ReLU) vs its _lin twin on 64-d PCA targets (~6 min on 1 shared core).

    At this tiny budget (25 epochs x 17 steps) both are far from converged, so the R^2 gap is small (measured
    0.46 vs 0.44 weighted R^2); the hard facts are that Student 3 never outputs a negative coordinate while the
    targets are signed, and that its outputs point less often the right way (cosine).
    """
    from sea.distill.data import WindowSource
    from sea.students.frontend import StudentFrontend
    from sea.targets import open_targets

    r = build_run(tmp_path / "run64", n_clips=36, teacher_dim=96, dim=64)
    kw = dict(targets="pca64", student_args=None, epochs=25, max_steps_per_epoch=0, bn_recalibrate=8, lr=1e-3)
    lin_dir, paper_dir = (distill(r, cfg(student=s, **kw)) for s in ("sea_student_3_lin", "sea_student_3"))
    lin, paper = (json.loads((d / "fidelity.json").read_text()) for d in (lin_dir, paper_dir))
    assert lin["r2_weighted"] > 0.4 > lin["initial"]["r2_weighted"], lin
    assert lin["r2_weighted"] > paper["r2_weighted"], (lin, paper)
    assert lin["cosine_mean"] > paper["cosine_mean"] + 0.05, (lin, paper)
    src = WindowSource(r, open_targets(r, "pca64"))
    audio, targets = src(np.arange(0, src.n_rows, 7))
    feats = StudentFrontend(mode="stft")(torch.from_numpy(audio))
    with torch.no_grad():
        y_paper = load_student(paper_dir / "best.pt")[0](feats)
        y_lin = load_student(lin_dir / "best.pt")[0](feats)
    assert (targets < 0).mean() > 0.3  # signed targets
    assert float(y_paper.min()) >= 0.0 and float(y_lin.min()) < 0.0


def test_input_errors(run, tmp_path):
    with pytest.raises(ManifestError, match=r"target set 'pca99' not found.*available: pca8.*sea targets fit"):
        distill(run, cfg(targets="pca99"))
    with pytest.raises(ConfigError, match=r"outputs 64-d embeddings but target set 'pca8' is 8-d.*out_dim: 8"):
        distill(run, cfg(name="dim", student_args=None))
    with pytest.raises(ConfigError, match="val_by='colour'"):
        distill(run, cfg(name="vb", val_by="colour"))
    with pytest.raises(ConfigError, match="unknown student"):
        distill(run, cfg(student="nope"))
    with pytest.raises(ConfigError, match="student 'sea_mcu_xs' has no option"):
        distill(run, cfg(name="sa", student_args={"out_dim": 8, "colour": 1}))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ManifestError, match="no target sets.*sea targets fit"):
        distill(empty, DistillConfig())
    nocache = tmp_path / "nocache"
    shutil.copytree(run / "targets", nocache / "targets")
    shutil.copytree(run / "teacher", nocache / "teacher")
    with pytest.raises(ManifestError, match="no 8000 Hz audio cache"):
        distill(nocache, cfg())


def test_cli(run, capsys):
    argv = ["distill", str(run), "--student", "sea_mcu_xs", "--student-args", "{out_dim: 8}", "--targets", "pca8",
            "--name", "cli", "--epochs", "1", "--max-steps-per-epoch", "2", "--batch-size", "16", "--bn-recalibrate", "2"]  # fmt: skip
    assert main(["--seed", "5", *argv]) == 0
    out = capsys.readouterr().out
    assert "r2_mean" in out and str(run / "students" / "cli") in out
    assert load_checkpoint(run / "students" / "cli" / "best.pt")["config"]["seed"] == 5
    assert main([*argv, "--report"]) == 0
    printed = capsys.readouterr().out
    assert "cosine_mean" in printed and printed == report_text(run / "students" / "cli") + "\n"
    assert main(["distill", str(run), "--student", "nope"]) == 1
    assert "unknown student 'nope'" in capsys.readouterr().err
    assert main(["distill", str(run), "--targets", "pca8", "--mse", "0"]) == 1
    assert "all 0" in capsys.readouterr().err
    assert main(["distill", str(run), "--student-args", "[1"]) == 1
    with pytest.raises(SystemExit) as e:
        main(["distill", str(run), "--frontend-dtype", "float16"])
    assert e.value.code == 2


# -- kill and resume -------------------------------------------------------------------------------------------------

KILL_SCRIPT = """
import sys, time, torch
torch.set_num_threads(1)
sys.path.insert(0, {root!r})
_step = torch.optim.Adam.step
def slow_step(self, *a, **k):
    time.sleep(0.05)  # slow, not different: the kill must land mid-run
    return _step(self, *a, **k)
torch.optim.Adam.step = slow_step
from tests.sea.test_distill import cfg
from sea.distill import distill
distill({run!r}, cfg(**{kw!r}))
print("FINISHED")
"""


def test_kill_and_resume_matches_uninterrupted(run):
    kw = dict(epochs=4, max_steps_per_epoch=6, name="killed", relational=0.1)
    out = run / "students" / "killed"
    env = {**os.environ, "SEA_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT.format(root=str(ROOT), run=str(run), kw=kw)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (out / "ckpt.pt").exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    done_epochs = load_checkpoint(out / "ckpt.pt")["epoch"]
    assert 1 <= done_epochs < 4 and read_stage(out)["status"] == "running"

    resumed = distill(run, cfg(**kw))
    st = read_stage(resumed)
    assert st["status"] == "done" and st["counts"]["resumed_from_epoch"] == done_epochs
    ref = distill(run, cfg(**{**kw, "name": "uninterrupted"}))
    assert_same_weights(weights(ref / "ckpt.pt"), weights(resumed / "ckpt.pt"))
    assert_same_weights(weights(ref / "best.pt"), weights(resumed / "best.pt"))
    a, b = list(csv.DictReader(open(ref / "log.csv"))), list(csv.DictReader(open(resumed / "log.csv")))
    assert [r["val_loss"] for r in a] == [r["val_loss"] for r in b] and len(a) == 4
    assert not list(resumed.glob(".*.pt"))


# -- torchrun ------------------------------------------------------------------------------------------------------------

DIST_SCRIPT = """
import sys, torch
torch.set_num_threads(1)
sys.path.insert(0, {root!r})
from tests.sea.test_distill import cfg
from sea.distill import distill
distill(sys.argv[1], cfg(**{kw!r}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_ranks(run, tmp_path):
    kw = dict(name="ddp", epochs=3, max_steps_per_epoch=6, num_workers=0)
    script = tmp_path / "dist_distill.py"
    script.write_text(DIST_SCRIPT.format(root=str(ROOT), kw=kw))
    env = {**os.environ, "SEA_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1"}
    r = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
         "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), str(script), str(run)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    out = run / "students" / "ddp"
    st = read_stage(out)
    assert st["status"] == "done" and st["counts"]["world_size"] == 2 and st["counts"]["ranks_in_sync"] is True
    assert st["counts"]["steps"] == 18
    rows = list(csv.DictReader(open(out / "log.csv")))
    assert len(rows) == 3 and float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    assert sorted(p.name for p in out.iterdir()) == [
        "best.pt",
        "ckpt.pt",
        "fidelity.json",
        "log.csv",
        "stage.json",
        "tb",
    ]
    model, ck = load_student(out / "best.pt")
    assert ck["config"]["name"] == "ddp"


# -- quantization-aware training ---------------------------------------------------------------------------------------


def test_fake_quant_simulates_int8_and_restores_the_float_model(rng):
    from sea import students
    from sea.distill.qat import FakeQuant

    torch.manual_seed(0)
    m = students.create("sea_mcu_xs").eval()
    x = torch.from_numpy(np.clip(-40 + 20 * rng.standard_normal((16, 1, 64, 50)), -80, 0).astype(np.float32))
    with torch.no_grad():
        ref = m(x)
        fq = FakeQuant(m)
        fq.calibrating = True
        m(x)
        fq.calibrating = False
        y = m(x)
        assert {"<input>", "<output>"} <= set(fq.ranges) and len(fq.ranges) > 5
        lo, hi = fq.ranges["<input>"]
        assert lo <= -70 and hi == pytest.approx(0.0, abs=1e-6)
        cos = torch.nn.functional.cosine_similarity(y, ref).mean().item()
        assert 0.9 < cos < 1.0 and not torch.equal(y, ref)  # int8 rounding is there, and small
        # the input really is on a 256-level grid: on-grid inputs moved by less than half a step give the same output
        step = (hi - lo) / 255
        xg = torch.round(x / step) * step
        assert torch.equal(m(xg + 0.2 * step), m(xg)) and not torch.equal(m(xg + 0.8 * step), m(xg))
        fq.remove()
        assert torch.equal(m(x), ref)  # hooks gone, float again
    assert set(m.state_dict()) == set(students.create("sea_mcu_xs").state_dict())  # plain checkpoint layout


def test_qat_fine_tunes_a_float_student_and_reports_int8_fidelity(run):
    f_out = distill(run, cfg(name="qat_base", epochs=3))
    base = json.loads((f_out / "fidelity.json").read_text())
    assert "int8_simulated" in base and 0 < base["int8_simulated"]["cosine_mean"] <= 1
    q_out = distill(run, cfg(qat=True, init_from="qat_base", epochs=2, lr=3e-4))
    assert q_out.name == "sea_mcu_xs_qat"  # default name of a QAT student
    rep = json.loads((q_out / "fidelity.json").read_text())
    # it starts from the float student, not from scratch
    assert rep["initial"]["r2_weighted"] == pytest.approx(base["r2_weighted"], abs=0.05)
    assert rep["int8_simulated"]["r2_weighted"] > base["initial"]["r2_weighted"] + 0.2
    ck = load_checkpoint(q_out / "best.pt")
    assert ck["qat_ranges"] and set(ck["state_dict"]) == set(weights(f_out / "best.pt"))
    assert str(f_out / "best.pt") == json.loads((q_out / "stage.json").read_text())["config"]["init_from"]
    # same config and the same float checkpoint (a stage input): a no-op
    stage_before = json.loads((q_out / "stage.json").read_text())["finished"]
    distill(run, cfg(qat=True, init_from="qat_base", epochs=2, lr=3e-4))
    assert json.loads((q_out / "stage.json").read_text())["finished"] == stage_before


def test_qat_init_errors(run):
    with pytest.raises(ManifestError, match="init_from='nope'.*distil the float student first"):
        distill(run, cfg(qat=True, init_from="nope"))
    distill(run, cfg(name="qat_other", student="sea_mcu_s", epochs=1, max_steps_per_epoch=2))
    with pytest.raises(ConfigError, match="holds 'sea_mcu_s'.*use the same student"):
        distill(run, cfg(name="qat_bad", qat=True, init_from="qat_other"))
    with pytest.raises(ConfigError, match="own output"):
        distill(run, cfg(name="qat_other", student="sea_mcu_s", qat=True, init_from="qat_other"))
