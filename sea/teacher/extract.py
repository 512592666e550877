"""Dataset-scale teacher extraction: ``sea teacher extract RUN_DIR`` -> ``RUN/teacher/<variant>/``.

Reads the clip manifest (``clips.jsonl``) and the 48 kHz audio cache, embeds
every openl3 frame of every clip with the teacher and writes a frame store
(:mod:`sea.store`).

Framing and alignment
---------------------
Clip ``c`` with ``n`` cached samples at 48 kHz gives
``sea.framing.n_frames(n, 48000, hop_size, center)`` frames, exactly as
openl3 0.4.x. Frame ``i`` is the 1-s window starting at sample
``start_i = sea.framing.frame_starts(n, 48000, hop_size=..., center=...)[i]``
of the original signal (negative with ``center=True``: the part before the
clip is zeros, as openl3's pre-padding), so it covers
``[start_i / 48000, start_i / 48000 + 1)`` s of original time, i.e.
``[t - 0.5, t + 0.5)`` with ``center=True`` and ``[t, t + 1)`` without, where
the store's timestamp is ``t = i * hop_size``. Because the framing rule is
the same at every rate, the student window with the same ``(clip_id, frame)``
cut from the 8 kHz cache covers the same time span.

Order, shards, resume
---------------------
Frames are numbered globally in manifest order (clip by clip, frame by
frame). Shard ``k`` is the fixed range of frames ``[k * shard_size,
(k + 1) * shard_size)``; it is the unit of work, resume and distribution.
Windows are cut straight from the memory-mapped cache into fixed-size
batches that run across clip boundaries (within a shard), so memory is
bounded by ``batch_size`` windows plus one shard's index, never by clip length
or dataset size. A shard is committed atomically (:class:`sea.store.ShardWriter`);
after a kill, re-running the command keeps every committed shard (same
config and inputs, recorded in ``extract_plan.json``) and embeds the rest.
``store.json`` and then ``stage.json`` are written last. Changing only
``batch_size`` or ``device`` keeps finished shards.

Distributed
-----------
Under ``torchrun`` (``WORLD_SIZE`` > 1), ranks initialise ``torch.distributed``
(gloo on CPU, nccl on CUDA, device ``cuda:LOCAL_RANK``), rank ``r`` embeds
shards ``k`` with ``k % world_size == r``, and rank 0 writes ``store.json``
and ``stage.json`` after a barrier. Batches never cross shards, so the store
equals a one-process run bit for bit on the same device.

Untrained teachers (``--untrained-teacher``) are marked in ``store.json``
(``teacher.untrained = true``) and in ``stage.json`` (``untrained_teacher: true``).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import functools
import logging
import os
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import INDEX_NAME, SAMPLES_NAME, AudioCache, cache_dir
from ..config import add_config_arguments, config_from_args, config_hash, config_to_dict
from ..errors import AudioError, ConfigError, ManifestError, ParameterError, SeaError
from ..framing import frame_starts, hop_length_for, n_frames
from ..manifest import MANIFEST_NAME, read_manifest
from ..progress import progress
from ..runs import Stage
from ..store import STORE_FILE, ShardWriter, clear_store_files, read_shard_record, write_store_json
from ..utils import read_json, write_json

log = logging.getLogger(__name__)

TEACHER_SR = 48000
FRAME_SIZE = 1.0
PLAN_FILE = "extract_plan.json"
STAGE_NAME = "teacher"

# The allowed values; sea.teacher's own tuples win when it exports them.
INPUT_REPRS = ("linear", "mel128", "mel256")
CONTENT_TYPES = ("env", "music")
EMBEDDING_SIZES = (512, 6144)
FRONTENDS = ("kapre", "librosa", "legacy")
DTYPES = ("float16", "float32")
PRECISIONS = ("float32", "bfloat16", "float16")

__all__ = [
    "ExtractConfig",
    "add_extract_arguments",
    "extract",
    "run_extract_command",
    "store_dir",
    "variant_name",
]


def _allowed(name: str, fallback: tuple) -> tuple:
    try:
        import importlib

        mod = importlib.import_module("sea.teacher")
        value = getattr(mod, name, None)
        return tuple(value) if value else fallback
    except Exception:  # the model package may not be importable (yet): our copy is the same list
        return fallback


@dataclass(frozen=True)
class ExtractConfig:
    """Config of ``sea teacher extract`` (the teacher frame store of a run)."""

    input_repr: str = field(default="mel256", metadata={"help": "OpenL3 input representation: linear, mel128, mel256"})
    content_type: str = field(default="music", metadata={"help": "OpenL3 training content: env or music"})
    embedding_size: int = field(default=512, metadata={"help": "embedding dimension: 512 (SEA) or 6144"})
    frontend: str = field(default="kapre", metadata={"help": "front-end: kapre (openl3 0.4.x), librosa, legacy"})
    hop_size: float = field(default=0.1, metadata={"help": "hop between 1-s frames in seconds (openl3 hop_size)"})
    center: bool = field(default=True, metadata={"help": "centre frames on their timestamps (openl3 center)"})
    batch_size: int = field(default=64, metadata={"help": "windows per teacher forward pass (bounds memory)"})
    dtype: str = field(default="float16", metadata={"help": "on-disk embedding dtype: float16 or float32"})
    shard_size: int = field(default=65536, metadata={"help": "frames per store shard (unit of resume and ranks)"})
    weights: str | None = field(
        default=None, metadata={"help": "teacher weights (.h5 or converted .pt); default: resolved"}
    )
    untrained_teacher: bool = field(
        default=False, metadata={"help": "use random weights for a dry run; outputs are marked untrained"}
    )
    precision: str = field(
        default="float32", metadata={"help": "teacher compute precision: float32, bfloat16 or float16 (autocast, GPU)"}
    )
    device: str = field(
        default="cpu", metadata={"help": "torch device: cpu, cuda, cuda:N (cuda:LOCAL_RANK under torchrun)"}
    )
    seed: int = field(
        default=0, metadata={"help": "seed of the untrained teacher's random weights (ignored with trained weights)"}
    )

    def validate(self) -> None:
        checks = (
            ("input_repr", self.input_repr, _allowed("INPUT_REPRS", INPUT_REPRS)),
            ("content_type", self.content_type, _allowed("CONTENT_TYPES", CONTENT_TYPES)),
            ("embedding_size", self.embedding_size, _allowed("EMBEDDING_SIZES", EMBEDDING_SIZES)),
            ("frontend", self.frontend, _allowed("FRONTENDS", FRONTENDS)),
            ("dtype", self.dtype, DTYPES),
            ("precision", self.precision, _allowed("PRECISIONS", PRECISIONS)),
        )
        for name, value, allowed in checks:
            if value not in allowed:
                raise ConfigError(
                    f"ExtractConfig.{name}={value!r} is not allowed; choose one of {', '.join(map(repr, allowed))}"
                )
        if not (self.hop_size > 0 and np.isfinite(self.hop_size)):
            raise ConfigError(
                f"ExtractConfig.hop_size={self.hop_size!r} must be a positive number of seconds, e.g. 0.1"
            )
        if int(self.hop_size * TEACHER_SR) < 1:
            raise ConfigError(f"ExtractConfig.hop_size={self.hop_size} is shorter than one sample at 48 kHz")
        for name in ("batch_size", "shard_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"ExtractConfig.{name}={getattr(self, name)} must be >= 1")
        dev = self.device.split(":")[0]
        if dev not in ("cpu", "cuda", "mps", "xpu"):
            raise ConfigError(f"ExtractConfig.device={self.device!r} is not a torch device; use cpu, cuda or cuda:N")


def variant_name(config: ExtractConfig) -> str:
    """Store directory name, e.g. ``mel256_music_512`` (``_librosa``/``_legacy`` appended for those front-ends)."""
    name = f"{config.input_repr}_{config.content_type}_{config.embedding_size}"
    return name if config.frontend == "kapre" else f"{name}_{config.frontend}"


def store_dir(run_dir: str | Path, config: ExtractConfig) -> Path:
    """``RUN/teacher/<variant>``."""
    return Path(run_dir) / "teacher" / variant_name(config)


# -- plan ------------------------------------------------------------------------------


@dataclass
class _Plan:
    """Global frame numbering: clips in manifest order, shards of ``shard_size`` frames."""

    clip_ids: list[str]
    counts: np.ndarray  # frames per clip, int64
    offsets: np.ndarray  # first global frame of each clip, int64 [n_clips + 1]
    n_samples: np.ndarray  # cached samples per clip, int64
    shard_size: int
    hop_size: float
    center: bool

    @property
    def n_frames(self) -> int:
        return int(self.offsets[-1])

    @functools.cached_property
    def id_array(self) -> np.ndarray:
        return np.asarray(self.clip_ids, dtype=str)

    @property
    def n_shards(self) -> int:
        return -(-self.n_frames // self.shard_size)

    def shard_range(self, k: int) -> tuple[int, int]:
        return k * self.shard_size, min((k + 1) * self.shard_size, self.n_frames)

    def locate(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Clip position and frame-within-clip of global frames ``[a, b)``."""
        g = np.arange(a, b, dtype=np.int64)
        pos = np.searchsorted(self.offsets, g, side="right") - 1
        return pos, g - self.offsets[pos]


