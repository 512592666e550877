"""Audio decoding, validation, downmixing and resampling.

Decoding goes through soundfile (libsndfile), which reads 8/16/24/32-bit PCM,
float, WAVE_FORMAT_EXTENSIBLE, FLAC, OGG and more at any rate. A file that
cannot be used raises one :class:`~sea.errors.AudioError` line naming the file
and the reason (missing, a directory, a broken link, unreadable, empty, header
only, not audio, NaN/Inf samples); a usable but odd one (very short, shorter
than its WAV header says) gives a :class:`~sea.errors.SeaWarning`.

Resampling defaults to ``kaiser_best``: resampy 0.2.2's filter reproduced bit for
bit (:mod:`sea.resample`), the resampler openl3 0.4.2 and edgel3 0.2.1 pin, so
sea's teacher and students see the samples the reference packages see. soxr
(``soxr_vhq``, ``soxr_hq``) stays selectable: faster, but openl3 embeddings of
soxr-resampled audio sit ~1e-2 relative L2 away from openl3's own.
"""

from __future__ import annotations

import errno
import os
import struct
import warnings
from pathlib import Path

import numpy as np

from .constants import VALID_RES_TYPES
from .errors import AudioError, ParameterError, SeaWarning

__all__ = [
    "MAX_SR",
    "MIN_SR",
    "SHORT_S",
    "VALID_RES_TYPES",
    "band_limit",
    "check_file",
    "declared_frames",
    "info",
    "load",
    "probe",
    "resample",
    "to_mono",
    "validate_audio",
]

MIN_SR = 8000
MAX_SR = 96000
#: Clips shorter than this (seconds) load with a warning: nearly all of any 1-s window around them is padding.
SHORT_S = 0.1


def check_file(path: str | Path) -> Path:
    """Check that ``path`` is a regular, readable, non-empty file, before any decoder sees it.

    Parameters
    ----------
    path : path

    Returns
    -------
    path : Path

    Raises
    ------
    AudioError
        One line naming the file and the reason: missing, a symbolic link loop or a dangling link,
        a directory or other non-file, no read permission, or 0 bytes.
    """
    path = Path(path)
    name = repr(str(path))
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise AudioError(f"{name} is a symbolic link loop; point it at an audio file or remove it") from None
        if path.is_symlink():
            raise AudioError(f"{name} is a symbolic link to nothing ({os.readlink(path)!r} does not exist)") from None
        if exc.errno == errno.ENOENT:
            raise AudioError(f"audio file {name} does not exist") from None
        raise AudioError(f"cannot open {name}: {exc.strerror}") from None
    if path.is_dir():
        raise AudioError(f"{name} is a directory, not an audio file")
    if not path.is_file():
        raise AudioError(f"{name} is not a regular file (a device, socket or pipe)")
    if not os.access(path, os.R_OK):
        raise AudioError(f"{name} cannot be read: permission denied (fix with chmod u+r)")
    if st.st_size == 0:
        raise AudioError(f"{name} is empty (0 bytes)")
    return path


