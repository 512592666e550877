"""Framing of audio into 1-s windows, following openl3's rules exactly.

openl3 0.4.x: with ``center=True`` it prepends ``frame_len // 2`` zeros (nothing
appended); audio shorter than one window is zero-padded to one window; longer
audio is padded at the end so that every sample lands in some frame. Hence::

    n_frames = 1 + ceil(max(0, n' - frame_len) / hop_length),  n' = n + frame_len // 2 if center else n
    timestamps = arange(n_frames) * hop_size

Frame ``i`` starts at sample ``i * hop_length - (frame_len // 2 if center else 0)`` of
the original signal. Because the same rule holds at any rate, a teacher frame
at 48 kHz and a student window at 8 kHz with the same index cover the same
time span: that is how the frame store and distillation stay aligned.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import ParameterError

__all__ = ["frame_starts", "hop_length_for", "n_frames", "timestamps", "windows"]


def hop_length_for(hop_size: float, sr: int) -> int:
    """Hop in samples: ``int(hop_size * sr)`` (openl3's rule), validated."""
    if not (isinstance(hop_size, (int, float)) and hop_size > 0 and math.isfinite(hop_size)):
        raise ParameterError(f"hop_size={hop_size!r} must be a positive number of seconds, e.g. 0.1")
    hop_length = int(hop_size * sr)
    if hop_length < 1:
        raise ParameterError(f"hop_size={hop_size} s is shorter than one sample at sr={sr}; use a larger hop_size")
    return hop_length


def n_frames(n_samples: int, sr: int, *, hop_size: float = 0.1, center: bool = True, frame_size: float = 1.0) -> int:
    """Number of windows openl3 produces for ``n_samples`` samples at ``sr``."""
    frame_len = int(round(frame_size * sr))
    hop_length = hop_length_for(hop_size, sr)
    n = n_samples + (frame_len // 2 if center else 0)
    return 1 + math.ceil(max(0, n - frame_len) / hop_length)


def frame_starts(
    n_samples: int, sr: int, *, hop_size: float = 0.1, center: bool = True, frame_size: float = 1.0
) -> np.ndarray:
    """Start sample of each window in the original (unpadded) signal, shape (n_frames,).

    Starts may be negative (centred frames begin before the audio); use
    :meth:`sea.cache.AudioCache.window`, which zero-pads, to cut them.
    """
    frame_len = int(round(frame_size * sr))
    hop_length = hop_length_for(hop_size, sr)
    offset = frame_len // 2 if center else 0
    count = n_frames(n_samples, sr, hop_size=hop_size, center=center, frame_size=frame_size)
    return np.arange(count, dtype=np.int64) * hop_length - offset


def timestamps(count: int, hop_size: float) -> np.ndarray:
    """openl3 timestamps in seconds: ``arange(count) * hop_size`` (float64)."""
    return np.arange(count) * hop_size


def windows(
    y: np.ndarray, sr: int, *, hop_size: float = 0.1, center: bool = True, frame_size: float = 1.0
) -> np.ndarray:
    """Cut ``y`` into zero-padded windows, shape (n_frames, frame_len), float32.

    Memory is ``n_frames * frame_len`` floats: call this per chunk for long audio.
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise ParameterError(f"audio must be mono with shape (n,), got {y.shape}")
    frame_len = int(round(frame_size * sr))
    starts = frame_starts(y.shape[0], sr, hop_size=hop_size, center=center, frame_size=frame_size)
    out = np.zeros((starts.shape[0], frame_len), dtype=np.float32)
    for i, s in enumerate(starts):
        lo, hi = max(int(s), 0), min(int(s) + frame_len, y.shape[0])
        if hi > lo:
            out[i, lo - s : hi - s] = y[lo:hi]
    return out
