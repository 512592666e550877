"""The UrbanSound8K loader on real files: the fold-10 sample in ../shared (skipped where absent)."""

import csv
import warnings
from collections import Counter

import numpy as np
import pytest

from data_prep import urbansound8k
from sea.audio import load, resample
from sea.cache import AudioCache
from sea.errors import SeaWarning
from sea.manifest import read_manifest
from tests.conftest import shared_path
from tests.data_prep._trees import write_csv


@pytest.fixture(scope="module")
def real_subset(tmp_path_factory):
    """Three clips of each of the 10 classes, in the official layout (links to the real files)."""
    src = shared_path("data", "us8k_fold10_sample", "UrbanSound8K")
    rows = list(csv.DictReader(open(src / "metadata" / "UrbanSound8K.csv", newline="")))
    picked, per_class = [], Counter()
    for r in rows:
        if per_class[r["classID"]] < 3:
            per_class[r["classID"]] += 1
            picked.append(r)
    root = tmp_path_factory.mktemp("us8k") / "UrbanSound8K"
    (root / "audio" / "fold10").mkdir(parents=True)
    for r in picked:
        (root / "audio" / "fold10" / r["slice_file_name"]).symlink_to(src / "audio" / "fold10" / r["slice_file_name"])
    write_csv(root / "metadata" / "UrbanSound8K.csv", list(rows[0]), [list(r.values()) for r in picked])
    run = root.parent / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SeaWarning)  # real clips: some are short or clipped
        urbansound8k.prepare(root, run, cache_srs=(48000, 8000))
    return root, run, {r["slice_file_name"][:-4]: r for r in picked}


def test_real_clips_prepare_with_recording_groups(real_subset):
    root, run, rows = real_subset
    recs = {r.clip_id: r for r in read_manifest(run)}
    assert set(recs) == set(rows) and len(recs) == 30
    for cid, r in recs.items():
        row = rows[cid]
        assert (r.label, r.label_id, r.fold) == (row["class"], int(row["classID"]), 10)
        assert r.meta["group"] == r.meta["fsID"] == row["fsID"] == cid.split("-")[0]  # the Freesound recording
        assert r.duration == pytest.approx(float(row["end"]) - float(row["start"]), abs=0.1)
        assert (r.sr, r.channels) == (22050, 1)


def test_real_clip_cache_is_openl3s_reading(real_subset):
    root, run, rows = real_subset
    cid = next(iter(rows))
    y, sr = load(root / "audio" / "fold10" / f"{cid}.wav", sr=None, dtype="float64")
    for target in (48000, 8000):
        want = resample(y, sr, target, res_type="kaiser_best").astype(np.float32)
        np.testing.assert_array_equal(np.asarray(AudioCache(run, target).get(cid)), want)
