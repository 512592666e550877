"""The frame store: writer/reader round trip, shards, bounded reads, damage detection."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sea import integrity
from sea.errors import ManifestError, ParameterError
from sea.integrity import DamagedFileError
from sea.store import FrameStore, FrameStoreWriter, ShardWriter, emb_name, idx_name, read_shard_record


def _frames(rng, counts, dim):
    ids, frames, ts, emb = [], [], [], []
    for i, n in enumerate(counts):
        ids += [f"c{i:02d}"] * n
        frames.append(np.arange(n))
        ts.append(np.arange(n) * 0.1)
        emb.append(rng.standard_normal((n, dim)).astype(np.float32))
    return np.array(ids), np.concatenate(frames), np.concatenate(ts), np.concatenate(emb)


def _write(d, ids, frames, ts, emb, *, chunk=7, **kw):
    w = FrameStoreWriter(d, emb.shape[1], **kw)
    for a in range(0, len(ids), chunk):  # chunks that straddle clip and shard boundaries
        w.add(ids[a : a + chunk], frames[a : a + chunk], ts[a : a + chunk], emb[a : a + chunk])
    return w.close()


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_round_trip_across_shards(tmp_path, rng, dtype):
    ids, frames, ts, emb = _frames(rng, [5, 13, 1, 9, 20], dim=6)
    d = _write(
        tmp_path / "s",
        ids,
        frames,
        ts,
        emb,
        dtype=dtype,
        shard_size=10,
        meta={"hop_size": 0.1, "teacher": {"untrained": True}},
    )
    store = FrameStore(d)
    n = len(ids)
    assert len(store) == store.n_frames == n and store.dim == 6
    assert [s["n_frames"] for s in store.shards] == [10, 10, 10, 10, 8]
    assert store.meta["hop_size"] == 0.1 and store.meta["teacher"]["untrained"] is True
    assert store.meta["dtype"] == dtype and store.meta["n_clips"] == 5
    np.testing.assert_array_equal(store.clip_ids, ids)
    np.testing.assert_array_equal(store.frames, frames)
    np.testing.assert_array_equal(store.timestamps, ts)
    ref = emb.astype(dtype).astype(np.float32)
    full = store.read(np.arange(n))
    assert full.dtype == np.float32
    np.testing.assert_array_equal(full, ref)
    # random, unsorted, repeated indices across shards
    idx = rng.integers(0, n, size=40)
    np.testing.assert_array_equal(store.read(idx), ref[idx])
    np.testing.assert_array_equal(store.read(idx[::-1].copy()), ref[idx[::-1]])
    assert store.read([]).shape == (0, 6)
    # iter_batches covers everything in order
    starts, parts = zip(*store.iter_batches(9))
    assert list(starts) == list(range(0, n, 9))
    np.testing.assert_array_equal(np.concatenate(parts), ref)
    # clip slices
    sl = store.clip_slices()
    assert list(sl) == ["c00", "c01", "c02", "c03", "c04"]
    assert sl["c01"] == slice(5, 18) and sl["c02"] == slice(18, 19)
    for c, s in sl.items():
        assert (store.clip_ids[s] == c).all()
    store.verify()
    # shards are np.save files that memory-map
    mm = np.load(d / emb_name(0), mmap_mode="r")
    assert isinstance(mm, np.memmap) and mm.dtype == np.dtype(dtype)


def test_read_touches_only_needed_shards(tmp_path, rng):
    ids, frames, ts, emb = _frames(rng, [50, 50], dim=4)
    store = FrameStore(_write(tmp_path / "s", ids, frames, ts, emb, dtype="float32", shard_size=16))
    assert store._mmaps == {}
    np.testing.assert_array_equal(store.read([40, 33, 47]), emb[[40, 33, 47]])
    assert set(store._mmaps) == {2}  # rows 32..47
    store.read([1, 99])
    assert set(store._mmaps) == {0, 2, 6}
    # the store never materialises a whole shard: reads are copies of the requested rows
    part = store.read([5])
    assert part.base is None or part.base is not store.shard(0)


def test_writer_single_clip_id_and_exact_shard_multiple(tmp_path, rng):
    emb = rng.standard_normal((20, 3)).astype(np.float32)
    w = FrameStoreWriter(tmp_path / "s", 3, dtype="float32", shard_size=10)
    w.add("only", np.arange(20), np.arange(20) * 0.5, emb)
    w.close()
    store = FrameStore(tmp_path / "s")
    assert [s["n_frames"] for s in store.shards] == [10, 10]
    assert store.clip_slices() == {"only": slice(0, 20)}
    np.testing.assert_array_equal(store.read_range(0, 20), emb)


def test_writer_errors(tmp_path, rng):
    w = FrameStoreWriter(tmp_path / "s", 4)
    with pytest.raises(ParameterError, match=r"shape \(n, 4\)"):
        w.add(["a"], [0], [0.0], np.zeros((1, 3)))
    with pytest.raises(ParameterError, match="same length"):
        w.add(["a", "a"], [0], [0.0], np.zeros((2, 4)))
    with pytest.raises(ParameterError, match="float32"):
        w.add(["a"], [0], [0.0], np.full((1, 4), 1e6, np.float32))  # float16 overflow
    with pytest.raises(ParameterError, match="float16, float32"):
        FrameStoreWriter(tmp_path / "t", 4, dtype="int8")
    with pytest.raises(ParameterError, match="reserved"):
        FrameStoreWriter(tmp_path / "t", 4, meta={"dim": 3})
    w.abort()
    assert not (tmp_path / "s" / "store.json").exists()
    assert not list((tmp_path / "s").glob(".emb-*"))


def test_reader_errors_missing_incomplete_damaged(tmp_path, rng):
    run = tmp_path / "run"
    with pytest.raises(ManifestError, match=f"does not exist; run 'sea teacher extract {run}' first"):
        FrameStore(run / "teacher" / "mel256_music_512")
    ids, frames, ts, emb = _frames(rng, [12], dim=4)
    d = _write(run / "teacher" / "v", ids, frames, ts, emb, shard_size=5)
    meta = json.loads((d / "store.json").read_text())
    (d / "store.json").unlink()
    with pytest.raises(ManifestError, match="incomplete.*sea teacher extract"):
        FrameStore(d)
    (d / "store.json").write_text(json.dumps(meta))
    with open(d / emb_name(1), "r+b") as fh:
        fh.truncate(100)
    with pytest.raises(DamagedFileError, match=r"shard .*emb-00001.npy' is damaged: 100 bytes.*--overwrite") as e:
        FrameStore(d)
    assert "\n" not in str(e.value) and f"sea teacher extract {run} --overwrite" in str(e.value)
    store = FrameStore(_write(tmp_path / "ok", ids, frames, ts, emb, shard_size=5))
    with pytest.raises(ParameterError, match="out of range"):
        store.read([12])
    with pytest.raises(ParameterError, match="integers"):
        store.read([0.5])
    # a small shard is hashed whole by the cheap check: one flipped byte is seen at open
    f = store.dir / emb_name(0)
    raw = bytearray(f.read_bytes())
    raw[-1] ^= 0xFF
    f.write_bytes(bytes(raw))
    with pytest.raises(DamagedFileError, match="emb-00000.npy' was altered"):
        FrameStore(store.dir)
    with pytest.raises(ManifestError, match="sha256"):
        store.verify()


def _big_store(tmp_path, rng, n=3000, dim=32):
    ids, frames, ts, emb = _frames(rng, [n // 2, n - n // 2], dim=dim)
    return _write(tmp_path / "run" / "teacher" / "v", ids, frames, ts, emb, dtype="float32", shard_size=n, chunk=n)


def test_nan_shard_named_at_open_and_at_read(tmp_path, rng):
    """Issue 18: a same-size shard filled with NaN is found at open; NaN rows the cheap hash misses stop reads."""
    d = _big_store(tmp_path, rng)
    f = d / emb_name(0)
    size = f.stat().st_size
    mm = np.load(f, mmap_mode="r+")
    mm[:] = np.nan
    mm.flush()
    del mm
    assert f.stat().st_size == size
    with pytest.raises(DamagedFileError, match="emb-00000.npy' was altered.*sea teacher extract .*--overwrite"):
        FrameStore(d)
    # one NaN row between the sampled blocks: the cheap check passes, the read names shard, row, clip and frame
    d = _big_store(tmp_path / "b", rng)
    f = d / emb_name(0)
    mm = np.load(f, mmap_mode="r+")
    header, row_bytes = f.stat().st_size - mm.nbytes, mm.shape[1] * 4
    blocks = _sampled_offsets(f.stat().st_size)
    row = next(  # a row of clip c01 that no sampled block touches
        r
        for r in range(1700, 3000)
        if all(header + (r + 1) * row_bytes <= b or header + r * row_bytes >= b + 4096 for b in blocks)
    )
    mm[row, 3] = np.inf
    mm.flush()
    del mm
    store = FrameStore(d)
    assert np.isfinite(store.read(np.arange(0, 1000))).all()
    with pytest.raises(
        DamagedFileError, match=rf"emb-00000.npy' holds NaN/Inf at row {row} \(clip 'c01', frame {row - 1500}\)"
    ):
        store.read(np.arange(1500, 3000))
    assert not np.isfinite(store.read([row], check_finite=False)).all()
    with pytest.raises(DamagedFileError, match="full sha256|does not match its sha256"):
        store.verify()
    # the resume check of a shard record compares the recorded hash
    assert read_shard_record(d, 0) is not None
    integrity.set_full_verify(True)
    try:
        assert read_shard_record(d, 0, check=True) is None
    finally:
        integrity.set_full_verify(False)


def _sampled_offsets(size, block=4096, n=16):
    return [0, size - block] + [int(i * (size - block) / (n + 1)) for i in range(1, n + 1)]


def test_garbage_store_json_is_one_line(tmp_path, rng):
    ids, frames, ts, emb = _frames(rng, [4], dim=3)
    d = _write(tmp_path / "run" / "teacher" / "v", ids, frames, ts, emb)
    for text in ("{not json", "[1, 2]", json.dumps({"format": "sea-frame-store", "shards": [{"emb": 1}]})):
        (d / "store.json").write_text(text)
        with pytest.raises(ManifestError, match=r"store.json' is .*rebuild the store: sea teacher extract") as e:
            FrameStore(d)
        assert "\n" not in str(e.value)


def test_teacher_identity(tmp_path, rng):
    ids, frames, ts, emb = _frames(rng, [4], dim=3)
    ident = {"family": "birdnet", "name": "v2.4", "sr": 48000, "window_size": 3.0, "hop_size": 0.5,
             "embedding_size": 3, "weights": "m.tflite", "weights_sha256": "ab", "untrained": False}  # fmt: skip
    store = FrameStore(_write(tmp_path / "a", ids, frames, ts, emb, meta={"teacher": ident, "sr": 48000}))
    assert store.teacher == ident and store.window_size == 3.0 and store.sr == 48000
    # a store written before the registry: OpenL3's fields only
    old = {"variant": "mel256_music_512", "untrained": True, "weights_path": None, "input_repr": "mel256",
           "content_type": "music", "embedding_size": 3, "frontend": "kapre"}  # fmt: skip
    store = FrameStore(
        _write(
            tmp_path / "b", ids, frames, ts, emb, meta={"teacher": old, "sr": 48000, "frame_size": 1.0, "hop_size": 0.1}
        )  # fmt: skip
    )
    t = store.teacher
    assert (t["family"], t["name"], t["sr"], t["window_size"], t["hop_size"], t["untrained"]) == (
        "openl3",
        "mel256_music_3",
        48000,
        1.0,
        0.1,
        True,
    )


def test_shard_commit_is_atomic(tmp_path, rng):
    d = tmp_path / "s"
    w = ShardWriter(d, 3, 4, 2, "float32")
    w.write(0, np.ones((2, 2)))
    # uncommitted: no shard files under their final names
    assert read_shard_record(d, 3) is None and not (d / emb_name(3)).exists()
    with pytest.raises(ParameterError, match="only 2 of 4 rows"):
        w.commit(["a"] * 4, np.arange(4), np.zeros(4))
    w.write(2, np.ones((2, 2)))
    rec = w.commit(["a", "a", "b", "b"], np.arange(4), np.zeros(4))
    assert rec["n_frames"] == 4 and rec["dim"] == 2 and (d / idx_name(3)).is_file()
    assert read_shard_record(d, 3, n_frames=5) is None  # wrong expected size = not the shard we want
    assert not list(d.glob(".emb-*"))
