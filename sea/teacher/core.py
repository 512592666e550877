"""openl3-compatible embedding API: :func:`load_teacher`, :func:`get_embedding`, :func:`embed_files`.

Preprocessing follows ``openl3.core`` 0.4.x (openl3.md §3): empty audio is an
error, all-zero audio a warning; (N, C) audio is downmixed by the mean
*before* resampling; audio is resampled to 48 kHz with output length
``floor(N * 48000 / sr)`` (resampy ``kaiser_best``, as openl3; soxr VHQ with a
warning if resampy is missing); 1-s windows every ``int(hop_size * 48000)``
samples, ``center=True`` prepends 24000 zeros, short audio is zero-padded to one
window (with a warning); timestamps are ``arange(T) * hop_size``.

Unlike openl3, frames are never stacked for a whole file: windows are cut in
chunks of ``batch_size`` straight from the (resampled) signal, as float32
(float64 only for the librosa front-end, which openl3 computes in the audio's
dtype), and files are streamed block by block (resampled with the same bits as
a one-shot ``resampy.resample``), so memory is bounded by the batch size and the
output, not by the input length.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from numbers import Real
from pathlib import Path

import numpy as np
import torch

from .. import framing
from ..constants import (
    AUDIO_EXTENSIONS,
    TEACHER_SR,
    VALID_CONTENT_TYPES,
    VALID_EMBEDDING_SIZES,
    VALID_FRONTENDS,
    VALID_INPUT_REPRS,
)
from ..errors import AudioError, ParameterError, SeaWarning, UntrainedTeacherWarning
from ..progress import progress
from ..utils import atomic_path
from .frontends import FRAME_LEN
from .model import OpenL3Audio
from .weights import load_state_dict, resolve_weights

log = logging.getLogger(__name__)

__all__ = [
    "PRECISIONS",
    "default_res_type",
    "embed_files",
    "get_embedding",
    "load_teacher",
    "output_path",
    "variant_name",
]

#: Autocast dtype of each precision name (None: plain float32).
PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}
_BLOCK_SECONDS = 10.0


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


def default_res_type() -> str:
    """``kaiser_best`` (openl3's resampy filter) when resampy is importable, else ``soxr_vhq`` with a warning."""
    import importlib.util

    if importlib.util.find_spec("resampy") is not None:
        return "kaiser_best"
    _warn_no_resampy()
    return "soxr_vhq"


@functools.lru_cache(maxsize=1)
def _warn_no_resampy() -> None:
    warnings.warn(
        "resampy is not installed, so audio not at 48 kHz is resampled with soxr_vhq instead of openl3's "
        "kaiser_best; embeddings then differ from openl3's by ~3e-2 relative L2. Fix: pip install resampy",
        SeaWarning,
        stacklevel=3,
    )


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
            "(--untrained-teacher): outputs are for dry runs only",
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
    blocks: Iterable[np.ndarray], n: int, starts: np.ndarray, batch_size: int, dtype
) -> Iterator[np.ndarray]:
    """Cut zero-padded 1-s windows at ``starts`` from a signal of ``n`` samples given as consecutive blocks.

    Only the samples still needed by later windows are kept, so memory is one
    batch of windows plus about one window of audio (plus a block).
    """
    it = iter(blocks)
    buf = np.zeros(0, dtype=dtype)
    buf0 = 0  # index of buf[0] in the signal
    exhausted = False
    for c in range(0, len(starts), batch_size):
        st = starts[c : c + batch_size]
        need_end = min(int(st[-1]) + FRAME_LEN, n)
        while buf0 + buf.shape[0] < need_end and not exhausted:
            try:
                blk = next(it)
            except StopIteration:
                exhausted = True
                break
            blk = np.asarray(blk, dtype=dtype)
            buf = blk if buf.shape[0] == 0 else np.concatenate([buf, blk])
        out = np.zeros((st.shape[0], FRAME_LEN), dtype=dtype)
        end = min(buf0 + buf.shape[0], n)
        for i, s in enumerate(st.tolist()):
            lo, hi = max(s, buf0), min(s + FRAME_LEN, end)
            if hi > lo:
                out[i, lo - s : hi - s] = buf[lo - buf0 : hi - buf0]
        yield out
        if c + batch_size < len(starts):
            keep_from = max(int(starts[c + batch_size]), 0)
            if keep_from > buf0:
                buf = buf[min(keep_from - buf0, buf.shape[0]) :]
                buf0 = keep_from


