"""The distillation loop (nanoGPT-style: one linear function, a self-describing checkpoint, exact resume).

Outputs in ``RUN/students/<name>/``::

    ckpt.pt        latest state after every epoch: weights, optimizer, scheduler, epoch, step, best val loss, history,
                   RNG state (atomic; a re-run with the same config resumes from it)
    best.pt        the weights of the best validation epoch (what evaluate/export load)
    log.csv        one row per epoch: epoch, step, train_loss, val_loss, lr, time, + the loss parts
    tb/            TensorBoard scalars (when tensorboard is importable)
    fidelity.json  held-out MSE, R^2 per target dim and mean, cosine; for the best and the initial weights
    stage.json     config hash, input hashes (targets, 8 kHz audio cache), counts

Under torchrun (``WORLD_SIZE`` > 1) every rank runs this function: the process group is gloo on CPU and nccl on
CUDA, the model is wrapped in DDP, each global batch is split ``[rank::world]`` and only rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import hashlib
import io
import json
import logging
import math
import os
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..cache import cache_dir
from ..checkpoint import load_checkpoint, save_checkpoint
from ..config import config_to_dict
from ..errors import ConfigError, ManifestError, SeaError, SeaWarning
from ..progress import progress
from ..runs import Stage, require_stage
from ..utils import write_json, write_text_atomic
from .config import DistillConfig
from .data import (
    STUDENT_SR,
    WaitClock,
    WindowSource,
    epoch_batches,
    group_labels,
    prefetch,
    split_rows,
    val_batches,
)

log = logging.getLogger(__name__)

__all__ = ["distill", "fidelity", "resolve_targets"]

LOG_COLUMNS = ("epoch", "step", "train_loss", "val_loss", "lr", "time", "val_mse", "val_cosine", "val_relational")
_OUTPUTS = ("ckpt.pt", "best.pt", "log.csv", "fidelity.json")


# -- distributed -------------------------------------------------------------------------------------------------


class _World:
    """torch.distributed under torchrun; a world of one otherwise."""

    def __init__(self, device: str):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = device
        self.dist = None
        self.owned = False
        if self.world <= 1:
            self.world, self.rank = 1, 0
            return
        import torch.distributed as dist

        if not dist.is_available():
            raise SeaError("WORLD_SIZE > 1 but this torch has no torch.distributed; run without torchrun")
        if device.startswith("cuda"):
            self.device = f"cuda:{self.local_rank}" if device == "cuda" else device
            torch.cuda.set_device(torch.device(self.device))
        if not dist.is_initialized():
            backend = "nccl" if self.device.startswith("cuda") else "gloo"
            dist.init_process_group(backend=backend, timeout=_dt.timedelta(hours=2))
            self.owned = True
        self.dist = dist
        self.rank, self.world = dist.get_rank(), dist.get_world_size()

    @property
    def main(self) -> bool:
        return self.rank == 0

    def _dev(self) -> str:
        return self.device if self.dist is not None and self.dist.get_backend() == "nccl" else "cpu"

    def broadcast_int(self, value: int) -> int:
        if self.dist is None:
            return int(value)
        t = torch.tensor([int(value)], dtype=torch.int64, device=self._dev())
        self.dist.broadcast(t, src=0)
        return int(t.item())

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum over ranks (float64)."""
        if self.dist is None:
            return [float(v) for v in values]
        t = torch.tensor(values, dtype=torch.float64, device=self._dev())
        self.dist.all_reduce(t)
        return t.cpu().tolist()

    def broadcast_buffers(self, model: torch.nn.Module) -> None:
        """Rank 0's BatchNorm running stats to every rank (DDP syncs them only before each forward)."""
        if self.dist is None:
            return
        for b in model.buffers():
            self.dist.broadcast(b.data, src=0)

    def in_sync(self, model: torch.nn.Module) -> bool:
        """True when every rank holds the same weights and buffers (float64 checksum)."""
        if self.dist is None:
            return True
        s = sum(
            float(p.detach().double().sum()) + 1e-3 * float(p.detach().double().abs().sum())
            for p in model.state_dict().values()
            if p.is_floating_point()
        )
        gathered = [torch.zeros(1, dtype=torch.float64, device=self._dev()) for _ in range(self.world)]
        self.dist.all_gather(gathered, torch.tensor([s], dtype=torch.float64, device=self._dev()))
        vals = [float(g.item()) for g in gathered]
        return all(v == vals[0] for v in vals)

    def barrier(self) -> None:
        if self.dist is not None:
            self.dist.barrier()

    def close(self) -> None:
        if self.owned:
            self.dist.destroy_process_group()


