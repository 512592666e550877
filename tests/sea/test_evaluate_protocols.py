"""Fold discipline of sea.evaluate protocols: predefined folds, previous-fold validation, shuffles, splits."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from sea.errors import ConfigError, DatasetError
from sea.evaluate import kfold_assignment, load_dataset, make_splits, plan_splits, resolve_protocol
from sea.manifest import read_manifest, write_manifest
from tests.conftest import make_run


def _shuffle_manifest(run_dir, seed=3):
    recs = read_manifest(run_dir)
    random.Random(seed).shuffle(recs)
    write_manifest(recs, run_dir / "clips.jsonl")


def _by_name(ds, splits):
    ids = np.asarray(ds.clip_ids)
    return {s.name: (set(ids[s.train]), set(ids[s.val]), set(ids[s.test]), s.test_fold) for s in splits}


@pytest.fixture(scope="module")
def run10(tmp_path_factory):
    return make_run(
        tmp_path_factory.mktemp("p") / "run", n_clips=40, n_classes=4, duration=0.5, n_folds=10, srs=(8000,)
    )


def test_predefined_folds_discipline(run10):
    ds = load_dataset(run10)
    assert resolve_protocol(ds, "auto") == "folds"
    splits = make_splits(ds, "us8k")  # 10 folds: the US8K protocol applies
    folds = np.asarray([int(f) for f in ds.folds])
    assert [s.test_fold for s in splits] == list(range(1, 11))
    tested = np.concatenate([s.test for s in splits])
    assert sorted(tested.tolist()) == list(range(len(ds)))  # every clip tested exactly once
    for s in splits:
        assert set(folds[s.test]) == {s.test_fold}  # a test run is exactly one predefined fold
        prev = 10 if s.test_fold == 1 else s.test_fold - 1
        assert set(folds[s.val]) == {prev}  # validation = previous fold (wrapping)
        assert not set(s.train) & set(s.test) and not set(s.train) & set(s.val) and not set(s.val) & set(s.test)
        assert len(s.train) + len(s.val) + len(s.test) == len(ds)
        assert set(folds[s.train]) == set(range(1, 11)) - {s.test_fold, prev}


def test_fold_structure_survives_shuffled_manifest(tmp_path):
    run = make_run(tmp_path / "r", n_clips=30, n_classes=3, duration=0.5, n_folds=5, srs=(8000,))
    before = _by_name(d := load_dataset(run), make_splits(d, "esc50"))
    _shuffle_manifest(run)
    d2 = load_dataset(run)
    assert d2.clip_ids != d.clip_ids  # the order really changed
    after = _by_name(d2, make_splits(d2, "esc50"))
    assert before == after
    # k-fold assignment (no fold column used) is also independent of the line order
    a1 = dict(zip(d.clip_ids, kfold_assignment(d, 3, seed=1)))
    a2 = dict(zip(d2.clip_ids, kfold_assignment(d2, 3, seed=1)))
    assert a1 == a2


def _write(run_dir, rows, dataset=None):
    """A manifest without audio (protocols read labels, folds, splits and meta only)."""
    from sea.manifest import ClipRecord

    run_dir.mkdir(parents=True, exist_ok=True)
    recs = [ClipRecord(path=f"{r['clip_id']}.wav", duration=1.0, sr=8000, channels=1, **r) for r in rows]
    write_manifest(recs, run_dir / "clips.jsonl")
    if dataset:
        (run_dir / "data_report.json").write_text(json.dumps({"dataset": dataset}))
    return run_dir


def _us8k_rows(n_rec, slices, folds, n_classes=4, meta=True):
    """US8K-style clips: recording r has ``slices`` slices named ``fsID-classID-0-k``, class r % n_classes."""
    rows = []
    for r in range(n_rec):
        c = r % n_classes
        for k in range(slices):
            cid = f"{1000 + r}-{c}-0-{k}"
            rows.append(
                dict(
                    clip_id=cid,
                    label=f"class{c}",
                    label_id=c,
                    fold=folds[r % len(folds)],
                    meta={"fsID": str(1000 + r)} if meta else {},
                )
            )
    return rows


def _no_group_on_two_sides(ds, splits):
    g = ds.group_array
    for s in splits:
        tr, va, te = set(g[s.train]), set(g[s.val]), set(g[s.test])
        assert not tr & te and not tr & va and not va & te, s.name


def test_folds_present_leave_one_out_previous_present_fold(tmp_path):
    """3 of US8K's 10 folds present: leave-one-fold-out over them, the previous PRESENT fold validates."""
    ds = load_dataset(_write(tmp_path / "r", _us8k_rows(12, 2, [2, 5, 9]), "urbansound8k"))
    assert resolve_protocol(ds, "auto") == "us8k"
    plan = plan_splits(ds, "us8k")
    assert plan.scheme == "predefined_folds" and [s.test_fold for s in plan.splits] == [2, 5, 9]
    folds = np.asarray([int(f) for f in ds.folds])
    for s, prev in zip(plan.splits, (9, 2, 5)):
        assert set(folds[s.test]) == {s.test_fold} and set(folds[s.val]) == {prev}
    assert any("3 of the dataset's 10 folds" in n for n in plan.notes)
    assert any("noisy CV" in n for n in plan.notes)  # 12 recordings only
    with pytest.raises(ConfigError):
        resolve_protocol(ds, "bogus")
    # three folds: previous-fold validation holds for the plain 'folds' protocol too
    for s in make_splits(ds, "folds"):
        assert len(s.val) == 8


