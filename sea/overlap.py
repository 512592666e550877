"""Near-copies: clips whose decoded audio is a corpus clip's at another level, polarity, encoding or rate.

The overlap guard (:func:`sea.pipeline.check_overlap`) compares file md5s, which a re-levelled, re-encoded (WAV to
FLAC) or resampled copy does not share. Such a copy in the evaluation set is still audio the students learnt from.
Both sets are compared here on their decoded audio at a common cached rate: a coarse, level-free time-frequency
descriptor finds candidates, and the waveform correlation of a candidate pair decides. A trimmed or time-shifted copy
is not found (the comparison is sample-aligned).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["MIN_CORRELATION", "descriptors", "near_copies", "shared_files"]

#: |Pearson correlation| of two sample-aligned waveforms at or above which they are one recording.
MIN_CORRELATION = 0.98
_N_FRAMES, _N_BANDS = 16, 16  # descriptor grid: 16 frames of 1/16 of 4 s x 16 linear bands
_CANDIDATE_COSINE = 0.98  # descriptor cosine that sends a pair to the waveform check
_LENGTH_TOLERANCE = 0.02  # relative length difference a copy may have (resampling rounds lengths)
_SILENT_RMS = 1e-4  # below this a clip has no audio to recognise


def shared_files(corpus_dir: str | Path, other_dir: str | Path) -> list[tuple[Any, Any]]:
    """Clips of ``other_dir`` whose file is a clip of ``corpus_dir`` (same md5): the overlap guard's first check.

    Parameters
    ----------
    corpus_dir, other_dir : path
        Prepared run or dataset directories (each with a ``clips.jsonl``).

    Returns
    -------
    pairs : list of (ClipRecord, ClipRecord)
        ``(clip of other_dir, the corpus clip with its md5)``, in ``other_dir``'s order.
    """
    from .manifest import read_manifest

    corpus = {r.md5: r for r in read_manifest(corpus_dir) if r.md5}
    return [(r, corpus[r.md5]) for r in read_manifest(other_dir) if r.md5 and r.md5 in corpus]


def descriptors(clips: list[np.ndarray], sr: int) -> tuple[np.ndarray, np.ndarray]:
    """Level-free descriptors of mono clips: the log band energies of their first 4 s, mean removed, unit norm.

    Parameters
    ----------
    clips : list of np.ndarray, each [n_samples]
    sr : int

    Returns
    -------
    desc : np.ndarray [n_clips, 256] float32
        Zero rows for silent clips (they match nothing).
    ok : np.ndarray [n_clips] bool
        False for silent clips.
    """
    frame = max(1, int(round(4.0 * sr / _N_FRAMES)))
    out = np.zeros((len(clips), _N_FRAMES * _N_BANDS), dtype=np.float32)
    ok = np.zeros(len(clips), dtype=bool)
    for i, y in enumerate(clips):
        y = np.asarray(y[: _N_FRAMES * frame], dtype=np.float64)  # a long recording: its first 4 s only
        if y.size < 2 or np.sqrt(np.mean(y * y)) < _SILENT_RMS:
            continue
        n = min(_N_FRAMES, max(1, y.size // frame))
        frames = y[: n * frame].reshape(n, frame) if y.size >= frame else y[None, :]
        power = np.abs(np.fft.rfft(frames, axis=1)) ** 2  # [n, bins]
        bands = np.array_split(np.arange(power.shape[1]), _N_BANDS)
        energy = np.stack([power[:, b].sum(axis=1) for b in bands], axis=1)  # [n, bands]
        grid = np.zeros((_N_FRAMES, _N_BANDS))
        grid[:n] = np.log(energy + 1e-12 * energy.max() + 1e-30)
        grid[:n] -= grid[:n].mean()  # a level change adds a constant to every log energy
        norm = np.linalg.norm(grid)
        if norm > 0:
            out[i], ok[i] = grid.ravel() / norm, True
    return out, ok


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    n = min(a.size, b.size)
    a, b = np.asarray(a[:n], dtype=np.float64), np.asarray(b[:n], dtype=np.float64)
    a, b = a - a.mean(), b - b.mean()
    den = float(np.sqrt(np.dot(a, a) * np.dot(b, b)))
    return abs(float(np.dot(a, b))) / den if den > 0 else 0.0


def near_copies(corpus_dir: str | Path, other_dir: str | Path, *, chunk: int = 512) -> list[tuple[str, str, float]]:
    """Clips of ``other_dir`` whose audio is a clip of ``corpus_dir`` (another level, polarity, encoding or rate).

    Parameters
    ----------
    corpus_dir, other_dir : str or Path
        Prepared directories (run or dataset) with an audio cache at a common rate; the lowest such rate is used.
    chunk : int
        Most clips of ``other_dir`` compared at once; fewer against a large corpus, so that the ``chunk x
        n_corpus`` similarities stay under ~80 MB.

    Returns
    -------
    pairs : list of (other_clip_id, corpus_clip_id, correlation)
        Empty when the two have no cache rate in common.
    """
    from .cache import AudioCache, available_rates

    common = sorted(set(available_rates(corpus_dir)) & set(available_rates(other_dir)))
    if not common:
        return []
    sr = common[0]
    corpus, other = AudioCache(corpus_dir, sr), AudioCache(other_dir, sr)
    c_ids = list(corpus.clip_ids)
    c_audio = [corpus.get(c) for c in c_ids]
    c_desc, _ = descriptors(c_audio, sr)  # a silent clip's zero row is no one's candidate
    c_len = np.array([a.size for a in c_audio], dtype=np.float64)
    o_ids = list(other.clip_ids)
    chunk = max(1, min(int(chunk), 20_000_000 // max(len(c_ids), 1)))
    pairs = []
    for start in range(0, len(o_ids), chunk):
        ids = o_ids[start : start + chunk]
        audio = [other.get(c) for c in ids]
        cos = descriptors(audio, sr)[0] @ c_desc.T  # [chunk, n_corpus]
        for i, n in enumerate(a.size for a in audio):
            cand = np.flatnonzero((cos[i] >= _CANDIDATE_COSINE) & (np.abs(c_len - n) <= _LENGTH_TOLERANCE * max(n, 1)))
            best = max(((_correlation(audio[i], c_audio[j]), j) for j in cand), default=(0.0, -1))
            if best[0] >= MIN_CORRELATION:
                pairs.append((ids[i], c_ids[best[1]], best[0]))
    return pairs
