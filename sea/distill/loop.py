"""One epoch of distillation: the training steps, precise BatchNorm, validation and the early-stopping bookkeeping.

:class:`Trainer` holds what a training session works with (built by :mod:`sea.distill.session`);
:class:`TrainState` is the progress that ``ckpt.pt`` carries from one session to the next. An epoch is a pure
function of ``(seed, epoch)`` and the state it starts from, so a resumed run repeats an uninterrupted one exactly.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..distributed import World
from ..errors import SeaError
from ..progress import progress
from .config import DistillConfig
from .data import WaitClock, WindowSource, epoch_batches, prefetch, spec_masks
from .losses import DistillLoss, cosine_loss, mse_loss, relational_loss
from .metrics import batch_tensors

__all__ = ["DivergedError", "EpochResult", "TrainState", "Trainer", "recalibrate_bn", "run_epoch", "val_losses"]


class DivergedError(SeaError):
    """The loss became NaN or infinite although every input and target was finite."""


def _diverged(trainer: Trainer, value: float, epoch: int, where: str) -> DivergedError:
    return DivergedError(
        f"distillation of {trainer.out.name!r} diverged: the {where} is {value} at epoch {epoch + 1}, although its "
        f"audio and targets are finite; lower the learning rate (lr={trainer.lr():g} now, e.g. --lr "
        f"{trainer.config.lr / 10:g}) and run again (a changed config starts over)"
    )


@dataclass
class TrainState:
    """Progress of a run, saved in ``ckpt.pt`` after every epoch and restored on resume."""

    epoch: int = 0  # epochs finished
    step: int = 0  # optimiser steps taken
    best_val_loss: float = math.inf
    best_epoch: int = -1  # 0-based; -1 before the first epoch
    bad_epochs: int = 0  # epochs since the last improvement
    stopped: bool = False  # early stopping fired
    elapsed: float = 0.0  # training seconds over all sessions
    history: list[dict[str, Any]] = field(default_factory=list)  # one log.csv row per epoch
    fidelity_initial: dict[str, Any] | None = None  # fidelity of the initial weights

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as checkpoint keys."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def load(self, ckpt: dict[str, Any]) -> None:
        """Take the fields that ``ckpt`` holds."""
        for f in fields(self):
            if f.name in ckpt:
                setattr(self, f.name, ckpt[f.name])


@dataclass
class Trainer:
    """What one training session works with."""

    config: DistillConfig
    world: World
    out: Path  # the student directory
    source: WindowSource
    train_rows: np.ndarray
    val_rows: np.ndarray
    fid_rows: np.ndarray  # rows scored for fidelity.json (held-out when there are any)
    min_local: int  # smallest batch a rank may train on (2 with a relational loss)
    model: torch.nn.Module
    fq: Any  # FakeQuant under QAT, else None
    frontend: torch.nn.Module
    loss_fn: DistillLoss
    opt: torch.optim.Optimizer
    sched: Any  # ReduceLROnPlateau
    header: dict[str, Any]  # what every checkpoint of the run carries besides the state (config_hash, inputs, base)
    net: torch.nn.Module | None = None  # the model, wrapped in DDP over several ranks
    resume: dict[str, Any] | None = None  # ckpt.pt to resume from (rank 0; set by session.prepare)
    teacher: Any = None  # OnlineTeacher labelling each training window (online_teacher), else None
    ema: Any = None  # WeightAverage of the weights (ema > 0), swapped in after each epoch's steps, else None

    @property
    def device(self) -> str:
        """The device this rank trains on."""
        return self.world.device

    @property
    def has_val(self) -> bool:
        """True when there are held-out rows (on any rank)."""
        return self.val_rows.size > 0

    def lr(self) -> float:
        """Return the current learning rate."""
        return float(self.opt.param_groups[0]["lr"])


@dataclass
class EpochResult:
    """What an epoch measured."""

    train_loss: float  # mean over every rank's batches
    val: dict[str, float] | None  # val_losses(); None without held-out rows
    improved: bool  # the monitored loss beat the best by more than min_delta
    monitor: float  # the monitored loss: val loss, or train loss without held-out rows
    loop_s: float  # seconds of the training steps
    wait_s: float  # of which the trainer waited for data
    n_windows: int  # windows this rank trained on


def run_epoch(trainer: Trainer, state: TrainState, epoch: int, vbatches: list[np.ndarray], tb: Any) -> EpochResult:
    """Train epoch ``epoch``, re-estimate BatchNorm statistics, validate and update ``state``.

    Parameters
    ----------
    trainer : Trainer
    state : TrainState
        Updated in place: step, best epoch, patience, elapsed time, history.
    epoch : int >= 0
    vbatches : list of np.ndarray
        This rank's validation batches (:func:`~sea.distill.data.val_batches`).
    tb : SummaryWriter or None
        Receives the step losses on rank 0.

    Returns
    -------
    result : EpochResult
    """
    cfg, world = trainer.config, trainer.world
    t_epoch = time.perf_counter()
    batches = epoch_batches(trainer.train_rows, seed=cfg.seed, epoch=epoch, batch_size=cfg.batch_size,
                            rank=world.rank, world=world.size, max_steps=cfg.max_steps_per_epoch,
                            min_local=trainer.min_local)  # fmt: skip
    loss_sum, clock, n_windows = _train_steps(trainer, state, batches, epoch, tb)
    loop_s = time.perf_counter() - t_epoch
    if trainer.ema is not None:  # what is measured and saved from here on is the average
        trainer.ema.swap_in(trainer.model)
    if cfg.bn_recalibrate and trainer.fq is None:  # QAT keeps the float model's BN statistics
        recalibrate_bn(trainer, batches[: cfg.bn_recalibrate], epoch=epoch if cfg.augments() else None)
    # DDP syncs buffers only before each forward: evaluate and save rank 0's statistics everywhere
    world.broadcast_tensors([b.data for b in trainer.model.buffers()])
    (train_sum, train_n) = world.sum_floats([float(loss_sum), float(len(batches))])
    train_loss = train_sum / max(train_n, 1.0)
    val = val_losses(trainer, vbatches) if trainer.has_val else None
    monitor = val["loss"] if val is not None else train_loss
    if not math.isfinite(monitor):
        raise _diverged(trainer, monitor, epoch, "validation loss" if val is not None else "training loss")
    trainer.sched.step(monitor)
    improved = _update_state(trainer, state, epoch, monitor)
    state.elapsed = float(state.elapsed) + (time.perf_counter() - t_epoch)
    state.history = [*state.history, _log_row(trainer, state, epoch, train_loss, val, clock.wait, loop_s)]
    return EpochResult(train_loss, val, improved, monitor, loop_s, clock.wait, n_windows)


def _train_steps(
    trainer: Trainer, state: TrainState, batches: list[np.ndarray], epoch: int, tb: Any
) -> tuple[torch.Tensor, WaitClock, int]:
    """One optimiser step per batch; returns the summed loss, the data-wait clock and the window count."""
    cfg, net, opt = trainer.config, trainer.net, trainer.opt
    if trainer.ema is not None:
        trainer.ema.swap_out(trainer.model)
    net.train()
    if trainer.fq is not None:
        trainer.fq.freeze_bn()
    clock = WaitClock()
    loss_sum = torch.zeros((), dtype=torch.float64, device=trainer.device)
    n_windows = 0
    bar = None
    if trainer.world.main:
        bar = progress(total=len(batches), desc=f"{trainer.out.name} {epoch + 1}/{cfg.epochs}", unit="step",
                       leave=False)  # fmt: skip
    load = functools.partial(_training_batch, trainer, epoch=epoch)
    for feats, t in clock.wrap(prefetch(load, batches, num_workers=cfg.num_workers, depth=cfg.prefetch)):
        y = net(feats)
        loss, _parts = trainer.loss_fn(y, t)
        if not torch.isfinite(loss):  # before the step: weights never take a NaN update
            raise _diverged(trainer, float(loss), epoch, f"training loss of step {state.step + 1}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        state.step += 1
        if trainer.ema is not None:
            trainer.ema.update(trainer.model, state.step)
        loss_sum += loss.detach()
        n_windows += int(t.shape[0])
        if bar is not None:
            bar.update()
            if state.step % cfg.log_every == 0:
                v = float(loss.detach())
                bar.set_postfix(loss=f"{v:.4g}")
                if tb is not None:
                    tb.add_scalar("train/loss_step", v, state.step)
    if bar is not None:
        bar.close()
    return loss_sum, clock, n_windows


def _training_batch(trainer: Trainer, rows: np.ndarray, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Student features ``[b, 1, 64, T]`` and targets ``[b, d]`` of the training windows of ``rows`` in ``epoch``.

    Runs in the loader threads, so an online teacher labels the next batches while the trainer steps on this one.
    That fills cores the intra-op threads leave idle (2 cores, 1 torch thread: 1.7-1.8x windows/s); where the teacher's
    convolutions already keep every core busy it changes little (2 cores, 2 threads: 1.03x;
    ``benchmarks/bench_online.py``). The batches and their labels do not depend on the threads.
    """
    audio, target = trainer.source.batch(rows, epoch=epoch)  # time-shifted, mixed, as configured
    if trainer.teacher is not None:
        target = trainer.teacher(audio)  # the target of the window as augmented, not of the stored frame
    feats, t = batch_tensors((audio, target), trainer.device, trainer.frontend)
    cfg = trainer.config
    if cfg.freq_mask or cfg.time_mask:
        # hidden features take the window's mean level: the floor (-top_db) would read as a silent band
        hidden = spec_masks(rows, cfg.seed, epoch, feats.shape[2], feats.shape[3], cfg.freq_mask, cfg.time_mask)
        hidden_t = torch.from_numpy(hidden).to(feats.device)[:, None]
        feats = torch.where(hidden_t, feats.mean(dim=(1, 2, 3), keepdim=True), feats)
    return feats, t


