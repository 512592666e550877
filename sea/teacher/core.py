"""openl3-compatible embedding API: :func:`get_audio_embedding`, :func:`process_audio_file`, :func:`embed_files`.

openl3 0.4.2's public audio API with its signatures and defaults (``get_audio_embedding``,
``process_audio_file``, ``load_audio_embedding_model``, ``get_output_path``), plus sea's own
:func:`load_teacher`, :func:`get_embedding` and :func:`embed_files`.

Preprocessing follows ``openl3.core`` 0.4.2 (openl3.md §3): empty audio is an
error, all-zero audio a warning; (N, C) audio is downmixed by ``np.mean(axis=1)``
*before* resampling (integer samples are averaged in float64, float32 in float32);
audio not at 48 kHz is resampled with resampy 0.2.2's ``kaiser_best``
(:mod:`sea.resample`, bit for bit, the resampler openl3 pins) in the audio's own
dtype, to length ``int(N * (48000 / sr))``; 1-s windows every
``int(hop_size * 48000)`` samples, ``center=True`` prepends 24000 zeros, short
audio is zero-padded to one window (with a warning); timestamps are
``arange(T) * hop_size``. Files are read as float64, as ``soundfile.read`` does in
openl3. Unlike openl3, NaN/Inf samples are an error (naming the first one).

Unlike openl3, frames are never stacked for a whole file: windows are cut in
chunks of ``batch_size`` straight from the (resampled) signal, as float32
(float64 only for the librosa front-end, which openl3 computes in the audio's
dtype), and files are streamed block by block (resampled with the same bits as
one shot), so memory is bounded by the batch size and the output, not by the
input length. A bad file among many is reported at the end
(:class:`sea.files.FileReport`); the good ones are embedded.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from numbers import Real
from pathlib import Path

import numpy as np
import torch

from .. import framing
from ..constants import (
    TEACHER_SR,
    VALID_CONTENT_TYPES,
    VALID_EMBEDDING_SIZES,
    VALID_FRONTENDS,
    VALID_INPUT_REPRS,
    VALID_RES_TYPES,
)
from ..errors import AudioError, ParameterError, SeaError, SeaWarning, UntrainedTeacherWarning
from ..files import FileReport, expand_inputs, output_paths
from ..progress import progress
from ..utils import atomic_path
from .frontends import FRAME_LEN
from .model import OpenL3Audio
from .weights import load_state_dict, resolve_weights

log = logging.getLogger(__name__)

__all__ = [
    "PRECISIONS",
    "EmbedReport",
    "embed_files",
    "embed_report",
    "get_audio_embedding",
    "get_embedding",
    "get_output_path",
    "load_audio_embedding_model",
    "load_audio_embedding_model_from_path",
    "load_teacher",
    "output_path",
    "process_audio_file",
    "variant_name",
]

#: Autocast dtype of each precision name (None: plain float32).
PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}
#: Samples (at 48 kHz) a file is streamed by: ~10 s of audio.
_BLOCK_SAMPLES = 480_000


def _check_choice(name: str, value, allowed: tuple) -> None:
    if value not in allowed:
        raise ParameterError(f"{name}={value!r} is not allowed; choose one of {', '.join(map(repr, allowed))}")


def variant_name(input_repr: str, content_type: str, embedding_size: int, frontend: str = "kapre") -> str:
    """Name a teacher variant.

    Parameters
    ----------
    input_repr : "linear", "mel128" or "mel256"
    content_type : "env" or "music"
    embedding_size : 512 or 6144
    frontend : "kapre", "librosa" or "legacy"

    Returns
    -------
    variant : str
        E.g. ``mel256_music_512_kapre``.
    """
    return f"{input_repr}_{content_type}_{int(embedding_size)}_{frontend}"


def _device(device) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ParameterError(f"device={device!r} is not a torch device; use 'cpu', 'cuda' or 'cuda:N'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(f"device={device!r} but CUDA is not available in this torch; use --device cpu")
    return dev


def _random_init(model: OpenL3Audio, seed: int) -> None:
    """Keras-like random init (he_normal convs, zero biases, identity BN), from a private generator."""
    g = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.Conv2d):
                fan_in = mod.in_channels * mod.kernel_size[0] * mod.kernel_size[1]
                mod.weight.copy_(torch.randn(mod.weight.shape, generator=g) * math.sqrt(2.0 / fan_in))
                mod.bias.zero_()
            elif isinstance(mod, torch.nn.BatchNorm2d):
                mod.reset_parameters()
        # dB inputs lie in [-80, 0]: centre them so the untrained activations stay O(1)
        model.input_bn.running_mean.fill_(-40.0)
        model.input_bn.running_var.fill_(400.0)


def load_teacher(
    input_repr: str = "mel256",
    content_type: str = "music",
    embedding_size: int = 512,
    *,
    frontend: str = "kapre",
    weights: str | Path | None = None,
    untrained: bool = False,
    device: str | torch.device = "cpu",
    seed: int = 0,
) -> tuple[OpenL3Audio, dict]:
    """Build an OpenL3 audio model with its weights, in eval mode on ``device``.

    Parameters
    ----------
    input_repr : "linear", "mel128" or "mel256"
    content_type : "env" or "music" (selects the weights only)
    embedding_size : 512 or 6144
    frontend : "kapre", "librosa" or "legacy"
    weights : path or None
        ``.h5`` or converted ``.pt``; None: resolved (installed openl3, cache, download).
    untrained : bool
        Random weights (seeded by ``seed``) for dry runs; warns with
        :class:`~sea.errors.UntrainedTeacherWarning`.
    device : str or torch.device
    seed : int
        Seed of the random weights (``untrained`` only).

    Returns
    -------
    model : OpenL3Audio
    info : dict
        ``variant``, ``untrained``, ``weights_path``, ``weights_sha256``, plus
        ``input_repr``, ``content_type``, ``embedding_size``, ``frontend``.

    Raises
    ------
    WeightsError
        Weights cannot be found, downloaded or parsed.
    """
    _check_choice("input_repr", input_repr, VALID_INPUT_REPRS)
    _check_choice("content_type", content_type, VALID_CONTENT_TYPES)
    _check_choice("embedding_size", embedding_size, VALID_EMBEDDING_SIZES)
    _check_choice("frontend", frontend, VALID_FRONTENDS)
    dev = _device(device)
    model = OpenL3Audio(input_repr, int(embedding_size), frontend)
    path = digest = None
    if untrained:
        warnings.warn(
            f"OpenL3 teacher {variant_name(input_repr, content_type, embedding_size, frontend)} uses RANDOM weights "
            "(an untrained teacher was asked for): outputs are for dry runs only",
            UntrainedTeacherWarning,
            stacklevel=2,
        )
        _random_init(model, seed)
    else:
        path = resolve_weights(input_repr, content_type, weights)
        sd, digest = load_state_dict(path)
        model.load_state_dict(sd, strict=True)
    model = model.to(dev).eval()
    info = {
        "variant": variant_name(input_repr, content_type, embedding_size, frontend),
        "untrained": bool(untrained),
        "weights_path": str(path) if path is not None else None,
        "weights_sha256": digest,
        "input_repr": input_repr,
        "content_type": content_type,
        "embedding_size": int(embedding_size),
        "frontend": frontend,
    }
    return model, info


# -- framing in chunks --------------------------------------------------------------------------------


def _iter_window_batches(
    blocks: Iterable[np.ndarray], n: int, starts: np.ndarray, batch_size: int, dtype, frame_len: int = FRAME_LEN
) -> Iterator[np.ndarray]:
    """Cut zero-padded windows of ``frame_len`` at ``starts`` from a signal of ``n`` samples given as consecutive blocks.

    Only the samples still needed by later windows are kept, so memory is one
    batch of windows plus about one window of audio (plus a block).
    """
    it = iter(blocks)
    buf = np.zeros(0, dtype=dtype)
    buf0 = 0  # index of buf[0] in the signal
    exhausted = False
    for c in range(0, len(starts), batch_size):
        st = starts[c : c + batch_size]
        need_end = min(int(st[-1]) + frame_len, n)
        while buf0 + buf.shape[0] < need_end and not exhausted:
            try:
                blk = next(it)
            except StopIteration:
                exhausted = True
                break
            blk = np.asarray(blk, dtype=dtype)
            buf = blk if buf.shape[0] == 0 else np.concatenate([buf, blk])
        out = np.zeros((st.shape[0], frame_len), dtype=dtype)
        end = min(buf0 + buf.shape[0], n)
        for i, s in enumerate(st.tolist()):
            lo, hi = max(s, buf0), min(s + frame_len, end)
            if hi > lo:
                out[i, lo - s : hi - s] = buf[lo - buf0 : hi - buf0]
        yield out
        if c + batch_size < len(starts):
            keep_from = max(int(starts[c + batch_size]), 0)
            if keep_from > buf0:
                buf = buf[min(keep_from - buf0, buf.shape[0]) :]
                buf0 = keep_from


def _embed_chunks(
    model,
    blocks: Iterable[np.ndarray],
    n: int,
    *,
    hop_size: float,
    center: bool,
    batch_size: int,
    dtype,
    verbose: bool,
    name: str,
    sr: int = TEACHER_SR,
    window_size: float = 1.0,
) -> Iterator[np.ndarray]:
    """Embeddings of the windows of a signal given as consecutive blocks, one float32 batch ``[b, D]`` at a time.

    ``model`` is a torch module or a registry teacher (numpy ``[B, L]`` -> ``[B, D]``); windows are
    ``window_size`` seconds at ``sr``, framed by openl3's rule.
    """
    starts = framing.frame_starts(n, sr, hop_size=hop_size, center=center, frame_size=window_size)
    is_module = isinstance(model, torch.nn.Module)
    device = next(model.parameters()).device if is_module else None
    batches = _iter_window_batches(blocks, n, starts, batch_size, dtype, int(round(window_size * sr)))
    n_batches = math.ceil(starts.shape[0] / batch_size)
    if verbose and n_batches > 1:
        batches = progress(batches, total=n_batches, desc=f"teacher {name}", unit="batch")
    with torch.inference_mode():
        for chunk in batches:
            if is_module:
                yield model(torch.from_numpy(chunk).to(device, non_blocking=True)).float().cpu().numpy()
            else:
                yield np.asarray(model(chunk), dtype=np.float32)


def _n_frames(n: int, hop_size: float, center: bool, sr: int = TEACHER_SR, window_size: float = 1.0) -> int:
    return framing.n_frames(n, sr, hop_size=hop_size, center=center, frame_size=window_size)


def _embed_stream(model: torch.nn.Module, blocks: Iterable[np.ndarray], n: int, **kw) -> tuple[np.ndarray, np.ndarray]:
    """All embeddings of a signal in one ``[T, D]`` float32 array, and the timestamps ``[T]``."""
    n_frames = _n_frames(n, kw["hop_size"], kw["center"])
    emb: np.ndarray | None = None
    pos = 0
    for y in _embed_chunks(model, blocks, n, **kw):
        if emb is None:
            emb = np.empty((n_frames, y.shape[1]), dtype=np.float32)
        emb[pos : pos + y.shape[0]] = y
        pos += y.shape[0]
    return emb, framing.timestamps(n_frames, kw["hop_size"])


def _write_npz_stream(path, n_frames: int, chunks: Iterable[np.ndarray], arrays: dict[str, np.ndarray]) -> None:
    """Write an ``.npz`` whose ``embedding`` member is streamed batch by batch.

    ``np.load`` reads it exactly like ``np.savez(embedding=..., **arrays)``, but the
    ``[T, D]`` embedding never exists in memory (an hour at hop 0.1 s and 6144 dims is 0.9 GB).
    """
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        it = iter(chunks)
        first = next(it)
        header = {
            "descr": np.lib.format.dtype_to_descr(np.dtype("<f4")),
            "fortran_order": False,
            "shape": (n_frames, int(first.shape[1])),
        }
        written = 0
        with zf.open("embedding.npy", "w", force_zip64=True) as fh:
            np.lib.format.write_array_header_1_0(fh, header)
            for y in itertools.chain([first], it):
                fh.write(np.ascontiguousarray(y, dtype="<f4").tobytes())
                written += y.shape[0]
        if written != n_frames:
            raise RuntimeError(f"streamed {written} frames, expected {n_frames}")  # internal invariant
        for key, value in arrays.items():
            with zf.open(f"{key}.npy", "w") as fh:
                np.lib.format.write_array(fh, np.asanyarray(value), allow_pickle=False)


#: Sample dtypes an audio array may have: openl3's (float32/float64, resampled in that dtype) and integers
#: (resampled in their integer type as resampy 0.2.2 does in openl3; not rescaled, as openl3 does not rescale).
_ARRAY_DTYPES = ("float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16")


def _prepare_array(audio, sr, name: str, res_type: str = "kaiser_best") -> tuple[np.ndarray, int]:
    """Validate, warn, downmix (before resampling) and resample one array to 48 kHz, as openl3 0.4.2 does."""
    from ..audio import resample

    if not isinstance(audio, np.ndarray):
        raise AudioError(f"{name} must be a numpy array of shape (N,) or (N, C), got {type(audio).__name__}")
    if audio.size == 0:
        raise AudioError(f"{name} is empty (0 samples); openl3 cannot embed empty audio")
    if audio.ndim > 2:
        raise AudioError(f"{name} has shape {audio.shape}; audio must be 1-D (N,) or 2-D (N, C)")
    if not isinstance(sr, Real) or isinstance(sr, bool) or not sr > 0:
        raise ParameterError(f"sample rate {sr!r} of {name} must be a positive number")
    if audio.dtype == np.float16:
        audio = audio.astype(np.float32)
    if audio.dtype.name not in _ARRAY_DTYPES:
        raise AudioError(f"{name} has dtype {audio.dtype}; expected float32/float64 or integer samples")
    if np.issubdtype(audio.dtype, np.floating) and not np.all(np.isfinite(audio)):
        first = int(np.argmin(np.isfinite(audio) if audio.ndim == 1 else np.isfinite(audio).all(axis=1)))
        raise AudioError(f"{name} contains NaN/Inf samples (the first at sample {first}); audio must be finite")
    if not np.any(audio):
        warnings.warn(f"{name} is all zeros", SeaWarning, stacklevel=3)
    if audio.ndim == 2:
        audio = np.mean(audio, axis=1)  # openl3's downmix: float64 for integers, float32 stays float32
    if sr != TEACHER_SR:
        audio = resample(audio, sr, TEACHER_SR, res_type=res_type)
    return audio, int(sr)


def _short_warning(n: int, name: str, sr: int = TEACHER_SR, window_size: float = 1.0) -> None:
    if n < int(round(window_size * sr)):
        warnings.warn(
            f"{name} is shorter than the {window_size:g}-s window ({n / sr:.3f} s at {sr / 1000:g} kHz); "
            "it is zero-padded to one window",
            SeaWarning,
            stacklevel=4,
        )


def _resolve_model(model, input_repr, content_type, embedding_size, frontend, weights, untrained, device):
    if model is not None:
        spec = getattr(model, "spec", None)
        if spec is not None and callable(model):  # a registry teacher: numpy windows at spec.sr
            return model, {**spec.identity(), "variant": spec.variant, "untrained": bool(spec.untrained)}
        if not isinstance(model, torch.nn.Module):
            raise ParameterError(
                f"model must be a torch.nn.Module mapping [B, 48000] to [B, D], got {type(model).__name__}"
            )
        return model.eval(), {"variant": getattr(model, "variant", type(model).__name__), "untrained": None}
    return load_teacher(
        input_repr,
        content_type,
        embedding_size,
        frontend=frontend,
        weights=weights,
        untrained=untrained,
        device=device,
    )


def _window_dtype(model) -> type:
    fe = getattr(model, "frontend_name", "kapre")
    return np.float64 if fe == "librosa" and isinstance(model, torch.nn.Module) else np.float32


def _check_common(hop_size, center, batch_size, precision, res_type="kaiser_best") -> None:
    framing.hop_length_for(hop_size, TEACHER_SR)
    _check_choice("res_type", res_type, VALID_RES_TYPES)
    if center not in (True, False):
        raise ParameterError(f"center={center!r} must be True or False")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ParameterError(f"batch_size={batch_size!r} must be a positive integer, e.g. 32")
    _check_choice("precision", precision, tuple(PRECISIONS))


class _Precision:
    """Temporarily set an OpenL3Audio's autocast dtype."""

    def __init__(self, model, precision: str) -> None:
        self.model, self.dtype = model, PRECISIONS[precision]

    def __enter__(self):
        self.old = getattr(self.model, "autocast_dtype", None)
        if hasattr(self.model, "autocast_dtype"):
            self.model.autocast_dtype = self.dtype
        elif self.dtype is not None:
            raise ParameterError("precision other than float32 needs an OpenL3Audio model")

    def __exit__(self, *exc):
        if hasattr(self.model, "autocast_dtype"):
            self.model.autocast_dtype = self.old


