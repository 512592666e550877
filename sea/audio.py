"""Audio decoding, validation, downmixing and resampling.

Decoding goes through soundfile (libsndfile), which reads 8/16/24/32-bit PCM,
float, WAVE_FORMAT_EXTENSIBLE, FLAC, OGG and more at any rate. Resampling uses
soxr (the "VHQ" quality that librosa calls ``soxr_vhq``) by default, or
resampy's ``kaiser_best`` to match openl3 exactly when resampy is installed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .constants import VALID_RES_TYPES
from .errors import AudioError, ParameterError

__all__ = ["MAX_SR", "MIN_SR", "VALID_RES_TYPES", "info", "load", "resample", "to_mono", "validate_audio"]

MIN_SR = 8000
MAX_SR = 96000


def info(path: str | Path) -> dict:
    """Header facts of an audio file: sr, channels, frames, duration, subtype."""
    import soundfile as sf

    try:
        i = sf.info(str(path))
    except Exception as exc:  # libsndfile raises RuntimeError/LibsndfileError
        raise AudioError(f"cannot read audio header of {str(path)!r}: {_sf_reason(exc)}") from None
    return {
        "sr": int(i.samplerate),
        "channels": int(i.channels),
        "frames": int(i.frames),
        "duration": float(i.frames) / float(i.samplerate) if i.samplerate else 0.0,
        "format": i.format,
        "subtype": i.subtype,
    }


def _sf_reason(exc: Exception) -> str:
    msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    return msg


def load(
    path: str | Path,
    *,
    sr: int | None = None,
    mono: bool = True,
    dtype: str = "float32",
    res_type: str = "soxr_vhq",
    check_sr: bool = True,
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
    res_type : "soxr_vhq", "soxr_hq" or "kaiser_best"
    check_sr : bool
        Reject files whose rate is outside [8 kHz, 96 kHz].

    Returns
    -------
    y : np.ndarray [shape=(n,) or (n, channels)]
    sr : int

    Raises
    ------
    AudioError
        Unreadable, non-audio, empty, or NaN/Inf-containing files.
    """
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise AudioError(f"audio file {str(path)!r} does not exist")
    try:
        y, file_sr = sf.read(str(path), dtype=dtype, always_2d=True)
    except Exception as exc:
        raise AudioError(f"cannot decode {str(path)!r}: {_sf_reason(exc)} (not an audio file libsndfile can read)") from None
    if check_sr and not (MIN_SR <= file_sr <= MAX_SR):
        raise AudioError(
            f"{str(path)!r} has sample rate {file_sr} Hz; supported rates are {MIN_SR}-{MAX_SR} Hz. "
            "Resample it first (e.g. with sox) or pass check_sr=False"
        )
    validate_audio(y, name=str(path))
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
        n_bad = int(np.size(y) - np.count_nonzero(np.isfinite(y)))
        raise AudioError(f"{name} contains {n_bad} NaN/Inf samples; audio must be finite")


def to_mono(y: np.ndarray) -> np.ndarray:
    """Average channels: (n, c) -> (n,). 1-D input is returned unchanged."""
    y = np.asarray(y)
    if y.ndim == 1:
        return y
    if y.ndim != 2:
        raise ParameterError(f"audio must have shape (n,) or (n, channels), got {y.shape}")
    return y.mean(axis=1, dtype=y.dtype if np.issubdtype(y.dtype, np.floating) else np.float64)


def resample(y: np.ndarray, orig_sr: int, target_sr: int, *, res_type: str = "soxr_vhq") -> np.ndarray:
    """Resample along the first axis to ``target_sr``.

    The output length is ``floor(n * target_sr / orig_sr)``, openl3's rule, so
    frame counts and timestamps agree with openl3 whatever the resampler.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (n, channels)]
    orig_sr, target_sr : int > 0
    res_type : "soxr_vhq", "soxr_hq" or "kaiser_best" (needs resampy)

    Returns
    -------
    y_hat : np.ndarray [shape=(floor(n * target_sr / orig_sr), ...)]
    """
    if orig_sr <= 0 or target_sr <= 0:
        raise ParameterError(f"sample rates must be > 0, got orig_sr={orig_sr}, target_sr={target_sr}")
    if res_type not in VALID_RES_TYPES:
        raise ParameterError(f"res_type={res_type!r} is not supported; choose one of {VALID_RES_TYPES}")
    if orig_sr == target_sr:
        return y
    n_out = int(y.shape[0] * target_sr / orig_sr)
    if res_type == "kaiser_best":
        try:
            import resampy
        except ImportError:
            raise ParameterError(
                "res_type='kaiser_best' needs resampy; install it with 'pip install resampy' or use 'soxr_vhq'"
            ) from None
        out = resampy.resample(y, orig_sr, target_sr, filter="kaiser_best", axis=0)
    else:
        import soxr

        quality = "VHQ" if res_type == "soxr_vhq" else "HQ"
        dtype = y.dtype if y.dtype in (np.float32, np.float64) else np.float32
        out = soxr.resample(np.asarray(y, dtype=dtype), orig_sr, target_sr, quality=quality)
    if out.shape[0] > n_out:
        out = out[:n_out]
    elif out.shape[0] < n_out:
        pad = [(0, n_out - out.shape[0])] + [(0, 0)] * (out.ndim - 1)
        out = np.pad(out, pad)
    return out.astype(y.dtype if np.issubdtype(y.dtype, np.floating) else np.float32, copy=False)
