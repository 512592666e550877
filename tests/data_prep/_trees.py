"""Tiny raw dataset trees in the real layouts, built by the tests themselves."""

from __future__ import annotations

import csv
import struct
from pathlib import Path

import numpy as np
import soundfile as sf

US8K_HEADER = ["slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class"]


def noise(duration: float, sr: int, channels: int = 1, seed: int = 0, amp: float = 0.3) -> np.ndarray:
    r = np.random.default_rng(seed)
    n = int(round(duration * sr))
    y = amp * r.uniform(-1, 1, (n, channels)).astype(np.float32)
    return y[:, 0] if channels == 1 else y


def fmt_tag(path: Path) -> int:
    """The WAVE fmt chunk's format tag (1 PCM, 3 float, 0xFFFE extensible)."""
    b = Path(path).read_bytes()[:256]
    i = b.find(b"fmt ")
    return struct.unpack("<H", b[i + 8 : i + 10])[0]


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def us8k_tree(root: Path, *, class_header: str = "class", bad: bool = True) -> dict:
    """A 'real-like' UrbanSound8K sample: 24-bit WAVE_FORMAT_EXTENSIBLE stereo 0.3-s clips at
    44.1 and 48 kHz, a 16-bit mono one, plus (``bad``) a corrupt, an empty and a NaN file, a CSV
    row whose file is missing and a wav without a CSV row."""
    rows, good = [], {}
    specs = [  # name, fold, classID, class, sr, channels, subtype, fmt
        ("100852-0-0-0.wav", 1, 0, "air_conditioner", 44100, 2, "PCM_24", "WAVEX"),
        ("100648-1-0-0.wav", 2, 1, "car_horn", 48000, 2, "PCM_24", "WAVEX"),
        ("100263-2-0-117.wav", 3, 2, "children_playing", 44100, 2, "PCM_24", "WAVEX"),
        ("100032-3-0-0.wav", 1, 3, "dog_bark", 48000, 1, "PCM_16", "WAV"),
    ]
    for k, (name, fold, cid, cls, sr, ch, st, fmt) in enumerate(specs):
        p = root / "audio" / f"fold{fold}" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        sf.write(p, noise(0.3, sr, ch, seed=k), sr, subtype=st, format=fmt)
        rows.append([name, name.split("-")[0], 1.0, 1.3, 1, fold, cid, cls])
        good[Path(name).stem] = {"fold": fold, "label": cls, "label_id": cid, "sr": sr, "channels": ch}
    bad_files = {}
    if bad:
        corrupt = root / "audio" / "fold2" / "103199-4-0-0.wav"
        corrupt.write_bytes(np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8).tobytes())
        empty = root / "audio" / "fold2" / "102857-5-0-0.wav"
        sf.write(empty, np.zeros((0, 2), np.float32), 44100, subtype="PCM_16")
        nan = root / "audio" / "fold3" / "102305-6-0-0.wav"
        y = noise(0.3, 44100, 1, seed=9)
        y[100] = np.nan
        sf.write(nan, y, 44100, subtype="FLOAT")
        rows += [
            ["103199-4-0-0.wav", 103199, 0.0, 0.3, 1, 2, 4, "drilling"],
            ["102857-5-0-0.wav", 102857, 0.0, 0.0, 2, 2, 5, "engine_idling"],
            ["102305-6-0-0.wav", 102305, 0.0, 0.3, 1, 3, 6, "gun_shot"],
            ["103074-7-0-0.wav", 103074, 0.0, 0.3, 1, 4, 7, "jackhammer"],  # file missing
        ]
        bad_files = {
            "103199-4-0-0": "unreadable / not audio",
            "102857-5-0-0": "empty audio",
            "102305-6-0-0": "NaN/Inf samples",
            "103074-7-0-0": "missing file",
        }
        extra = root / "audio" / "fold5" / "999-8-0-0.wav"  # no CSV row
        extra.parent.mkdir(parents=True, exist_ok=True)
        sf.write(extra, noise(0.3, 16000), 16000)
    header = [*US8K_HEADER[:-1], class_header]
    write_csv(root / "metadata" / "UrbanSound8K.csv", header, rows)
    return {"good": good, "bad": bad_files}
