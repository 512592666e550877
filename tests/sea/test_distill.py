"""Distillation: losses, config errors, data alignment/split/order, training, outputs, resume, DDP, CLI."""

from __future__ import annotations

import csv
import json
import os
import re
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
from sea.errors import ConfigError, ManifestError, SeaWarning
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


def test_distill_loss_standardises_both_sides():
    """With center/scale every term compares (y - c) / s with (t - c) / s: a small-variance dim counts fully."""
    c, s = torch.tensor([1.0, -2.0, 0.0]), torch.tensor([10.0, 0.1, 1.0])
    t = c + s * torch.randn(16, 3, generator=torch.Generator().manual_seed(0))
    y = t.clone()
    y[:, 1] += 0.1  # one std of the small dim
    plain = float(DistillLoss(mse=1.0)(y, t)[0])
    total, parts = DistillLoss(mse=1.0, cosine=0.5, center=c, scale=s)(y, t)
    zy, zt = (y - c) / s, (t - c) / s
    assert float(parts["mse"]) == pytest.approx(float(mse_loss(zy, zt)), rel=1e-6)
    assert float(parts["mse"]) == pytest.approx(1 / 3, rel=1e-4)  # 1 std in one of 3 dims
    assert plain == pytest.approx(0.01 / 3, rel=1e-4)  # plain MSE hardly sees it
    assert float(total) == pytest.approx(float(mse_loss(zy, zt)) + 0.5 * float(cosine_loss(zy, zt)), rel=1e-6)
    assert DistillLoss(mse=1.0).standardise(y, t)[0] is y
    with pytest.raises(ConfigError, match="both center and scale"):
        DistillLoss(center=c)
    with pytest.raises(ConfigError, match="finite and > 0"):
        DistillLoss(center=c, scale=torch.tensor([1.0, 0.0, 1.0]))


@pytest.mark.claim
def test_standardised_loss_keeps_the_small_dimensions_a_probe_needs():
    """The README's reason for ``standardize``: with the capacity for one direction, plain MSE spends it on the
    large target dimension and loses the class, which lives in two small ones; standardised, the student keeps it."""
    from sklearn.linear_model import LogisticRegression

    from sea.distill.session import _target_stats

    g = torch.Generator().manual_seed(0)
    x = torch.randn(2048, 4, generator=g)
    label = (x[:, 1] > 0).long()
    t = torch.stack([10 * x[:, 0], 0.1 * x[:, 1], 0.1 * x[:, 1] + 0.01 * x[:, 2]], 1)  # var 100, 0.01, 0.01

    class Reader:
        dim = 3

        def read(self, idx):
            return t[torch.as_tensor(idx)].numpy()

    accuracy = {}
    for standardize in (False, True):
        torch.manual_seed(0)
        student = torch.nn.Sequential(torch.nn.Linear(4, 1), torch.nn.Linear(1, 3))  # rank 1: one direction
        stats = _target_stats(Reader(), np.arange(1024), "cpu") if standardize else (None, None)
        loss_fn = DistillLoss(center=stats[0], scale=stats[1])
        opt = torch.optim.Adam(student.parameters(), lr=0.02)
        for _ in range(400):
            opt.zero_grad()
            loss_fn(student(x[:1024]), t[:1024])[0].backward()
            opt.step()
        with torch.no_grad():
            emb = student(x).numpy()
        z = (emb - emb[:1024].mean(0)) / (emb[:1024].std(0) + 1e-9)  # the probe's standardisation
        probe = LogisticRegression().fit(z[:1024], label[:1024].numpy())
        accuracy[standardize] = probe.score(z[1024:], label[1024:].numpy())
    assert accuracy[True] > 0.95 and accuracy[False] < 0.65, accuracy