def _resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"DistillConfig.device={device!r} but no CUDA device is available; use device cpu or auto")
    return device


# -- inputs -----------------------------------------------------------------------------------------------------


def resolve_targets(run_dir: str | Path, targets: str = "auto") -> str:
    """The target set name under ``RUN/targets/``; ``auto`` picks the only finished one."""
    root = Path(run_dir) / "targets"
    have = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if targets != "auto":
        if targets not in have:
            raise ManifestError(
                f"target set {targets!r} not found under {str(root)!r} (available: {', '.join(have) or 'none'}); "
                f"run 'sea targets fit {run_dir}' or pass --targets NAME"
            )
        return targets
    done = [n for n in have if (root / n / "stage.json").is_file()]
    if not done:
        raise ManifestError(f"no target sets under {str(root)!r}; run 'sea targets fit {run_dir}' first")
    if len(done) > 1:
        raise ConfigError(f"several target sets under {str(root)!r} ({', '.join(done)}); pass --targets NAME")
    return done[0]


# -- helpers ----------------------------------------------------------------------------------------------------


def _lr(opt) -> float:
    return float(opt.param_groups[0]["lr"])


def _state_dict_cpu(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def _write_log_csv(path: Path, history: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(LOG_COLUMNS), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in history:
        w.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in LOG_COLUMNS})
    write_text_atomic(path, buf.getvalue())


def _clear_outputs(out: Path, *, temporaries_only: bool = False) -> None:
    for name in _OUTPUTS:
        for tmp in out.glob(f".{name}.*"):  # left by a writer killed mid-save (atomic_path)
            tmp.unlink(missing_ok=True)
        if not temporaries_only:
            (out / name).unlink(missing_ok=True)
    if not temporaries_only and (out / "tb").is_dir():
        shutil.rmtree(out / "tb", ignore_errors=True)


def _tensorboard(out: Path, purge_step: int | None):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception as exc:  # tensorboard missing or broken
        warnings.warn(
            f"TensorBoard logs skipped ({exc}); pip install tensorboard to get them", SeaWarning, stacklevel=3
        )
        return None
    return SummaryWriter(log_dir=str(out / "tb"), purge_step=purge_step)


def _batch_tensors(batch, device: str, frontend) -> tuple[torch.Tensor, torch.Tensor]:
    audio, target = batch
    x = torch.from_numpy(audio).to(device)
    t = torch.from_numpy(target).to(device)
    with torch.no_grad():
        feats = frontend(x)  # [b, 1, 64, 50] float32, on the training device
    return feats, t


@torch.no_grad()
def _recalibrate_bn(model, frontend, source, batches, device, *, num_workers: int, depth: int) -> int:
    """Re-estimate BatchNorm running statistics as exact averages over ``batches`` (precise BN).

    Keras-momentum BatchNorm (0.99) needs thousands of steps before its running statistics match the weights; on
    short runs the eval-mode model would be far off. Training forwards use batch statistics, so this changes only
    what eval mode (validation, fidelity, the saved checkpoints) sees, never the training trajectory.
    """
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not bns or not batches:
        return 0
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the forwards below
    model.train()
    for batch in prefetch(source, batches, num_workers=num_workers, depth=depth):
        feats, _ = _batch_tensors(batch, device, frontend)
        model(feats)
    for m, mom in zip(bns, saved):
        m.momentum = mom
    return len(batches)