def get_embedding(
    audio,
    sr,
    *,
    input_repr: str = "mel256",
    content_type: str = "music",
    embedding_size: int = 6144,
    hop_size: float = 0.1,
    center: bool = True,
    batch_size: int = 32,
    frontend: str = "kapre",
    weights: str | Path | None = None,
    untrained: bool = False,
    device: str | torch.device = "cpu",
    model: torch.nn.Module | None = None,
    verbose: bool = True,
    precision: str = "float32",
    res_type: str = "kaiser_best",
):
    """Compute OpenL3 embeddings of audio arrays, as ``openl3.get_audio_embedding`` (sea's keywords).

    Parameters
    ----------
    audio : np.ndarray [shape=(N,) or (N, C)] or list of them
        Samples (float or integer); (N, C) is downmixed by the mean before resampling.
    sr : number > 0 or list of them
        Sample rate of each array; audio not at 48 kHz is resampled.
    input_repr, content_type, embedding_size, frontend, weights, untrained, device
        Model selection (see :func:`load_teacher`); ignored when ``model`` is given.
    hop_size : float
        Seconds between window starts (openl3 default 0.1).
    center : bool
        Pad 0.5 s of zeros at the start so timestamps are window centres.
    batch_size : int
        Windows per forward pass; bounds memory (results do not depend on it).
    model : torch.nn.Module or None
        A loaded teacher ([B, 48000] -> [B, D]); reused across calls.
    verbose : bool
        Progress bar for long inputs.
    precision : "float32", "bfloat16" or "float16"
        Autocast dtype of the CNN (front-end always float32/float64).
    res_type : "kaiser_best", "soxr_vhq" or "soxr_hq"
        Resampler of audio not at 48 kHz: ``kaiser_best`` is openl3's (resampy 0.2.2, bit for bit).

    Returns
    -------
    embedding : np.ndarray [shape=(T, D), float32] (a list for list input)
    timestamps : np.ndarray [shape=(T,), float64] (a list for list input)

    Raises
    ------
    AudioError
        Empty, >2-D or non-finite audio.
    """
    list_input = isinstance(audio, list)
    audio_list = audio if list_input else [audio]
    if isinstance(sr, Real):
        sr_list = [sr] * len(audio_list)
    elif isinstance(sr, (list, tuple)):
        sr_list = list(sr)
    else:
        raise ParameterError(f"sr must be a number or a list of numbers, got {type(sr).__name__}")
    if len(sr_list) != len(audio_list):
        raise ParameterError(f"{len(audio_list)} audio inputs but {len(sr_list)} sample rates")
    _check_common(hop_size, center, batch_size, precision, res_type)
    prepared = []
    for k, (a, s) in enumerate(zip(audio_list, sr_list)):
        name = f"audio[{k}]" if list_input else "audio"
        y, _ = _prepare_array(a, s, name, res_type)
        _short_warning(y.shape[0], name)
        prepared.append((name, y))
    mdl, _ = _resolve_model(model, input_repr, content_type, embedding_size, frontend, weights, untrained, device)
    dtype = _window_dtype(mdl)
    embs, tss = [], []
    with _Precision(mdl, precision):
        for name, y in prepared:
            e, t = _embed_stream(
                mdl,
                [y],
                y.shape[0],
                hop_size=hop_size,
                center=center,
                batch_size=batch_size,
                dtype=dtype,
                verbose=verbose,
                name=name,
            )
            embs.append(e)
            tss.append(t)
    if not list_input:
        return embs[0], tss[0]
    return embs, tss


