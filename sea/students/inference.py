"""edgel3-compatible inference with the published SEA students: arrays, files and folders.

``get_embedding`` frames audio exactly as edgel3 0.2.1 does for ``model_type='sea'``:

1. a 2-D array is ``(N, C)`` (soundfile's layout) and is averaged over channels;
2. audio not at 8 kHz is resampled to 8 kHz with resampy 0.2.2's ``kaiser_best`` (``sea.audio.resample``), in the
   input's dtype (float32 input, float32 arithmetic, as resampy does);
3. ``center=True`` prepends 4000 zeros (half a window; nothing is appended for centring); the end is zero-padded
   so every sample lands in a window; ``T = 1 + ceil(max(n' - 8000, 0) / hop_length)`` windows of 8000 samples
   with ``hop_length = int(hop_size * 8000)``;
4. each window is cast to float32 (Keras ``predict``) and embedded independently;
5. ``timestamps = arange(T) * hop_size``: window centres with ``center=True``, window starts otherwise.

``process_file`` writes ``<stem>[_<suffix>].npz`` with ``embedding`` (T, D) float32 and ``timestamps`` (T,)
float64, as ``edgel3.process_file`` does. ``embed_files`` is ``sea students embed``: many files and folders, the
good ones embedded, the bad ones listed at the end.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from ..errors import AudioError, ParameterError, SeaError, SeaWarning
from .published import SR, load_published, published_name

log = logging.getLogger(__name__)

__all__ = ["embed_files", "get_embedding", "process_file"]

WINDOW_LENGTH = SR  # 1-s windows at 8 kHz


def _resolve_model(model, weights, model_type=None, emb_dim=None) -> torch.nn.Module:
    """A loaded model: the one given, or the published student named by ``model`` / edgel3's keywords."""
    if isinstance(model, torch.nn.Module):
        return model.eval()
    if model is not None and not isinstance(model, str):
        raise ParameterError(f"model={model!r} must be a published student name (e.g. 'sea_ust_64') or a loaded model")
    if model_type is not None or emb_dim is not None:  # edgel3 spelling: model_type='sea', emb_dim=64
        model = published_name(None if model == "sea_ust_64" else model, model_type=model_type, emb_dim=emb_dim)
    return load_published(published_name(model), weights)[0]


def _check_options(hop_size, center, batch_size) -> int:
    from ..framing import hop_length_for

    if center not in (True, False):
        raise ParameterError(f"center={center!r} must be True or False")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ParameterError(f"batch_size={batch_size!r} must be a positive int, e.g. 32")
    return hop_length_for(hop_size, SR)


def _to_8k_mono(audio, sr, name: str) -> np.ndarray:
    """edgel3's steps 1-2: (N, C) mean, then kaiser_best resampling to 8 kHz in the input's float dtype."""
    from ..audio import resample, to_mono, validate_audio

    y = np.asarray(audio)
    if y.ndim not in (1, 2):
        raise ParameterError(f"{name} must have shape (N,) or (N, channels), got {y.shape}")
    if not np.issubdtype(y.dtype, np.floating):
        raise ParameterError(f"{name} has dtype {y.dtype}; pass float samples in [-1, 1] (soundfile.read's default)")
    validate_audio(y, name=name)
    if isinstance(sr, bool) or not isinstance(sr, (int, np.integer, float)) or not sr > 0 or int(sr) != sr:
        raise ParameterError(f"sr={sr!r} must be a positive integer sample rate in Hz")
    y = to_mono(y)
    if int(sr) != SR:
        y = resample(y, int(sr), SR, res_type="kaiser_best")
    return y


