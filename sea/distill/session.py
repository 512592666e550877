"""One training session of ``sea distill`` (nanoGPT-style: a linear sequence, self-describing checkpoints, exact resume).

:func:`prepare` builds and checks everything before anything is written: the data for the teacher's window, the
split, the student for that window, the optimiser (:func:`_setup`) and whether ``ckpt.pt`` resumes
(:func:`_resumable`). :func:`train` then reads as the steps it takes: resume or start over (:func:`_resume`), run the
epochs (:func:`sea.distill.loop.run_epoch`) saving after each (:func:`_save_epoch`), then score the best weights and
record the run (:func:`_finish`).

Every rank of a torchrun job runs it with the same seed: the initial weights, the split and the batch order are
functions of the seed alone, the collectives come in the same order on every rank, and only rank 0 writes files.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import integrity
from ..checkpoint import load_checkpoint, save_checkpoint
from ..distributed import World
from ..errors import ConfigError, ManifestError, SeaWarning
from ..layout import RunLayout
from ..runs import read_stage, require_stage
from ..utils import streamed_mean_std, write_json, write_text_atomic
from .config import DistillConfig
from .data import WindowSource, group_labels, split_rows, teacher_framing, val_batches
from .ema import WeightAverage
from .inputs import Plan
from .loop import EpochResult, Trainer, TrainState, run_epoch
from .metrics import fidelity, int8_fidelity

log = logging.getLogger(__name__)

__all__ = ["LOG_COLUMNS", "LOG_NAME", "TB_NAME", "prepare", "train"]

#: Files of the student directory besides those :class:`~sea.layout.RunLayout` names.
LOG_NAME = "log.csv"
TB_NAME = "tb"
LOG_COLUMNS = ("epoch", "step", "train_loss", "val_loss", "lr", "time", "val_mse", "val_cosine", "val_relational")


def prepare(plan: Plan, world: World, *, overwrite: bool) -> Trainer:
    """Build everything a session trains with, checking every input; nothing is written.

    Reads the targets, the audio cache and the teacher's window, splits the rows, builds the student for that
    window, and decides whether ``ckpt.pt`` resumes (a damaged one is an error naming the file and the fix).

    Parameters
    ----------
    plan : Plan
    world : World
    overwrite : bool
        Ignore ``ckpt.pt`` (start over).

    Returns
    -------
    trainer : Trainer
    """
    trainer = _setup(plan, world)
    trainer.resume = _resumable(trainer, plan, overwrite=overwrite)
    return trainer


def train(trainer: Trainer, plan: Plan) -> None:
    """Train on this rank from :func:`prepare`'s trainer; rank 0 writes the outputs and fills ``plan.stage``.

    Parameters
    ----------
    trainer : Trainer
    plan : Plan
    """
    world = trainer.world
    state, resumed = _resume(trainer, plan)
    trainer.net = _wrap_ddp(trainer.model, world)
    tb = _tensorboard(plan.out, purge_step=state.step if resumed else None) if world.main else None
    totals = _Totals(t_start=time.perf_counter(), resumed_from=int(state.epoch) if resumed else 0)
    vbatches = val_batches(trainer.val_rows, batch_size=max(plan.config.batch_size, 256), rank=world.rank,
                           world=world.size)  # fmt: skip
    try:
        for epoch in range(int(state.epoch), plan.config.epochs):
            if state.stopped:
                break
            result = run_epoch(trainer, state, epoch, vbatches, tb)
            totals.add(result)
            if world.main:
                _save_epoch(trainer, plan, state, epoch, result, tb)
            world.barrier()
    finally:
        if tb is not None:
            tb.close()
    _finish(trainer, plan, state, totals)


@dataclass
class _Totals:
    """This session's speed figures, for the stage's counts."""

    t_start: float
    resumed_from: int  # the epoch this session started after (0: a fresh start)
    wait_s: float = 0.0  # seconds the training steps waited for data
    loop_s: float = 0.0  # seconds of training steps
    n_windows: int = 0  # windows this rank trained on

    def add(self, result: EpochResult) -> None:
        self.wait_s += result.wait_s
        self.loop_s += result.loop_s
        self.n_windows += result.n_windows


def _wrap_ddp(model: torch.nn.Module, world: World) -> torch.nn.Module:
    """``model`` in DistributedDataParallel over several ranks (it broadcasts rank 0's weights), else itself."""
    if world.size <= 1:
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    return DDP(model, device_ids=[torch.device(world.device).index] if world.device.startswith("cuda") else None)


# -- setup -----------------------------------------------------------------------------------------------------------


def _setup(plan: Plan, world: World) -> Trainer:
    """Build the data, split, model, front-end, loss and optimiser, and the header every checkpoint carries."""
    from ..students.frontend import StudentFrontend, frontend_params
    from ..targets import open_targets
    from .losses import DistillLoss

    config, device = plan.config, world.device
    reader = open_targets(plan.run.root, plan.targets)
    source = WindowSource(plan.run.root, reader, time_shift=config.time_shift, seed=config.seed, sr=config.sr)
    params = frontend_params(source.window_size, config.sr)  # the student sees the teacher's window
    train_rows, val_rows, min_local, split = _split(plan, world, source)
    source.mixup, source.mix_rows = config.mixup, train_rows  # partners from training rows only
    source.speed, source.tilt, source.gain = config.speed, config.tilt, config.gain
    teacher = None
    if config.online_teacher:
        from .online import load_online_teacher

        teacher = load_online_teacher(_teacher_record(reader), reader.reducer, reader.store.dtype, device,
                                      sr=config.sr)  # fmt: skip
    model, fq = _model(plan, reader.dim, device, params)
    frontend = StudentFrontend(mode="stft", dtype=getattr(torch, config.frontend_dtype), params=params).to(device)
    center, scale = _target_stats(reader, train_rows, device) if config.standardize else (None, None)
    loss_fn = DistillLoss(config.mse, config.cosine, config.relational, center=center, scale=scale)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    # Keras's ReduceLROnPlateau (SEA): an improvement is a decrease by more than an absolute epsilon (1e-4)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="min", factor=config.lr_factor, patience=config.lr_patience, threshold=config.min_delta,
        threshold_mode="abs",
    )  # fmt: skip
    header = {
        "config_hash": _dict_hash(plan.resolved),
        "inputs": plan.stage.input_hashes(),
        "base": {
            "model_name": config.student,
            "model_args": dict(model.model_args),
            "config": plan.resolved,
            "target_spec": reader.spec,
            "teacher": _teacher_record(reader),
            "frontend": params,
            "framing": source.framing,
            "split": split,
        },
    }
    fid_rows = _fidelity_rows(config, train_rows, val_rows)
    ema = WeightAverage(model, config.ema) if config.ema > 0 else None
    return Trainer(config=config, world=world, out=plan.out, source=source, train_rows=train_rows,
                   val_rows=val_rows, fid_rows=fid_rows, min_local=min_local, model=model, fq=fq,
                   frontend=frontend, loss_fn=loss_fn, opt=opt, sched=sched, header=header,
                   teacher=teacher, ema=ema)  # fmt: skip