def _embed_chunks(
    model: torch.nn.Module,
    blocks: Iterable[np.ndarray],
    n: int,
    *,
    hop_size: float,
    center: bool,
    batch_size: int,
    dtype,
    verbose: bool,
    name: str,
) -> Iterator[np.ndarray]:
    """Embeddings of the windows of a signal given as consecutive blocks, one float32 batch ``[b, D]`` at a time."""
    starts = framing.frame_starts(n, TEACHER_SR, hop_size=hop_size, center=center)
    device = next(model.parameters()).device
    batches = _iter_window_batches(blocks, n, starts, batch_size, dtype)
    n_batches = math.ceil(starts.shape[0] / batch_size)
    if verbose and n_batches > 1:
        batches = progress(batches, total=n_batches, desc=f"openl3 {name}", unit="batch")
    with torch.inference_mode():
        for chunk in batches:
            y = model(torch.from_numpy(chunk).to(device, non_blocking=True))
            yield y.float().cpu().numpy()


def _n_frames(n: int, hop_size: float, center: bool) -> int:
    return int(framing.frame_starts(n, TEACHER_SR, hop_size=hop_size, center=center).shape[0])


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


def _prepare_array(audio, sr, name: str) -> tuple[np.ndarray, int]:
    """Validate, warn, downmix (before resampling) and resample one array to 48 kHz."""
    from ..audio import resample

    if not isinstance(audio, np.ndarray):
        raise AudioError(f"{name} must be a numpy array of shape (N,) or (N, C), got {type(audio).__name__}")
    if audio.size == 0:
        raise AudioError(f"{name} is empty (0 samples); openl3 cannot embed empty audio")
    if audio.ndim > 2:
        raise AudioError(f"{name} has shape {audio.shape}; audio must be 1-D (N,) or 2-D (N, C)")
    if not isinstance(sr, Real) or isinstance(sr, bool) or sr <= 0:
        raise ParameterError(f"sample rate {sr!r} of {name} must be a positive number")
    if not np.issubdtype(audio.dtype, np.number):
        raise AudioError(f"{name} has dtype {audio.dtype}; expected float or integer samples")
    if np.issubdtype(audio.dtype, np.floating) and not np.all(np.isfinite(audio)):
        raise AudioError(f"{name} contains NaN/Inf samples; audio must be finite")
    if not np.any(audio):
        warnings.warn(f"{name} is all zeros", SeaWarning, stacklevel=3)
    if audio.dtype not in (np.float32, np.float64):
        audio = audio.astype(np.float64)
    if audio.ndim == 2:
        audio = audio.mean(axis=1, dtype=audio.dtype)
    if sr != TEACHER_SR:
        # in the audio's own precision, as resampy does in openl3
        audio = resample(audio, int(sr), TEACHER_SR, res_type=default_res_type())
    return audio, int(sr)


def _short_warning(n: int, name: str) -> None:
    if n < FRAME_LEN:
        warnings.warn(
            f"{name} is shorter than the 1-s window ({n / TEACHER_SR:.3f} s at 48 kHz); it is zero-padded to one window",
            SeaWarning,
            stacklevel=4,
        )


def _resolve_model(model, input_repr, content_type, embedding_size, frontend, weights, untrained, device):
    if model is not None:
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
    return np.float64 if fe == "librosa" else np.float32