@pytest.mark.claim
@pytest.mark.parametrize("folds", [[10], [3, 4]])
def test_under_three_folds_grouped_kfold_by_recording(tmp_path, folds):
    """One or two folds present: grouped 5-fold by fsID; no recording on two sides; each clip tested once."""
    ds = load_dataset(_write(tmp_path / "r", _us8k_rows(30, 3, folds), "urbansound8k"))
    assert ds.group_key == "fsID" and ds.n_groups == 30
    plan = plan_splits(ds, "us8k", n_folds=5, seed=0)
    assert plan.scheme == "grouped_kfold" and len(plan.splits) == 5
    assert "grouped 5-fold by recording (fsID" in plan.description
    _no_group_on_two_sides(ds, plan.splits)
    tested = np.concatenate([s.test for s in plan.splits])
    assert sorted(tested.tolist()) == list(range(len(ds)))
    assert all(s.val.size for s in plan.splits)  # the previous fold validates
    # a k-fold by clip DOES split recordings (the defect the grouping prevents), and its report says so
    plain = plan_splits(ds, "kfold", n_folds=5, seed=0)
    with pytest.raises(AssertionError):
        _no_group_on_two_sides(ds, plain.splits)
    assert any("have clips on both sides of a split" in n for n in plain.notes)
    with pytest.raises(DatasetError, match="recordings"):
        plan_splits(ds, "us8k", n_folds=31)


def test_groups_from_file_name_and_esc50_src_file(tmp_path):
    # no meta.fsID: the US8K file name [fsID]-[classID]-[occurrenceID]-[sliceID] gives the recording
    ds = load_dataset(_write(tmp_path / "u", _us8k_rows(10, 2, [1], meta=False), "urbansound8k"))
    assert ds.group_key == "fsID" and ds.n_groups == 10
    rows = [
        dict(
            clip_id=f"{f}-{1000 + i}-A-{t}", label=f"c{i % 2}", label_id=i % 2, fold=f, meta={"src_file": str(1000 + i)}
        )
        for f in (1, 2)
        for i in range(f * 10, f * 10 + 6)
        for t in range(2)
    ]
    ds = load_dataset(_write(tmp_path / "e", rows, "esc50"))
    assert ds.group_key == "src_file" and ds.n_groups == 12
    plan = plan_splits(ds, "esc50", n_folds=3)
    assert plan.scheme == "grouped_kfold"
    _no_group_on_two_sides(ds, plan.splits)


SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "us8k_fold10_sample" / "UrbanSound8K"


@pytest.mark.claim
def test_real_us8k_sample_splits_keep_recordings_apart(tmp_path):
    """The shared real sample (fold 10 only, 65 recordings): grouped k-fold, no fsID on two sides."""
    if not (SHARED / "metadata" / "UrbanSound8K.csv").is_file():
        pytest.skip("../shared/data/us8k_fold10_sample is absent (a user's clone has no ../shared)")
    from data_prep.config import PrepareConfig
    from data_prep.urbansound8k import find_clips

    clips = find_clips(SHARED, PrepareConfig(dataset="urbansound8k"), tmp_path)
    rows = [
        dict(clip_id=c.clip_id, label=c.label, label_id=c.label_id, fold=c.fold, meta=c.meta) for c in clips.candidates
    ]
    ds = load_dataset(_write(tmp_path / "r", rows, "urbansound8k"))
    assert len(ds) == 384 and ds.n_groups == 65 and set(ds.folds) == {10}
    plan = plan_splits(ds, "auto", n_folds=5, seed=0)
    assert plan.protocol == "us8k" and plan.scheme == "grouped_kfold" and len(plan.splits) == 5
    _no_group_on_two_sides(ds, plan.splits)
    assert sorted(np.concatenate([s.test for s in plan.splits]).tolist()) == list(range(384))
    # the report will say that one fold / 65 recordings gives noisy CV
    assert any("noisy CV" in n and "65 recordings" in n and "1 predefined fold" in n for n in plan.notes)