def declared_frames(path: str | Path) -> int | None:
    """Frames a RIFF/WAVE header declares (its ``data`` chunk size over the block size), or None.

    libsndfile silently reads what a truncated WAV still holds; comparing with this length names the
    truncation. None for other formats, RF64, and streaming headers (size 0 or 0xFFFFFFFF).

    Parameters
    ----------
    path : path

    Returns
    -------
    frames : int or None
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
    except OSError:
        return None
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos, block = 12, None
    while pos + 8 <= len(head):
        cid, size = head[pos : pos + 4], struct.unpack("<I", head[pos + 4 : pos + 8])[0]
        if cid == b"fmt " and pos + 22 <= len(head):
            block = struct.unpack("<H", head[pos + 20 : pos + 22])[0]
        if cid == b"data":
            return size // block if block and 0 < size < 0xFFFFFFFF else None
        pos += 8 + size + (size & 1)
    return None


def info(path: str | Path) -> dict:
    """Header facts of an audio file.

    Parameters
    ----------
    path : path

    Returns
    -------
    info : dict
        ``sr``, ``channels``, ``frames`` (what libsndfile can read), ``duration`` (s), ``format``, ``subtype``,
        ``declared_frames`` (what a WAV header declares, else None).

    Raises
    ------
    AudioError
        The file fails :func:`check_file` or libsndfile cannot read its header.
    """
    import soundfile as sf

    path = check_file(path)
    try:
        i = sf.info(str(path))
    except Exception as exc:  # libsndfile raises LibsndfileError (a RuntimeError) or TypeError
        raise AudioError(
            f"cannot decode {str(path)!r}: {_sf_reason(exc)} (not an audio file libsndfile can read)"
        ) from None
    return {
        "sr": int(i.samplerate),
        "channels": int(i.channels),
        "frames": int(i.frames),
        "duration": float(i.frames) / float(i.samplerate) if i.samplerate else 0.0,
        "format": i.format,
        "subtype": i.subtype,
        "declared_frames": declared_frames(path),
    }


def _sf_reason(exc: Exception) -> str:
    msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    return msg.split(": ", 1)[1] if msg.startswith("Error opening") and ": " in msg else msg


def probe(path: str | Path, *, check_sr: bool = True, warn: bool = True, short_s: float | None = SHORT_S) -> dict:
    """:func:`info`, plus the checks every reader makes before decoding, and its warnings.

    Parameters
    ----------
    path : path
    check_sr : bool
        Reject rates outside [8 kHz, 96 kHz].
    warn : bool
        Warn (:class:`~sea.errors.SeaWarning`) about clips shorter than ``short_s`` and WAVs shorter than
        their header declares.
    short_s : float or None
        Duration (s) under which a clip is warned about; None: no such warning (a caller with its own).

    Returns
    -------
    info : dict
        As :func:`info`.

    Raises
    ------
    AudioError
        Not a readable audio file, no samples (a header only), or a rate out of range.
    """
    i = info(path)
    name = repr(str(path))
    if i["frames"] <= 0:
        raise AudioError(f"{name} holds no samples (a header without audio data)")
    if check_sr and not (MIN_SR <= i["sr"] <= MAX_SR):
        raise AudioError(
            f"{name} has sample rate {i['sr']} Hz; supported rates are {MIN_SR}-{MAX_SR} Hz. "
            "Resample it first (e.g. with sox) or pass check_sr=False"
        )
    if warn and i["declared_frames"] is not None and i["declared_frames"] > i["frames"]:
        d, n, sr = i["declared_frames"], i["frames"], i["sr"]
        warnings.warn(f"{name} is truncated: its header declares {d} samples ({d / sr:.3f} s) but it holds {n} "
                      f"({n / sr:.3f} s); reading those {n}", SeaWarning, stacklevel=3)  # fmt: skip
    if warn and short_s is not None and i["duration"] < short_s:
        warnings.warn(f"{name} is only {i['duration']:.3f} s long (under {short_s:g} s): any window around it is "
                      "mostly zero padding", SeaWarning, stacklevel=3)  # fmt: skip
    return i


def load(
    path: str | Path,
    *,
    sr: int | None = None,
    mono: bool = True,
    dtype: str = "float32",
    res_type: str = "kaiser_best",
    check_sr: bool = True,
    warn: bool = True,
) -> tuple[np.ndarray, int]:
    """Decode an audio file.

    Parameters
    ----------
    path : path
        Any file libsndfile reads (WAV incl. extensible, FLAC, OGG, AIFF...).
    sr : int > 0 or None
        Target sample rate; ``None`` keeps the file's rate.
    mono : bool
        Downmix to mono by averaging channels (as openl3 does, before resampling).
    dtype : "float32" or "float64"
        Decoded (and resampled) in this dtype; openl3 and edgel3 decode float64.
    res_type : "kaiser_best", "soxr_vhq" or "soxr_hq"
    check_sr : bool
        Reject files whose rate is outside [8 kHz, 96 kHz].
    warn : bool
        Warn about very short and truncated files (see :func:`probe`).

    Returns
    -------
    y : np.ndarray [shape=(n,) or (n, channels)]
    sr : int

    Raises
    ------
    AudioError
        One line naming the file: missing, a directory, a broken link, unreadable, empty, header only,
        not audio, or NaN/Inf samples.
    """
    import soundfile as sf

    path = Path(path)
    file_sr = probe(path, check_sr=check_sr, warn=warn)["sr"]
    try:
        y, file_sr = sf.read(str(path), dtype=dtype, always_2d=True)
    except Exception as exc:
        raise AudioError(
            f"cannot decode {str(path)!r}: {_sf_reason(exc)} (not an audio file libsndfile can read)"
        ) from None
    if y.shape[0] == 0:
        raise AudioError(f"{str(path)!r} holds no samples (a header without audio data)")
    validate_audio(y, name=repr(str(path)))
    if mono:
        y = to_mono(y)
    if sr is not None and sr != file_sr:
        y = resample(y, file_sr, sr, res_type=res_type)
        file_sr = sr
    return np.ascontiguousarray(y, dtype=dtype), int(file_sr)


def validate_audio(y: np.ndarray, *, name: str = "audio") -> None:
    """Raise :class:`AudioError` for empty or non-finite audio.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (n, channels)]
    """
    y = np.asarray(y)
    if y.ndim not in (1, 2):
        raise AudioError(f"{name} must have shape (n,) or (n, channels), got {y.shape}")
    if y.shape[0] == 0 or y.size == 0:
        raise AudioError(f"{name} is empty (0 samples); remove it or check the recording")
    if not np.issubdtype(y.dtype, np.floating) and not np.issubdtype(y.dtype, np.integer):
        raise AudioError(f"{name} has dtype {y.dtype}; expected float or integer samples")
    if np.issubdtype(y.dtype, np.floating) and not np.all(np.isfinite(y)):
        finite = np.isfinite(y) if y.ndim == 1 else np.isfinite(y).all(axis=1)
        first = int(np.argmin(finite))
        n_bad = int(np.size(y) - np.count_nonzero(np.isfinite(y)))
        raise AudioError(f"{name} contains {n_bad} NaN/Inf samples (the first at sample {first}); audio must be finite")


def to_mono(y: np.ndarray) -> np.ndarray:
    """Average channels: (n, c) -> (n,). 1-D input is returned unchanged."""
    y = np.asarray(y)
    if y.ndim == 1:
        return y
    if y.ndim != 2:
        raise ParameterError(f"audio must have shape (n,) or (n, channels), got {y.shape}")
    return y.mean(axis=1, dtype=y.dtype if np.issubdtype(y.dtype, np.floating) else np.float64)


def band_limit(y: np.ndarray, sr: float, cutoff: float) -> np.ndarray:
    """Remove every frequency above ``cutoff`` Hz (an ideal low-pass: zeroed DFT bins), keeping rate and length.

    ``band_limit(y, 48000, 4000)`` is what an 8 kHz model hears of a 48 kHz window, without the transition band
    of a resampler's filter.

    Parameters
    ----------
    y : np.ndarray [shape=(..., n)]
        Audio along the last axis (windows in rows).
    sr : float > 0
        Its rate.
    cutoff : float > 0
        Highest frequency kept, in Hz.

    Returns
    -------
    y_low : np.ndarray [shape=(..., n), dtype=float32]
    """
    if not (sr > 0 and cutoff > 0):
        raise ParameterError(f"band_limit needs sr > 0 and cutoff > 0, got sr={sr}, cutoff={cutoff}")
    y = np.asarray(y, dtype=np.float32)
    n = y.shape[-1]
    spectrum = np.fft.rfft(y, axis=-1)
    spectrum[..., np.fft.rfftfreq(n, 1.0 / sr) > cutoff] = 0
    return np.fft.irfft(spectrum, n=n, axis=-1).astype(np.float32)


def resample(y: np.ndarray, orig_sr: int, target_sr: int, *, res_type: str = "kaiser_best") -> np.ndarray:
    """Resample along the first axis to ``target_sr``.

    Equal rates return ``y`` itself, as openl3 and edgel3 skip resampling at their own rate.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (n, channels)]
    orig_sr, target_sr : int > 0
    res_type : "kaiser_best", "soxr_vhq" or "soxr_hq"
        ``kaiser_best`` is resampy 0.2.2's, bit for bit (:func:`sea.resample.resample`): the output has the
        input's dtype, and float32 or integer input is rounded in that dtype after every filter tap, as
        resampy 0.2.2 (hence openl3 and edgel3) does; give float64 for the cleanest result. soxr returns
        float32 for non-float input. Every resampler gives resampy 0.2.2's length,
        ``int(n * (target_sr / orig_sr))``, so frame counts agree with openl3 whatever the resampler.

    Returns
    -------
    y_hat : np.ndarray [shape=(int(n * (target_sr / orig_sr)), ...)]
    """
    from . import resample as _kaiser

    if res_type not in VALID_RES_TYPES:
        raise ParameterError(f"res_type={res_type!r} is not supported; choose one of {', '.join(VALID_RES_TYPES)}")
    if not (isinstance(orig_sr, (int, float, np.number)) and isinstance(target_sr, (int, float, np.number))):
        raise ParameterError(f"sample rates must be numbers, got orig_sr={orig_sr!r}, target_sr={target_sr!r}")
    if not (orig_sr > 0 and target_sr > 0):
        raise ParameterError(f"sample rates must be > 0, got orig_sr={orig_sr}, target_sr={target_sr}")
    if orig_sr == target_sr:
        return y
    if res_type == "kaiser_best":
        return _kaiser.resample(y, orig_sr, target_sr)
    import soxr

    n_out = _kaiser.output_length(y.shape[0], orig_sr, target_sr)
    quality = "VHQ" if res_type == "soxr_vhq" else "HQ"
    dtype = y.dtype if y.dtype in (np.float32, np.float64) else np.float32
    out = soxr.resample(np.asarray(y, dtype=dtype), orig_sr, target_sr, quality=quality)
    if out.shape[0] > n_out:
        out = out[:n_out]
    elif out.shape[0] < n_out:
        out = np.pad(out, [(0, n_out - out.shape[0])] + [(0, 0)] * (out.ndim - 1))
    return out.astype(dtype, copy=False)