def _check_common(hop_size, center, batch_size, precision) -> None:
    framing.hop_length_for(hop_size, TEACHER_SR)
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
):
    """Compute OpenL3 embeddings of audio arrays, as ``openl3.get_audio_embedding``.

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
    _check_common(hop_size, center, batch_size, precision)
    prepared = []
    for k, (a, s) in enumerate(zip(audio_list, sr_list)):
        name = f"audio[{k}]" if list_input else "audio"
        y, _ = _prepare_array(a, s, name)
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


def _file_blocks(path: Path, dtype) -> tuple[int, Iterator[np.ndarray], dict]:
    """(n samples at 48 kHz, iterator of mono 48 kHz blocks, state) for an audio file.

    Reads float64 (openl3's ``soundfile.read`` default), downmixes by the mean,
    resamples in float64 block by block: resampy ``kaiser_best`` (bit-identical to
    one-shot resampy), or soxr VHQ when resampy is missing (identical to one-shot soxr).
    """
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception as exc:
        raise AudioError(
            f"cannot open audio file {str(path)!r}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else exc}"
        ) from None
    sr_in, n_in = int(info.samplerate), int(info.frames)
    if n_in <= 0:
        raise AudioError(f"{str(path)!r} is empty (0 samples); openl3 cannot embed empty audio")
    n_out = n_in if sr_in == TEACHER_SR else int(n_in * TEACHER_SR / sr_in)
    state = {"nonzero": False, "sr": sr_in}
    res_type = default_res_type()

    def check(blk: np.ndarray) -> None:
        if not np.all(np.isfinite(blk)):
            raise AudioError(f"{str(path)!r} contains NaN/Inf samples; audio must be finite")
        if not state["nonzero"] and np.any(blk):
            state["nonzero"] = True

    def gen() -> Iterator[np.ndarray]:
        with sf.SoundFile(str(path)) as f:
            if sr_in != TEACHER_SR and res_type == "kaiser_best":
                for m in _kaiser_blocks(f, sr_in, n_in, n_out, check):
                    yield m.astype(dtype, copy=False)
                return
            stream = None
            if sr_in != TEACHER_SR:
                import soxr

                stream = soxr.ResampleStream(sr_in, TEACHER_SR, 1, dtype="float64", quality="VHQ")
            block = max(1, int(_BLOCK_SECONDS * sr_in))
            done = produced = 0
            while done < n_in:
                y = f.read(frames=min(block, n_in - done), dtype="float64", always_2d=True)
                if y.shape[0] == 0:
                    break
                done += y.shape[0]
                check(y)
                m = y.mean(axis=1)
                if stream is not None:
                    m = stream.resample_chunk(m, last=done >= n_in)
                m = m[: max(0, n_out - produced)]
                produced += m.shape[0]
                yield m.astype(dtype, copy=False)
            if stream is not None and done < n_in:  # header promised more frames than decoded
                tail = stream.resample_chunk(np.zeros(0), last=True)[: max(0, n_out - produced)]
                yield tail.astype(dtype, copy=False)

    return n_out, gen(), state


def _kaiser_blocks(f, sr_in: int, n_in: int, n_out: int, check) -> Iterator[np.ndarray]:
    """Resample with resampy's ``kaiser_best`` (openl3's) block by block, bit-identical to resampling the whole file.

    resampy has no streaming API, but its filter is finite (64 zero crossings, widened by the
    decimation factor). Each block is read with that much real context on both sides and run
    through resampy's own kernel at the *global* output times ``k * sr_in / 48000`` shifted by
    the block's first input sample (an exact float64 subtraction), so every output sample sums
    the same products in the same order as the one-shot ``resampy.resample``. Bit identity
    matters: a 1-ulp change in one float32 sample changes kapre's FFT noise in the empty band
    above the source's Nyquist, which the 80 dB range keeps. Memory: one block (~10 s), not the file.
    """
    # resampy.resample's own steps (resampy 0.4.x), so that the time axis can be global
    from resampy.filters import get_filter
    from resampy.interpn import resample_f_s

    ratio = TEACHER_SR / sr_in
    interp_win, precision, _ = get_filter("kaiser_best")
    if ratio < 1:
        interp_win = ratio * interp_win
    interp_delta = np.diff(interp_win, append=interp_win[-1])
    g = math.gcd(sr_in, TEACHER_SR)
    l_in, l_out = sr_in // g, TEACHER_SR // g
    pad = math.ceil(64 / min(1.0, ratio)) + 16  # filter half-width in input samples, plus margin
    pad = -(-pad // l_in) * l_in
    step = max(1, round(_BLOCK_SECONDS * sr_in / l_in)) * l_in
    produced = 0
    for a in range(0, n_in, step):
        b = min(a + step, n_in)
        lo, hi = max(0, a - pad), min(n_in, b + pad)
        f.seek(lo)
        x = f.read(frames=hi - lo, dtype="float64", always_2d=True)
        check(x)
        if x.shape[0] < hi - lo:  # header promised more frames than decoded
            x = np.concatenate([x, np.zeros((hi - lo - x.shape[0], x.shape[1]))])
        x = x.mean(axis=1)
        end = n_out if b == n_in else b // l_in * l_out
        t_local = np.arange(produced, end) * (1.0 / ratio) - lo  # exact: global times minus an integer
        y = np.zeros(end - produced)
        resample_f_s(x, t_local, interp_win, interp_delta, precision, min(1.0, ratio), y)
        yield y
        produced = end


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
    path = Path(path)
    suffix = (suffix or "") + ".npz"
    stem = path.stem
    name = stem + suffix if suffix.startswith(".") else f"{stem}_{suffix}"
    return Path(output_dir if output_dir else path.parent) / name


def _expand(paths: Sequence[str | Path] | str | Path) -> list[Path]:
    if isinstance(paths, (str, Path)):
        paths = [paths]
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in AUDIO_EXTENSIONS)
            if not found:
                log.warning("no audio files (%s) under %s", ", ".join(AUDIO_EXTENSIONS), p)
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise AudioError(f"input {str(p)!r} does not exist (give audio files or directories of them)")
    return out


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
    float64 exactly as openl3 writes them, plus two metadata entries:
    ``sea_teacher_variant`` (str) and ``untrained`` (bool, True for a random-weight
    teacher). Existing outputs are skipped unless ``overwrite``. Directories
    expand (recursively) to the audio files they contain.

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
        :func:`get_embedding` keywords (``input_repr``, ``hop_size``, ``model``...).

    Returns
    -------
    outputs : list of Path
        The output file of every input, in input order (skipped ones included).
    """
    files = _expand(paths)
    opts = {k: kwargs.pop(k, v) for k, v in _FRAMING_DEFAULTS.items()}
    precision = kwargs.pop("precision", "float32")
    model = kwargs.pop("model", None)
    sel = {k: kwargs.pop(k, v) for k, v in _MODEL_DEFAULTS.items()}
    if kwargs:
        raise ParameterError(f"unknown keyword(s) for embed_files: {', '.join(sorted(kwargs))}")
    _check_common(opts["hop_size"], opts["center"], opts["batch_size"], precision)
    outs, todo = _outputs(files, output_dir, suffix, overwrite)
    if not todo:
        return outs
    mdl, info = _resolve_model(model, **sel)
    untrained = bool(info.get("untrained")) if model is None else bool(getattr(mdl, "untrained", False))
    meta = {"sea_teacher_variant": np.array(info.get("variant", "")), "untrained": np.array(untrained)}
    dtype, verbose = _window_dtype(mdl), opts["verbose"]
    with _Precision(mdl, precision):
        for k, (f, o) in enumerate(todo, start=1):
            if verbose:
                log.info("openl3: processing %s (%d/%d)", f, k, len(todo))
            n, blocks, state = _file_blocks(f, dtype)
            _short_warning(n, str(f))
            _write_embedding(mdl, blocks, n, o, meta, dtype=dtype, name=f.name, **opts)
            if not state["nonzero"]:
                warnings.warn(f"{str(f)!r} is all zeros", SeaWarning, stacklevel=2)
            if verbose:
                log.info("openl3: saved %s", o)
    return outs


