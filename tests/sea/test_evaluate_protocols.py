"""Fold discipline of sea.evaluate protocols: predefined folds, previous-fold validation, shuffles, splits."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from sea.errors import ConfigError, DatasetError
from sea.evaluate import kfold_assignment, load_dataset, make_splits, resolve_protocol
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


def test_expected_fold_counts_enforced(tmp_path):
    run = make_run(tmp_path / "r", n_clips=12, n_classes=3, duration=0.5, n_folds=3, srs=(8000,))
    ds = load_dataset(run)
    with pytest.raises(DatasetError, match="expects 10 predefined folds"):
        make_splits(ds, "us8k")
    with pytest.raises(DatasetError, match="expects 5"):
        make_splits(ds, "esc50")
    with pytest.raises(ConfigError):
        resolve_protocol(ds, "bogus")
    # three folds: previous-fold validation still holds
    for s in make_splits(ds, "folds"):
        assert len(s.val) == 4


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
