"""Self-describing student checkpoints.

A checkpoint is a plain dict saved with ``torch.save`` and read back with
``torch.load(weights_only=True)`` (no arbitrary unpickling)::

    {
      "format": "sea-student", "format_version": 1, "sea_version": "...",
      "model_name": "sea_student_3_lin",       # registry name
      "model_args": {...},                     # kwargs of sea.students.create (input_shape for windows != 1 s)
      "state_dict": {...},
      "config": {...},                         # full resolved distill config
      "target_spec": {...},                    # reducer kind/dim/path/sha, or identity
      "teacher": {...},                        # teacher identity (family, name, sr, window_size, ...), untrained flag
      "frontend": {...},                       # student front-end parameters, with window_size (seconds)
      # training state (optional, for resume): optimizer, scheduler, epoch, step, best_val_loss, rng
    }

Everything needed to rebuild the network is inside, so export and evaluation
take only a path. The window the student sees is the front-end's
(:func:`checkpoint_frontend`): checkpoints written before windows had a length
carry no ``"frontend"`` (or one without ``window_size``) and mean 1-s windows.

Untrusted files: a checkpoint that holds arbitrary Python objects is refused
(sea loads weights only, so unpickling cannot run code), and a truncated or
damaged file is named in one line with the fix.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

from .errors import ManifestError
from .utils import atomic_path

FORMAT = "sea-student"
FORMAT_VERSION = 1

#: What to do about a damaged checkpoint, unless the caller knows better (the command that wrote it).
DEFAULT_FIX = "re-create it with 'sea distill RUN_DIR --overwrite' (or 'sea run CONFIG --overwrite distill')"

__all__ = ["DEFAULT_FIX", "checkpoint_frontend", "load_checkpoint", "load_student", "save_checkpoint"]


def checkpoint_frontend(ckpt: dict[str, Any]) -> dict[str, Any]:
    """The front-end params a checkpoint's student was trained with, ``window_size`` included.

    Parameters
    ----------
    ckpt : dict
        A checkpoint dict (:func:`load_checkpoint`).

    Returns
    -------
    params : dict
        ``ckpt["frontend"]`` with ``window_size`` filled in; checkpoints without a ``"frontend"`` (written before
        windows had a length) get the 1-s front-end.

    Raises
    ------
    ManifestError
        A ``"frontend"`` that is not a dict of front-end params.
    """
    from .students.frontend import frontend_params, params_window_size

    fe = ckpt.get("frontend")
    if fe is None:
        return frontend_params(1.0)
    if not isinstance(fe, dict) or "window_length" not in fe or "n_frames" not in fe:
        raise ManifestError(
            f"checkpoint 'frontend' entry {str(fe)[:80]!r} is not a front-end record (dict with window_length, "
            "n_frames...); re-create the checkpoint with 'sea distill'"
        )
    return {**fe, "window_size": params_window_size(fe)}


def _input_shape(ckpt: dict[str, Any]) -> tuple[int, ...] | None:
    shape = (ckpt.get("model_args") or {}).get("input_shape")
    return tuple(int(s) for s in shape) if shape is not None else None


def save_checkpoint(path: str | Path, ckpt: dict[str, Any]) -> Path:
    """Atomically save a checkpoint dict (adds the format keys and, if absent, the 1-s front-end).

    Parameters
    ----------
    path : path
        The ``.pt`` file to write.
    ckpt : dict
        ``model_name``, ``model_args`` and ``state_dict`` at least (see the module docstring). A ``"frontend"``
        record must agree with ``model_args["input_shape"]`` (its ``output_shape``); without one, the student
        must take 1-s windows and the 1-s front-end is recorded.

    Returns
    -------
    path : Path

    Raises
    ------
    ValueError
        A missing key, or a front-end that does not match the student's input shape (a programming error).
    """
    import torch

    from ._version import __version__

    ckpt = {"format": FORMAT, "format_version": FORMAT_VERSION, "sea_version": __version__, **ckpt}
    for key in ("model_name", "model_args", "state_dict"):
        if key not in ckpt:
            raise ValueError(f"checkpoint is missing {key!r}")
    shape = _input_shape(ckpt)
    if ckpt.get("frontend") is None:
        if shape is not None and shape[-1] != 50:
            raise ValueError(f"checkpoint of a student with input_shape {shape} needs its 'frontend' record")
        from .students.frontend import frontend_params

        ckpt["frontend"] = frontend_params(1.0)
    fe = checkpoint_frontend(ckpt)
    if shape is not None and list(shape[1:]) != list(fe.get("output_shape", [1, 64, fe["n_frames"]]))[1:]:
        raise ValueError(
            f"student input_shape {shape} does not match the front-end's output_shape {fe['output_shape']}"
        )
    ckpt["frontend"] = fe
    with atomic_path(path, suffix=".pt") as tmp, open(tmp, "wb") as f:
        # through a file object torch names the zip's records "archive/...", not after the random temporary
        # file, so identical checkpoints are identical bytes (their hashes chain the stages)
        torch.save(ckpt, f)
    return Path(path)


def _refused_objects(exc: BaseException) -> str:
    """The Python object a weights-only load refused, from torch's message (``posix.system``), or ''."""
    import re

    m = re.search(r"GLOBAL ([\w.]+)", str(exc))
    return f" ({m.group(1)})" if m else ""