def _make_plan(clip_ids: list[str], cache: AudioCache, config: ExtractConfig) -> _Plan:
    counts = np.empty(len(clip_ids), dtype=np.int64)
    lengths = np.empty(len(clip_ids), dtype=np.int64)
    for i, c in enumerate(clip_ids):
        if c not in cache:
            raise ManifestError(
                f"clip {c!r} of the manifest is not in the 48000 Hz audio cache {str(cache.dir)!r}; "
                "re-run 'sea data prepare' so the cache matches clips.jsonl"
            )
        n = lengths[i] = cache.n_samples(c)
        if n == 0:
            raise AudioError(f"clip {c!r} is empty (0 samples) in the 48 kHz cache; openl3 cannot embed empty audio")
        counts[i] = n_frames(n, TEACHER_SR, hop_size=config.hop_size, center=config.center, frame_size=FRAME_SIZE)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return _Plan(
        list(clip_ids), counts, offsets, lengths, int(config.shard_size), float(config.hop_size), bool(config.center)
    )


class _SampleReader:
    """Positional reads of cached samples (``os.preadv`` into numpy buffers).

    Reading instead of slicing the cache's memmap keeps the audio out of this
    process's resident set: RSS stays bounded by the batch even for hour-long
    clips (the kernel's page cache still serves repeated reads).
    """

    def __init__(self, cache: AudioCache):
        self.cache = cache
        self._row = {c: i for i, c in enumerate(cache.clip_ids)}
        self._fd = os.open(cache.dir / SAMPLES_NAME, os.O_RDONLY) if int(cache.lengths.sum()) else None

    def read(self, clip_id: str, lo: int, hi: int, out: np.ndarray | None = None) -> np.ndarray:
        """Samples ``[lo, hi)`` of a clip (inside it), float32."""
        i = self._row[clip_id]
        out = np.empty(hi - lo, dtype=np.float32) if out is None else out
        nbytes, offset = (hi - lo) * 4, (int(self.cache.offsets[i]) + lo) * 4
        view, got = memoryview(out).cast("B"), 0
        while got < nbytes:  # preadv may return short counts
            n = os.preadv(self._fd, [view[got:]], offset + got)
            if n <= 0:
                raise ManifestError(f"the 48 kHz cache {str(self.cache.dir)!r} is truncated; re-run 'sea data prepare'")
            got += n
        return out

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _window_batches(reader: _SampleReader, plan: _Plan, a: int, b: int, batch_size: int) -> Iterator[np.ndarray]:
    """Float32 batches [<= batch_size, 48000] of the windows of global frames ``[a, b)``.

    Batches run across clip boundaries; only the last one may be short. Each
    batch reads every clip's span of samples once (zeros outside the clip) and
    slices its windows from it.
    """
    frame_len = int(round(FRAME_SIZE * TEACHER_SR))
    pos, frames = plan.locate(a, b)
    cur, starts = -1, np.zeros(0, np.int64)
    for lo in range(0, b - a, batch_size):
        hi = min(lo + batch_size, b - a)
        buf = np.zeros((hi - lo, frame_len), dtype=np.float32)
        r0 = lo
        while r0 < hi:  # one run of rows per clip
            p = int(pos[r0])
            r1 = r0 + int(np.searchsorted(pos[r0:hi], p, side="right"))
            clip = plan.clip_ids[p]
            n = int(plan.n_samples[p])
            if p != cur:
                cur, starts = (
                    p,
                    frame_starts(n, TEACHER_SR, hop_size=plan.hop_size, center=plan.center, frame_size=FRAME_SIZE),
                )
            s = starts[frames[r0:r1]]
            span_lo, span_hi = max(int(s[0]), 0), min(int(s[-1]) + frame_len, n)
            dense = span_hi - span_lo <= 2 * (r1 - r0) * frame_len  # else (hop > 2 s) read window by window
            seg = reader.read(clip, span_lo, span_hi) if dense and span_hi > span_lo else None
            for j, sj in zip(range(r0, r1), s.tolist()):
                w0, w1 = max(sj, 0), min(sj + frame_len, n)
                if w1 <= w0:
                    continue
                if seg is not None:
                    buf[j - lo, w0 - sj : w1 - sj] = seg[w0 - span_lo : w1 - span_lo]
                else:
                    reader.read(clip, w0, w1, out=buf[j - lo, w0 - sj : w1 - sj])
            r0 = r1
        yield buf