def test_sonyc_scores_verified_labels_only(tmp_path):
    rows = []
    for i in range(24):
        split = ("train", "validate", "test")[i % 3]
        source = "verified" if split == "train" or i % 2 == 0 else "volunteers"
        rows.append(
            dict(clip_id=f"c{i:02d}", label=["engine"], label_id=[0], split=split, meta={"label_source": source})
        )
    ds = load_dataset(_write(tmp_path / "s", rows, "sonyc_ust"))
    plan = plan_splits(ds, "auto")
    (s,) = plan.splits
    src = np.asarray([r["meta"]["label_source"] for r in rows])
    assert set(src[s.test]) == {"verified"} and set(src[s.val]) == {"verified"}
    assert plan.excluded == {"unverified": 8} and any("annotator_id == 0" in n for n in plan.notes)
    sea_plan = plan_splits(ds, "sonyc_sea")
    (s2,) = sea_plan.splits
    assert np.array_equal(s2.val, s2.test) and set(np.asarray(ds.splits)[s2.test]) == {"validate"}
    assert any("optimistic" in n for n in sea_plan.notes)


def test_kfold_stratified_without_fold_column(tmp_path):
    run = make_run(tmp_path / "r", n_clips=30, n_classes=3, duration=0.5, n_folds=3, srs=(8000,))
    recs = [r.__class__(**{**r.to_dict(), "fold": None}) for r in read_manifest(run)]
    write_manifest(recs, run / "clips.jsonl")
    ds = load_dataset(run)
    assert resolve_protocol(ds, "auto") == "kfold"
    splits = make_splits(ds, "auto", n_folds=5, seed=0)
    assert len(splits) == 5
    tested = np.concatenate([s.test for s in splits])
    assert sorted(tested.tolist()) == list(range(30))
    for s in splits:
        assert np.bincount(ds.y[s.test], minlength=3).tolist() == [2, 2, 2]  # stratified
    other = make_splits(ds, "kfold", n_folds=5, seed=1)
    assert any(set(a.test) != set(b.test) for a, b in zip(splits, other))  # the seed matters


def test_split_protocol_and_multilabel(tmp_path):
    run = make_run(tmp_path / "r", n_clips=20, n_classes=3, duration=0.5, n_folds=2, srs=(8000,))
    recs = read_manifest(run)
    out = []
    for i, r in enumerate(recs):
        split = "test" if i % 5 == 0 else ("validate" if i % 5 == 1 else "train")
        lab = [r.label] + (["class1"] if i % 4 == 0 and r.label != "class1" else [])
        ids = [r.label_id] + ([1] if len(lab) == 2 else [])
        out.append(
            r.__class__(
                **{
                    **r.to_dict(),
                    "fold": None,
                    "split": split,
                    "label": lab,
                    "label_id": ids,
                    "meta": {"fine_labels": [f"{x}-a" for x in lab]},
                }
            )
        )
    write_manifest(out, run / "clips.jsonl")
    (run / "data_report.json").write_text(json.dumps({"dataset": "sonyc_ust"}))
    ds = load_dataset(run)
    assert ds.multilabel and ds.y.shape == (20, 8)  # SONYC-UST: 8 coarse classes even if some are absent
    assert resolve_protocol(ds, "auto") == "sonyc"
    (s,) = make_splits(ds, "auto")
    sp = np.asarray([r.split for r in out])
    assert set(sp[s.test]) == {"test"} and set(sp[s.val]) == {"validate"} and set(sp[s.train]) == {"train"}
    fine = load_dataset(run, label_level="fine")
    assert fine.class_names == ["class0-a", "class1-a", "class2-a"] and fine.y.sum() == ds.y.sum()
    # without a validate split, a seeded share of train validates and never overlaps test
    for r in out:
        object.__setattr__(r, "split", "train" if r.split == "validate" else r.split)
    write_manifest(out, run / "clips.jsonl")
    (s2,) = make_splits(load_dataset(run), "split", seed=0)
    assert len(s2.val) >= 1 and not set(s2.val) & set(s2.train) and not set(s2.val) & set(s2.test)


def test_test_classes_absent_from_training_are_reported(tmp_path):
    # 10 clips, 5 classes, 5 folds: clip i has class i % 5 and fold i % 5 + 1, so each fold holds one class
    rows = [dict(clip_id=f"c{i}", label=f"k{i % 5}", label_id=i % 5, fold=i % 5 + 1) for i in range(10)]
    plan = plan_splits(load_dataset(_write(tmp_path / "r", rows)), "folds")
    assert any("10 test clip(s) belong to classes absent" in n for n in plan.notes)
    rows = [dict(clip_id=f"c{i}", label=f"k{i % 5}", label_id=i % 5, fold=i % 2 + 1) for i in range(20)]
    assert not any("absent" in n for n in plan_splits(load_dataset(_write(tmp_path / "s", rows)), "folds").notes)