def _outputs(files: list[Path], output_dir, suffix, overwrite: bool) -> tuple[list[Path], list[tuple[Path, Path]]]:
    """Return the output path of every file, and the (input, output) pairs still to compute (others are logged)."""
    if output_dir is not None:
        Path(output_dir).mkdir(parents=True, exist_ok=True)
    outs = [output_path(f, suffix, output_dir) for f in files]
    todo = [(f, o) for f, o in zip(files, outs) if overwrite or not o.exists()]
    for o in outs:
        if not overwrite and o.exists():
            log.info("%s exists and overwriting is not enabled; skipping", o)
    return outs, todo


def _write_embedding(model, blocks: Iterable[np.ndarray], n: int, out: Path, meta: dict[str, np.ndarray], **kw) -> None:
    """Embed a signal of ``n`` samples given as blocks into ``out`` (atomic): embedding, timestamps and ``meta``.

    ``kw`` are :func:`_embed_chunks`' keywords.
    """
    n_frames = _n_frames(n, kw["hop_size"], kw["center"])
    chunks = _embed_chunks(model, blocks, n, **kw)
    with atomic_path(out, suffix=".npz") as tmp:
        # streamed: memory is one batch, however long the file (openl3 stacks it all in float64)
        _write_npz_stream(tmp, n_frames, chunks, {"timestamps": framing.timestamps(n_frames, kw["hop_size"]), **meta})