def test_streamed_mean_std_equals_numpy_over_batches():
    from sea.utils import streamed_mean_std

    x = np.random.default_rng(0).normal(3.0, 2.0, (1000, 5)).astype(np.float32)
    rows = np.arange(0, 1000, 3)
    mean, std = streamed_mean_std(x.__getitem__, rows, batch=64)  # several batches and a partial one
    np.testing.assert_allclose(mean, x[rows].astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(std, x[rows].astype(np.float64).std(0), rtol=1e-9)
    mean, std = streamed_mean_std(x.__getitem__, rows[:0])
    assert mean.shape == std.shape == (5,) and not mean.any() and not std.any()


def test_target_stats_are_the_training_rows_and_constant_dims_warn(run):
    from sea.distill.session import _target_stats
    from sea.targets import open_targets

    reader = open_targets(run, "pca8")
    rows = np.arange(0, len(reader), 3)
    mean, std = _target_stats(reader, rows[::-1].copy(), "cpu")
    t = reader.read(rows).astype(np.float64)
    np.testing.assert_allclose(mean.numpy(), t.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std.numpy(), t.std(0), rtol=1e-5)

    class Flat:
        dim = 2

        def read(self, idx):
            return np.stack([np.arange(len(idx), dtype=np.float32), np.full(len(idx), 3.0, np.float32)], 1)

    out = distill(run, cfg(name="xs_std", standardize=True, epochs=1))
    assert load_checkpoint(out / "best.pt")["config"]["standardize"] is True
    with (out / "log.csv").open() as f:
        row = next(csv.DictReader(f))
    # the logged validation MSE is in the standardised space: a student near the mean scores about 1 per dim there
    fid = json.loads((out / "fidelity.json").read_text())
    assert 0.05 < float(row["val_mse"]) < 5 and float(row["val_mse"]) != pytest.approx(fid["mse"], rel=0.05)

    with pytest.warns(SeaWarning, match="1 of 2 target dimensions are constant"):
        mean, std = _target_stats(Flat(), np.arange(10), "cpu")
    assert float(std[1]) == pytest.approx(float(std[0])) and float(mean[1]) == pytest.approx(3.0)


# -- config ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"student": "sea_student_9"}, "unknown student 'sea_student_9'.*; available students: sea_student_0"),
        ({"student": "sea_mcu_ss"}, r"unknown student 'sea_mcu_ss' \(did you mean 'sea_mcu_s'\?\)"),
        ({"epochs": -1}, "epochs=-1 must be >= 1"),
        ({"epochs": 0}, "epochs=0 must be >= 1"),
        ({"lr": -1e-3}, "lr=-0.001 must be > 0"),
        ({"batch_size": "64"}, "batch_size='64' must be an integer"),
        ({"batch_size": 64.0}, "batch_size=64.0 must be an integer"),
        ({"lr": "fast"}, "lr='fast' must be a number"),
        ({"qat": "yes"}, "qat='yes' must be true or false"),
        ({"min_delta": -1e-4}, "min_delta=-0.0001 must be >= 0"),
        ({"weight_decay": -1.0}, "weight_decay=-1.0 must be >= 0"),
        ({"time_shift": 0.8}, r"time_shift=0.8 must be in \[0, 0.5\] seconds"),
        ({"student_args": {"input_shape": [1, 64, 150]}}, "sets input_shape.*follows the teacher's window"),
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
        ({"ema": 1.0}, r"ema=1.0 must be in \[0, 1\), the moving average's decay"),
        ({"ema": 0.99, "qat": True}, "ema=0.99 cannot go with qat=true"),
        ({"freq_mask": 40}, r"freq_mask=40 must be in \[0, 32\] mel bands"),
        ({"time_mask": 0.9}, r"time_mask=0.9 must be in \[0, 0.5\], the widest hidden share"),
    ],
)
def test_config_errors(kw, match):
    with pytest.raises(ConfigError, match=match):
        DistillConfig(**kw).validate()


def test_early_stopping_and_lr_schedule_use_the_papers_min_delta():
    """SEA: EarlyStopping(val_loss, min_delta=1e-4, patience=10), ReduceLROnPlateau(factor 0.1, patience 5), absolute."""
    from types import SimpleNamespace

    from sea.distill.loop import TrainState, _update_state

    c = DistillConfig()
    assert (c.min_delta, c.patience, c.lr_factor, c.lr_patience, c.lr) == (1e-4, 10, 0.1, 5, 1e-4)
    trainer = SimpleNamespace(config=DistillConfig(patience=2))
    st = TrainState()
    assert _update_state(trainer, st, 0, 1.0)
    assert not _update_state(trainer, st, 1, 1.0 - 5e-5)  # smaller than min_delta: not an improvement
    assert _update_state(trainer, st, 2, 1.0 - 2e-4) and st.best_epoch == 2 and st.bad_epochs == 0
    assert not _update_state(trainer, st, 3, 0.99985) and not st.stopped
    assert not _update_state(trainer, st, 4, 0.99985) and st.stopped  # patience 2 bad epochs
    # the LR schedule counts improvements the same way: see the scheduler state in the checkpoint contract test


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


