"""Near-copies: evaluation clips whose decoded audio is a corpus clip's, though their files (md5) differ."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import soundfile as sf

from sea.cache import CacheWriter
from sea.overlap import descriptors, near_copies

SR = 8000


def _clip(seed: int, seconds: float = 4.0) -> np.ndarray:
    """Noise through a random resonance, under a random envelope: every seed another sound."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    env = np.interp(t, np.linspace(0, seconds, 9), rng.uniform(0.05, 1.0, 9))
    tone = np.sin(2 * np.pi * rng.uniform(100, 3000) * t + rng.uniform(0, 6.28))
    return (0.3 * env * (0.6 * tone + 0.4 * rng.standard_normal(n))).astype(np.float32)


def _cache(root, clips: dict[str, np.ndarray]):
    writer = CacheWriter(root, SR)
    for clip_id, y in clips.items():
        writer.add(clip_id, y)
    writer.close()
    return root


def test_copies_at_another_level_polarity_or_with_noise_are_found_and_nothing_else(tmp_path):
    corpus = {f"c{i}": _clip(i) for i in range(8)}
    noise = 0.01 * np.random.default_rng(99).standard_normal(corpus["c2"].size).astype(np.float32)  # ~30 dB SNR
    other = {
        "quieter": 0.5 * corpus["c0"],
        "flipped": -1.2 * corpus["c1"],
        "noisy": corpus["c2"] + noise,
        "trimmed": corpus["c3"][: int(3.9 * SR)],  # 2.5% shorter: beyond the length tolerance, documented as not found
        "new": _clip(100),
        "reversed": corpus["c4"][::-1].copy(),  # the same spectrum, other audio
        "shifted": np.roll(corpus["c5"], SR // 2),  # not sample-aligned: documented as not found
        "silent": np.zeros(4 * SR, np.float32),
    }
    pairs = near_copies(_cache(tmp_path / "corpus", corpus), _cache(tmp_path / "other", other))
    found = {o: c for o, c, _ in pairs}
    assert found == {"quieter": "c0", "flipped": "c1", "noisy": "c2"}
    assert all(r >= 0.98 for _, _, r in pairs)


def test_descriptors_ignore_level_and_mark_silence():
    y = _clip(3)
    d, ok = descriptors([y, 0.01 * y, np.zeros(SR, np.float32), _clip(4)], SR)
    assert ok.tolist() == [True, True, False, True]
    assert d[0] @ d[1] == pytest.approx(1.0, abs=1e-5) and not d[2].any()
    assert d[0] @ d[3] < 0.98


def test_no_common_rate_means_nothing_to_compare(tmp_path):
    _cache(tmp_path / "a", {"x": _clip(0)})
    writer = CacheWriter(tmp_path / "b", 16000)
    writer.add("x", np.repeat(_clip(0), 2))
    writer.close()
    assert near_copies(tmp_path / "a", tmp_path / "b") == []


def test_sea_run_warns_about_relevelled_copies_in_the_evaluation_set(tmp_path, caplog):
    """The md5 guard misses a copy at another level, rate and encoding; the prepare stage of `sea run` names it."""
    from sea.audio import resample
    from sea.pipeline import check_overlap, load_run_config, run_pipeline

    from .test_pipeline import TINY, write_config

    corpus_dir, copies_dir, fresh_dir = tmp_path / "corpus", tmp_path / "copies", tmp_path / "fresh"
    for d in (corpus_dir, copies_dir, fresh_dir):
        d.mkdir()
    for i in range(6):  # 16 kHz sources: the 8 kHz caches keep what lies well inside every rate's band
        y = resample(_clip(i, 2.0), SR, 16000)
        sf.write(corpus_dir / f"clip{i}.wav", y, 16000, subtype="FLOAT")
        sf.write(fresh_dir / f"clip{i}.wav", resample(_clip(50 + i, 2.0), SR, 16000), 16000, subtype="FLOAT")
        # the same audio 3 dB down, at 22.05 kHz, in 16-bit PCM: another file through and through
        sf.write(copies_dir / f"clip{i}.wav", 0.7 * resample(y, 16000, 22050), 22050, subtype="PCM_16")
    evaluate = {k: v for k, v in TINY["evaluate"].items() if k != "allow_overlap"}
    data = {"dataset": "folder", "raw_dir": str(corpus_dir)}
    for name, raw, expect in (("copies", copies_dir, True), ("fresh", fresh_dir, False)):
        plan = load_run_config(write_config(
            tmp_path / f"{name}.yaml", tmp_path / f"run_{name}", data=data,
            evaluate={**evaluate, "datasets": [{"dataset": "folder", "raw_dir": str(raw), "name": name}]},
        ))  # fmt: skip
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="sea.pipeline"):
            run_pipeline(plan, stop="prepare")
        warned = [r.getMessage() for r in caplog.records if "another level" in r.getMessage()]
        assert check_overlap(plan) == {name: 0}  # no file is shared: md5 sees nothing
        if expect:
            assert len(warned) == 1 and "6 of its 6 clips" in warned[0]
            assert f"{copies_dir}/clip" in warned[0] and f"{corpus_dir}/clip" in warned[0]
        else:
            assert not warned
