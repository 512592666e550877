"""Teacher extraction into the frame store: framing, alignment, resume, torchrun, untrained marking, errors."""

from __future__ import annotations

import argparse
import json
import os
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

from sea.cache import AudioCache
from sea.cli import teacher as teacher_cli
from sea.errors import ConfigError, ManifestError, SeaError, SeaWarning, UntrainedTeacherWarning
from sea.framing import frame_starts, n_frames, timestamps, windows
from sea.runs import read_stage
from sea.store import FrameStore, emb_name
from sea.teacher import stage
from sea.teacher.config import ExtractConfig, variant_name
from sea.teacher.stage import run as extract
from tests.conftest import make_run

ROOT = Path(__file__).resolve().parents[2]
DIM = 16


class StandIn(torch.nn.Module):
    """A cheap deterministic teacher: [B, 48000] -> [B, DIM], row-independent.

    ``delay`` seconds per forward make it slow (kill tests); ``n_seen``
    counts the windows it embedded.
    """

    def __init__(self, delay: float = 0.0, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("w", torch.randn(48, DIM, generator=g, dtype=torch.float64))
        self.delay = delay
        self.n_seen = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.n_seen += int(x.shape[0])
        if self.delay:
            time.sleep(self.delay)
        feats = x.double().reshape(x.shape[0], 48, 1000).abs().mean(-1)  # float64: no batch-size dependent rounding
        return torch.tanh(10 * feats @ self.w).float()


def stand_in(delay: float = 0.0, untrained: bool = False):
    return StandIn(delay), {"variant": "stand_in", "untrained": untrained, "weights_path": None, "weights_sha256": None}


def _cfg(**kw) -> ExtractConfig:
    base = dict(batch_size=8, shard_size=40, dtype="float32")
    base.update(kw)
    return ExtractConfig(**base)


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _store_arrays(d: Path) -> dict[str, np.ndarray]:
    s = FrameStore(d)
    return {"emb": s.read(np.arange(len(s))), "clip_ids": s.clip_ids, "frames": s.frames, "timestamps": s.timestamps}


# -- framing and alignment ---------------------------------------------------------


@pytest.mark.parametrize("center,hop", [(True, 0.1), (False, 0.25)])
def test_extract_matches_per_clip_windows(tiny_run, center, hop):
    cfg = _cfg(center=center, hop_size=hop)
    out = extract(tiny_run, cfg, model=stand_in())
    assert out == tiny_run / "teacher" / "mel256_music_512" == tiny_run / "teacher" / variant_name(cfg)
    store = FrameStore(out)
    cache = AudioCache(tiny_run, 48000)
    module = StandIn()
    slices = store.clip_slices()
    assert list(slices) == cache.clip_ids  # manifest order
    for c, sl in slices.items():
        n = cache.n_samples(c)
        k = n_frames(n, 48000, hop_size=hop, center=center)
        assert sl.stop - sl.start == k
        np.testing.assert_array_equal(store.frames[sl], np.arange(k))
        np.testing.assert_array_equal(store.timestamps[sl], timestamps(k, hop))
        with torch.no_grad():
            ref = module(torch.from_numpy(windows(cache.get(c), 48000, hop_size=hop, center=center))).numpy()
        np.testing.assert_allclose(store.read(np.arange(sl.start, sl.stop)), ref, rtol=1e-6, atol=1e-7)
        # frame i covers [start_i, start_i + 1 s): with center, the window around its timestamp
        starts = frame_starts(n, 48000, hop_size=hop, center=center) / 48000
        np.testing.assert_allclose(starts, store.timestamps[sl] - (0.5 if center else 0.0), atol=1e-9)
    assert store.n_frames == sum(s.stop - s.start for s in slices.values())
    meta = store.meta
    assert meta["sr"] == 48000 and meta["hop_size"] == hop and meta["center"] is center and meta["frame_size"] == 1.0
    assert meta["teacher"]["untrained"] is False and meta["teacher"]["variant"] == "stand_in"
    st = read_stage(out)
    assert st["status"] == "done" and st["untrained_teacher"] is False
    assert set(st["inputs"]) == {"clips", "audio"}
    assert st["counts"]["n_frames"] == store.n_frames and st["counts"]["n_clips"] == 12


def test_long_hop_and_odd_lengths(tmp_path):
    """hop > 2 s reads window by window; clips of odd lengths; every frame equals framing.windows."""
    from sea.cache import CacheWriter
    from sea.manifest import ClipRecord, write_manifest

    rng = np.random.default_rng(5)
    run = tmp_path / "run"
    w = CacheWriter(run, 48000)
    lengths = {"long": 12 * 48000 + 77, "short": 1000, "one": 48000, "mid": 100_001}
    for c, n in lengths.items():
        w.add(c, rng.standard_normal(n).astype(np.float32))
    w.close()
    write_manifest([ClipRecord(c, f"{c}.wav", n / 48000, 48000, 1) for c, n in lengths.items()], run / "clips.jsonl")
    cache = AudioCache(run, 48000)
    for hop, center in ((3.0, False), (0.37, True)):
        out = extract(run, _cfg(hop_size=hop, center=center, batch_size=3, shard_size=5), model=stand_in())
        store = FrameStore(out)
        for c, sl in store.clip_slices().items():
            with torch.no_grad():
                x = windows(cache.get(c), 48000, hop_size=hop, center=center)
                ref = StandIn()(torch.from_numpy(x)).numpy()
            assert ref.shape[0] == n_frames(lengths[c], 48000, hop_size=hop, center=center)
            np.testing.assert_allclose(store.read(np.arange(sl.start, sl.stop)), ref, rtol=1e-6, atol=1e-7)


def test_batches_cross_clips_and_memory_is_bounded(tiny_run):
    """Batches are full across clip boundaries; no forward sees more than batch_size windows."""
    seen = []

    class Spy(StandIn):
        def forward(self, x):
            seen.append(x.shape[0])
            return super().forward(x)

    cfg = _cfg(batch_size=24, shard_size=1000)  # one shard of 192 frames; clips have 16 frames
    extract(tiny_run, cfg, model=(Spy(), {}))
    assert max(seen) == 24 and sum(seen) == 192
    assert seen == [24] * 8  # 24 is not a multiple of 16: every batch spans two clips


def test_float16_store_and_rerun_is_noop(tiny_run):
    out = extract(tiny_run, _cfg(dtype="float16"), model=stand_in())
    store = FrameStore(out)
    assert store.dtype == np.float16 and np.load(out / emb_name(0), mmap_mode="r").dtype == np.float16
    ref = _store_arrays(out)
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    m = StandIn()
    assert extract(tiny_run, _cfg(dtype="float16"), model=(m, {})) == out
    assert m.n_seen == 0  # finished stage: nothing re-embedded, nothing rewritten
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == mtimes
    # a different batch size re-finalises but keeps every shard
    m = StandIn()
    extract(tiny_run, _cfg(dtype="float16", batch_size=5), model=(m, {}))
    assert m.n_seen == 0
    assert read_stage(out)["counts"]["shards_reused"] == 5
    for k, v in _store_arrays(out).items():
        np.testing.assert_array_equal(v, ref[k])
    # overwrite re-embeds everything
    m = StandIn()
    extract(tiny_run, _cfg(dtype="float16"), model=(m, {}), overwrite=True)
    assert m.n_seen == 192
    np.testing.assert_allclose(ref["emb"], _store_arrays(out)["emb"], rtol=0, atol=0)


def test_untrained_marking(tiny_run):
    out = extract(tiny_run, _cfg(untrained_teacher=True), model=stand_in())
    assert FrameStore(out).meta["teacher"]["untrained"] is True
    assert read_stage(out)["untrained_teacher"] is True
    m = StandIn()
    extract(tiny_run, _cfg(untrained_teacher=True, seed=4), model=(m, {}))
    assert m.n_seen == 192 and read_stage(out)["config"]["seed"] == 4  # untrained: the seed matters
    # a model whose info says untrained is marked too
    out = extract(tiny_run, _cfg(), model=stand_in(untrained=True), overwrite=True)
    assert FrameStore(out).meta["teacher"]["untrained"] is True and read_stage(out)["untrained_teacher"] is True


# -- resume after kill ----------------------------------------------------------------

KILL_SCRIPT = """
import sys, torch
torch.set_num_threads(1)
sys.path.insert(0, {root!r})
from tests.sea.test_extract import stand_in, _cfg
from sea.teacher.stage import run
run({run!r}, _cfg(), model=stand_in(delay=0.15))
print("FINISHED")
"""


def test_resume_after_sigkill(tiny_run):
    out = tiny_run / "teacher" / "mel256_music_512"
    env = {**os.environ, "SEA_NO_PROGRESS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT.format(root=str(ROOT), run=str(tiny_run))],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not (out / emb_name(0)).exists():
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no shard appeared"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    # 192 frames / 40 = 5 shards at 5 batches x 0.15 s each: killed well before the end
    done = sorted(p.name for p in out.glob("emb-*.npy"))
    assert 1 <= len(done) < 5
    assert not (out / "store.json").exists() and read_stage(out)["status"] == "running"
    with pytest.raises(ManifestError, match="incomplete.*sea teacher extract"):
        FrameStore(out)
    mtimes = {n: (out / n).stat().st_mtime_ns for n in done}
    done_frames = sum(np.load(out / n, mmap_mode="r").shape[0] for n in done)

    m = StandIn()
    with pytest.warns(SeaWarning, match="taking over the stale lock"):  # the killed process held the run lock
        extract(tiny_run, _cfg(), model=(m, {}))
    assert m.n_seen == 192 - done_frames  # finished shards were not recomputed
    assert {n: (out / n).stat().st_mtime_ns for n in done} == mtimes
    assert not list(out.glob(".emb-*")) and not list(out.glob(".idx-*"))
    st = read_stage(out)
    assert st["status"] == "done" and st["counts"]["shards_reused"] == len(done)
    resumed = _store_arrays(out)
    FrameStore(out).verify()

    extract(tiny_run, _cfg(), model=stand_in(), overwrite=True)
    fresh = _store_arrays(out)
    for k in resumed:
        np.testing.assert_array_equal(resumed[k], fresh[k])


# -- torchrun ----------------------------------------------------------------------

DIST_SCRIPT = """
import sys, torch
torch.set_num_threads(1)
sys.path.insert(0, {root!r})
from tests.sea.test_extract import stand_in, _cfg
from sea.teacher.stage import run
run(sys.argv[1], _cfg(shard_size=24), model=stand_in())
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_ranks_equal_one_process(tiny_run, tmp_path):
    two = tmp_path / "two"
    shutil.copytree(tiny_run, two)
    one_out = extract(tiny_run, _cfg(shard_size=24), model=stand_in())
    script = tmp_path / "dist_extract.py"
    script.write_text(DIST_SCRIPT.format(root=str(ROOT)))
    env = {**os.environ, "SEA_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    r = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
         "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), str(script), str(two)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    two_out = two / "teacher" / "mel256_music_512"
    a, b = _store_arrays(one_out), _store_arrays(two_out)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    ma, mb = FrameStore(one_out).meta, FrameStore(two_out).meta
    assert [s["sha256"] for s in ma["shards"]] == [s["sha256"] for s in mb["shards"]]
    st = read_stage(two_out)
    assert st["status"] == "done" and st["counts"]["world_size"] == 2 and st["counts"]["shards_computed"] == 8


# -- errors and CLI glue ----------------------------------------------------------------


def test_errors(tmp_path, tiny_run):
    with pytest.raises(ConfigError, match=r"input_repr='mel64'.*'linear', 'mel128', 'mel256'"):
        ExtractConfig(input_repr="mel64").validate()
    with pytest.raises(ConfigError, match=r"embedding_size=128.*512, 6144"):
        extract(tiny_run, ExtractConfig(embedding_size=128), model=stand_in())
    with pytest.raises(ConfigError, match="dtype='int8'"):
        ExtractConfig(dtype="int8").validate()
    with pytest.raises(ConfigError, match="hop_size"):
        ExtractConfig(hop_size=0).validate()
    with pytest.raises(ConfigError, match="device"):
        ExtractConfig(device="gpu0").validate()
    run = make_run(tmp_path / "r8", n_clips=2, duration=1.0, srs=(8000,))
    with pytest.raises(ManifestError, match="no 48000 Hz audio cache.*available: \\[8000\\]"):
        extract(run, _cfg(), model=stand_in())
    with pytest.raises(ManifestError, match="no clip manifest"):
        extract(tmp_path / "nothing", _cfg(), model=stand_in())


def test_precision_and_window_dtype(tiny_run):
    with pytest.raises(ConfigError, match="precision='bfloat16' needs the OpenL3 teacher"):
        extract(tiny_run, _cfg(precision="bfloat16"), model=stand_in())
    with pytest.raises(ConfigError, match="precision='half'.*'float32', 'bfloat16', 'float16'"):
        ExtractConfig(precision="half").validate()
    dtypes = set()

    class Librosa(StandIn):
        frontend_name = "librosa"  # openl3's librosa front-end works on float64 windows
        autocast_dtype = None

        def forward(self, x):
            dtypes.add(x.dtype)
            assert self.autocast_dtype == torch.float16
            return super().forward(x)

    out = extract(tiny_run, _cfg(precision="float16"), model=(Librosa(), {}))
    assert dtypes == {torch.float64}
    assert FrameStore(out).meta["teacher"]["precision"] == "float16"


def test_cli_glue(tiny_run, tmp_path, capsys, monkeypatch):
    parser = argparse.ArgumentParser()  # the root parser's --seed and the teacher group, as in 'sea'
    parser.add_argument("--seed", type=int, default=None)
    teacher_cli.register(parser.add_subparsers(), "teacher", "the teacher group")
    yaml_file = tmp_path / "x.yaml"
    yaml_file.write_text("shard_size: 50\nbatch_size: 16\n")
    args = parser.parse_args(
        ["--seed", "3", "teacher", "extract", str(tiny_run), "--config", str(yaml_file), "--dtype", "float32",
         "--hop-size", "0.5", "--no-center"]
    )  # fmt: skip
    assert args.run_dir == str(tiny_run) and args.overwrite is False

    calls = {}
    real = stage.run

    def fake_run(run_dir, config, *, overwrite=False, model=None):
        calls["config"] = config
        return real(run_dir, config, overwrite=overwrite, model=stand_in())

    monkeypatch.setattr(stage, "run", fake_run)
    assert args.func(args) == 0
    cfg = calls["config"]
    assert (cfg.shard_size, cfg.batch_size, cfg.dtype, cfg.hop_size, cfg.center, cfg.seed) == (
        50,
        16,
        "float32",
        0.5,
        False,
        3,
    )
    printed = capsys.readouterr().out
    assert read_stage(tiny_run / "teacher" / "mel256_music_512")["config"]["seed"] == 0  # trained: seed is moot
    n = sum(n_frames(96000, 48000, hop_size=0.5, center=False) for _ in range(12))
    assert f"{n} frames of 12 clips, dim {DIM} float32" in printed
    with pytest.raises(SystemExit):
        parser.parse_args(["teacher", "extract"])  # RUN_DIR is required
    with pytest.raises(ConfigError, match="frontend='tf'"):
        args = parser.parse_args(["teacher", "extract", str(tiny_run), "--frontend", "tf"])
        args.func(args)


# -- the real teacher ------------------------------------------------------------------


def test_real_untrained_teacher(tmp_path):
    teacher = pytest.importorskip("sea.teacher")
    if not hasattr(teacher, "load_teacher"):
        pytest.skip("sea.teacher.load_teacher is not available yet")
    run = make_run(tmp_path / "run", n_clips=2, duration=1.0, srs=(48000,))
    cfg = ExtractConfig(input_repr="mel128", embedding_size=512, untrained_teacher=True, batch_size=4, shard_size=8)
    with pytest.warns(UntrainedTeacherWarning):
        out = extract(run, cfg)
    assert out.name == "mel128_music_512"
    store = FrameStore(out)
    assert store.dim == 512 and store.n_frames == 2 * n_frames(48000, 48000)
    assert store.meta["teacher"]["untrained"] is True and read_stage(out)["untrained_teacher"] is True
    # same numbers as the model run directly on the clip's windows (same seed -> same random weights)
    with pytest.warns(UntrainedTeacherWarning):
        model, info = teacher.load_teacher("mel128", "music", 512, untrained=True, seed=cfg.seed)
    assert info["untrained"] is True
    cache = AudioCache(run, 48000)
    sl = store.clip_slices()
    for c in cache.clip_ids:
        with torch.inference_mode():
            ref = model(torch.from_numpy(windows(cache.get(c), 48000))).float().numpy()
        got = store.read(np.arange(sl[c].start, sl[c].stop))
        assert ref.std() > 1e-6  # not a degenerate (constant) embedding
        np.testing.assert_allclose(got, ref, rtol=2e-3, atol=2e-3 * max(1e-6, float(np.abs(ref).max())))
    json.dumps(store.meta)  # meta stays JSON-serialisable
    # the teacher rebuilds from the store's identity (as evaluation does): same random weights, same frames
    from sea.teacher.registry import load_teacher_model

    with pytest.warns(UntrainedTeacherWarning):
        again, spec = load_teacher_model(store.teacher)
    assert spec.variant == "mel128_music_512" and spec.untrained
    c = cache.clip_ids[0]
    np.testing.assert_allclose(again(windows(cache.get(c), 48000)), store.read(np.arange(sl[c].start, sl[c].stop)),
                               rtol=2e-3, atol=2e-3 * float(np.abs(ref).max()))  # fmt: skip


# -- reliability (issue 18 §2): lock, validation before writing, damaged shards, non-finite outputs ------------

HOLD_SCRIPT = """
import sys, time
sys.path.insert(0, {root!r})
from sea.lock import run_lock
with run_lock({run!r}):
    print("held", flush=True)
    time.sleep(60)
"""


def test_locked_run_is_refused(tiny_run):
    from sea.lock import RunLockedError

    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_SCRIPT.format(root=str(ROOT), run=str(tiny_run))], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(RunLockedError, match=rf"locked by pid {proc.pid}"):
            extract(tiny_run, _cfg(), model=stand_in())
        assert not (tiny_run / "teacher").exists()
    finally:
        proc.kill()
        proc.wait(30)


def _snapshot(d: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(d.iterdir())}


def test_failed_command_leaves_finished_store_finished(tiny_run, tmp_path):
    """A new config that fails to load its teacher writes nothing: the finished store stays finished and intact."""
    out = extract(tiny_run, _cfg(), model=stand_in())
    before = _snapshot(out)
    with pytest.raises(SeaError, match="does not exist"):
        extract(tiny_run, _cfg(weights=str(tmp_path / "missing.h5")))  # weights are resolved before writing
    with pytest.raises(ConfigError, match="precision='bfloat16' needs the OpenL3 teacher"):
        extract(tiny_run, _cfg(precision="bfloat16"), model=stand_in())  # the teacher loads before writing
    assert _snapshot(out) == before
    assert read_stage(out)["status"] == "done"
    m = StandIn()
    extract(tiny_run, _cfg(), model=(m, {}))
    assert m.n_seen == 0  # still up to date


def test_damaged_shard_is_named_and_reembedded(tiny_run):
    """A NaN-filled (same size) or truncated shard: named in one line with the fix; 'up to date' re-embeds it only."""
    from sea.integrity import DamagedFileError

    out = extract(tiny_run, _cfg(), model=stand_in())
    ref = _store_arrays(out)
    f = out / emb_name(2)
    mm = np.load(f, mmap_mode="r+")
    mm[:] = np.nan
    mm.flush()
    del mm
    with pytest.raises(
        DamagedFileError, match=rf"emb-00002.npy' was altered.*sea teacher extract {tiny_run} --overwrite"
    ):
        FrameStore(out)
    m = StandIn()
    extract(tiny_run, _cfg(), model=(m, {}))
    assert m.n_seen == 40  # shard 2 only
    for k, v in _store_arrays(out).items():
        np.testing.assert_array_equal(v, ref[k])
    with open(out / emb_name(4), "r+b") as fh:  # truncated
        fh.truncate(1000)
    with pytest.raises(DamagedFileError, match="emb-00004.npy' is damaged: 1000 bytes"):
        FrameStore(out)
    m = StandIn()
    extract(tiny_run, _cfg(), model=(m, {}))
    assert m.n_seen == 192 - 4 * 40
    for k, v in _store_arrays(out).items():
        np.testing.assert_array_equal(v, ref[k])
    st = read_stage(out)
    assert {f"emb-{k:05d}.npy" for k in range(5)} <= set(st["files"]) and "store.json" in st["files"]


def test_non_finite_teacher_output_stops_the_stage(tiny_run):
    class NaNAt(StandIn):
        def __init__(self, row):
            super().__init__()
            self.row = row

        def forward(self, x):
            y = super().forward(x)
            a = self.n_seen - x.shape[0]
            if a <= self.row < self.n_seen:
                y[self.row - a, 3] = float("nan")
            return y

    from sea.teacher.store_writer import NonFiniteTeacherError

    with pytest.raises(NonFiniteTeacherError, match=r"NaN/Inf for clip 'clip003' frame 2 \(t = 0.2 s"):
        extract(tiny_run, _cfg(), model=(NaNAt(50), {}))  # global frame 50 = clip 3 (16 frames each), frame 2
    out = tiny_run / "teacher" / "mel256_music_512"
    assert not (out / "store.json").exists() and read_stage(out)["status"] == "running"
    assert (out / emb_name(0)).exists() and not (out / emb_name(1)).exists()
    assert not list(out.glob(".emb-*"))  # the partial shard was removed