def _prefetch(batches: Iterator[np.ndarray], depth: int = 2) -> Iterator[np.ndarray]:
    """Run a batch producer in a thread, ``depth`` batches ahead (overlaps reads with the model)."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in batches:
                if not put(item):
                    return
            put(end)
        except BaseException as exc:  # handed to the consumer
            put(_Failure(exc))

    t = threading.Thread(target=work, name="sea-teacher-windows", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is end:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()
        t.join()


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


# -- distributed -------------------------------------------------------------------------


class _Dist:
    """torch.distributed under torchrun; a no-op world of one otherwise."""

    def __init__(self, device: str):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = device
        self.owned = False
        self.dist = None
        if self.world <= 1:
            self.world, self.rank = 1, 0
            return
        import torch
        import torch.distributed as dist

        if not dist.is_available():
            raise SeaError("WORLD_SIZE > 1 but this torch has no torch.distributed; run without torchrun")
        if device.startswith("cuda"):
            self.device = f"cuda:{self.local_rank}" if device == "cuda" else device
            torch.cuda.set_device(torch.device(self.device))
        if not dist.is_initialized():
            backend = "nccl" if self.device.startswith("cuda") else "gloo"
            # long timeout: ranks wait at the final barrier while the slowest finishes its shards
            dist.init_process_group(backend=backend, timeout=_dt.timedelta(hours=12))
            self.owned = True
        self.dist = dist
        self.rank, self.world = dist.get_rank(), dist.get_world_size()

    def _tensor(self, values):
        import torch

        dev = self.device if self.dist.get_backend() == "nccl" else "cpu"
        return torch.tensor(values, dtype=torch.int64, device=dev)

    def broadcast(self, value: int) -> int:
        if self.dist is None:
            return value
        t = self._tensor([value])
        self.dist.broadcast(t, src=0)
        return int(t.item())

    def sum(self, value: int) -> int:
        if self.dist is None:
            return value
        t = self._tensor([value])
        self.dist.all_reduce(t)
        return int(t.item())

    def barrier(self) -> None:
        if self.dist is not None:
            self.dist.barrier()

    def close(self) -> None:
        if self.owned:
            self.dist.destroy_process_group()


# -- model ----------------------------------------------------------------------------


def _load_model(config: ExtractConfig, model, device: str) -> tuple[Any, dict]:
    import torch

    if model is None:
        try:
            from . import load_teacher
        except ImportError as exc:
            raise SeaError(f"the OpenL3 teacher model is not available in this sea ({exc})") from None
        # seeded: untrained weights are the same on every rank and every run
        module, info = load_teacher(
            config.input_repr,
            config.content_type,
            config.embedding_size,
            frontend=config.frontend,
            weights=config.weights,
            untrained=config.untrained_teacher,
            device=device,
            seed=config.seed,
        )
    elif isinstance(model, tuple):
        module, info = model
    else:
        module, info = model, {"variant": type(model).__name__}
    info = dict(info or {})
    info["untrained"] = bool(info.get("untrained", False) or config.untrained_teacher)
    if isinstance(module, torch.nn.Module):
        module = module.to(device).eval()
    if config.precision != "float32":
        if not hasattr(module, "autocast_dtype"):
            raise ConfigError(
                f"ExtractConfig.precision={config.precision!r} needs the OpenL3 teacher (autocast_dtype); use float32"
            )
        module.autocast_dtype = getattr(torch, config.precision)
    info["precision"] = config.precision
    return module, info


def _run_model(module, batch: np.ndarray, device: str) -> np.ndarray:
    import torch

    with torch.inference_mode():
        x = torch.from_numpy(batch).to(device, non_blocking=True)
        if getattr(module, "frontend_name", None) == "librosa":  # openl3's librosa path computes in float64
            x = x.double()
        y = module(x)
        if not isinstance(y, torch.Tensor) or y.ndim != 2 or y.shape[0] != batch.shape[0]:
            shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
            raise ParameterError(
                f"the teacher must map [B, 48000] to [B, D]; for B={batch.shape[0]} it returned {shape}"
            )
        return y.float().cpu().numpy()


# -- stage ----------------------------------------------------------------------------


def _resume_key(config: ExtractConfig, inputs: dict[str, str], plan: _Plan) -> dict[str, Any]:
    """What a finished shard depends on: everything but batch_size and device."""
    d = config_to_dict(config)
    d.pop("batch_size")
    d.pop("device")
    return {
        "config": d,
        "inputs": inputs,
        "n_frames": plan.n_frames,
        "n_shards": plan.n_shards,
        "shard_size": plan.shard_size,
        "n_clips": len(plan.clip_ids),
    }


def _prepare_dir(out: Path, key: dict[str, Any], overwrite: bool) -> int:
    """Rank 0: keep finished shards of the same plan, else start clean; returns shards kept."""
    out.mkdir(parents=True, exist_ok=True)
    plan_file = out / PLAN_FILE
    same = (not overwrite) and plan_file.is_file() and read_json(plan_file) == key
    if same:
        clear_store_files(out, temporaries_only=True)  # leftovers of a killed run
        (out / STORE_FILE).unlink(missing_ok=True)  # rewritten last
        return sum(read_shard_record(out, k) is not None for k in range(key["n_shards"]))
    clear_store_files(out)
    write_json(plan_file, key)
    return 0


def extract(run_dir: str | Path, config: ExtractConfig | None = None, *, overwrite: bool = False, model=None) -> Path:
    """Embed every frame of a run with the teacher into ``RUN/teacher/<variant>``.

    Parameters
    ----------
    run_dir : path
        A prepared run: ``clips.jsonl`` and the 48 kHz cache ``audio/48000``.
    config : ExtractConfig
    overwrite : bool
        Re-embed everything even when a finished store (or finished shards) matches.
    model : torch.nn.Module or (module, info) or None
        A stand-in teacher mapping float32 [B, 48000] to [B, D] (tests, custom
        teachers); default: ``sea.teacher.load_teacher(...)`` from the config.

    Returns
    -------
    store_dir : Path
        The store directory; open it with :class:`sea.store.FrameStore`.

    Raises
    ------
    ManifestError
        No manifest or no 48 kHz cache, or a clip missing from it.
    ConfigError
        An invalid config value.
    """
    config = config or ExtractConfig()
    config.validate()
    if not config.untrained_teacher and config.seed != 0:
        # the seed only draws untrained weights: a trained teacher's store must not depend on it
        config = dataclasses.replace(config, seed=0)
    run_dir = Path(run_dir)
    clips_file = run_dir / MANIFEST_NAME
    records = read_manifest(run_dir)
    if not records:
        raise ManifestError(f"the manifest {str(clips_file)!r} has no clips; nothing to embed")
    cache = AudioCache(run_dir, TEACHER_SR)
    hop_length_for(config.hop_size, TEACHER_SR)
    out = store_dir(run_dir, config)
    stage = Stage(
        out,
        STAGE_NAME,
        config,
        inputs={"clips": clips_file, "audio": cache_dir(run_dir, TEACHER_SR) / INDEX_NAME},
    )

    world = _Dist(config.device)
    try:
        return _extract(run_dir, config, records, cache, out, stage, world, overwrite, model)
    finally:
        world.close()


def _extract(run_dir, config, records, cache, out, stage, world: _Dist, overwrite, model) -> Path:
    plan = _make_plan([r.clip_id for r in records], cache, config)
    # Rank 0 decides and prepares the directory; the others wait for its word.
    go = 1
    if world.rank == 0:
        if not overwrite and stage.is_done() and (out / STORE_FILE).is_file():
            log.info("teacher store %s is up to date; skipping (use --overwrite to redo)", out)
            go = 0
        else:
            key = _resume_key(config, stage.input_hashes(), plan)
            kept = _prepare_dir(out, key, overwrite)
            if kept:
                log.info("resuming %s: %d finished shard(s) kept", out, kept)
    go = world.broadcast(go)
    if not go:
        return out

    def body() -> None:
        module, info = _load_model(config, model, world.device)
        mine = [k for k in range(plan.n_shards) if k % world.world == world.rank]
        todo = [k for k in mine if read_shard_record(out, k, n_frames=_shard_len(plan, k)) is None]
        n_todo = sum(_shard_len(plan, k) for k in todo)
        t0 = time.perf_counter()
        bar = progress(total=n_todo, desc=f"teacher {out.name}", unit="frame") if world.rank == 0 else None
        reader = _SampleReader(cache)
        try:
            for k in todo:
                _embed_shard(k, plan, reader, module, out, config, world.device, bar)
        finally:
            reader.close()
            if bar is not None:
                bar.close()
        seconds = time.perf_counter() - t0
        computed = world.sum(len(todo))
        frames_done = world.sum(n_todo)
        world.barrier()
        if world.rank != 0:
            return
        shard_recs = [read_shard_record(out, k, n_frames=_shard_len(plan, k)) for k in range(plan.n_shards)]
        missing = [k for k, r in enumerate(shard_recs) if r is None]
        if missing:
            raise SeaError(
                f"shards {missing} of {out} were not written; re-run 'sea teacher extract {run_dir}' to resume"
            )
        teacher = {
            **{k: v for k, v in info.items() if k != "untrained"},
            "untrained": info["untrained"],
            "input_repr": config.input_repr,
            "content_type": config.content_type,
            "embedding_size": config.embedding_size,
            "frontend": config.frontend,
        }
        meta = {
            "sr": TEACHER_SR,
            "hop_size": config.hop_size,
            "hop_length": hop_length_for(config.hop_size, TEACHER_SR),
            "center": config.center,
            "frame_size": FRAME_SIZE,
            "clip_order": "manifest",
            "teacher": teacher,
            "config_hash": config_hash(config),
        }
        doc = write_store_json(out, shard_recs, shard_size=plan.shard_size, meta=meta, n_clips=len(plan.clip_ids))
        stage.counts.update(
            n_clips=len(plan.clip_ids),
            n_frames=plan.n_frames,
            n_shards=plan.n_shards,
            dim=doc["dim"],
            shards_computed=computed,
            shards_reused=plan.n_shards - computed,
            frames_computed=frames_done,
            world_size=world.world,
            frames_per_second_rank0=round(n_todo / seconds, 2) if seconds > 0 and n_todo else None,
        )
        stage.extra.update(untrained_teacher=bool(info["untrained"]), teacher=teacher, store=STORE_FILE)
        if info["untrained"]:
            log.warning("teacher store %s comes from an UNTRAINED teacher (random weights): for dry runs only", out)

    if world.rank == 0:
        with stage.running():
            body()
    else:
        body()
    return out


def _shard_len(plan: _Plan, k: int) -> int:
    a, b = plan.shard_range(k)
    return b - a


def _embed_shard(
    k: int, plan: _Plan, reader: _SampleReader, module, out: Path, config: ExtractConfig, device: str, bar
) -> None:
    a, b = plan.shard_range(k)
    writer: ShardWriter | None = None
    row = 0
    batches = _prefetch(_window_batches(reader, plan, a, b, config.batch_size))
    try:
        for batch in batches:
            emb = _run_model(module, batch, device)
            if writer is None:
                writer = ShardWriter(out, k, b - a, emb.shape[1], config.dtype)
            writer.write(row, emb)
            row += batch.shape[0]
            if bar is not None:
                bar.update(batch.shape[0])
        pos, frames = plan.locate(a, b)
        writer.commit(plan.id_array[pos], frames, frames * plan.hop_size)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        batches.close()  # stops the producer thread now, not at garbage collection


# -- CLI glue (used by sea/cli/teacher.py) ------------------------------------------------------


def add_extract_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``sea teacher extract``: RUN_DIR, --config, --overwrite and one flag per ExtractConfig field.

    ``seed`` comes from the root ``sea --seed`` (a subcommand flag of the same dest would clobber it).
    """
    parser.add_argument("run_dir", metavar="RUN_DIR", help="prepared run directory (clips.jsonl + audio/48000 cache)")
    parser.add_argument("--config", metavar="YAML", default=None, help="YAML file with ExtractConfig keys")
    parser.add_argument(
        "--overwrite", action="store_true", help="re-embed everything even if a finished store or finished shards match"
    )
    add_config_arguments(parser, ExtractConfig, exclude=("seed",))


def run_extract_command(args: argparse.Namespace) -> int:
    """Resolve the config from ``args``, run :func:`extract`, print the store path and counts."""
    from ..store import FrameStore

    extra = {"seed": args.seed} if getattr(args, "seed", None) is not None else None
    config = config_from_args(ExtractConfig, args, extra=extra)
    out = extract(args.run_dir, config, overwrite=bool(getattr(args, "overwrite", False)))
    store = FrameStore(out)
    untrained = " [UNTRAINED teacher]" if store.meta.get("teacher", {}).get("untrained") else ""
    print(
        f"{out}: {store.n_frames} frames of {store.meta.get('n_clips')} clips, dim {store.dim} "
        f"{store.dtype.name}, {len(store.shards)} shard(s){untrained}"
    )
    return 0