@torch.no_grad()
def _val_losses(model, frontend, source, batches, device, weights, world: _World) -> dict[str, float] | None:
    """Weighted val loss and its parts, over every rank's share (relational only on batches of >= 2 rows)."""
    from .losses import cosine_loss, mse_loss, relational_loss

    model.eval()
    acc = {"mse": 0.0, "cosine": 0.0, "relational": 0.0, "n": 0.0, "n_rel": 0.0}
    for batch in batches:
        feats, t = _batch_tensors(source(batch), device, frontend)
        y = model(feats)
        b = float(t.shape[0])
        acc["mse"] += float(mse_loss(y, t)) * b
        acc["cosine"] += float(cosine_loss(y, t)) * b
        if t.shape[0] >= 2:
            acc["relational"] += float(relational_loss(y, t)) * b
            acc["n_rel"] += b
        acc["n"] += b
    keys = list(acc)
    acc = dict(zip(keys, world.sum([acc[k] for k in keys])))
    if acc["n"] == 0:
        return None
    out = {"mse": acc["mse"] / acc["n"], "cosine": acc["cosine"] / acc["n"]}
    out["relational"] = acc["relational"] / acc["n_rel"] if acc["n_rel"] else 0.0
    out["loss"] = sum(w * out[k] for k, w in weights.items())
    return out


@torch.no_grad()
def fidelity(model, frontend, source, rows: np.ndarray, *, device: str = "cpu", batch_size: int = 256) -> dict:
    """Student outputs vs reduced teacher targets on store ``rows``.

    Returns
    -------
    dict
        ``n_frames``, ``mse``, ``mae``, ``r2_per_dim`` [d] (1 - SSE/SST per target dimension, SST about the rows'
        mean; None for a dimension without variance on these rows), ``r2_mean`` (their mean), ``r2_weighted`` (1 - total SSE / total SST) and ``cosine_mean`` (mean
        cosine similarity of each output with its target).
    """
    model.eval()
    d = source.dim
    n = 0
    sy, syy, sse, sae = (np.zeros(d) for _ in range(4))
    cos = 0.0
    for a in range(0, rows.size, batch_size):
        feats, t = _batch_tensors(source(rows[a : a + batch_size]), device, frontend)
        y = model(feats).double()
        t = t.double()
        err = y - t
        sy += t.sum(0).cpu().numpy()
        syy += (t * t).sum(0).cpu().numpy()
        sse += (err * err).sum(0).cpu().numpy()
        sae += err.abs().sum(0).cpu().numpy()
        cos += float(torch.nn.functional.cosine_similarity(y, t, dim=1, eps=1e-12).sum())
        n += int(t.shape[0])
    if n == 0:
        return {"n_frames": 0}
    sst = syy - sy * sy / n
    # dims without held-out variance (beyond the teacher's rank, or constant) have no meaningful R^2
    live = sst > 1e-6 * max(float(sst.max()), 1e-30)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(live, 1.0 - sse / np.where(live, sst, 1.0), np.nan)
    return {
        "n_frames": n,
        "mse": float(sse.sum() / (n * d)),
        "mae": float(sae.sum() / (n * d)),
        "r2_mean": float(np.nanmean(r2)) if np.isfinite(r2).any() else None,
        "r2_weighted": float(1.0 - sse.sum() / sst.sum()) if sst.sum() > 0 else None,
        "cosine_mean": cos / n,
        "r2_per_dim": [None if not math.isfinite(v) else float(v) for v in r2],
    }


# -- the stage --------------------------------------------------------------------------------------------------


