import warnings

import pytest
import soundfile as sf

from data_prep import esc50
from sea.errors import ConfigError, DatasetError, SeaWarning
from sea.manifest import read_manifest
from tests.data_prep._trees import noise, write_csv

HEADER = ["filename", "fold", "target", "category", "esc10", "src_file", "take"]
# (target, category, esc10)
CLASSES = [(0, "dog", True), (1, "rooster", False), (12, "crackling_fire", True), (40, "helicopter", True),
           (42, "siren", False)]  # fmt: skip


def tree(root):
    rows = []
    for k, (t, cat, e10) in enumerate(CLASSES):
        for fold in (1, 2, 3, 4, 5):
            name = f"{fold}-{1000 + k}-A-{t}.wav"
            sf.write(root / "audio" / name if (root / "audio").is_dir() else _mk(root) / name,
                     noise(0.5, 44100, seed=k * 10 + fold), 44100)  # fmt: skip
            rows.append([name, fold, t, cat, str(e10), f"{1000 + k}.ogg", "A"])
    write_csv(root / "meta" / "esc50.csv", HEADER, rows)


def _mk(root):
    (root / "audio").mkdir(parents=True, exist_ok=True)
    return root / "audio"


def _prepare(*a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SeaWarning)
        return esc50.prepare(*a, **k)


def test_esc50_folds_and_labels(tmp_path):
    tree(tmp_path / "raw")
    recs = read_manifest(_prepare(tmp_path / "raw", tmp_path / "run"))
    assert len(recs) == 25
    assert sorted({r.fold for r in recs}) == [1, 2, 3, 4, 5]
    for r in recs:
        fold, _, _, target = r.clip_id.split("-")
        assert r.fold == int(fold) and r.label_id == int(target)
        assert r.label == dict((t, c) for t, c, _ in CLASSES)[int(target)]
        assert r.meta["target"] == int(target) and r.duration == 0.5
        # the Freesound recording, for grouped cross-validation on subsets with fewer than 3 folds
        assert r.meta["group"] == r.meta["src_file"] == f"{r.clip_id.split('-')[1]}.ogg"


def test_esc10_subset_reindexed(tmp_path):
    tree(tmp_path / "raw")
    recs = read_manifest(_prepare(tmp_path / "raw", tmp_path / "run", esc10=True))
    assert len(recs) == 15 and {r.label for r in recs} == {"dog", "crackling_fire", "helicopter"}
    # ids follow the ascending ESC-50 target: dog (0) -> 0, crackling_fire (12) -> 1, helicopter (40) -> 2
    assert {r.label: r.label_id for r in recs} == {"dog": 0, "crackling_fire": 1, "helicopter": 2}
    assert {r.label: r.meta["target"] for r in recs} == {"dog": 0, "crackling_fire": 12, "helicopter": 40}


def test_esc50_bad_input(tmp_path):
    raw = tmp_path / "raw"
    write_csv(raw / "meta" / "esc50.csv", ["filename", "fold", "target", "category"], [["a.wav", 1, 0, "dog"]])
    (raw / "audio").mkdir()
    with pytest.raises(DatasetError, match=r"no column 'esc10'; columns found: filename, fold, target, category"):
        _prepare(raw, tmp_path / "run")
    write_csv(raw / "meta" / "esc50.csv", HEADER, [["a.wav", 1, 0, "dog", "False", "x", "A"]])
    with pytest.raises(DatasetError, match="no row .* has esc10=True"):
        _prepare(raw, tmp_path / "run", esc10=True)
    from data_prep.urbansound8k import prepare as us8k_prepare

    with pytest.raises(ConfigError, match="esc10=True only applies to the esc50 dataset"):
        us8k_prepare(raw, tmp_path / "run", esc10=True)
