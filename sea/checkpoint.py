"""Self-describing student checkpoints.

A checkpoint is a plain dict saved with ``torch.save`` and read back with
``torch.load(weights_only=True)`` (no arbitrary unpickling)::

    {
      "format": "sea-student", "format_version": 1, "sea_version": "...",
      "model_name": "sea_student_3_lin",       # registry name
      "model_args": {...},                     # kwargs of sea.students.create
      "state_dict": {...},
      "config": {...},                         # full resolved distill config
      "target_spec": {...},                    # reducer kind/dim/path/sha, or identity
      "teacher": {...},                        # teacher variant, untrained flag
      "frontend": {...},                       # student front-end parameters
      # training state (optional, for resume): optimizer, scheduler, epoch, step, best_val_loss, rng
    }

Everything needed to rebuild the network is inside, so export and evaluation
take only a path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import ManifestError
from .utils import atomic_path

FORMAT = "sea-student"
FORMAT_VERSION = 1

__all__ = ["load_checkpoint", "load_student", "save_checkpoint"]


def save_checkpoint(path: str | Path, ckpt: dict[str, Any]) -> Path:
    """Atomically save a checkpoint dict (adds format keys)."""
    import torch

    from ._version import __version__

    ckpt = {"format": FORMAT, "format_version": FORMAT_VERSION, "sea_version": __version__, **ckpt}
    for key in ("model_name", "model_args", "state_dict"):
        if key not in ckpt:
            raise ValueError(f"checkpoint is missing {key!r}")
    with atomic_path(path, suffix=".pt") as tmp, open(tmp, "wb") as f:
        # through a file object torch names the zip's records "archive/...", not after the random temporary
        # file, so identical checkpoints are identical bytes (their hashes chain the stages)
        torch.save(ckpt, f)
    return Path(path)


def load_checkpoint(path: str | Path, *, map_location: str = "cpu") -> dict[str, Any]:
    """Read a checkpoint dict safely (``weights_only=True``)."""
    import torch

    path = Path(path)
    if path.is_dir():
        for name in ("best.pt", "ckpt.pt"):
            if (path / name).is_file():
                path = path / name
                break
    if not path.is_file():
        raise ManifestError(f"student checkpoint {str(path)!r} does not exist; run 'sea distill' first or pass a .pt file")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise ManifestError(f"{str(path)!r} is not a readable sea checkpoint: {exc}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ManifestError(f"{str(path)!r} is not a sea student checkpoint (missing format={FORMAT!r})")
    if ckpt.get("format_version", 0) > FORMAT_VERSION:
        raise ManifestError(f"{str(path)!r} was written by a newer sea (format {ckpt['format_version']}); upgrade sea")
    return ckpt


def load_student(path: str | Path, *, device: str = "cpu"):
    """Rebuild a student from a checkpoint.

    Returns
    -------
    model : torch.nn.Module
        In eval mode, on ``device``; input [B, 1, 64, 50] log-mel, output [B, D].
    ckpt : dict
        The checkpoint (config, target_spec, teacher, frontend...).
    """
    from . import students

    ckpt = load_checkpoint(path)
    model = students.create(ckpt["model_name"], **ckpt.get("model_args", {}))
    model.load_state_dict(ckpt["state_dict"])
    return model.to(device).eval(), ckpt
