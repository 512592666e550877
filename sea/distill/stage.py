"""The ``distill`` stage: train a student to regress a run's reduced teacher targets (SEA Eq. 1).

Outputs in ``RUN/students/<name>/``::

    ckpt.pt        latest state after every epoch: weights, optimizer, scheduler, epoch, step, best val loss, history,
                   RNG state (atomic; a re-run with the same config resumes from it)
    best.pt        the weights of the best validation epoch (what evaluate/export load)
    log.csv        one row per epoch: epoch, step, train_loss, val_loss, lr, time, + the loss parts
    tb/            TensorBoard scalars (when tensorboard is importable)
    fidelity.json  held-out MSE, R^2 per target dimension and mean, cosine; for the best and the initial weights
    stage.json     config hash, input hashes (targets, 8 kHz audio cache), counts, the teacher's identity and window,
                   the split, and the size/hash records of best.pt and fidelity.json (what later stages trust)

The student sees the teacher's window (``teacher.window_size`` of the frame store: 1 s for OpenL3 and edgel3, 3 s
for BirdNET); its checkpoints record the front-end params (``frontend``) and the teacher identity (``teacher``).

Under torchrun (``WORLD_SIZE`` > 1) every rank runs :func:`run`: the model is wrapped in DDP, each global batch is
split ``[rank::world]`` and only rank 0 writes files. This module decides whether there is anything to do and sets up
the world; :mod:`sea.distill.inputs` resolves the inputs and :mod:`sea.distill.session` trains (it imports torch,
this module does not).
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from ..distributed import World
from ..errors import ConfigError
from ..layout import RunLayout
from ..lock import run_lock
from ..utils import Pathlike
from .config import DistillConfig
from .inputs import plan_run

log = logging.getLogger(__name__)

__all__ = ["run"]


def run(run_dir: Pathlike, config: DistillConfig | None = None, *, overwrite: bool = False) -> Path:
    """Train a student to regress the reduced teacher targets of a run.

    Parameters
    ----------
    run_dir : path
        A run with a finished target set (``RUN/targets/<name>``) and an 8 kHz audio cache (``RUN/audio/8000``).
    config : DistillConfig, optional
        Defaults to ``DistillConfig()``.
    overwrite : bool
        Retrain from scratch even when a finished ``stage.json`` matches (and ignore ``ckpt.pt``).

    Returns
    -------
    out_dir : Path
        ``RUN/students/<name>`` with ``best.pt`` (load it with :func:`sea.checkpoint.load_student`), ``ckpt.pt``,
        ``log.csv``, ``tb/``, ``fidelity.json`` and ``stage.json``.

    Notes
    -----
    The config and every input (target set, audio cache, teacher window, split, student, ``ckpt.pt``) are checked
    before anything is written, under the run directory's lock (:func:`sea.lock.run_lock`). A re-run with the same
    config and inputs is a no-op once finished; an interrupted run resumes from ``ckpt.pt`` at the last finished
    epoch and, on CPU with a fixed seed, ends with the same weights as an uninterrupted run.
    """
    config = config or DistillConfig()
    config.validate()
    plan = plan_run(RunLayout(run_dir), config)
    world = World(_resolve_device(config.device))
    try:
        with run_lock(run_dir):  # rank 0 holds it for the job (re-entrant under 'sea run')
            done = world.broadcast_int(int(world.main and not overwrite and plan.stage.is_done()))
            if done:
                log.info("distill %s: already done, skipping (use --overwrite to retrain)", plan.name)
                return plan.out
            from .session import prepare, train

            trainer = prepare(plan, world, overwrite=overwrite)  # every remaining check; nothing written yet
            if world.main:
                plan.out.mkdir(parents=True, exist_ok=True)
            with plan.stage.running() if world.main else contextlib.nullcontext():
                train(trainer, plan)
            world.barrier()
    finally:
        world.close()
    return plan.out


def _resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"DistillConfig.device={device!r} but no CUDA device is available; use device cpu or auto")
    return device
