"""Real target-domain windows for calibration and parity.

Calibration and parity windows are cut from the run's 8 kHz audio cache with
:func:`sea.framing.frame_starts`; the clips are split so that parity is measured
on clips the quantizer never saw. Random data is never used for calibration.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sea.errors import ExportError, ManifestError

log = logging.getLogger("sea.export")

STUDENT_SR = 8000
__all__ = ["Windows", "find_run_dir", "load_windows", "split_clips"]


@dataclass
class Windows:
    """Audio windows with their origin.

    Attributes
    ----------
    audio : np.ndarray [shape=(n, 8000), dtype=float32] or None
        Raw windows (None when the source was a log-mel array).
    logmel : np.ndarray [shape=(n, 1, 64, 50), dtype=float32]
    clip_ids : list of str, one per window
    labels : np.ndarray [shape=(n,), dtype=int64]; -1 where unknown
    """

    audio: np.ndarray | None
    logmel: np.ndarray
    clip_ids: list[str]
    labels: np.ndarray

    def __len__(self) -> int:
        return int(self.logmel.shape[0])


def find_run_dir(checkpoint: str | Path) -> Path | None:
    """The run directory a checkpoint lives in (``RUN/students/<name>/best.pt``), if any."""
    p = Path(checkpoint).resolve()
    for parent in [p, *p.parents][:4]:
        if (parent / "clips.jsonl").is_file() and (parent / "audio").is_dir():
            return parent
    return None


def _is_holdout(clip_id: str, fraction: float) -> bool:
    h = int(hashlib.md5(clip_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return h < fraction


def split_clips(clip_ids: list[str], holdout_fraction: float) -> tuple[list[str], list[str]]:
    """Deterministic clip split ``(calibration, held_out)``, both non-empty when >= 2 clips."""
    ids = sorted(clip_ids)
    held = [c for c in ids if _is_holdout(c, holdout_fraction)]
    calib = [c for c in ids if c not in set(held)]
    if len(ids) >= 2 and not held:
        held, calib = calib[-1:], calib[:-1]
    if len(ids) >= 2 and not calib:
        calib, held = held[:1], held[1:]
    return calib, held


def logmel_from_audio(audio: np.ndarray) -> np.ndarray:
    """Student log-mel of audio windows [n, 8000] -> [n, 1, 64, 50] with sea's torch front-end."""
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

    Raises
    ------
    ExportError
        Missing/empty run directory, no 8 kHz cache, or arrays of the wrong shape.
    """
    source = Path(source)
    rng = np.random.default_rng(seed)
    if source.is_file():
        return _from_array(source, n_calibration, n_holdout, holdout_fraction, input_shape)
    if not source.is_dir():
        raise ExportError(
            f"calibration source {str(source)!r} does not exist; pass a run directory built by 'sea data prepare'"
        )
    from sea.cache import AudioCache

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
    labels: dict[str, int] = {}
    if (source / "clips.jsonl").is_file():
        from sea.manifest import read_manifest

        for rec in read_manifest(source):
            if rec.label_id is not None:
                labels[rec.clip_id] = int(rec.label_id)
    calib_ids, held_ids = split_clips(ids, holdout_fraction)
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