# -- files ------------------------------------------------------------------------------------------


def _file_blocks(
    path: Path, dtype, res_type: str = "kaiser_best", sr: int = TEACHER_SR
) -> tuple[int, Iterator[np.ndarray], dict]:
    """(n samples at ``sr``, iterator of mono blocks at ``sr``, state) for an audio file (``sr``: 48 kHz for openl3).

    Reads float64 (openl3's ``soundfile.read`` default), downmixes by the mean and
    resamples in float64 block by block, with the same bits as one shot
    (:func:`sea.resample.resample_blocks`; soxr's own stream for ``soxr_*``).
    ``state["nonzero"]`` tells, once the blocks are consumed, whether any sample was not 0.
    """
    from ..audio import probe
    from ..resample import output_length, resample_blocks

    head = probe(path, check_sr=False, short_s=None)  # one-line errors; a truncated WAV warns
    sr_in, n_in = head["sr"], head["frames"]
    n_out = n_in if sr_in == sr else output_length(n_in, sr_in, sr)
    state = {"nonzero": False, "sr": sr_in}

    def read(f, lo: int, hi: int) -> np.ndarray:
        try:
            f.seek(lo)
            x = f.read(frames=hi - lo, dtype="float64", always_2d=True)
        except (RuntimeError, OSError) as exc:  # libsndfile's errors are RuntimeErrors
            raise AudioError(f"cannot decode {str(path)!r} after sample {lo}: {exc}") from None
        finite = np.isfinite(x).all(axis=1)
        if not finite.all():
            bad = lo + int(np.argmin(finite))
            raise AudioError(
                f"{str(path)!r} contains NaN/Inf samples (the first at sample {bad}); audio must be finite"
            )
        state["nonzero"] = state["nonzero"] or bool(np.any(x))
        return x.mean(axis=1)

    def gen() -> Iterator[np.ndarray]:
        import soundfile as sf

        with sf.SoundFile(str(path)) as f:
            if sr_in == sr:
                for lo in range(0, n_in, _BLOCK_SAMPLES):
                    m = read(f, lo, min(n_in, lo + _BLOCK_SAMPLES))
                    yield np.pad(m, (0, min(n_in, lo + _BLOCK_SAMPLES) - lo - m.shape[0])).astype(dtype, copy=False)
            elif res_type == "kaiser_best":
                for m in resample_blocks(lambda lo, hi: read(f, lo, hi), n_in, sr_in, sr, block=_BLOCK_SAMPLES):
                    yield m.astype(dtype, copy=False)
            else:
                yield from _soxr_blocks(f, read, sr_in, sr, n_in, n_out, res_type, dtype)

    return n_out, gen(), state