def _target_stats(reader: Any, rows: np.ndarray, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension mean and std [d] of the targets of ``rows`` (float64 sums over chunks: memory bounded).

    A dimension that is (nearly) constant over the training targets would divide by (nearly) zero and swamp the
    loss; its scale is set to the largest std instead, with a warning, so that it weighs as it would in plain MSE
    next to the largest dimension rather than dominating or being dropped.
    """
    mean, std = streamed_mean_std(reader.read, np.sort(rows), batch=8192)
    largest = float(std.max()) if float(std.max()) > 0 else 1.0
    flat = np.flatnonzero(std < largest * 1e-6)
    if flat.size:
        warnings.warn(
            f"standardize: {flat.size} of {std.size} target dimensions are constant over the training frames "
            f"(e.g. dim {int(flat[0])}); their scale is set to the largest std, {largest:.3g}, so that they "
            "neither divide by zero nor swamp the loss",
            SeaWarning,
            stacklevel=4,
        )
        std[flat] = largest
    return (torch.tensor(mean, dtype=torch.float32, device=device),
            torch.tensor(std, dtype=torch.float32, device=device))  # fmt: skip


def _split(plan: Plan, world: World, source: WindowSource) -> tuple[np.ndarray, np.ndarray, int, dict[str, Any]]:
    """``(train_rows, val_rows, min_local, split)``: the held-out split by group, checked against the batch size."""
    config, run_dir = plan.config, plan.run.root
    groups = group_labels(run_dir, source.clip_ids, config.val_by)
    train_rows, val_rows = split_rows(groups, config.val_fraction, config.seed)
    if val_rows.size == 0:
        warnings.warn(
            f"no held-out frames (val_fraction={config.val_fraction}, {np.unique(groups).size} group(s) by "
            f"{config.val_by!r}): early stopping, the LR schedule and fidelity.json use the training frames",
            SeaWarning,
            stacklevel=5,
        )
    min_local = 2 if config.relational > 0 else 1
    local_batch = config.batch_size // world.size
    if local_batch < min_local:
        raise ConfigError(
            f"DistillConfig.batch_size={config.batch_size} over {world.size} ranks gives {local_batch} rows per "
            f"rank; use batch_size >= {min_local * world.size}"
        )
    if train_rows.size < min_local * world.size:
        raise ManifestError(f"only {train_rows.size} training frames in {str(run_dir)!r}; distillation needs more")
    kinds = sorted({str(g).split(":", 1)[0] for g in np.unique(groups)}) if config.val_by == "group" else []
    split = {
        "val_by": config.val_by,
        "group_keys": kinds,  # 'group' only: which meta key named the recordings (fsID, src_file... or clip)
        "n_train_groups": int(np.unique(groups[train_rows]).size),
        "n_val_groups": int(np.unique(groups[val_rows]).size),
        "n_train_frames": int(train_rows.size),
        "n_val_frames": int(val_rows.size),
    }
    return train_rows, val_rows, min_local, split


def _model(plan: Plan, dim: int, device: str, params: dict[str, Any]) -> tuple[torch.nn.Module, Any]:
    """Build the student for the front-end's input (from the seed alone, or ``init_from``'s weights) and its QAT hooks."""
    from .. import students
    from ..students.frontend import N_FRAMES

    config = plan.config
    torch.manual_seed(config.seed)
    student_args = dict(config.student_args or {})
    if int(params["n_frames"]) != N_FRAMES:  # 1-s windows keep the students' default input (and model_args)
        student_args["input_shape"] = [int(s) for s in params["output_shape"]]
    model = students.create(config.student, **student_args)
    if model.embedding_dim != dim:
        raise ConfigError(
            f"student {config.student!r} outputs {model.embedding_dim}-d embeddings but target set {plan.targets!r} "
            f"is {dim}-d; pass student_args {{out_dim: {dim}}} (a linear head) or fit targets with "
            f"dim {model.embedding_dim}"
        )
    init_from = plan.resolved.get("init_from")
    if init_from:
        init = _load_init(plan, init_from)
        if init.get("model_name") != config.student or dict(init.get("model_args") or {}) != dict(model.model_args):
            raise ConfigError(
                f"init_from {init_from!r} holds {init.get('model_name')!r} with args "
                f"{init.get('model_args')!r}, not {config.student!r} with {dict(model.model_args)!r}; use the same "
                "student (and the same teacher window)"
            )
        model.load_state_dict(init["state_dict"])
    model.to(device)
    if not config.qat:
        return model, None
    from .qat import FakeQuant

    return model, FakeQuant(model)


def _load_init(plan: Plan, init_from: str) -> dict[str, Any]:
    """Read ``init_from``'s checkpoint; a damaged one is one line naming the file and the command that rebuilds it."""
    path = Path(init_from)
    rerun = f"rerun its 'sea distill {plan.run.root} ...' command with --overwrite"
    if RunLayout.stage_file(path.parent).is_file():  # a student of a run: check best.pt against its record
        require_stage(path.parent, f"student {path.parent.name!r}", f"sea distill {plan.run.root}", fix=rerun)
    return load_checkpoint(path, map_location="cpu", fix=f"rebuild it: {rerun}, or pass another init_from")


