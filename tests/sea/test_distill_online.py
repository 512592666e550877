"""Consistent teaching: mixup windows, the online teacher and ``data.part: auto``."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from sea.distill import DistillConfig
from sea.distill.data import WindowSource, row_hash, row_shifts
from sea.errors import ConfigError
from sea.targets import open_targets
from tests.conftest import make_run, shared_path
from tests.sea.test_distill import build_run, cfg


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("SEA_OFFLINE", "1")
    monkeypatch.setenv("SEA_NO_PROGRESS", "1")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def standin_run(tmp_path_factory) -> Path:
    return build_run(tmp_path_factory.mktemp("online") / "run", n_clips=12)


@pytest.fixture(scope="module")
def edgel3_run(tmp_path_factory) -> Path:
    """8 clips at 8 kHz, the published sea_ust_64 as teacher (hop 0.25 s), identity targets."""
    from sea.targets import TargetsConfig, fit_targets
    from sea.teacher.config import ExtractConfig
    from sea.teacher.stage import run as extract

    weights = shared_path("models", "edgel3_sea_ust_audio_emb_64.h5.gz")
    run = make_run(tmp_path_factory.mktemp("online_edgel3") / "run", n_clips=8, duration=1.5, srs=(8000,))
    extract(run, ExtractConfig(model="edgel3:sea_ust_64", weights=str(weights), hop_size=0.25))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_targets(run, TargetsConfig(method="identity", name="id64"))
    return run


def test_row_hash_keeps_the_time_shifts_of_earlier_runs():
    rows = np.arange(50, dtype=np.int64)
    # the shift rule that runs before mixup used (salt 0), written out: resumed runs must see the same windows
    key = np.uint64((3 * 0x9E3779B97F4A7C15 + 2 * 0xBF58476D1CE4E5B9 + 0x632BE59BD9B4E019) & ((1 << 64) - 1))
    with np.errstate(over="ignore"):
        x = rows.astype(np.uint64) ^ key
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    np.testing.assert_array_equal(row_shifts(rows, 3, 2, 80), (x % np.uint64(161)).astype(np.int64) - 80)
    assert (row_hash(rows, 3, 2, salt=1) != row_hash(rows, 3, 2)).all()  # salts are independent draws


def test_mixup_mixes_with_training_rows_only_and_repeats(standin_run):
    reader = open_targets(standin_run, "pca8")
    partner = 5
    src = WindowSource(standin_run, reader, seed=0, mixup=1.0, mix_rows=np.array([partner]))
    rows = np.arange(20, 60, dtype=np.int64)
    clean, targets = src(rows)
    mixed, mixed_targets = src.batch(rows, epoch=0)
    np.testing.assert_array_equal(mixed_targets, targets)  # stored targets: only an online teacher relabels
    np.testing.assert_array_equal(mixed, src.batch(rows, epoch=0)[0])  # a pure function of (seed, epoch, row)
    assert not np.array_equal(mixed, src.batch(rows, epoch=1)[0])
    b = src(np.array([partner]))[0][0]
    # each window is (1 - w) a + w b with b the only allowed partner and one weight w in [0, 1)
    weights = []
    for a, m in zip(clean, mixed):
        d = b - a
        w = float(np.dot(m - a, d) / np.dot(d, d))
        np.testing.assert_allclose(m, (1 - w) * a + w * b, atol=1e-6)
        weights.append(w)
    weights = np.array(weights)
    assert (weights >= 0).all() and (weights < 1).all() and weights.std() > 0.1  # uniform weights, not one value
    half = WindowSource(standin_run, reader, seed=0, mixup=0.5, mix_rows=np.array([partner]))
    unmixed = (half.batch(rows, epoch=0)[0] == clean).all(axis=1).mean()
    assert 0.2 < unmixed < 0.8  # about half the windows are left as they are


def test_speed_and_tilt_resample_and_filter_each_window_around_its_centre(standin_run):
    from sea.cache import AudioCache
    from sea.distill.data import STUDENT_SR

    reader = open_targets(standin_run, "pca8")
    rows = np.arange(100, 140, dtype=np.int64)
    src = WindowSource(standin_run, reader, seed=2, speed=0.3)
    clean = src(rows)[0]
    fast = src.batch(rows, epoch=1)[0]
    np.testing.assert_array_equal(fast, src.batch(rows, epoch=1)[0])
    u = (row_hash(rows, 2, 1, 5) >> np.uint64(11)).astype(np.float64) / 2.0**53
    factors = np.exp((2 * u - 1) * 0.3)
    assert factors.min() < 0.85 and factors.max() > 1.15 and (np.abs(np.log(factors)) <= 0.3).all()
    cache, w = AudioCache(standin_run, STUDENT_SR), src.window_length
    for i in (0, 7, 19):
        r = int(rows[i])
        y = cache.get(str(src.clip_ids[r]))
        n = int(round(w * factors[i]))
        start = int(src.row_start[r]) - (n - w) // 2  # the same centre as the unstretched window
        read = np.zeros(n, np.float32)
        lo, hi = max(start, 0), min(start + n, y.shape[0])
        read[lo - start : hi - start] = y[lo:hi]
        np.testing.assert_allclose(fast[i], np.interp(np.linspace(0, n - 1, w), np.arange(n), read), atol=1e-6)
    assert not np.allclose(fast, clean)
    tilted = WindowSource(standin_run, reader, seed=2, tilt=0.5).batch(rows, epoch=1)[0]
    c = (2 * (row_hash(rows, 2, 1, 6) >> np.uint64(11)).astype(np.float64) / 2.0**53 - 1) * 0.5
    assert np.abs(c).max() <= 0.5 and c.std() > 0.1
    np.testing.assert_allclose(tilted[:, 1:], clean[:, 1:] - c[:, None].astype(np.float32) * clean[:, :-1], atol=1e-6)
    np.testing.assert_array_equal(tilted[:, 0], clean[:, 0])
    scaled = WindowSource(standin_run, reader, seed=2, gain=12.0).batch(rows, epoch=1)[0]
    g = (2 * (row_hash(rows, 2, 1, 7) >> np.uint64(11)).astype(np.float64) / 2.0**53 - 1) * 12.0
    assert np.abs(g).max() <= 12.0 and g.min() < -6 and g.max() > 6  # a level in dB, both ways
    np.testing.assert_allclose(scaled, clean * (10.0 ** (g / 20.0)).astype(np.float32)[:, None], rtol=1e-6, atol=1e-9)
    assert not np.array_equal(scaled, WindowSource(standin_run, reader, seed=2, gain=12.0).batch(rows, epoch=2)[0])


def test_mixup_needs_an_online_teacher_and_online_needs_edgel3(standin_run):
    from sea.distill import run as distill

    with pytest.raises(ConfigError, match=r"mixup=0.5 needs online_teacher=true"):
        DistillConfig(mixup=0.5).validate()
    with pytest.raises(ConfigError, match=r"speed=0.1 needs online_teacher=true: a sped-up or slowed window"):
        DistillConfig(speed=0.1).validate()
    with pytest.raises(ConfigError, match=r"tilt=0.5 needs online_teacher=true: a tilted window"):
        DistillConfig(tilt=0.5).validate()
    with pytest.raises(ConfigError, match=r"tilt=1.0 must be in \[0, 1\)"):
        DistillConfig(tilt=1.0, online_teacher=True).validate()
    with pytest.raises(ConfigError, match=r"gain=6.0 needs online_teacher=true: a rescaled window"):
        DistillConfig(gain=6.0).validate()
    with pytest.raises(ConfigError, match=r"gain=-1.0 must be in \[0, 40\] dB"):
        DistillConfig(gain=-1.0, online_teacher=True).validate()
    assert DistillConfig(gain=6.0, online_teacher=True).augments()
    with pytest.raises(ConfigError, match=r"mixup=1.5 must be in \[0, 1\]"):
        DistillConfig(mixup=1.5, online_teacher=True).validate()
    with pytest.raises(ConfigError, match=r"online_teacher=True needs a teacher that runs on the student's 8 kHz "
                                          r"window in torch \(edgel3\); these targets come from 'standin'"):  # fmt: skip
        distill(standin_run, cfg(online_teacher=True, mixup=0.5, name="online"))
    assert not (standin_run / "students" / "online" / "best.pt").exists()


@pytest.mark.claim
def test_online_teacher_labels_a_window_as_the_teacher_stage_did(edgel3_run):
    """An unaugmented window gets its stored target back from the online teacher (same model, same rounding)."""
    from sea.distill.online import load_online_teacher
    from sea.store import FrameStore

    reader = open_targets(edgel3_run, "id64")
    store = FrameStore(edgel3_run / "teacher" / "edgel3_sea_ust_64")
    teacher = load_online_teacher(store.teacher, reader.reducer, store.dtype, "cpu")
    rows = np.arange(len(store))
    audio, stored = WindowSource(edgel3_run, reader)(rows)
    online = teacher(audio).numpy()
    assert stored.std() > 0.05  # real embeddings, not zeros
    np.testing.assert_allclose(online, stored, rtol=2e-3, atol=2e-3)  # float16 store: one ulp at most
    # a mixed window is labelled by the teacher on the mixture, which is not the mix of the labels
    mix = 0.5 * audio[:4] + 0.5 * audio[4:8]
    assert np.abs(teacher(mix).numpy() - 0.5 * (stored[:4] + stored[4:8])).max() > 0.05


def test_online_distillation_trains_on_teacher_labelled_mixtures(edgel3_run):
    from sea.checkpoint import load_checkpoint
    from sea.distill import run as distill

    config = cfg(targets="id64", student_args={"out_dim": 64}, online_teacher=True, mixup=1.0, time_shift=0.2,
                 speed=0.15, tilt=0.9, gain=6.0, name="online", batch_size=8, max_steps_per_epoch=3,
                 val_fraction=0.25)  # fmt: skip
    out = distill(edgel3_run, config)
    ckpt = load_checkpoint(out / "best.pt")
    assert ckpt["config"]["online_teacher"] is True and ckpt["config"]["mixup"] == 1.0
    log = (out / "log.csv").read_text().splitlines()
    assert len(log) == 3 and all(np.isfinite(float(r.split(",")[2])) for r in log[1:])
    # the stored targets of the training rows were not what it regressed: a stored-target run differs
    plain = distill(edgel3_run, cfg(targets="id64", student_args={"out_dim": 64}, time_shift=0.2, name="plain",
                                    batch_size=8, max_steps_per_epoch=3, val_fraction=0.25))  # fmt: skip
    a, b = ckpt["state_dict"], load_checkpoint(plain / "best.pt")["state_dict"]
    assert any(not torch.equal(a[k], b[k]) for k in a if a[k].is_floating_point())


def test_loader_threads_label_batches_ahead_as_the_main_loop_would(edgel3_run):
    """The online teacher runs in the loader threads (concurrently, ahead of the trainer): same weights as inline."""
    from concurrent.futures import ThreadPoolExecutor

    from sea.checkpoint import load_checkpoint
    from sea.distill import run as distill
    from sea.distill.online import load_online_teacher
    from sea.store import FrameStore

    reader = open_targets(edgel3_run, "id64")
    store = FrameStore(edgel3_run / "teacher" / "edgel3_sea_ust_64")
    teacher = load_online_teacher(store.teacher, reader.reducer, store.dtype, "cpu")
    audio, _ = WindowSource(edgel3_run, reader)(np.arange(len(store)))
    parts = np.array_split(audio, 6)
    with ThreadPoolExecutor(3) as pool:
        together = list(pool.map(teacher, parts * 2))
    for i, part in enumerate(parts * 2):
        assert torch.equal(together[i], teacher(part))

    def trained(workers: int) -> dict:
        config = cfg(targets="id64", student_args={"out_dim": 64}, online_teacher=True, mixup=0.5, time_shift=0.2,
                     name=f"workers{workers}", batch_size=8, max_steps_per_epoch=3, val_fraction=0.25,
                     num_workers=workers, prefetch=3)  # fmt: skip
        return load_checkpoint(distill(edgel3_run, config) / "best.pt")["state_dict"]

    inline, threaded = trained(0), trained(2)
    assert all(torch.equal(inline[k], threaded[k]) for k in inline)


# -- data.part: auto -----------------------------------------------------------------------------------------------


def _plan(tmp_path: Path, data: dict, datasets: list[dict]):
    import yaml

    from sea.pipeline import load_run_config

    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(yaml.safe_dump({
        "run_dir": str(tmp_path / "run"), "data": data, "teacher": {"model": "openl3"},
        "targets": {"method": "pca", "dim": 8}, "students": [{"student": "sea_mcu_xs", "student_args": {"out_dim": 8}}],
        "evaluate": {"datasets": datasets} if datasets else None,
    }))  # fmt: skip
    return load_run_config(cfg_file)


def test_part_auto_takes_the_half_the_evaluation_leaves(tmp_path):
    raw = tmp_path / "us8k"
    (raw / "audio").mkdir(parents=True)
    (raw / "metadata").mkdir()
    data = {"dataset": "urbansound8k", "raw_dir": str(raw), "part": "auto"}
    b = {"dataset": "urbansound8k", "raw_dir": str(tmp_path / "." / "us8k"), "part": "b", "part_fraction": 0.4,
         "name": "b"}  # fmt: skip
    plan = _plan(tmp_path, data, [b])
    assert (plan.prepare.part, plan.prepare.part_fraction) == ("a", 0.4)
    assert _plan(tmp_path, data, [{**b, "part": "a"}]).prepare.part == "b"
    elsewhere = {"dataset": "urbansound8k", "raw_dir": str(tmp_path / "other"), "name": "heldout"}
    assert _plan(tmp_path, data, [elsewhere]).prepare.part == "all"  # held-out folds elsewhere: every clip
    assert _plan(tmp_path, data, []).prepare.part == "all"
    assert _plan(tmp_path, {**data, "part": "a"}, [elsewhere]).prepare.part == "a"  # explicit parts stay
    with pytest.raises(ConfigError, match=r"part_fraction values \[0.4, 0.5\]"):
        _plan(tmp_path, data, [b, {**b, "part_fraction": 0.5, "name": "b2"}])


def test_run_config_refuses_an_online_teacher_it_cannot_run_before_any_stage(tmp_path):
    import yaml

    from sea.pipeline import load_run_config

    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(yaml.safe_dump({
        "run_dir": str(tmp_path / "run"), "data": {"dataset": "synthetic", "n_clips": 4},
        "teacher": [{"model": "openl3"}, {"model": "edgel3", "name": "sea_ust_64"}],
        "targets": [{"method": "pca", "dim": 8, "teacher": "openl3"}, {"method": "identity", "teacher": "edgel3"}],
        "students": [{"student": "sea_mcu_xs", "student_args": {"out_dim": 8}, "targets": "mel256_music_512_pca8_random", "online_teacher": True, "mixup": 0.5}],
    }))  # fmt: skip
    with pytest.raises(ConfigError, match=r"students\[0\] \(sea_mcu_xs\) sets online_teacher: true, but its targets "
                                          r"come from 'mel256_music_512'.*\(edgel3\)"):  # fmt: skip
        load_run_config(cfg_file)
    assert not (tmp_path / "run").exists()
    ok = yaml.safe_load(cfg_file.read_text())
    ok["students"] = [{"student": "sea_mcu_s", "targets": "edgel3_sea_ust_64_identity64", "online_teacher": True}]
    cfg_file.write_text(yaml.safe_dump(ok))
    assert load_run_config(cfg_file).students[0].online_teacher is True