def distill(run_dir: str | Path, config: DistillConfig | None = None, *, overwrite: bool = False) -> Path:
    """Train a student to regress the reduced teacher targets of a run.

    Parameters
    ----------
    run_dir : path
        A run with a finished target set (``RUN/targets/<name>``) and an 8 kHz audio cache (``RUN/audio/8000``).
    config : DistillConfig
    overwrite : bool
        Retrain from scratch even when a finished ``stage.json`` matches (and ignore ``ckpt.pt``).

    Returns
    -------
    out_dir : Path
        ``RUN/students/<name>`` with ``best.pt`` (load it with :func:`sea.checkpoint.load_student`), ``ckpt.pt``,
        ``log.csv``, ``tb/``, ``fidelity.json`` and ``stage.json``.

    Notes
    -----
    A re-run with the same config and inputs is a no-op once finished; an interrupted run resumes from ``ckpt.pt``
    at the last finished epoch and, on CPU with a fixed seed, ends with the same weights as an uninterrupted run.
    """
    config = config or DistillConfig()
    config.validate()
    run_dir = Path(run_dir)
    targets_name = resolve_targets(run_dir, config.targets)
    targets_dir = run_dir / "targets" / targets_name
    require_stage(targets_dir, f"target set {targets_name!r}", f"sea targets fit {run_dir}")
    audio_index = cache_dir(run_dir, STUDENT_SR) / "index.npz"
    if not audio_index.is_file():
        raise ManifestError(
            f"no {STUDENT_SR} Hz audio cache in {str(run_dir)!r}; run 'sea data prepare ... --cache-srs 48000 "
            f"{STUDENT_SR}' to build it"
        )
    out = run_dir / "students" / config.output_name()
    resolved = {**config_to_dict(config), "targets": targets_name, "name": out.name}
    inputs = {"targets": targets_dir, "audio": audio_index}
    init = resolve_init(run_dir, config.init_from)
    if init is not None:
        if init.parent.resolve() == out.resolve():
            raise ConfigError(
                f"DistillConfig.init_from={config.init_from!r} is this student's own output ({out.name}); "
                f"give the QAT student another name, e.g. name: {config.student}_qat"
            )
        inputs["init"] = init
        resolved["init_from"] = str(init)
    stage = Stage(out, "distill", resolved, inputs=inputs)

    world = _World(_resolve_device(config.device))
    try:
        done = world.broadcast_int(int(world.main and not overwrite and stage.is_done()))
        if done:
            log.info("distill %s: already done, skipping (use --overwrite to retrain)", out.name)
            return out
        if world.main:
            out.mkdir(parents=True, exist_ok=True)
        with stage.running() if world.main else contextlib.nullcontext():
            _train(run_dir, config, resolved, targets_name, out, stage, world, overwrite=overwrite)
        world.barrier()
    finally:
        world.close()
    return out


def _int8_fidelity(model, frontend, source, rows, device, fq=None) -> dict[str, Any]:
    """Fidelity of ``model`` under int8 fake quantization (what a post-training int8 export computes, roughly).

    Ranges come from a calibration pass over the same rows unless a QAT run's ranges are given.
    """
    from .qat import FakeQuant

    sim = FakeQuant(model)
    try:
        if fq is not None and fq.ranges:
            sim.load_state(fq.state())
        else:
            sim.calibrating = True
            fidelity(model, frontend, source, rows, device=device)
            sim.calibrating = False
        out = fidelity(model, frontend, source, rows, device=device)
    finally:
        sim.remove()
    out.pop("r2_per_dim", None)
    return out


def resolve_init(run_dir: str | Path, init_from: str) -> Path | None:
    """``init_from`` as a checkpoint path: a student name under ``RUN/students/`` or a file (or its folder)."""
    if not init_from:
        return None
    cands = [Path(run_dir) / "students" / init_from / "best.pt", Path(init_from), Path(init_from) / "best.pt"]
    for c in cands:
        if c.is_file():
            return c
    have = sorted(p.parent.name for p in (Path(run_dir) / "students").glob("*/best.pt"))
    raise ManifestError(
        f"DistillConfig.init_from={init_from!r} is neither a student of {str(run_dir)!r} "
        f"(with best.pt: {', '.join(p for p in have) or 'none'}) nor a checkpoint file; distil the float student first"
    )


