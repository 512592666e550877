"""Real target-domain windows for calibration and parity.

Calibration and parity windows are cut from the run's 8 kHz audio cache with
:func:`sea.framing.frame_starts`; the clips are split so that parity is measured
on clips the quantizer never saw. Random data is never used for calibration.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sea.constants import STUDENT_SR
from sea.errors import ExportError, ManifestError
from sea.splits import hashed_holdout

log = logging.getLogger("sea.export")

__all__ = ["Windows", "load_windows", "logmel_from_audio", "synthetic_windows"]


@dataclass
class Windows:
    """Audio windows with their origin.

    Attributes
    ----------
    audio : np.ndarray [shape=(n, 8000), dtype=float32] or None
        Raw windows (None when the source was a log-mel array).
    logmel : np.ndarray [shape=(n, 1, 64, 50), dtype=float32]
        The student log-mel of each window.
    clip_ids : list of str, one per window
        The clip each window was cut from.
    labels : np.ndarray [shape=(n,), dtype=int64]
        Class id of each window's clip; -1 where unknown.
    """

    audio: np.ndarray | None
    logmel: np.ndarray
    clip_ids: list[str]
    labels: np.ndarray

    def __len__(self) -> int:
        """Return the number of windows."""
        return int(self.logmel.shape[0])


def synthetic_windows(n: int, seed: int) -> Windows:
    """Deterministic tones + noise, used ONLY for fp32 parity when no run directory exists (never for calibration).

    Parameters
    ----------
    n : int
        Number of 1-s windows.
    seed : int
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    windows : Windows
        ``n`` 8 kHz windows with their log-mel, ids ``synthetic:<i>`` and no labels.
    """
    from sea.students.frontend_numpy import logmel_numpy

    r = np.random.default_rng(seed)
    t = np.arange(STUDENT_SR) / float(STUDENT_SR)
    out = []
    for _ in range(n):
        f = 100.0 * 2 ** (r.random() * 5)
        y = 0.3 * np.sin(2 * np.pi * f * t) + 0.05 * r.standard_normal(STUDENT_SR)
        out.append(y * (0.2 + r.random()))
    a = np.asarray(out, np.float32)
    return Windows(a, logmel_numpy(a)[:, None], [f"synthetic:{i}" for i in range(len(a))], -np.ones(len(a), np.int64))


def logmel_from_audio(audio: np.ndarray) -> np.ndarray:
    """Student log-mel of audio windows with sea's torch front-end.

    Parameters
    ----------
    audio : np.ndarray [shape=(n, 8000)]
        8 kHz windows.

    Returns
    -------
    logmel : np.ndarray [shape=(n, 1, 64, 50), dtype=float32]
    """
    import torch

    from sea.students.frontend import StudentFrontend

    fe = StudentFrontend().eval()
    out = []
    with torch.no_grad():
        for i in range(0, audio.shape[0], 64):
            x = fe(torch.from_numpy(np.ascontiguousarray(audio[i : i + 64], dtype=np.float32)))
            out.append(x.reshape(x.shape[0], 1, x.shape[-2], x.shape[-1]).numpy())
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 1, 64, 50), np.float32)


def _cut(cache, clip_ids: list[str], hop_size: float, n_max: int, rng: np.random.Generator, labels: dict[str, int]):
    from sea.framing import frame_starts

    pairs = []
    for cid in clip_ids:
        for s in frame_starts(cache.n_samples(cid), STUDENT_SR, hop_size=hop_size, center=True):
            pairs.append((cid, int(s)))
    if len(pairs) > n_max:
        keep = np.sort(rng.choice(len(pairs), n_max, replace=False))
        pairs = [pairs[i] for i in keep]
    audio = (
        np.stack([cache.window(c, s, STUDENT_SR) for c, s in pairs]) if pairs else np.zeros((0, STUDENT_SR), np.float32)
    )
    ids = [c for c, _ in pairs]
    lab = np.asarray([labels.get(c, -1) for c in ids], dtype=np.int64)
    return audio.astype(np.float32), ids, lab


def load_windows(
    source: str | Path,
    *,
    n_calibration: int,
    n_holdout: int,
    holdout_fraction: float = 0.25,
    hop_size: float = 0.5,
    seed: int = 0,
    input_shape: tuple[int, ...] = (1, 64, 50),
) -> tuple[Windows, Windows]:
    """Calibration and held-out windows from a run directory or an array file.

    Parameters
    ----------
    source : path
        A run directory with ``audio/8000`` (and ``clips.jsonl`` for labels), or a
        ``.npy`` / ``.npz`` (key ``windows``) of log-mel ``[N, 1, 64, 50]`` or audio
        ``[N, 8000]`` windows (split by index, the last share held out).
    n_calibration, n_holdout : int
        Most windows of each kind (a seeded random subset when the clips give more).
    holdout_fraction : float in (0, 1)
        Share of the run's clips held out (:func:`sea.splits.hashed_holdout`: a clip keeps
        its side when clips are added), or of the array's windows.
    hop_size : float > 0
        Seconds between the centred 1-s windows cut from each clip.
    seed : int
        Seed of the window subsets.
    input_shape : tuple of int
        The student's input shape without the batch axis; calibration windows must match it.

    Returns
    -------
    calib, held : Windows
        Calibration windows and held-out windows, from disjoint clips.

    Raises
    ------
    ExportError
        Missing/empty run directory, no 8 kHz cache, or arrays of the wrong shape.
    """
    source = Path(source)
    rng = np.random.default_rng(seed)
    if source.is_file():
        return _from_array(source, n_calibration, n_holdout, holdout_fraction, input_shape)
    cache, ids = _open_cache(source)
    labels = _labels(source)
    calib_ids, held_ids = hashed_holdout(ids, holdout_fraction)
    if not held_ids:
        log.warning("only one clip in %s: parity windows come from the calibration clip", source)
        held_ids = calib_ids
    ca, cids, clab = _cut(cache, calib_ids, hop_size, n_calibration, rng, labels)
    ha, hids, hlab = _cut(cache, held_ids, hop_size, n_holdout, rng, labels)
    calib = Windows(ca, logmel_from_audio(ca), cids, clab)
    held = Windows(ha, logmel_from_audio(ha), hids, hlab)
    _check_shape(calib.logmel, input_shape, source)
    log.info(
        "windows from %s: %d calibration (%d clips), %d held-out (%d clips)",
        source,
        len(calib),
        len(calib_ids),
        len(held),
        len(held_ids),
    )
    return calib, held


def _open_cache(source: Path):
    """Open the run's 8 kHz cache; return it with its non-empty clips."""
    from sea.cache import AudioCache

    if not source.is_dir():
        raise ExportError(
            f"calibration source {str(source)!r} does not exist; pass a run directory built by 'sea data prepare'"
        )
    try:
        cache = AudioCache(source, STUDENT_SR)
    except ManifestError as exc:
        raise ExportError(f"cannot calibrate from {str(source)!r}: {exc}") from None
    ids = [c for c in cache.clip_ids if cache.n_samples(c) > 0]
    if not ids:
        raise ExportError(
            f"calibration run {str(source)!r} has no audio in its 8 kHz cache; int8 calibration needs real target-domain "
            "windows (it never uses random data)"
        )
    return cache, ids