def _teacher_record(reader: Any) -> dict[str, Any]:
    """Describe the teacher the targets came from (the store's teacher identity), as checkpoints record it."""
    teacher = {**teacher_framing(reader.store)["teacher"], "variant": reader.store.dir.name}
    teacher.setdefault("untrained", False)
    return teacher


def _fidelity_rows(config: DistillConfig, train_rows: np.ndarray, val_rows: np.ndarray) -> np.ndarray:
    """Pick the rows fidelity.json scores: held-out ones (else training ones), at most ``fidelity_max_frames``."""
    rows = val_rows if val_rows.size > 0 else train_rows
    if rows.size > config.fidelity_max_frames:
        pick = np.random.default_rng([config.seed, 2]).choice(rows.size, config.fidelity_max_frames, replace=False)
        rows = np.sort(rows[pick])
    return rows


def _dict_hash(d: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


# -- resume ----------------------------------------------------------------------------------------------------------


def _resumable(trainer: Trainer, plan: Plan, *, overwrite: bool) -> dict[str, Any] | None:
    """Return ``ckpt.pt`` when it resumes this run (same config and inputs), else None; rank 0 reads it.

    ``ckpt.pt`` is rewritten after every epoch, so no record can vouch for it: it is checked by loading it. A file
    that does not load (truncated, altered) is an error naming it and the fix, never silently ignored.
    """
    ckpt_path = plan.run.last_checkpoint(plan.name)
    if overwrite or not trainer.world.main or not ckpt_path.is_file():
        return None
    fix = (
        f"start student {plan.name!r} over: run the same 'sea distill {plan.run.root} ...' command with --overwrite "
        "(or 'sea run CONFIG --overwrite distill')"
    )
    ck = load_checkpoint(ckpt_path, map_location=trainer.device, fix=fix)
    header = trainer.header
    if not (ck.get("config_hash") == header["config_hash"] and ck.get("inputs") == header["inputs"]
            and "optimizer" in ck):  # fmt: skip
        log.info("distill %s: ckpt.pt is from another config or inputs; starting over", plan.name)
        return None
    damage = _best_damage(plan)
    if damage:  # ckpt.pt holds the latest weights, not the best: only a fresh (deterministic) run rebuilds best.pt
        warnings.warn(f"{damage}; retraining {plan.name!r} from scratch to rebuild it", SeaWarning, stacklevel=4)
        return None
    return ck


def _best_damage(plan: Plan) -> str:
    """Why ``best.pt`` cannot be trusted ("" when it is absent or intact): its record, else whether it loads."""
    best = plan.run.checkpoint(plan.name)
    if not best.is_file():
        return ""
    try:
        rec = ((read_stage(plan.out) or {}).get("files") or {}).get(best.name)
        if rec:
            integrity.check(best, rec, fix="retrain")
        else:
            load_checkpoint(best)
    except ManifestError as exc:
        return str(exc).split("; rebuild it")[0]
    return ""


def _resume(trainer: Trainer, plan: Plan) -> tuple[TrainState, bool]:
    """Resume from :func:`_resumable`'s checkpoint (rank 0 decides, the others follow) or start over.

    Returns the state to start from and whether it was resumed. A fresh start clears the outputs of an earlier run
    and scores the initial weights (``fidelity_initial``).
    """
    world = trainer.world
    resume = world.broadcast_int(int(trainer.resume is not None))
    if world.main:
        _clear_outputs(plan, temporaries_only=bool(resume))
    world.barrier()
    state = TrainState()
    if resume:
        ck = (
            trainer.resume
            if world.main
            else load_checkpoint(plan.run.last_checkpoint(plan.name), map_location=trainer.device)
        )
        trainer.model.load_state_dict(ck["state_dict"])
        trainer.opt.load_state_dict(ck["optimizer"])
        trainer.sched.load_state_dict(ck["scheduler"])
        state.load(ck)
        if "torch_rng" in ck:
            torch.set_rng_state(ck["torch_rng"].cpu())
        if trainer.fq is not None:
            trainer.fq.load_state(ck.get("qat_ranges"))
        if trainer.ema is not None:  # state_dict is the average; the live weights train on
            trainer.ema.resume(trainer.model, ck.get("ema_live"))
        trainer.resume = None
        log.info("distill %s: resuming after epoch %d (step %d)", plan.name, state.epoch, state.step)
    elif world.main:
        state.fidelity_initial = fidelity(
            trainer.model, trainer.frontend, trainer.source, trainer.fid_rows, device=trainer.device
        )
    return state, bool(resume)


def _outputs(plan: Plan) -> list[Path]:
    """Return the files a run writes in its student directory (stage.json aside)."""
    run, name = plan.run, plan.name
    return [run.last_checkpoint(name), run.checkpoint(name), plan.out / LOG_NAME, run.fidelity(name)]


def _clear_outputs(plan: Plan, *, temporaries_only: bool = False) -> None:
    for path in _outputs(plan):
        for tmp in path.parent.glob(f".{path.name}.*"):  # left by a writer killed mid-save (atomic_path)
            tmp.unlink(missing_ok=True)
        if not temporaries_only:
            path.unlink(missing_ok=True)
    if not temporaries_only and (plan.out / TB_NAME).is_dir():
        shutil.rmtree(plan.out / TB_NAME, ignore_errors=True)


# -- after each epoch (rank 0) -------------------------------------------------------------------------------------


def _save_epoch(trainer: Trainer, plan: Plan, state: TrainState, epoch: int, result: EpochResult, tb: Any) -> None:
    """Write ``best.pt`` (when improved), ``ckpt.pt``, ``log.csv`` and the TensorBoard scalars of epoch ``epoch``."""
    out, fq, header = plan.out, trainer.fq, trainer.header
    base = header["base"]
    sd = {k: v.detach().cpu().clone() for k, v in trainer.model.state_dict().items()}
    qat_ranges = fq.state() if fq is not None else None
    if result.improved:  # best.pt first: a kill in between repeats this epoch and rewrites it identically
        best = {"state_dict": sd, "epoch": epoch + 1, "step": state.step, "val_loss": float(result.monitor)}
        save_checkpoint(plan.run.checkpoint(plan.name), {**base, **best, "qat_ranges": qat_ranges})
    save_checkpoint(
        plan.run.last_checkpoint(plan.name),
        {
            **base,
            **state.to_dict(),
            "state_dict": sd,
            "optimizer": trainer.opt.state_dict(),
            "scheduler": trainer.sched.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "qat_ranges": qat_ranges,
            "ema_live": trainer.ema.live_state() if trainer.ema is not None else None,
            "config_hash": header["config_hash"],
            "inputs": header["inputs"],
        },
    )
    _write_log_csv(out / LOG_NAME, state.history)
    val, lr = result.val, trainer.lr()
    if tb is not None:
        tb.add_scalar("train/loss", result.train_loss, epoch + 1)
        tb.add_scalar("lr", lr, epoch + 1)
        if val:
            for k in ("loss", "mse", "cosine", "relational"):
                tb.add_scalar(f"val/{k}", val[k], epoch + 1)
        tb.flush()
    log.info("distill %s epoch %d: train %.5g val %s lr %.3g%s", out.name, epoch + 1, result.train_loss,
             f"{val['loss']:.5g}" if val else "-", lr, " *" if result.improved else "")  # fmt: skip


def _write_log_csv(path: Path, history: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(LOG_COLUMNS), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in history:
        w.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in LOG_COLUMNS})
    write_text_atomic(path, buf.getvalue())


