import json

import numpy as np
import pytest

from sea.cache import AudioCache, CacheWriter
from sea.config import load_config
from sea.errors import ManifestError
from sea.runs import Stage, input_hash, require_stage


def test_cache_round_trip_and_windows(tmp_path, rng):
    w = CacheWriter(tmp_path, 8000)
    clips = {f"c{i}": rng.standard_normal(1000 + 500 * i).astype(np.float32) for i in range(3)}
    for k, v in clips.items():
        w.add(k, v)
    w.close()
    c = AudioCache(tmp_path, 8000)
    assert c.clip_ids == list(clips) and c.sr == 8000 and len(c) == 3
    for k, v in clips.items():
        np.testing.assert_array_equal(c.get(k), v)
    win = c.window("c1", -100, 400)
    assert win.shape == (400,) and np.all(win[:100] == 0)
    np.testing.assert_array_equal(win[100:], clips["c1"][:300])
    tail = c.window("c0", 900, 300)
    np.testing.assert_array_equal(tail[:100], clips["c0"][900:])
    assert np.all(tail[100:] == 0)
    with pytest.raises(ManifestError, match="clip 'zz' is not in the 8000 Hz audio cache"):
        c.get("zz")
    with pytest.raises(ManifestError, match=r"no 48000 Hz audio cache .*available: \[8000\]"):
        AudioCache(tmp_path, 48000)


def test_interrupted_cache_is_not_trusted(tmp_path):
    w = CacheWriter(tmp_path, 8000)
    w.add("a", np.ones(10, np.float32))
    w._fh.close()  # simulate a crash before close()
    with pytest.raises(ManifestError):
        AudioCache(tmp_path, 8000)


def test_stage_skip_and_rerun_on_change(tmp_path):
    from dataclasses import dataclass, field

    @dataclass(frozen=True)
    class Cfg:
        dim: int = field(default=4, metadata={"help": "d"})

    inp = tmp_path / "in.txt"
    inp.write_text("a")
    st = Stage(tmp_path / "out", "demo", Cfg(), inputs={"in": inp})
    assert not st.is_done()
    with st.running():
        st.counts["n"] = 3
    rec = json.loads((tmp_path / "out" / "stage.json").read_text())
    assert rec["status"] == "done" and rec["counts"] == {"n": 3} and rec["config"] == {"dim": 4}
    assert rec["version"] and rec["started"] and rec["finished"]
    assert Stage(tmp_path / "out", "demo", Cfg(), inputs={"in": inp}).is_done()
    assert not Stage(tmp_path / "out", "demo", load_config(Cfg, overrides={"dim": 5}), inputs={"in": inp}).is_done()
    inp.write_text("b")
    assert not Stage(tmp_path / "out", "demo", Cfg(), inputs={"in": inp}).is_done()
    # chained stage: input hash of a stage dir is its stage.json fingerprint
    h1 = input_hash(tmp_path / "out")
    assert len(h1) == 16
    assert require_stage(tmp_path / "out", "demo", "sea demo")["status"] == "done"


def test_failed_stage_is_not_done(tmp_path):
    st = Stage(tmp_path / "out", "demo", {"a": 1})
    with pytest.raises(RuntimeError):
        with st.running():
            raise RuntimeError("boom")
    assert not st.is_done()
    with pytest.raises(ManifestError, match="run 'sea demo RUN' first"):
        require_stage(tmp_path / "out", "demo outputs", "sea demo RUN")


def test_atomic_writes_get_normal_file_permissions(tmp_path):
    import os
    import stat

    from sea.utils import write_json

    mask = os.umask(0o022)
    try:
        write_json(tmp_path / "a.json", {"x": 1})
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644  # not mkstemp's 0600


def test_cache_checks_itself_when_opened(tmp_path, rng):
    from sea.integrity import DamagedFileError
    from sea.runs import Stage

    w = CacheWriter(tmp_path, 8000)
    for i in range(3):
        w.add(f"c{i}", rng.standard_normal(1000).astype(np.float32))
    w.close()
    samples, index = tmp_path / "audio" / "8000" / "samples.f32", tmp_path / "audio" / "8000" / "index.npz"
    good = samples.read_bytes()
    # no stage record (a cache written by hand): its own consistency is still checked
    samples.write_bytes(good[:-8])
    with pytest.raises(DamagedFileError, match=r"samples.f32' holds 11992 bytes where its index counts 12000"):
        AudioCache(tmp_path, 8000)
    samples.write_bytes(good)
    good_index = index.read_bytes()
    index.write_bytes(good_index[:50])
    with pytest.raises(DamagedFileError, match=r"audio cache index '.*index.npz' is damaged \(BadZipFile\)"):
        AudioCache(tmp_path, 8000)
    index.write_bytes(good_index)
    # a prepare stage that has not finished (killed, or running now): nothing in it is trusted
    st = Stage(tmp_path, "prepare", {"dataset": "folder", "raw_dir": "/data/rec"})
    with pytest.raises(RuntimeError):
        with st.running():
            raise RuntimeError("killed")
    with pytest.raises(
        ManifestError, match=r"prepare stage of .* has not finished .*'sea data prepare folder /data/rec"
    ):
        AudioCache(tmp_path, 8000)
    with st.running():
        st.track(samples, index)
    assert len(AudioCache(tmp_path, 8000)) == 3
    index.write_bytes(b"garbage")
    with pytest.raises(
        DamagedFileError, match=r"8000 Hz audio cache '.*index.npz' is damaged: 7 bytes where its stage wrote"
    ):
        AudioCache(tmp_path, 8000)
