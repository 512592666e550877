"""sea.integrity and the artifact records of sea.runs.Stage: a damaged output is found and named."""

from __future__ import annotations

import numpy as np
import pytest

from sea import integrity
from sea.errors import ManifestError
from sea.runs import Stage, read_stage, require_stage, verify_stage


def _write(path, n, seed=0):
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes())
    return path


@pytest.mark.parametrize("n", [0, 10, 100_000, 3_000_000])
def test_record_then_check_passes(tmp_path, n):
    f = _write(tmp_path / "a.bin", n)
    integrity.check(f, integrity.record(f), fix="redo")


def test_truncation_is_named_with_size_and_fix(tmp_path):
    f = _write(tmp_path / "a.bin", 200_000)
    rec = integrity.record(f)
    f.write_bytes(f.read_bytes()[:150_000])
    with pytest.raises(
        integrity.DamagedFileError, match=r"a\.bin.*150000 bytes where its stage wrote 200000.*--overwrite teacher"
    ):
        integrity.check(f, rec, fix="sea run C --overwrite teacher")


def test_same_size_alteration_is_caught_by_the_sampled_hash(tmp_path):
    f = _write(tmp_path / "a.bin", 2_000_000)
    rec = integrity.record(f)
    data = bytearray(f.read_bytes())
    data[:4096] = b"\x00" * 4096  # the head is always sampled
    f.write_bytes(bytes(data))
    with pytest.raises(integrity.DamagedFileError, match="altered"):
        integrity.check(f, rec, fix="x")


def test_full_verify_catches_what_sampling_misses(tmp_path):
    f = _write(tmp_path / "a.bin", 2_000_000)
    rec = integrity.record(f, full=True)
    data = bytearray(f.read_bytes())
    data[1_000_123] ^= 0xFF  # between the sampled blocks
    f.write_bytes(bytes(data))
    integrity.check(f, rec, fix="x")  # the cheap check cannot see it
    integrity.set_full_verify(True)
    try:
        with pytest.raises(integrity.DamagedFileError, match="full sha256"):
            integrity.check(f, rec, fix="x")
    finally:
        integrity.set_full_verify(False)


def test_stage_records_artifacts_and_reruns_when_one_is_damaged(tmp_path):
    out = tmp_path / "stage"
    stage = Stage(out, "demo", {"k": 1})
    with stage.running():
        f = _write(out / "shard.npy", 50_000)
        stage.track(f)
    assert "shard.npy" in read_stage(out)["files"]
    assert Stage(out, "demo", {"k": 1}).is_done()
    f.write_bytes(f.read_bytes()[:1000])
    assert not Stage(out, "demo", {"k": 1}).is_done()  # "up to date" looks at the files
    with pytest.raises(ManifestError, match="shard.npy.*1000 bytes.*--overwrite"):
        require_stage(out, "demo outputs", "sea demo RUN")
    with pytest.raises(ManifestError, match="shard.npy"):
        verify_stage(out, fix="x")


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", ""])
def test_garbage_stage_json_is_one_clear_error(tmp_path, text):
    (tmp_path / "stage.json").write_text(text)
    with pytest.raises(ManifestError, match="stage.json.*rerun"):
        read_stage(tmp_path)