def _tensorboard(out: Path, purge_step: int | None) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception as exc:  # tensorboard missing or broken
        warnings.warn(
            f"TensorBoard logs skipped ({exc}); pip install tensorboard to get them", SeaWarning, stacklevel=4
        )
        return None
    return SummaryWriter(log_dir=str(out / TB_NAME), purge_step=purge_step)


# -- the end ---------------------------------------------------------------------------------------------------------


def _finish(trainer: Trainer, plan: Plan, state: TrainState, totals: _Totals) -> None:
    """Check the ranks agree; on rank 0 score the best weights (fidelity.json) and fill the stage's counts."""
    world = trainer.world
    in_sync = _in_sync(world, trainer.model)
    if not in_sync:
        warnings.warn("DDP ranks ended with different weights; only rank 0's are saved", SeaWarning, stacklevel=4)
    if not world.main:
        return
    report = _final_fidelity(trainer, plan, state)
    write_json(plan.run.fidelity(plan.name), report)
    plan.stage.track(*(p for p in (plan.run.checkpoint(plan.name), plan.run.fidelity(plan.name)) if p.is_file()))
    loop_s = totals.loop_s
    plan.stage.counts.update(
        n_train_frames=int(trainer.train_rows.size),
        n_val_frames=int(trainer.val_rows.size),
        epochs=int(state.epoch),
        steps=int(state.step),
        best_epoch=int(state.best_epoch) + 1,
        best_val_loss=float(state.best_val_loss),
        stopped_early=bool(state.stopped),
        resumed_from_epoch=totals.resumed_from,
        world_size=world.size,
        device=str(trainer.device),
        ranks_in_sync=bool(in_sync),
        windows_per_s=round(totals.n_windows * world.size / loop_s, 2) if loop_s > 0 else None,
        data_wait_fraction=round(totals.wait_s / loop_s, 4) if loop_s > 0 else None,
        session_seconds=round(time.perf_counter() - totals.t_start, 3),
    )
    plan.stage.extra["fidelity"] = {k: report.get(k) for k in ("r2_mean", "r2_weighted", "cosine_mean", "mse")}
    plan.stage.extra["teacher"] = trainer.header["base"]["teacher"]
    plan.stage.extra["frontend"] = {k: trainer.header["base"]["frontend"].get(k) for k in ("window_size", "n_frames")}
    plan.stage.extra["split"] = trainer.header["base"]["split"]


