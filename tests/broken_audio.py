"""A corpus of broken, odd and good audio files for the entry-point tests.

Every command that reads user audio (``sea data prepare``, ``sea teacher embed``, ``sea students embed``,
``sea evaluate``, the Pi runner, ``sea export check-firmware``) is run on :func:`make_corpus`'s folder:
each file either works or is named in a one-line error, and nothing is dropped silently.

``CASES`` maps each file name to whether a reader should succeed (``True``) or report it (``False``).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 22050

# name -> readable (True) or to be reported (False)
CASES: dict[str, bool] = {
    "good_mono_22k.wav": True,
    "good 44k stereo ünïcode.wav": True,
    "good_96k_6ch.wav": True,
    "good_8bit_unsigned.wav": True,
    "good_24bit_extensible.wav": True,
    "good.flac": True,
    "good.ogg": True,
    "short_0.05s.wav": True,  # usable, with a warning (shorter than a window)
    "truncated_half.wav": True,  # usable, with a warning: the header declares twice the samples it holds
    "corrupt_bytes.wav": False,
    "zero_length.wav": False,
    "header_only.wav": False,
    "nan_inf_float.wav": False,
    "text_named.wav": False,
    "dir_named.wav": False,  # a directory
    "unreadable.wav": False,  # mode 000 (readable anyway when running as root)
    "symlink_loop.wav": False,
}


def _tone(n: int, sr: int, channels: int = 1, freq: float = 440.0) -> np.ndarray:
    t = np.arange(n) / sr
    y = 0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * np.random.default_rng(0).standard_normal(n)
    return np.repeat(y[:, None], channels, axis=1) if channels > 1 else y


def make_corpus(root: Path) -> dict[str, bool]:
    """Write every case of :data:`CASES` into ``root``; return ``CASES`` (adjusted when running as root).

    Parameters
    ----------
    root : Path
        An empty folder.

    Returns
    -------
    cases : dict of str -> bool
        File name -> whether it should be read successfully.
    """
    root.mkdir(parents=True, exist_ok=True)
    sf.write(root / "good_mono_22k.wav", _tone(2 * SR, SR), SR, subtype="PCM_16")
    sf.write(root / "good 44k stereo ünïcode.wav", _tone(88200, 44100, 2), 44100, subtype="PCM_16")
    sf.write(root / "good_96k_6ch.wav", _tone(96000 * 2, 96000, 6), 96000, subtype="PCM_16")
    sf.write(root / "good_8bit_unsigned.wav", _tone(2 * SR, SR), SR, subtype="PCM_U8")
    sf.write(root / "good_24bit_extensible.wav", _tone(3 * 48000, 48000, 2), 48000, subtype="PCM_24", format="WAVEX")
    sf.write(root / "good.flac", _tone(2 * 16000, 16000), 16000, subtype="PCM_16")
    sf.write(root / "good.ogg", _tone(2 * SR, SR), SR, format="OGG", subtype="VORBIS")
    sf.write(root / "short_0.05s.wav", _tone(int(0.05 * SR), SR), SR, subtype="PCM_16")
    sf.write(root / "truncated_half.wav", _tone(2 * SR, SR), SR, subtype="PCM_16")
    data = (root / "truncated_half.wav").read_bytes()
    (root / "truncated_half.wav").write_bytes(data[: 44 + (len(data) - 44) // 2])
    (root / "corrupt_bytes.wav").write_bytes(b"RIFF\x24\x08\x00\x00WAVEfmt " + os.urandom(300))
    (root / "zero_length.wav").write_bytes(b"")
    _header_only(root / "header_only.wav")
    y = _tone(SR, SR).astype(np.float32)
    y[100:200] = np.nan
    y[300] = np.inf
    sf.write(root / "nan_inf_float.wav", y, SR, subtype="FLOAT")
    (root / "text_named.wav").write_text("this is not audio\n")
    (root / "dir_named.wav").mkdir()
    sf.write(root / "unreadable.wav", _tone(SR, SR), SR, subtype="PCM_16")
    os.chmod(root / "unreadable.wav", 0)
    os.symlink("symlink_loop.wav", root / "symlink_loop.wav")
    cases = dict(CASES)
    if os.geteuid() == 0:  # root reads mode-000 files
        cases["unreadable.wav"] = True
    return cases


def _header_only(path: Path) -> None:
    """A WAV header that declares one second of 16-bit mono audio, and no samples."""
    n_bytes = SR * 2
    fmt = struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, 1, SR, SR * 2, 2, 16)
    path.write_bytes(b"RIFF" + struct.pack("<I", 36 + n_bytes) + b"WAVE" + fmt + b"data" + struct.pack("<I", n_bytes))