def _not_an_archive(path: Path, fix: str) -> ManifestError | None:
    """The one-line error for an empty, truncated or foreign file (checked before torch reads it), else None.

    sea writes checkpoints as torch zip archives, so anything else is refused without unpickling it.
    """
    size = path.stat().st_size
    if size == 0:
        return ManifestError(f"{str(path)!r} is empty (0 bytes); {fix}")
    if zipfile.is_zipfile(path):
        return None
    with open(path, "rb") as fh:
        head = fh.read(2)
    if head == b"PK":
        reason = "its zip archive has no end (truncated, e.g. by a killed write or a full disk)"
    else:
        reason = "it is not a torch zip archive"
    return ManifestError(f"{str(path)!r} is not a readable sea checkpoint: {reason}, {size:,} bytes; {fix}")


def _read_error(path: Path, exc: BaseException, fix: str) -> ManifestError:
    """One line for an archive torch could not read: refused objects, or a damaged archive."""
    if isinstance(exc, pickle.UnpicklingError):
        return ManifestError(
            f"{str(path)!r} is refused: it holds arbitrary Python objects{_refused_objects(exc)}, not only weights, "
            "and unpickling such objects can run code. sea loads weights only (tensors, numbers, strings, lists, "
            "dicts); use a checkpoint written by sea (sea distill), or rebuild this one from a state dict of plain "
            "tensors"
        )
    return ManifestError(
        f"{str(path)!r} is not a readable sea checkpoint: its archive is damaged ({type(exc).__name__}), "
        f"{path.stat().st_size:,} bytes; {fix}"
    )


def load_checkpoint(path: str | Path, *, map_location: str = "cpu", fix: str = DEFAULT_FIX) -> dict[str, Any]:
    """Read a checkpoint dict safely (``weights_only=True``).

    Parameters
    ----------
    path : path
        A ``.pt`` file, or a student directory (its ``best.pt``, else ``ckpt.pt``).
    map_location : str
        Device of the tensors.
    fix : str
        What to tell the user when the file is truncated or damaged (default: rerun distill with
        ``--overwrite``).

    Returns
    -------
    ckpt : dict

    Raises
    ------
    ManifestError
        Missing, empty, truncated or damaged file (one line naming it and ``fix``); a file holding arbitrary
        Python objects (refused, nothing is executed); not a sea checkpoint; a newer format.
    """
    import torch

    path = Path(path)
    if path.is_dir():
        for name in ("best.pt", "ckpt.pt"):
            if (path / name).is_file():
                path = path / name
                break
    if not path.is_file():
        raise ManifestError(
            f"student checkpoint {str(path)!r} does not exist; run 'sea distill' first or pass a .pt file"
        )
    damaged = _not_an_archive(path, fix)
    if damaged is not None:
        raise damaged
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        raise _read_error(path, exc, fix) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ManifestError(f"{str(path)!r} is not a sea student checkpoint (missing format={FORMAT!r})")
    if ckpt.get("format_version", 0) > FORMAT_VERSION:
        raise ManifestError(f"{str(path)!r} was written by a newer sea (format {ckpt['format_version']}); upgrade sea")
    for key in ("model_name", "state_dict"):
        if key not in ckpt:
            raise ManifestError(f"{str(path)!r} has no {key!r}; {fix}")
    return ckpt


def load_student(path: str | Path, *, device: str = "cpu", fix: str = DEFAULT_FIX):
    """Rebuild a student from a checkpoint.

    Parameters
    ----------
    path : path
        A checkpoint ``.pt`` or a student directory.
    device : str
    fix : str
        Passed to :func:`load_checkpoint`.

    Returns
    -------
    model : torch.nn.Module
        In eval mode, on ``device``; input ``[B, 1, 64, n_frames]`` log-mel (``ckpt["frontend"]["n_frames"]``: 50
        for 1-s windows), output ``[B, D]``.
    ckpt : dict
        The checkpoint (config, target_spec, teacher...), its ``"frontend"`` completed by
        :func:`checkpoint_frontend` (old checkpoints: the 1-s front-end).

    Raises
    ------
    ManifestError
        See :func:`load_checkpoint`; also weights that do not fit the recorded architecture.
    """
    from . import students

    ckpt = load_checkpoint(path, fix=fix)
    ckpt["frontend"] = checkpoint_frontend(ckpt)
    args = dict(ckpt.get("model_args") or {})
    n_frames = int(ckpt["frontend"]["n_frames"])
    if "input_shape" not in args and n_frames != 50:  # a front-end for another window, a student built for it
        args["input_shape"] = [1, int(ckpt["frontend"].get("n_mels", 64)), n_frames]
    model = students.create(ckpt["model_name"], **args)
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ManifestError(f"{str(path)!r}: weights do not fit {ckpt['model_name']} ({first}); {fix}") from None
    return model.to(device).eval(), ckpt