def _soxr_blocks(f, read, sr_in: int, sr: int, n_in: int, n_out: int, res_type: str, dtype) -> Iterator[np.ndarray]:
    """Resample with soxr's streaming resampler over the file (identical to one-shot soxr), cut or padded to ``n_out``."""
    import soxr

    stream = soxr.ResampleStream(sr_in, sr, 1, dtype="float64", quality="VHQ" if res_type == "soxr_vhq" else "HQ")
    step = max(1, _BLOCK_SAMPLES * sr_in // sr)
    produced = 0
    for lo in range(0, n_in, step):
        hi = min(n_in, lo + step)
        m = stream.resample_chunk(read(f, lo, hi), last=hi >= n_in)[: max(0, n_out - produced)]
        produced += m.shape[0]
        yield m.astype(dtype, copy=False)
    if produced < n_out:
        yield np.zeros(n_out - produced, dtype=dtype)


def output_path(path: str | Path, suffix: str | None = None, output_dir: str | Path | None = None) -> Path:
    """Name the output of an input file as openl3's ``get_output_path``.

    Parameters
    ----------
    path : path
        The input audio file.
    suffix : str or None
        Appended to the stem as ``_<suffix>``.
    output_dir : path or None
        Default: the input's directory.

    Returns
    -------
    output : Path
        ``<output_dir>/<stem>.npz`` or ``<output_dir>/<stem>_<suffix>.npz``.
    """
    return get_output_path(path, (suffix or "") + ".npz", output_dir)


def get_output_path(filepath: str | Path, suffix: str, output_dir: str | Path | None = None) -> Path:
    """Return the output file of an input file, as ``openl3.core.get_output_path``.

    Parameters
    ----------
    filepath : path
        The input file.
    suffix : str
        Appended to the stem, extension included: ``".npz"`` gives ``<stem>.npz``, ``"x.npz"`` gives
        ``<stem>_x.npz``.
    output_dir : path or None
        Default: the input's directory.

    Returns
    -------
    output : Path
    """
    path = Path(filepath)
    name = path.stem + suffix if suffix.startswith(".") else f"{path.stem}_{suffix}"
    return Path(output_dir if output_dir else path.parent) / name


#: embed_files' framing keywords (those of _embed_chunks), with openl3's defaults.
_FRAMING_DEFAULTS = {"hop_size": 0.1, "center": True, "batch_size": 32, "verbose": True}
#: The model selection keywords of embed_files (see load_teacher), with openl3's defaults.
_MODEL_DEFAULTS = {
    "input_repr": "mel256",
    "content_type": "music",
    "embedding_size": 6144,
    "frontend": "kapre",
    "weights": None,
    "untrained": False,
    "device": "cpu",
}


def embed_files(
    paths,
    output_dir: str | Path | None = None,
    suffix: str | None = None,
    overwrite: bool = False,
    **kwargs,
) -> list[Path]:
    """Embed audio files and write ``<stem>[_<suffix>].npz`` as ``openl3.process_audio_file``.

    Each ``.npz`` holds ``embedding`` (T, D) float32 and ``timestamps`` (T,)
    float64 exactly as openl3 writes them, plus three metadata entries:
    ``sea_teacher_variant`` (str), ``untrained`` (bool, True for a random-weight
    teacher) and ``sea_teacher`` (the teacher's identity as JSON: variant or family and
    name, weights file and sha256, rate, window...). Existing outputs are skipped unless ``overwrite``. Directories
    expand (recursively) to the audio files they contain. Every good file is
    embedded before the bad ones are reported together.

    Parameters
    ----------
    paths : path or list of paths
        Audio files or directories of them.
    output_dir : path or None
        Default: next to each input.
    suffix : str or None
        Appended to the output names as ``_<suffix>``.
    overwrite : bool
        Recompute outputs that already exist.
    **kwargs
        :func:`get_embedding` keywords (``input_repr``, ``hop_size``, ``model``, ``res_type``...).

    Returns
    -------
    outputs : list of Path
        The output file of every input, in input order (skipped ones included).

    Raises
    ------
    AudioError
        After the good files are written: one line naming each file that could not be embedded and why.
    """
    report = embed_report(paths, output_dir, suffix, overwrite, **kwargs)
    if report.failed:
        why = "; ".join(f"{p}: {r}" for p, r in report.failed)
        raise AudioError(f"{len(report.failed)} of {len(report.outputs)} file(s) could not be embedded: {why}")
    return list(report.outputs)


@dataclass
class EmbedReport(FileReport):
    """A :class:`~sea.files.FileReport` that also lists every input's output file, in input order."""

    outputs: list[Path] = field(default_factory=list)


def embed_report(paths, output_dir=None, suffix=None, overwrite: bool = False, **kwargs) -> EmbedReport:
    """:func:`embed_files`, returning what happened to every file instead of raising for the bad ones.

    Parameters
    ----------
    paths, output_dir, suffix, overwrite, **kwargs
        As :func:`embed_files`.

    Returns
    -------
    report : EmbedReport
        ``written``, ``skipped`` (outputs that exist), ``failed`` (input, reason), and ``outputs``
        (every input's output, in input order); ``report.exit_code`` is 1 when any file failed.

    Raises
    ------
    ParameterError
        Before anything is written: bad options, a missing input, or an output folder that is a
        file or cannot be created or written.
    """
    files = _expand([paths] if isinstance(paths, (str, Path)) else list(paths))
    opts = {k: kwargs.pop(k, v) for k, v in _FRAMING_DEFAULTS.items()}
    precision, res_type = kwargs.pop("precision", "float32"), kwargs.pop("res_type", "kaiser_best")
    model = kwargs.pop("model", None)
    sel = {k: kwargs.pop(k, v) for k, v in _MODEL_DEFAULTS.items()}
    if kwargs:
        raise ParameterError(f"unknown keyword(s) for embed_files: {', '.join(sorted(kwargs))}")
    _check_common(opts["hop_size"], opts["center"], opts["batch_size"], precision, res_type)
    outputs = output_paths(files, output_dir, suffix=suffix)
    _check_output_dir(output_dir)
    report = EmbedReport(outputs=[outputs[f] for f in files])
    todo = [f for f in files if overwrite or not outputs[f].exists()]
    report.skipped = [outputs[f] for f in files if f not in todo]
    for o in report.skipped:
        log.info("%s exists and overwriting is not enabled; skipping", o)
    if todo:
        mdl, info = _resolve_model(model, **sel)  # weights found and loaded before the output folder is made
        _check_output_dir(output_dir, create=True)
        with _Precision(mdl, precision):
            _embed_each(mdl, info, model is None, todo, outputs, report, res_type=res_type, **opts)
    return report


def _expand(inputs: list) -> list[Path]:
    """Expand inputs as :func:`sea.files.expand_inputs`, keeping an empty folder named like audio (``x.wav/``).

    Such a folder given on the command line is reported as not audio rather than dropped with a warning.
    """
    from ..constants import AUDIO_EXTENSIONS

    odd = [Path(i) for i in inputs if Path(i).is_dir() and Path(i).suffix.lower() in AUDIO_EXTENSIONS]
    odd = [d for d in odd if not any(d.iterdir())]
    rest = [i for i in inputs if Path(i) not in odd]
    return (expand_inputs(rest) if rest else []) + odd


def _check_output_dir(output_dir, *, create: bool = False) -> None:
    """Say in one line why the output folder cannot be used (or, with ``create``, make it)."""
    if output_dir is None:
        return
    out = Path(output_dir)
    if create:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ParameterError(
                f"cannot create the output folder {str(out)!r}: {exc.strerror}; give another -o"
            ) from None
    base = next((p for p in (out, *out.parents) if p.exists()), Path("."))
    if not base.is_dir():
        raise ParameterError(f"the output folder {str(out)!r} cannot be made: {str(base)!r} is a file; give another -o")
    if not os.access(base, os.W_OK | os.X_OK):
        raise ParameterError(f"the output folder {str(out)!r} is not writable; give another -o or fix its permissions")


def _embed_each(mdl, info: dict, own_model: bool, todo: list[Path], outputs: dict, report: EmbedReport, **opts) -> None:
    """Embed each file of ``todo`` into its output, recording successes and failures in ``report``.

    The windows are the teacher's: 1 s at 48 kHz for OpenL3, or a registry teacher's ``spec.sr`` and
    ``spec.window_size`` (edgel3: 1 s at 8 kHz; BirdNET: 3 s at 48 kHz).
    """
    import json

    spec = getattr(mdl, "spec", None)
    geometry = {"sr": int(spec.sr), "window_size": float(spec.window_size)} if spec is not None else {}
    untrained = bool(info.get("untrained")) if own_model or spec is not None else bool(getattr(mdl, "untrained", False))
    identity = {k: v for k, v in info.items() if isinstance(v, (str, int, float, bool, type(None)))}
    meta = {
        "sea_teacher_variant": np.array(info.get("variant", "")),
        "untrained": np.array(untrained),
        "sea_teacher": np.array(json.dumps({**identity, "untrained": untrained}, sort_keys=True)),
    }
    dtype, verbose, res_type = _window_dtype(mdl), opts["verbose"], opts.pop("res_type")
    for k, f in enumerate(todo, start=1):
        if verbose:
            log.info("openl3: processing %s (%d/%d)", f, k, len(todo))
        try:
            n, blocks, state = _file_blocks(f, dtype, res_type, geometry.get("sr", TEACHER_SR))
            _short_warning(n, str(f), **geometry)
            _write_embedding(mdl, blocks, n, outputs[f], meta, dtype=dtype, name=f.name, **opts, **geometry)
        except (SeaError, OSError) as exc:  # a bad or unwritable file; the others go on
            report.fail(f, exc)
            continue
        report.written.append(outputs[f])
        if not state["nonzero"]:
            warnings.warn(f"{str(f)!r} is all zeros", SeaWarning, stacklevel=3)
        if verbose:
            log.info("openl3: saved %s", outputs[f])


def _write_embedding(model, blocks: Iterable[np.ndarray], n: int, out: Path, meta: dict[str, np.ndarray], **kw) -> None:
    """Embed a signal of ``n`` samples given as blocks into ``out`` (atomic): embedding, timestamps and ``meta``.

    ``kw`` are :func:`_embed_chunks`' keywords.
    """
    n_frames = _n_frames(n, kw["hop_size"], kw["center"], kw.get("sr", TEACHER_SR), kw.get("window_size", 1.0))
    chunks = _embed_chunks(model, blocks, n, **kw)
    with atomic_path(out, suffix=".npz") as tmp:
        # streamed: memory is one batch, however long the file (openl3 stacks it all in float64)
        _write_npz_stream(tmp, n_frames, chunks, {"timestamps": framing.timestamps(n_frames, kw["hop_size"]), **meta})


# -- openl3 0.4.2's API, with its signatures and defaults ---------------------------------------------------


def _openl3_frontend(frontend, input_repr, model) -> tuple[str, str]:
    """openl3's ``_validate_audio_frontend``: the front-end and input representation to use."""
    _check_choice("frontend", frontend, VALID_FRONTENDS)
    have = getattr(model, "frontend_name", None)
    if model is not None and have is not None and have != frontend:
        raise ParameterError(f"the model was built with frontend={have!r} but frontend={frontend!r} was given; "
                             f"pass frontend={have!r}")  # fmt: skip
    if input_repr is None:
        if frontend == "librosa" and model is None:
            raise ParameterError("input_repr must be given for the librosa front-end, e.g. input_repr='mel256'")
        input_repr = getattr(model, "input_repr", "mel256")
    _check_choice("input_repr", input_repr, VALID_INPUT_REPRS)
    return frontend, input_repr


def _openl3_checks(content_type, embedding_size, verbose) -> None:
    _check_choice("content_type", content_type, VALID_CONTENT_TYPES)
    _check_choice("embedding_size", embedding_size, VALID_EMBEDDING_SIZES)
    if verbose not in (0, 1):
        raise ParameterError(f"verbose={verbose!r} must be True or False")


def get_audio_embedding(
    audio,
    sr,
    model=None,
    input_repr=None,
    content_type="music",
    embedding_size=6144,
    center=True,
    hop_size=0.1,
    batch_size=32,
    frontend="kapre",
    verbose=True,
    *,
    untrained_teacher: bool = False,
    weights: str | Path | None = None,
    device: str | torch.device = "cpu",
    precision: str = "float32",
    res_type: str = "kaiser_best",
):
    """Compute OpenL3 embeddings of audio arrays: ``openl3.get_audio_embedding`` 0.4.2, same signature and defaults.

    Parameters
    ----------
    audio : np.ndarray [shape=(N,) or (N, C)] or list of them
        Samples (float or integer); (N, C) is downmixed by the mean before resampling.
    sr : number > 0 or list of them
        Sample rate of each array; audio not at 48 kHz is resampled as openl3 does.
    model : torch.nn.Module or None
        From :func:`load_audio_embedding_model` (or :func:`load_teacher`); when given, ``input_repr``,
        ``content_type`` and ``embedding_size`` are ignored, and ``frontend`` must be the model's.
    input_repr : "linear", "mel128", "mel256" or None
        None: ``mel256`` (required for the librosa front-end), as openl3.
    content_type : "music" or "env"
    embedding_size : 6144 or 512
    center : bool
        Pad 0.5 s of zeros at the start so timestamps are window centres.
    hop_size : float
        Seconds between window starts.
    batch_size : int
        Windows per forward pass; results do not depend on it.
    frontend : "kapre", "librosa" or "legacy"
        openl3's two front-ends, and kapre 0.1.4's (openl3 <= 0.3.1).
    verbose : bool
        Progress bar for long inputs.
    untrained_teacher : bool
        sea's dry-run option: random weights, no download (outputs are meaningless).
    weights, device, precision, res_type
        sea's options (see :func:`get_embedding`).

    Returns
    -------
    embedding : np.ndarray [shape=(T, D), float32] (a list for list input)
    timestamps : np.ndarray [shape=(T,), float64] (a list for list input)
    """
    frontend, input_repr = _openl3_frontend(frontend, input_repr, model)
    _openl3_checks(content_type, embedding_size, verbose)
    return get_embedding(
        audio, sr, input_repr=input_repr, content_type=content_type, embedding_size=embedding_size,
        hop_size=hop_size, center=center, batch_size=batch_size, frontend=frontend, weights=weights,
        untrained=untrained_teacher, device=device, model=model, verbose=bool(verbose), precision=precision,
        res_type=res_type,
    )  # fmt: skip


def process_audio_file(
    filepath,
    output_dir=None,
    suffix=None,
    model=None,
    input_repr=None,
    content_type="music",
    embedding_size=6144,
    center=True,
    hop_size=0.1,
    batch_size=32,
    overwrite=False,
    frontend="kapre",
    verbose=True,
    *,
    untrained_teacher: bool = False,
    weights: str | Path | None = None,
    device: str | torch.device = "cpu",
    precision: str = "float32",
    res_type: str = "kaiser_best",
) -> list[Path]:
    """Embed audio files to ``<stem>[_<suffix>].npz``: ``openl3.process_audio_file`` 0.4.2, same signature and defaults.

    Parameters
    ----------
    filepath : path or list of paths
        Audio files (or, unlike openl3, directories of them).
    output_dir : path or None
        Default: next to each input.
    suffix : str or None
        Output names ``<stem>_<suffix>.npz``.
    model, input_repr, content_type, embedding_size, center, hop_size, batch_size, frontend, verbose
        As :func:`get_audio_embedding`.
    overwrite : bool
        Recompute outputs that exist (else they are skipped, as openl3 does).
    untrained_teacher, weights, device, precision, res_type
        sea's options (see :func:`get_audio_embedding`).

    Returns
    -------
    outputs : list of Path
        The output of every input (openl3 returns None).

    Raises
    ------
    AudioError
        After every good file is written, naming each file that could not be embedded (openl3 stops at
        the first).
    """
    frontend, input_repr = _openl3_frontend(frontend, input_repr, model)
    _openl3_checks(content_type, embedding_size, verbose)
    return embed_files(
        filepath, output_dir=output_dir, suffix=suffix, overwrite=overwrite, model=model, input_repr=input_repr,
        content_type=content_type, embedding_size=embedding_size, center=center, hop_size=hop_size,
        batch_size=batch_size, frontend=frontend, verbose=bool(verbose), untrained=untrained_teacher,
        weights=weights, device=device, precision=precision, res_type=res_type,
    )  # fmt: skip


def load_audio_embedding_model(
    input_repr,
    content_type,
    embedding_size,
    frontend="kapre",
    *,
    untrained_teacher: bool = False,
    weights: str | Path | None = None,
    device: str | torch.device = "cpu",
) -> OpenL3Audio:
    """Load an OpenL3 audio model: ``openl3.models.load_audio_embedding_model`` 0.4.2, returning sea's model.

    Parameters
    ----------
    input_repr : "linear", "mel128" or "mel256"
    content_type : "music" or "env"
    embedding_size : 6144 or 512
    frontend : "kapre", "librosa" or "legacy"
    untrained_teacher : bool
        Random weights for a dry run (no download).
    weights : path or None
        ``.h5`` or converted ``.pt``; None: resolved as :func:`sea.teacher.weights.resolve_weights` does.
    device : str or torch.device

    Returns
    -------
    model : OpenL3Audio
        Usable as ``model=`` of :func:`get_audio_embedding` and :func:`process_audio_file`.
    """
    model, _ = load_teacher(
        input_repr, content_type, embedding_size, frontend=frontend, weights=weights, untrained=untrained_teacher,
        device=device,
    )  # fmt: skip
    return model


def load_audio_embedding_model_from_path(model_path, input_repr, embedding_size, frontend="kapre") -> OpenL3Audio:
    """Load an OpenL3 audio model from a weights file: ``openl3.models.load_audio_embedding_model_from_path``.

    Parameters
    ----------
    model_path : path
        openl3 ``.h5`` weights (``openl3_audio_<repr>_<content>.h5``) or a converted ``.pt``.
    input_repr : "linear", "mel128" or "mel256"
    embedding_size : 6144 or 512
    frontend : "kapre", "librosa" or "legacy"

    Returns
    -------
    model : OpenL3Audio
    """
    content_type = "env" if "_env" in Path(model_path).name else "music"  # selects weights only; the file decides
    model, _ = load_teacher(input_repr, content_type, embedding_size, frontend=frontend, weights=model_path)
    return model