def _update_state(trainer: Trainer, state: TrainState, epoch: int, monitor: float) -> bool:
    """Best epoch, patience and early stop after epoch ``epoch``; True when it improved on the best."""
    cfg = trainer.config
    improved = monitor < state.best_val_loss - cfg.min_delta
    if improved:
        state.best_val_loss, state.best_epoch, state.bad_epochs = float(monitor), epoch, 0
    else:
        state.bad_epochs += 1
    if cfg.patience and state.bad_epochs >= cfg.patience:
        state.stopped = True
    state.epoch = epoch + 1
    return improved


def _log_row(
    trainer: Trainer,
    state: TrainState,
    epoch: int,
    train_loss: float,
    val: dict[str, float] | None,
    wait_s: float,
    loop_s: float,
) -> dict[str, Any]:
    return {
        "epoch": epoch + 1,
        "step": state.step,
        "train_loss": train_loss,
        "val_loss": val["loss"] if val else None,
        "lr": trainer.lr(),
        "time": round(state.elapsed, 3),
        "val_mse": val["mse"] if val else None,
        "val_cosine": val["cosine"] if val else None,
        "val_relational": val["relational"] if val else None,
        "data_wait": round(wait_s / loop_s, 4) if loop_s > 0 else None,
    }


@torch.no_grad()
def recalibrate_bn(trainer: Trainer, batches: list[np.ndarray], epoch: int | None = None) -> int:
    """Re-estimate BatchNorm running statistics as exact averages over ``batches`` (precise BN).

    Keras-momentum BatchNorm (0.99) needs thousands of steps before its running statistics match the weights; on
    short runs the eval-mode model would be far off. Training forwards use batch statistics, so this changes only
    what eval mode (validation, fidelity, the saved checkpoints) sees, never the training trajectory.

    Parameters
    ----------
    trainer : Trainer
    batches : list of np.ndarray
        Frame-store rows of each batch.
    epoch : int, optional
        Forward the windows as epoch ``epoch`` trained on them (shifted, mixed); default: the stored windows.
        A student trained on mixtures keeps mixture statistics: measured on clean windows they raised its
        held-out MSE by ~9% (edgel3 teacher, real UrbanSound8K).

    Returns
    -------
    n_batches : int
        Batches forwarded (0 when the model has no BatchNorm with running statistics).
    """
    model, cfg = trainer.model, trainer.config
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not bns or not batches:
        return 0
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the forwards below
    model.train()
    load = trainer.source if epoch is None else functools.partial(trainer.source.batch, epoch=epoch)
    for batch in prefetch(load, batches, num_workers=cfg.num_workers, depth=cfg.prefetch):
        feats, _ = batch_tensors(batch, trainer.device, trainer.frontend)
        model(feats)
    for m, mom in zip(bns, saved):
        m.momentum = mom
    return len(batches)