def _in_sync(world: World, model: torch.nn.Module) -> bool:
    """Tell whether every rank holds the same weights and buffers (compared by a float64 checksum)."""
    if world.size <= 1:
        return True
    checksum = sum(
        float(p.detach().double().sum()) + 1e-3 * float(p.detach().double().abs().sum())
        for p in model.state_dict().values()
        if p.is_floating_point()
    )
    sums = world.gather_floats(checksum)
    return all(v == sums[0] for v in sums)


def _final_fidelity(trainer: Trainer, plan: Plan, state: TrainState) -> dict[str, Any]:
    """Score the best weights, in float and int8-simulated, next to the initial ones (fidelity.json)."""
    model, fq, device = trainer.model, trainer.fq, trainer.device
    best_path = plan.run.checkpoint(plan.name)
    if best_path.is_file():
        best = load_checkpoint(best_path, map_location=device)
        model.load_state_dict(best["state_dict"])
        if fq is not None and best.get("qat_ranges"):
            fq.load_state(best["qat_ranges"])
    if fq is not None:
        fq.remove()
    model.eval()
    args = (model, trainer.frontend, trainer.source, trainer.fid_rows)
    fid = fidelity(*args, device=device)
    fid["int8_simulated"] = int8_fidelity(*args, device, fq)
    per_dim = fid.pop("r2_per_dim", None)
    initial = dict(state.fidelity_initial or {})
    initial.pop("r2_per_dim", None)
    config = plan.config
    return {
        "student": config.student,
        "name": plan.name,
        "targets": plan.targets,
        "split": "val" if trainer.has_val else "train",
        "val_by": config.val_by,
        "groups": trainer.header["base"]["split"],
        "window_size": trainer.source.window_size,
        **fid,
        "r2_per_dim": per_dim,
        "best_epoch": int(state.best_epoch) + 1,
        "best_val_loss": float(state.best_val_loss),
        "initial": initial,
        "teacher_untrained": bool(trainer.header["base"]["teacher"].get("untrained")),
        "teacher": trainer.header["base"]["teacher"],
    }