def test_default_split_keeps_recordings_together(run, tmp_path):
    """Issue 14 §4: held-out rows are whole recordings (meta group / fsID), never slices of one clip or recording."""
    import dataclasses

    from sea.manifest import read_manifest, write_manifest
    from sea.targets import open_targets

    assert DistillConfig().val_by == "group" and DistillConfig().min_delta == 1e-4
    rec_run = _copy_run(run, tmp_path / "rec")
    records = read_manifest(rec_run)
    # three clips per recording (UrbanSound8K's fsID); the first recording names its group explicitly
    metas = [{"fsID": f"r{i // 3}", **({"group": "g0"} if i < 3 else {})} for i in range(len(records))]
    write_manifest([dataclasses.replace(r, meta=m) for r, m in zip(records, metas)], rec_run / "clips.jsonl")
    clip_ids = WindowSource(rec_run, open_targets(rec_run, "pca8")).clip_ids
    recording = {r.clip_id: m.get("group", m["fsID"]) for r, m in zip(records, metas)}
    for seed in range(5):
        groups = group_labels(rec_run, clip_ids, "group")
        tr, va = split_rows(groups, 0.25, seed=seed)
        assert va.size and tr.size
        assert not set(clip_ids[tr]) & set(clip_ids[va])  # no clip on both sides
        rec_tr, rec_va = ({recording[c] for c in clip_ids[x]} for x in (tr, va))
        assert not rec_tr & rec_va  # no recording on both sides
    assert set(groups[clip_ids == records[0].clip_id]) == {"group:g0"}
    assert set(groups[clip_ids == records[3].clip_id]) == {"fsID:r1"}
    # clips without a recording key are their own group; without a manifest every clip is
    bare = group_labels(run, clip_ids, "group")
    assert len(set(bare)) == len(set(clip_ids)) and all(g.startswith("clip:") for g in bare)
    # a random split of rows (the defect) would put frames of one clip on both sides
    rows = np.random.default_rng(0).permutation(clip_ids.size)
    assert set(clip_ids[rows[: clip_ids.size // 4]]) & set(clip_ids[rows[clip_ids.size // 4 :]])
    out = distill(rec_run, cfg(name="grouped", epochs=1, max_steps_per_epoch=1, val_by="group"))
    split = json.loads((out / "fidelity.json").read_text())["groups"]
    assert split["val_by"] == "group" and split["group_keys"] == ["fsID", "group"]
    assert split["n_val_groups"] >= 1 and split["n_train_groups"] + split["n_val_groups"] == len(
        set(recording.values())
    )


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
    with pytest.raises(ConfigError, match="val_by='colour'.*choose 'group', 'clip' or one of.*fold"):
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


def test_time_shifts_are_deterministic_bounded_and_move_the_window(run):
    from sea.distill.data import row_shifts
    from sea.targets import open_targets

    rows = np.arange(5000, dtype=np.int64)
    a = row_shifts(rows, seed=0, epoch=3, max_shift=160)
    assert a.min() == -160 and a.max() == 160 and abs(a.mean()) < 5  # uniform over [-160, 160]
    np.testing.assert_array_equal(a[[7, 4000]], row_shifts(np.array([7, 4000]), 0, 3, 160))  # batch-independent
    assert (a != row_shifts(rows, 0, 4, 160)).mean() > 0.9 and (a != row_shifts(rows, 1, 3, 160)).mean() > 0.9
    assert not row_shifts(rows, 0, 3, 0).any()
    src = WindowSource(run, open_targets(run, "pca8"), time_shift=0.02, seed=0)
    assert src.max_shift == 160
    sel = np.array([20, 21, 22])
    plain, t0 = src(sel)
    moved, t1 = src.batch(sel, epoch=1)
    np.testing.assert_array_equal(t0, t1)  # the target stays the teacher frame's
    for i, sh in enumerate(row_shifts(sel, 0, 1, 160)):
        np.testing.assert_array_equal(moved[i], src.audio(sel[i : i + 1], np.array([sh]))[0])
        if sh:
            assert not np.array_equal(moved[i], plain[i])
    np.testing.assert_array_equal(WindowSource(run, open_targets(run, "pca8")).batch(sel, 1)[0], plain)  # off


def test_spec_masks_hide_one_band_and_one_span_per_window_and_repeat():
    from sea.distill.data import spec_masks

    rows = np.arange(4000, dtype=np.int64)
    hidden = spec_masks(rows, seed=0, epoch=2, n_bands=64, n_frames=50, freq_mask=8, time_mask=0.2)
    assert hidden.shape == (4000, 64, 50) and hidden.dtype == bool
    bands = hidden.all(axis=2)  # a hidden band is hidden in every frame
    frames = hidden.all(axis=1)
    n_bands, n_frames = bands.sum(1), frames.sum(1)
    assert n_bands.min() == 0 and n_bands.max() == 8 and n_frames.min() == 0 and n_frames.max() == 10
    for k in range(200):  # each is one contiguous run, and nothing outside the band and the span is hidden
        for run_ in (bands[k], frames[k]):
            idx = np.flatnonzero(run_)
            assert len(idx) == 0 or idx[-1] - idx[0] + 1 == len(idx)
        np.testing.assert_array_equal(hidden[k], bands[k][:, None] | frames[k][None, :])
    assert bands[:, 0].any() and bands[:, -1].any() and frames[:, 0].any() and frames[:, -1].any()  # edges reached
    np.testing.assert_array_equal(hidden[[5, 3000]], spec_masks(np.array([5, 3000]), 0, 2, 64, 50, 8, 0.2))
    assert (spec_masks(rows, 0, 3, 64, 50, 8, 0.2) != hidden).any(axis=(1, 2)).mean() > 0.5  # new every epoch
    assert not spec_masks(rows, 0, 2, 64, 50, 0, 0.0).any()
    assert spec_masks(rows, 0, 2, 64, 100, 0, 0.29).all(axis=1).sum(axis=1).max() == 29  # not 28 (0.29 * 100 < 29)


def test_spec_masks_change_training_and_repeat(run):
    plain = distill(run, cfg(name="nomask", epochs=1))
    masked = distill(run, cfg(name="masked", epochs=1, freq_mask=8, time_mask=0.2))
    again = distill(run, cfg(name="masked2", epochs=1, freq_mask=8, time_mask=0.2))
    assert_same_weights(weights(masked / "ckpt.pt"), weights(again / "ckpt.pt"))
    assert not torch.equal(weights(plain / "ckpt.pt")["head.weight"], weights(masked / "ckpt.pt")["head.weight"])
    assert load_checkpoint(masked / "ckpt.pt")["config"]["freq_mask"] == 8


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
    assert full["scheduler"]["threshold_mode"] == "abs" and full["scheduler"]["threshold"] == 1e-4
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


def test_weight_average_steps_swaps_and_resumes():
    """WeightAverage: avg <- d avg + (1 - d) w with the warm-up d_t = min(decay, (1 + t) / (10 + t)); swapping the
    average in and out gives the live weights back exactly; resume restores both."""
    from sea.distill.ema import WeightAverage

    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    w0 = [t.detach().clone() for t in (*m.parameters(), m[1].running_mean, m[1].running_var)]
    ema = WeightAverage(m, decay=0.5)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(1.0)
        m[1].running_mean.add_(1.0)
    ema.update(m, step=1)  # d_1 = min(0.5, 2 / 11)
    d = 2 / 11
    want = [d * a + (1 - d) * (a + 1) for a in w0]
    for got, exp in zip(ema.average, want[:4] + [want[4]] + [w0[5]]):
        torch.testing.assert_close(got, exp)
    live = [t.detach().clone() for t in m.parameters()]
    ema.swap_in(m)
    torch.testing.assert_close(m[0].weight, ema.average[0])
    saved = ema.live_state()
    ema.swap_out(m)
    for a, b in zip(live, m.parameters()):
        assert torch.equal(a, b)
    assert ema.live_state() is None
    ema.swap_in(m)  # as a checkpoint would hold it: the average in the model, the live weights aside
    other = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    other.load_state_dict(m.state_dict())
    again = WeightAverage(other, decay=0.5)
    again.resume(other, saved)
    again.swap_out(other)
    for a, b in zip(live, other.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="decay=1.0 must be in"):
        WeightAverage(m, 1.0)


def test_ema_trains_the_same_weights_and_saves_their_average(run):
    """ema: training follows the same live weights as without it (the average never feeds back), ckpt.pt keeps
    them as ema_live, and state_dict / best.pt / validation are the average, which differs from them."""
    plain = distill(run, cfg(name="no_ema", epochs=3))
    avg = distill(run, cfg(name="with_ema", epochs=3, ema=0.9))
    ref, ck = load_checkpoint(plain / "ckpt.pt"), load_checkpoint(avg / "ckpt.pt")
    model, _ = load_student(plain / "best.pt")
    n_params = len(list(model.parameters()))
    live = ck["ema_live"][:n_params]
    names = [k for k, _ in model.named_parameters()]
    for k, w in zip(names, live):
        torch.testing.assert_close(w, ref["state_dict"][k], rtol=0, atol=0, msg=k)
    assert not torch.equal(ck["state_dict"]["head.weight"], live[names.index("head.weight")])
    assert ref["ema_live"] is None and read_stage(avg)["config"]["ema"] == 0.9
    a = [float(r["val_loss"]) for r in csv.DictReader(open(plain / "log.csv"))]
    b = [float(r["val_loss"]) for r in csv.DictReader(open(avg / "log.csv"))]
    assert len(a) == len(b) == 3 and a != b  # validated on other weights


@pytest.mark.claim  # README: "with jittering steps the average's held-out loss is >10% below the last weights'"
def test_weight_average_lowers_the_held_out_loss_of_jittering_steps(run):
    """The mechanism behind ema's gain on real audio: with steps large enough to jitter around the minimum, the
    moving average of the weights scores a lower held-out loss than the weights the steps end on."""
    kw = dict(epochs=16, max_steps_per_epoch=8, batch_size=8, lr=3e-2, bn_recalibrate=8, lr_patience=100)
    live = distill(run, cfg(name="jitter", **kw))
    avg = distill(run, cfg(name="jitter_ema", ema=0.9, **kw))
    last, averaged = (float(list(csv.DictReader(open(d / "log.csv")))[-1]["val_loss"]) for d in (live, avg))
    assert averaged < 0.9 * last, (averaged, last)


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


def test_input_errors_leave_finished_stages_finished(run):
    """Every input is checked before anything is written: a failed command leaves a finished student finished."""
    out = distill(run, cfg(name="kept", epochs=1, max_steps_per_epoch=2))
    before = (out / "stage.json").read_bytes()
    with pytest.raises(ManifestError, match=r"target set 'pca99' not found.*available: pca8.*sea targets fit"):
        distill(run, cfg(name="kept", targets="pca99"))
    with pytest.raises(ConfigError, match=r"outputs 64-d embeddings but target set 'pca8' is 8-d.*out_dim: 8"):
        distill(run, cfg(name="kept", student_args=None))
    with pytest.raises(ConfigError, match="val_by='colour'"):
        distill(run, cfg(name="kept", val_by="colour"))
    with pytest.raises(ConfigError, match="unknown student"):
        distill(run, cfg(name="kept", student="nope"))
    with pytest.raises(ConfigError, match="student 'sea_mcu_xs' has no option"):
        distill(run, cfg(name="kept", student_args={"out_dim": 8, "colour": 1}))
    assert (out / "stage.json").read_bytes() == before  # still the finished record, not 'running' with a bad config
    with pytest.raises(ConfigError, match="outputs 64-d"):
        distill(run, cfg(name="never", student_args=None))
    assert not (run / "students" / "never").exists()


def test_fresh_run_names_the_whole_chain(run, tmp_path):
    """Issue 19 §3: the missing-stage error lists every command still to run, in order, and writes nothing."""
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ManifestError) as e:
        distill(empty, DistillConfig())
    msg = str(e.value)
    steps = [f"sea data prepare DATASET RAW_DIR {empty}", f"sea teacher extract {empty}", f"sea targets fit {empty}"]
    assert all(s in msg for s in steps), msg
    assert [msg.index(s) for s in steps] == sorted(msg.index(s) for s in steps) and "\n" not in msg
    assert list(empty.iterdir()) == []  # no lock file, no students/ directory
    # prepared and extracted, no target set yet: only the last step is left
    partial = tmp_path / "partial"
    shutil.copytree(run / "teacher", partial / "teacher")
    shutil.copytree(run / "audio", partial / "audio")
    shutil.copy(run / "clips.jsonl", partial / "clips.jsonl")
    with pytest.raises(ManifestError, match=r"run 'sea targets fit .*partial', then 'sea distill") as e:
        distill(partial, DistillConfig())
    assert "teacher extract" not in str(e.value) and "data prepare" not in str(e.value)
    # a prepared run without the 8 kHz cache: rebuild the caches first
    nocache = tmp_path / "nocache"
    shutil.copytree(run / "targets", nocache / "targets")
    shutil.copytree(run / "teacher", nocache / "teacher")
    shutil.copy(run / "clips.jsonl", nocache / "clips.jsonl")
    with pytest.raises(ManifestError, match=r"sea data prepare DATASET RAW_DIR .* --cache-srs 48000,8000 --overwrite"):
        distill(nocache, cfg())
    # the CLI prints it as one line, exit 1, no traceback
    assert main(["distill", str(empty)]) == 1


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
    assert "usage: sea distill" in capsys.readouterr().err  # the subcommand's usage, not the root's


def test_report_explains_its_columns(run):
    """Issue 19 §2: r2_mean next to r2_weighted is explained, and the report names its teacher."""
    text = report_text(distill(run, cfg(name="legend", epochs=1, max_steps_per_epoch=2)))
    legend = [line for line in text.splitlines() if line.startswith(("r2_mean:", "r2_weighted:", "cosine_mean:"))]
    assert len(legend) == 3, text
    assert "can score far below 0" in legend[0] and "share of the targets' variance" in legend[1]
    assert "teacher standin" in text and "trained = the best epoch" in text


def test_help_has_examples_and_each_default_once(capsys):
    with pytest.raises(SystemExit):
        main(["distill", "--help"])
    text = capsys.readouterr().out
    assert "examples:" in text and "sea distill runs/quickstart --student sea_mcu_s" in text
    assert "sea teacher extract RUN_DIR" in text and "{float64,float32}" in text
    for line in text.split("\n  --"):
        assert line.count("(default:") <= 1, line
    flat = " ".join(text.split())
    assert "--min-delta MIN_DELTA smallest absolute val-loss decrease" in flat and "(default: 0.0001)" in flat


def test_locked_run_is_refused(run):
    """Issue 18 §2: a run directory in use by another process is refused, naming the holder; nothing is written."""
    from sea.lock import RunLockedError

    holder = subprocess.Popen(
        [sys.executable, "-c", f"import sys, time; sys.path.insert(0, {str(ROOT)!r})\nfrom sea.lock import run_lock\n"
         f"with run_lock({str(run)!r}):\n    print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunLockedError, match=rf"is locked by pid {holder.pid}"):
            distill(run, cfg(name="locked", epochs=1))
    finally:
        holder.kill()
        holder.wait(30)
    assert not (run / "students" / "locked").exists()


# -- windows of any length (issue 15 §2) ---------------------------------------------------------------------------


def build_window_run(run_dir: Path, *, window_size: float = 3.0, hop_size: float = 1.0, dim: int = 8) -> Path:
    """A run whose stand-in teacher has ``window_size``-s windows, uncentred (BirdNET-like), with PCA targets."""
    import warnings

    from sea.cache import AudioCache
    from sea.evaluate.demo import StandinTeacher, make_demo_run
    from sea.framing import frame_starts
    from sea.manifest import read_manifest
    from sea.store import FrameStoreWriter
    from sea.targets import TargetsConfig, fit_targets

    make_demo_run(run_dir, n_clips=16, duration=5.0, hop_size=0.5, teacher_dim=16, pca_dims=(dim,), students={})
    shutil.rmtree(run_dir / "teacher")
    shutil.rmtree(run_dir / "targets")
    teacher = {"family": "standin", "name": "standin3", "sr": 48000, "window_size": window_size,
               "hop_size": hop_size, "embedding_size": 16, "weights": None, "weights_sha256": None,
               "untrained": False}  # fmt: skip
    meta = {"sr": 48000, "hop_size": hop_size, "center": False, "frame_size": window_size, "teacher": teacher}
    net, cache = StandinTeacher(16, seed=0), AudioCache(run_dir, 48000)
    length = int(window_size * 48000)
    with FrameStoreWriter(run_dir / "teacher" / "standin3", 16, dtype="float32", meta=meta) as w:
        for r in read_manifest(run_dir):
            starts = frame_starts(cache.n_samples(r.clip_id), 48000, hop_size=hop_size, center=False,
                                  frame_size=window_size)  # fmt: skip
            win = np.stack([cache.window(r.clip_id, int(s), length) for s in starts])
            with torch.no_grad():
                emb = net(torch.from_numpy(win)).numpy()
            w.add([r.clip_id] * len(starts), np.arange(len(starts)), np.arange(len(starts)) * hop_size, emb)
    with Stage(run_dir / "teacher" / "standin3", "teacher", {"standin": True}).running() as st:
        st.extra["teacher"] = teacher
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_targets(run_dir, TargetsConfig(dim=dim, name=f"pca{dim}", n_points=100_000))
    return run_dir


def test_three_second_teacher_window(tmp_path):
    """The student's input span follows the store's teacher window: 3-s windows, 150 mel frames, recorded."""
    from sea.cache import AudioCache
    from sea.students.frontend import StudentFrontend
    from sea.targets import open_targets

    run3 = build_window_run(tmp_path / "run3")
    reader = open_targets(run3, "pca8")
    src = WindowSource(run3, reader)
    assert src.window_size == 3.0 and src.window_length == 24000
    rows = np.array([0, 1, 2, src.n_rows - 1])
    audio, _ = src(rows)
    cache = AudioCache(run3, 8000)
    assert audio.shape == (4, 24000)
    for i, r in enumerate(rows):  # uncentred: the window starts at the frame's timestamp
        start = int(round(reader.store.timestamps[r] * 8000))
        np.testing.assert_array_equal(audio[i], cache.window(str(reader.store.clip_ids[r]), start, 24000))

    out = distill(run3, cfg(epochs=2, batch_size=16, max_steps_per_epoch=3, bn_recalibrate=2))
    model, ck = load_student(out / "best.pt")
    assert ck["frontend"]["window_size"] == 3.0 and ck["frontend"]["n_frames"] == 150
    assert ck["frontend"]["output_shape"] == [1, 64, 150] and ck["frontend"]["window_length"] == 24000
    assert ck["teacher"]["window_size"] == 3.0 and ck["teacher"]["name"] == "standin3"
    assert ck["framing"]["window_size"] == 3.0 and ck["framing"]["center"] is False
    assert list(model.input_shape) == [1, 64, 150]
    # what evaluation and export do: the front-end from the checkpoint's record, then the student
    feats = StudentFrontend(mode="stft", params=ck["frontend"])(torch.from_numpy(audio))
    assert feats.shape == (4, 1, 64, 150)
    with torch.no_grad():
        assert model(feats).shape == (4, 8)
    # evaluation and export build their front-end from the checkpoint alone
    from export.artifacts import build_net
    from sea.evaluate.models import student_model

    em = student_model(run3, f"students/{out.name}")
    assert em.window_size == 3.0 and np.asarray(em.fn(audio)).shape == (4, 8)
    net = build_net(model, True, ck["frontend"])
    assert net.in_shape == (24000,)
    with torch.no_grad():
        np.testing.assert_allclose(net.net(torch.from_numpy(audio)).numpy(), np.asarray(em.fn(audio)), atol=1e-3)
    fid = json.loads((out / "fidelity.json").read_text())
    assert fid["window_size"] == 3.0 and fid["teacher"]["window_size"] == 3.0
    assert "window 3 s" in report_text(out)


def test_student_at_a_wider_band(tmp_path):
    """``sr: 24000``: the student reads the run's 24 kHz cache, records its front-end, and evaluation and export
    rebuild that front-end from the checkpoint; the network and its input shape do not change."""
    from export.artifacts import build_net
    from sea.audio import resample
    from sea.cache import AudioCache, CacheWriter
    from sea.evaluate.models import student_model
    from sea.targets import open_targets

    run = build_window_run(tmp_path / "run24")
    small = dict(epochs=2, batch_size=16, max_steps_per_epoch=3, bn_recalibrate=2)
    with pytest.raises(ManifestError, match=r"--cache-srs 48000,24000"):  # the fix names the missing rate
        distill(run, cfg(sr=24000, **small))
    full = AudioCache(run, 48000)
    writer = CacheWriter(run, 24000)
    for c in full.clip_ids:
        writer.add(c, resample(np.asarray(full.get(c)), 48000, 24000))
    writer.close()
    reader = open_targets(run, "pca8")
    src = WindowSource(run, reader, sr=24000)
    assert (src.window_length, src.framing["sr"]) == (72000, 24000)
    rows = np.array([0, 5, src.n_rows - 1])
    audio, _ = src(rows)
    cache = AudioCache(run, 24000)
    for i, r in enumerate(rows):  # the same teacher frames, cut from the 24 kHz cache
        start = int(round(reader.store.timestamps[r] * 24000))
        np.testing.assert_array_equal(audio[i], cache.window(str(reader.store.clip_ids[r]), start, 72000))

    out = distill(run, cfg(sr=24000, name="wide", **small))
    model, ck = load_student(out / "best.pt")
    fe = ck["frontend"]
    assert (fe["sr"], fe["n_dft"], fe["hop_length"], fe["fmax"], fe["window_length"]) == (24000, 4096, 480, 12000, 72000)
    assert fe["output_shape"] == [1, 64, 150] and list(model.input_shape) == [1, 64, 150]
    assert read_stage(out)["config"]["sr"] == 24000
    em = student_model(run, "students/wide")
    assert em.sr == 24000 and np.asarray(em.fn(audio)).shape == (3, 8)
    net = build_net(model, True, fe)
    assert net.in_shape == (72000,)
    with torch.no_grad():
        np.testing.assert_allclose(net.net(torch.from_numpy(audio)).numpy(), np.asarray(em.fn(audio)), atol=1e-3)
    # an 8 kHz student's record does not carry the new key, so runs recorded before it keep their config hashes
    out8 = distill(run, cfg(name="narrow", **small))
    assert "sr" not in read_stage(out8)["config"] and load_student(out8 / "best.pt")[1]["frontend"]["sr"] == 8000
    with pytest.raises(ConfigError, match=r"DistillConfig.sr=7000"):
        cfg(sr=7000).validate()


def test_online_teacher_must_run_at_the_students_rate():
    from sea.distill.online import load_online_teacher

    with pytest.raises(ConfigError, match=r"sr=24000.*runs at 8000 Hz.*set sr: 8000"):
        load_online_teacher({"family": "edgel3", "name": "sea_ust_64", "sr": 8000}, None, np.float32, "cpu", sr=24000)


# -- damaged and non-finite inputs (issue 18 §2) ---------------------------------------------------------------------


def _copy_run(run: Path, dest: Path) -> Path:
    for sub in ("audio", "teacher", "targets"):
        shutil.copytree(run / sub, dest / sub)
    shutil.copy(run / "clips.jsonl", dest / "clips.jsonl")
    return dest


def test_damaged_checkpoints_are_named_with_the_fix(run, tmp_path):
    out = distill(run, cfg(name="damaged", epochs=2, max_steps_per_epoch=2))
    best_bytes = (out / "best.pt").read_bytes()
    st = read_stage(out)
    assert set(st["files"]) == {"best.pt", "fidelity.json"}  # what evaluate/export trust is recorded
    # a truncated ckpt.pt of an interrupted run: one line naming it and the fix, nothing rewritten
    with open(out / "stage.json", "w") as f:
        json.dump({**st, "status": "running"}, f)
    before = (out / "stage.json").read_bytes()
    full = (out / "ckpt.pt").read_bytes()
    (out / "ckpt.pt").write_bytes(full[: len(full) // 2])
    with pytest.raises(
        ManifestError,
        match=r"ckpt.pt' is not a readable sea checkpoint.*start student 'damaged' over.*with --overwrite",
    ):
        distill(run, cfg(name="damaged", epochs=2, max_steps_per_epoch=2))
    assert (out / "stage.json").read_bytes() == before
    assert main(["distill", str(run), "--student", "sea_mcu_xs", "--student-args", "{out_dim: 8}", "--targets",
                 "pca8", "--name", "damaged", "--epochs", "2"]) == 1  # fmt: skip
    distill(run, cfg(name="damaged", epochs=2, max_steps_per_epoch=2), overwrite=True)
    assert (out / "best.pt").read_bytes() == best_bytes and read_stage(out)["status"] == "done"
    # a truncated best.pt of a finished run: not 'up to date'; retrained (deterministically) to the same bytes
    (out / "best.pt").write_bytes(best_bytes[:1000])
    with pytest.warns(SeaWarning, match=r"best.pt' is damaged.*retraining 'damaged' from scratch"):
        distill(run, cfg(name="damaged", epochs=2, max_steps_per_epoch=2))
    assert (out / "best.pt").read_bytes() == best_bytes and read_stage(out)["status"] == "done"


def test_non_finite_teacher_frame_names_file_and_row(run, tmp_path):
    from sea.store import FrameStore

    bad = _copy_run(run, tmp_path / "nan")
    store = FrameStore(bad / "teacher" / "standin")
    row = 57
    shard = bad / "teacher" / "standin" / store.shards[0]["emb"]
    emb = np.load(shard, mmap_mode="r+")
    emb[row - store.shards[0]["start"], 3] = np.nan
    emb.flush()
    del emb
    # as a teacher that wrote a NaN frame would have recorded it: the shard's size and hashes match
    from sea import integrity

    meta = json.loads((shard.parent / "store.json").read_text())
    rec = integrity.record(shard, full=True)
    meta["shards"][0].update({k: rec[k] for k in ("sha256", "sampled_sha256") if k in meta["shards"][0]})
    (shard.parent / "store.json").write_text(json.dumps(meta))
    clip, frame = str(store.clip_ids[row]), int(store.frames[row])
    c = cfg(name="nan", epochs=1, val_fraction=0.0, fidelity_max_frames=10_000)
    with pytest.raises(ManifestError) as e:
        distill(bad, c)
    msg = str(e.value)  # the store's reader or distillation's own check: either names file, row, clip and frame
    assert str(shard) in msg and f"row {row} (clip {clip!r}, frame {frame})" in msg, msg
    assert "sea teacher extract" in msg and "--overwrite" in msg and "\n" not in msg
    assert (read_stage(bad / "students" / "nan") or {}).get("status") != "done"


def test_window_source_refuses_non_finite_targets_and_audio(run, monkeypatch):
    """Distillation's own check, behind the readers': a NaN/Inf target or sample names the file, row, clip, frame."""
    from sea.targets import open_targets

    src = WindowSource(run, open_targets(run, "pca8"))
    rows = np.array([3, 40, 41])
    store = src.targets.store
    read = src.targets.read

    def inf_target(idx):
        out = read(idx)
        out[np.asarray(idx) == 40, 2] = np.inf
        return out

    monkeypatch.setattr(src.targets, "read", inf_target)
    where = f"row 40 (clip {str(store.clip_ids[40])!r}, frame {int(store.frames[40])})"
    with pytest.raises(ManifestError, match=r"non-finite target in '.*targets/pca8' at " + re.escape(where)):
        src(rows)
    with pytest.raises(ManifestError, match="the teacher frame is finite.*sea targets fit .* --overwrite"):
        src.batch(rows, epoch=0)
    monkeypatch.setattr(src.targets, "read", read)
    audio = src.audio

    def nan_audio(idx, shifts=None):
        out = audio(idx, shifts)
        out[1, 100] = np.nan
        return out

    monkeypatch.setattr(src, "audio", nan_audio)
    with pytest.raises(ManifestError, match=r"non-finite audio in '.*audio/8000' for " + re.escape(where)):
        src(rows)


def test_non_finite_loss_stops_with_epoch_and_step(run, monkeypatch):
    from sea.distill.loop import DivergedError
    from sea.distill.losses import DistillLoss

    forward = DistillLoss.forward
    calls = {"n": 0}

    def nan_at_step_3(self, y, t):
        calls["n"] += 1
        total, parts = forward(self, y, t)
        return (total * float("nan") if calls["n"] == 3 else total), parts

    monkeypatch.setattr(DistillLoss, "forward", nan_at_step_3)
    with pytest.raises(DivergedError, match=r"diverged: the training loss of step 3 is nan at epoch 2.*lower the"):
        distill(run, cfg(name="diverged", epochs=3, max_steps_per_epoch=2))
    ck = load_checkpoint(run / "students" / "diverged" / "ckpt.pt")
    assert ck["epoch"] == 1 and all(torch.isfinite(v).all() for v in ck["state_dict"].values() if v.is_floating_point())
    assert read_stage(run / "students" / "diverged")["status"] == "running"


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


@pytest.mark.claim  # README: "distillation resumes from its last checkpoint"
@pytest.mark.parametrize("extra", [{}, {"ema": 0.9}], ids=["plain", "ema"])
def test_kill_and_resume_matches_uninterrupted(run, extra):
    """Issue 18 §2: SIGKILL mid-run, then the same command: resumes from ckpt.pt, bit-identical to no kill (also
    with a moving average of the weights, whose live weights ckpt.pt keeps aside)."""
    name = "killed" + "".join(f"_{k}" for k in extra)
    kw = dict(epochs=4, max_steps_per_epoch=6, name=name, relational=0.1, time_shift=0.02, **extra)
    out = run / "students" / name
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

    with pytest.warns(SeaWarning, match="stale lock of pid"):  # the killed process's lock record, taken over
        resumed = distill(run, cfg(**kw))
    st = read_stage(resumed)
    assert st["status"] == "done" and st["counts"]["resumed_from_epoch"] == done_epochs
    ref = distill(run, cfg(**{**kw, "name": name.replace("killed", "uninterrupted")}))
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


def test_qat_init_errors(run, tmp_path):
    with pytest.raises(ManifestError, match="init_from='nope'.*distil the float student first"):
        distill(run, cfg(qat=True, init_from="nope"))
    other = distill(run, cfg(name="qat_other", student="sea_mcu_s", epochs=1, max_steps_per_epoch=2))
    cut = tmp_path / "cut.pt"
    cut.write_bytes((other / "best.pt").read_bytes()[:2000])
    with pytest.raises(ManifestError, match=r"cut.pt' is not a readable sea checkpoint.*pass another init_from"):
        distill(run, cfg(name="qat_cut", qat=True, init_from=str(cut)))
    assert not (run / "students" / "qat_cut").exists()
    with pytest.raises(ConfigError, match="holds 'sea_mcu_s'.*use the same student"):
        distill(run, cfg(name="qat_bad", qat=True, init_from="qat_other"))
    with pytest.raises(ConfigError, match="own output"):
        distill(run, cfg(name="qat_other", student="sea_mcu_s", qat=True, init_from="qat_other"))