@torch.no_grad()
def val_losses(trainer: Trainer, batches: list[np.ndarray]) -> dict[str, float] | None:
    """Weighted validation loss and its parts over every rank's share.

    Parameters
    ----------
    trainer : Trainer
    batches : list of np.ndarray
        This rank's validation batches.

    Returns
    -------
    losses : dict or None
        ``mse``, ``cosine``, ``relational`` (over the batches of >= 2 rows, 0 without any) and ``loss``, their
        sum weighted as in training, all in the loss's space (standardised under ``standardize``); None when no
        rank had a validation row.
    """
    model, device, frontend = trainer.model, trainer.device, trainer.frontend
    model.eval()
    acc = {"mse": 0.0, "cosine": 0.0, "relational": 0.0, "n": 0.0, "n_rel": 0.0}
    for batch in batches:
        feats, t = batch_tensors(trainer.source(batch), device, frontend)
        y, t = trainer.loss_fn.standardise(model(feats), t)
        b = float(t.shape[0])
        acc["mse"] += float(mse_loss(y, t)) * b
        acc["cosine"] += float(cosine_loss(y, t)) * b
        if t.shape[0] >= 2:
            acc["relational"] += float(relational_loss(y, t)) * b
            acc["n_rel"] += b
        acc["n"] += b
    keys = list(acc)
    acc = dict(zip(keys, trainer.world.sum_floats([acc[k] for k in keys])))
    if acc["n"] == 0:
        return None
    out = {"mse": acc["mse"] / acc["n"], "cosine": acc["cosine"] / acc["n"]}
    out["relational"] = acc["relational"] / acc["n_rel"] if acc["n_rel"] else 0.0
    out["loss"] = sum(w * out[k] for k, w in trainer.loss_fn.weights.items())
    return out