def _dict_hash(d: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _train(
    run_dir: Path,
    config: DistillConfig,
    resolved: dict[str, Any],
    targets_name: str,
    out: Path,
    stage: Stage,
    world: _World,
    *,
    overwrite: bool,
) -> None:
    from .. import students
    from ..students.frontend import StudentFrontend, frontend_params
    from ..targets.stage import open_targets
    from .losses import DistillLoss

    device = world.device
    reader = open_targets(run_dir, targets_name)
    source = WindowSource(run_dir, reader)
    groups = group_labels(run_dir, source.clip_ids, config.val_by)
    train_rows, val_rows = split_rows(groups, config.val_fraction, config.seed)
    has_val = val_rows.size > 0
    if not has_val:
        warnings.warn(
            f"no held-out frames (val_fraction={config.val_fraction}, {np.unique(groups).size} group(s) by "
            f"{config.val_by!r}): early stopping, the LR schedule and fidelity.json use the training frames",
            SeaWarning,
            stacklevel=3,
        )
    min_local = 2 if config.relational > 0 else 1
    local_batch = config.batch_size // world.world
    if local_batch < min_local:
        raise ConfigError(
            f"DistillConfig.batch_size={config.batch_size} over {world.world} ranks gives {local_batch} rows per "
            f"rank; use batch_size >= {min_local * world.world}"
        )
    if train_rows.size < min_local * world.world:
        raise ManifestError(f"only {train_rows.size} training frames in {str(run_dir)!r}; distillation needs more")

    # model: the initial weights are a function of the seed alone
    torch.manual_seed(config.seed)
    student_args = dict(config.student_args or {})
    model = students.create(config.student, **student_args)
    if model.embedding_dim != reader.dim:
        raise ConfigError(
            f"student {config.student!r} outputs {model.embedding_dim}-d embeddings but target set {targets_name!r} "
            f"is {reader.dim}-d; pass student_args {{out_dim: {reader.dim}}} (a linear head) or fit targets with "
            f"dim {model.embedding_dim}"
        )
    if resolved.get("init_from"):
        init = load_checkpoint(resolved["init_from"], map_location="cpu")
        if init.get("model_name") != config.student or dict(init.get("model_args") or {}) != student_args:
            raise ConfigError(
                f"init_from {resolved['init_from']!r} holds {init.get('model_name')!r} with args "
                f"{init.get('model_args')!r}, not {config.student!r} with {student_args!r}; use the same student"
            )
        model.load_state_dict(init["state_dict"])
    model.to(device)
    fq = None
    if config.qat:
        from .qat import FakeQuant

        fq = FakeQuant(model)
    frontend = StudentFrontend(mode="stft", dtype=getattr(torch, config.frontend_dtype)).to(device)
    loss_fn = DistillLoss(config.mse, config.cosine, config.relational)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="min", factor=config.lr_factor, patience=config.lr_patience
    )
    cfg_hash = _dict_hash(resolved)
    inputs = stage.input_hashes()
    store_meta = reader.store.meta or {}
    teacher = {
        **(store_meta.get("teacher") if isinstance(store_meta.get("teacher"), dict) else {}),
        "variant": reader.store.dir.name,
    }
    teacher.setdefault("untrained", False)
    base = {
        "model_name": config.student,
        "model_args": student_args,
        "config": resolved,
        "target_spec": reader.spec,
        "teacher": teacher,
        "frontend": frontend_params(),
        "framing": source.framing,
    }
    fid_rows = val_rows if has_val else train_rows
    if fid_rows.size > config.fidelity_max_frames:
        pick = np.random.default_rng([config.seed, 2]).choice(fid_rows.size, config.fidelity_max_frames, replace=False)
        fid_rows = np.sort(fid_rows[pick])

    # resume or start fresh (rank 0 decides; the others follow)
    ckpt_path = out / "ckpt.pt"
    resume = 0
    if world.main:
        if not overwrite and ckpt_path.is_file():
            try:
                ck = load_checkpoint(ckpt_path)
                resume = int(ck.get("config_hash") == cfg_hash and ck.get("inputs") == inputs and "optimizer" in ck)
            except ManifestError:
                resume = 0
            if not resume:
                log.info("distill %s: ckpt.pt is from another config or inputs; starting over", out.name)
        _clear_outputs(out, temporaries_only=bool(resume))
    resume = world.broadcast_int(resume)
    world.barrier()

    state: dict[str, Any] = {
        "epoch": 0,
        "step": 0,
        "best_val_loss": math.inf,
        "best_epoch": -1,
        "bad_epochs": 0,
        "stopped": False,
        "elapsed": 0.0,
        "history": [],
        "fidelity_initial": None,
    }
    if resume:
        ck = load_checkpoint(ckpt_path, map_location=device)
        model.load_state_dict(ck["state_dict"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        for k in state:
            if k in ck:
                state[k] = ck[k]
        if "torch_rng" in ck:
            torch.set_rng_state(ck["torch_rng"].cpu())
        if fq is not None:
            fq.load_state(ck.get("qat_ranges"))
        log.info("distill %s: resuming after epoch %d (step %d)", out.name, state["epoch"], state["step"])
    elif world.main:
        state["fidelity_initial"] = fidelity(model, frontend, source, fid_rows, device=device)
    resumed_from = int(state["epoch"]) if resume else 0

    net = model
    if world.world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(model, device_ids=[torch.device(device).index] if device.startswith("cuda") else None)

    tb = _tensorboard(out, purge_step=state["step"] if resume else None) if world.main else None
    weights = dict(loss_fn.weights)
    t_session = time.perf_counter()
    wait_total, loop_total, n_windows = 0.0, 0.0, 0
    vbatches = val_batches(val_rows, batch_size=max(config.batch_size, 256), rank=world.rank, world=world.world)
    try:
        for epoch in range(int(state["epoch"]), config.epochs):
            if state["stopped"]:
                break
            t_epoch = time.perf_counter()
            batches = epoch_batches(
                train_rows,
                seed=config.seed,
                epoch=epoch,
                batch_size=config.batch_size,
                rank=world.rank,
                world=world.world,
                max_steps=config.max_steps_per_epoch,
                min_local=min_local,
            )
            net.train()
            if fq is not None:
                fq.freeze_bn()
            clock = WaitClock()
            loss_sum = torch.zeros((), dtype=torch.float64, device=device)
            bar = (
                progress(total=len(batches), desc=f"{out.name} {epoch + 1}/{config.epochs}", unit="step", leave=False)
                if world.main
                else None
            )
            for batch in clock.wrap(prefetch(source, batches, num_workers=config.num_workers, depth=config.prefetch)):
                feats, t = _batch_tensors(batch, device, frontend)
                y = net(feats)
                loss, _parts = loss_fn(y, t)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                state["step"] += 1
                loss_sum += loss.detach()
                n_windows += int(t.shape[0])
                if bar is not None:
                    bar.update()
                    if state["step"] % config.log_every == 0:
                        v = float(loss.detach())
                        bar.set_postfix(loss=f"{v:.4g}")
                        if tb is not None:
                            tb.add_scalar("train/loss_step", v, state["step"])
            if bar is not None:
                bar.close()
            loop_s = time.perf_counter() - t_epoch
            wait_total += clock.wait
            loop_total += loop_s
            if config.bn_recalibrate and fq is None:  # QAT keeps the float model's BN statistics
                _recalibrate_bn(model, frontend, source, batches[: config.bn_recalibrate], device,
                                num_workers=config.num_workers, depth=config.prefetch)  # fmt: skip
            world.broadcast_buffers(model)
            (train_sum, train_n) = world.sum([float(loss_sum), float(len(batches))])
            train_loss = train_sum / max(train_n, 1.0)
            val = _val_losses(model, frontend, source, vbatches, device, weights, world) if has_val else None
            monitor = val["loss"] if val is not None else train_loss
            sched.step(monitor)
            improved = monitor < state["best_val_loss"] - config.min_delta
            if improved:
                state["best_val_loss"], state["best_epoch"], state["bad_epochs"] = float(monitor), epoch, 0
            else:
                state["bad_epochs"] += 1
            if config.patience and state["bad_epochs"] >= config.patience:
                state["stopped"] = True
            state["epoch"] = epoch + 1
            state["elapsed"] = float(state["elapsed"]) + (time.perf_counter() - t_epoch)
            row = {
                "epoch": epoch + 1,
                "step": state["step"],
                "train_loss": train_loss,
                "val_loss": val["loss"] if val else None,
                "lr": _lr(opt),
                "time": round(state["elapsed"], 3),
                "val_mse": val["mse"] if val else None,
                "val_cosine": val["cosine"] if val else None,
                "val_relational": val["relational"] if val else None,
                "data_wait": round(clock.wait / loop_s, 4) if loop_s > 0 else None,
            }
            state["history"] = [*state["history"], row]
            if world.main:
                sd = _state_dict_cpu(model)
                if improved:  # best.pt first: a kill in between repeats this epoch and rewrites it identically
                    save_checkpoint(out / "best.pt", {**base, "state_dict": sd, "epoch": epoch + 1,
                                                      "step": state["step"], "val_loss": float(monitor),
                                                      "qat_ranges": fq.state() if fq is not None else None})  # fmt: skip
                save_checkpoint(
                    ckpt_path,
                    {
                        **base,
                        **state,
                        "state_dict": sd,
                        "optimizer": opt.state_dict(),
                        "scheduler": sched.state_dict(),
                        "torch_rng": torch.get_rng_state(),
                        "qat_ranges": fq.state() if fq is not None else None,
                        "config_hash": cfg_hash,
                        "inputs": inputs,
                    },
                )
                _write_log_csv(out / "log.csv", state["history"])
                if tb is not None:
                    tb.add_scalar("train/loss", train_loss, epoch + 1)
                    tb.add_scalar("lr", _lr(opt), epoch + 1)
                    if val:
                        for k in ("loss", "mse", "cosine", "relational"):
                            tb.add_scalar(f"val/{k}", val[k], epoch + 1)
                    tb.flush()
                log.info(
                    "distill %s epoch %d: train %.5g val %s lr %.3g%s",
                    out.name,
                    epoch + 1,
                    train_loss,
                    f"{val['loss']:.5g}" if val else "-",
                    _lr(opt),
                    " *" if improved else "",
                )
            world.barrier()
    finally:
        if tb is not None:
            tb.close()

    in_sync = world.in_sync(model)
    if not in_sync:
        warnings.warn("DDP ranks ended with different weights; only rank 0's are saved", SeaWarning, stacklevel=3)
    if not world.main:
        return
    if (out / "best.pt").is_file():
        best = load_checkpoint(out / "best.pt", map_location=device)
        model.load_state_dict(best["state_dict"])
        if fq is not None and best.get("qat_ranges"):
            fq.load_state(best["qat_ranges"])
    if fq is not None:
        fq.remove()
    model.eval()
    fid = fidelity(model, frontend, source, fid_rows, device=device)
    fid["int8_simulated"] = _int8_fidelity(model, frontend, source, fid_rows, device, fq)
    per_dim = fid.pop("r2_per_dim", None)
    initial = dict(state["fidelity_initial"] or {})
    initial.pop("r2_per_dim", None)
    report = {
        "student": config.student,
        "name": out.name,
        "targets": targets_name,
        "split": "val" if has_val else "train",
        "val_by": config.val_by,
        **fid,
        "r2_per_dim": per_dim,
        "best_epoch": int(state["best_epoch"]) + 1,
        "best_val_loss": float(state["best_val_loss"]),
        "initial": initial,
        "teacher_untrained": bool(teacher.get("untrained")),
    }
    write_json(out / "fidelity.json", report)
    session_s = time.perf_counter() - t_session
    stage.counts.update(
        n_train_frames=int(train_rows.size),
        n_val_frames=int(val_rows.size),
        epochs=int(state["epoch"]),
        steps=int(state["step"]),
        best_epoch=int(state["best_epoch"]) + 1,
        best_val_loss=float(state["best_val_loss"]),
        stopped_early=bool(state["stopped"]),
        resumed_from_epoch=resumed_from,
        world_size=world.world,
        device=str(device),
        ranks_in_sync=bool(in_sync),
        windows_per_s=round(n_windows * world.world / loop_total, 2) if loop_total > 0 else None,
        data_wait_fraction=round(wait_total / loop_total, 4) if loop_total > 0 else None,
        session_seconds=round(session_s, 3),
    )
    stage.extra["fidelity"] = {k: report.get(k) for k in ("r2_mean", "r2_weighted", "cosine_mean", "mse")}
    stage.extra["teacher"] = teacher