def _windows(y: np.ndarray, hop_length: int, center: bool) -> np.ndarray:
    """All windows as a read-only view ``[T, 8000]`` of the padded signal (edgel3's steps 3)."""
    n = y.shape[0] + (WINDOW_LENGTH // 2 if center else 0)
    n_frames = 1 + -(-max(n - WINDOW_LENGTH, 0) // hop_length)
    total = (n_frames - 1) * hop_length + WINDOW_LENGTH
    padded = np.zeros(total, dtype=y.dtype)
    start = WINDOW_LENGTH // 2 if center else 0
    padded[start : start + y.shape[0]] = y
    view = np.lib.stride_tricks.sliding_window_view(padded, WINDOW_LENGTH)[::hop_length]
    return view[:n_frames]


def _embed_windows(model, windows: np.ndarray, batch_size: int, name: str) -> np.ndarray:
    """Run ``model`` over ``windows`` in batches (each cast to float32, as Keras predict does)."""
    from ..progress import progress

    out = []
    starts = range(0, windows.shape[0], batch_size)
    device = next(model.parameters(), torch.empty(0)).device
    with torch.inference_mode():
        for s in progress(starts, desc=f"sea students embed {name}", unit="batch", total=len(starts), leave=False):
            batch = np.array(windows[s : s + batch_size], dtype=np.float32)  # a copy: the windows are a read-only view
            out.append(model(torch.from_numpy(batch).to(device)).cpu().numpy().astype(np.float32, copy=False))
    emb = np.concatenate(out, axis=0)
    bad = ~np.isfinite(emb).all(axis=1)
    if bad.any():
        raise SeaError(f"{name}: the model gave non-finite embeddings at window(s) {np.flatnonzero(bad)[:5].tolist()}")
    return emb


def get_embedding(audio, sr, model="sea_ust_64", hop_size=0.1, center=True, weights=None, batch_size=32,
                  verbose=False, *, model_type=None, emb_dim=None, retrain_type=None, sparsity=None):  # fmt: skip
    """Embed audio with a published SEA student, exactly as ``edgel3.get_embedding(..., model_type='sea')``.

    Parameters
    ----------
    audio : np.ndarray [shape=(N,) or (N, C)]
        Float samples; 2-D arrays are (samples, channels) and are averaged.
    sr : int
        Sample rate of ``audio``; resampled to 8 kHz with kaiser_best when different.
    model : str or torch.nn.Module
        A published student (``sea_ust_64``, ``sea_ust_128``, ``sea_ust_256``, ``sea_ust_512``) or a loaded one
        (:func:`sea.students.load_published`, edgel3's ``model=``).
    hop_size : float
        Seconds between windows (``int(hop_size * 8000)`` samples).
    center : bool
        Pad half a window at the start so timestamps are window centres.
    weights : path, optional
        The model file (``.h5`` / ``.h5.gz``); default: cache, then the pinned download.
    batch_size : int
        Windows per forward pass.
    verbose : bool or {0, 1}
        Log the number of windows.
    model_type, emb_dim, retrain_type, sparsity
        edgel3's selectors: ``model_type='sea', emb_dim=D`` picks ``sea_ust_D``; the others are accepted and only
        matter for edgel3's sparse models, which sea does not support.

    Returns
    -------
    embedding : np.ndarray [shape=(T, D)], float32
    timestamps : np.ndarray [shape=(T,)], float64
        ``arange(T) * hop_size``.

    Raises
    ------
    ParameterError
        Bad shape, dtype, rate, hop, batch size or centre flag.
    AudioError
        Empty or non-finite audio.
    ConfigError, WeightsError
        Unknown model, or no weights.
    """
    from ..framing import timestamps

    hop_length = _check_options(hop_size, center, batch_size)
    mdl = _resolve_model(model, weights, model_type, emb_dim)
    y = _to_8k_mono(audio, sr, "audio")
    if not np.any(y):
        warnings.warn("audio is all zeros (every window embeds digital silence)", SeaWarning, stacklevel=2)
    if y.shape[0] < WINDOW_LENGTH:
        warnings.warn(f"audio lasts {y.shape[0] / SR:.3f} s, shorter than the 1-s window; it is zero-padded",
                      SeaWarning, stacklevel=2)  # fmt: skip
    windows = _windows(y, hop_length, bool(center))
    if verbose:
        log.info("embedding %d windows of 1 s (hop %s s)", windows.shape[0], hop_size)
    emb = _embed_windows(mdl, windows, int(batch_size), "audio")
    return emb, timestamps(emb.shape[0], hop_size)


def _write_npz(out: Path, embedding: np.ndarray, ts: np.ndarray) -> None:
    from ..utils import atomic_path

    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out, suffix=".npz") as tmp:
        np.savez(tmp, embedding=embedding, timestamps=ts)


def _embed_file(path: Path, out: Path, model, hop_size, center, batch_size) -> Path:
    """Read ``path`` as edgel3 does (soundfile, float64, all channels), embed it, write ``out`` atomically."""
    from ..audio import load
    from ..framing import timestamps

    if path.is_dir():
        raise AudioError(f"{str(path)!r} is a directory, not an audio file")
    y, sr = load(path, sr=None, mono=False, dtype="float64", check_sr=False)
    y = _to_8k_mono(y, sr, str(path))  # (sea.audio.load has warned about a file too short to be useful)
    emb = _embed_windows(model, _windows(y, _check_options(hop_size, center, batch_size), bool(center)), batch_size,
                         path.name)  # fmt: skip
    _write_npz(out, emb, timestamps(emb.shape[0], hop_size))
    return out


def process_file(filepath, output_dir=None, suffix=None, model="sea_ust_64", hop_size=0.1, center=True, weights=None,
                 batch_size=32, verbose=False, *, model_type=None, emb_dim=None, sparsity=None):  # fmt: skip
    """Embed one audio file and save ``<stem>[_<suffix>].npz``, as ``edgel3.process_file`` does.

    Parameters
    ----------
    filepath : path
        Any file libsndfile reads (WAV, FLAC, OGG...); read as float64, all channels averaged.
    output_dir : path, optional
        Default: the input's folder.
    suffix : str, optional
        Appended to the stem as ``_<suffix>``.
    model, hop_size, center, weights, batch_size, verbose, model_type, emb_dim, sparsity
        As :func:`get_embedding`.

    Returns
    -------
    output : Path
        The ``.npz`` written (``embedding`` (T, D) float32, ``timestamps`` (T,) float64); an existing one is
        replaced, as edgel3 does.

    Raises
    ------
    AudioError
        Missing, unreadable, empty or non-finite audio.
    """
    from ..files import output_paths

    path = Path(filepath)
    _check_options(hop_size, center, batch_size)
    mdl = _resolve_model(model, weights, model_type, emb_dim)
    out = output_paths([path], output_dir, suffix=suffix or None)[path]
    if verbose:
        log.info("edgel3-compatible embedding of %s -> %s", path, out)
    return _embed_file(path, out, mdl, hop_size, center, batch_size)


def embed_files(inputs: Iterable, output_dir=None, *, suffix=None, model="sea_ust_64", weights=None, hop_size=0.1,
                center=True, batch_size=32, overwrite=False, model_type=None, emb_dim=None):  # fmt: skip
    """``sea students embed``: embed files and folders (searched recursively) into ``<stem>[_<suffix>].npz``.

    Parameters
    ----------
    inputs : iterable of path
        Audio files and directories.
    output_dir : path, optional
        Default: beside each input.
    suffix, model, weights, hop_size, center, batch_size, model_type, emb_dim
        As :func:`process_file`.
    overwrite : bool
        Recompute outputs that exist (otherwise they are skipped and counted).

    Returns
    -------
    report : sea.files.FileReport
        Written, skipped and failed files (each failure with its one-line reason); ``report.exit_code`` is 1 when
        any file failed.
    """
    from ..files import FileReport, expand_inputs, output_paths

    _check_options(hop_size, center, batch_size)
    files = expand_inputs(inputs)
    outs = output_paths(files, output_dir, suffix=suffix or None)
    report = FileReport()
    todo = [f for f in files if overwrite or not outs[f].exists()]
    report.skipped += [outs[f] for f in files if f not in todo]
    mdl = _resolve_model(model, weights, model_type, emb_dim) if todo else None
    for f in todo:
        try:
            report.written.append(_embed_file(f, outs[f], mdl, hop_size, center, int(batch_size)))
        except (SeaError, OSError) as exc:  # what a bad file causes; anything else is a bug and propagates
            report.fail(f, exc)
    return report