def _labels(source: Path) -> dict[str, int]:
    """Class id of each labelled clip of the run (for downstream parity)."""
    from sea.layout import RunLayout
    from sea.manifest import read_manifest

    labels: dict[str, int] = {}
    if RunLayout(source).manifest.is_file():
        for rec in read_manifest(source):
            if rec.label_id is not None:
                labels[rec.clip_id] = int(rec.label_id)
    return labels


def _check_shape(x: np.ndarray, input_shape: tuple[int, ...], source) -> None:
    if tuple(x.shape[1:]) != tuple(input_shape):
        raise ExportError(
            f"calibration windows from {str(source)!r} have shape {tuple(x.shape)}; the model expects "
            f"(N, {', '.join(map(str, input_shape))})"
        )


def _from_array(path: Path, n_calibration: int, n_holdout: int, holdout_fraction: float, input_shape):
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                key = "windows" if "windows" in z.files else z.files[0]
                x = z[key]
        else:
            x = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise ExportError(f"cannot read calibration array {str(path)!r}: {exc}") from None
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 2 and x.shape[1] == STUDENT_SR:
        audio, logmel = x, logmel_from_audio(x)
    elif x.shape[1:] == tuple(input_shape):
        audio, logmel = None, x
    else:
        raise ExportError(
            f"calibration array {str(path)!r} has shape {x.shape}; expected log-mel windows "
            f"(N, {', '.join(map(str, input_shape))}) or 8 kHz audio windows (N, {STUDENT_SR})"
        )
    n = x.shape[0]
    if n < 2:
        raise ExportError(f"calibration array {str(path)!r} holds {n} window(s); give at least 2 real windows")
    if not np.all(np.isfinite(x)):
        raise ExportError(f"calibration array {str(path)!r} contains NaN or inf")
    n_held = max(1, int(round(n * holdout_fraction)))
    cut = n - n_held
    ids = [f"{path.stem}:{i}" for i in range(n)]
    lab = -np.ones(n, np.int64)

    def part(lo, hi, m):
        sl = slice(lo, min(hi, lo + m))
        return Windows(None if audio is None else audio[sl], logmel[sl], ids[sl], lab[sl])

    return part(0, cut, n_calibration), part(cut, n, n_holdout)
