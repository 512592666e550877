"""Real target-domain windows for calibration and parity.

Calibration and parity windows are cut from the run's audio cache at the student's rate (8 kHz for SEA's),
or from a folder of audio files, decoded and resampled as a run's cache is, with :func:`sea.framing.frame_starts`,
at the length of the student's window (the checkpoint's front-end: 1 s for OpenL3 and edgel3
students, 3 s for BirdNET ones). The clips are split so that parity is measured on clips the
quantizer never saw. Random data is never used for calibration.
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

__all__ = [
    "Windows",
    "audio_folder_fingerprint",
    "is_audio_folder",
    "load_windows",
    "logmel_from_audio",
    "run_label_names",
    "synthetic_windows",
]


@dataclass
class Windows:
    """Audio windows with their origin.

    Attributes
    ----------
    audio : np.ndarray [shape=(n, window_length), dtype=float32] or None
        Raw windows at the student's rate (None when the source was a log-mel array).
    logmel : np.ndarray [shape=(n, 1, 64, n_frames), dtype=float32]
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


def _params(params: dict | None) -> dict:
    from sea.students.frontend_numpy import frontend_params

    return frontend_params(1.0) if params is None else params


def synthetic_windows(n: int, seed: int, params: dict | None = None) -> Windows:
    """Deterministic tones + noise, used ONLY for fp32 parity when no run directory exists (never for calibration).

    Parameters
    ----------
    n : int
        Number of windows.
    seed : int
        Seed of ``numpy.random.default_rng``.
    params : dict, optional
        The student front-end's params (its ``window_length``); default the 1-s front-end.

    Returns
    -------
    windows : Windows
        ``n`` windows at the front-end's rate with their log-mel, ids ``synthetic:<i>`` and no labels.
    """
    from sea.students.frontend_numpy import logmel_numpy

    params = _params(params)
    length = int(params["window_length"])
    r = np.random.default_rng(seed)
    t = np.arange(length) / float(params.get("sr", STUDENT_SR))
    out = []
    for _ in range(n):
        f = 100.0 * 2 ** (r.random() * 5)
        y = 0.3 * np.sin(2 * np.pi * f * t) + 0.05 * r.standard_normal(length)
        out.append(y * (0.2 + r.random()))
    a = np.asarray(out, np.float32)
    lm = logmel_numpy(a, params)[:, None]
    return Windows(a, lm, [f"synthetic:{i}" for i in range(len(a))], -np.ones(len(a), np.int64))


def logmel_from_audio(audio: np.ndarray, params: dict | None = None) -> np.ndarray:
    """Student log-mel of audio windows with sea's torch front-end.

    Parameters
    ----------
    audio : np.ndarray [shape=(n, window_length)]
        Windows at the front-end's rate (``params["sr"]``).
    params : dict, optional
        The front-end's params (default: the 1-s front-end at 8 kHz).

    Returns
    -------
    logmel : np.ndarray [shape=(n, 1, 64, n_frames), dtype=float32]
    """
    import torch

    from sea.students.frontend import StudentFrontend

    params = _params(params)
    fe = StudentFrontend(params=params).eval()
    out = []
    with torch.no_grad():
        for i in range(0, audio.shape[0], 64):
            x = fe(torch.from_numpy(np.ascontiguousarray(audio[i : i + 64], dtype=np.float32)))
            out.append(x.reshape(x.shape[0], 1, x.shape[-2], x.shape[-1]).numpy())
    empty = np.zeros((0, 1, int(params["n_mels"]), int(params["n_frames"])), np.float32)
    return np.concatenate(out).astype(np.float32) if out else empty


def _cut(source, clip_ids: list[str], hop_size: float, n_max: int, rng: np.random.Generator,
         labels: dict[str, int], length: int, sr: int):  # fmt: skip
    from sea.framing import frame_starts

    pairs = []
    for cid in clip_ids:
        for s in frame_starts(source.n_samples(cid), sr, hop_size=hop_size, center=True,
                              frame_size=length / sr):  # fmt: skip
            pairs.append((cid, int(s)))
    if len(pairs) > n_max:
        keep = np.sort(rng.choice(len(pairs), n_max, replace=False))
        pairs = [pairs[i] for i in keep]
    audio = np.stack([source.window(c, s, length) for c, s in pairs]) if pairs else np.zeros((0, length), np.float32)
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
    input_shape: tuple[int, ...] | None = None,
    params: dict | None = None,
) -> tuple[Windows, Windows]:
    """Calibration and held-out windows from a run directory, a folder of audio files or an array file.

    Parameters
    ----------
    source : path
        A run directory with ``audio/<sr>`` (``audio/8000`` for SEA's students; and ``clips.jsonl`` for
        labels); a folder of audio files (each file a clip, decoded to the student's rate, mono, with sea's
        reader and resampler; unreadable files are skipped with a warning naming them); or a ``.npy`` / ``.npz`` (key ``windows``) of log-mel
        ``[N, 1, 64, n_frames]`` or audio ``[N, window_length]`` windows (split by index, the last share
        held out).
    n_calibration, n_holdout : int
        Most windows of each kind (a seeded random subset when the clips give more).
    holdout_fraction : float in (0, 1)
        Share of the run's clips held out (:func:`sea.splits.hashed_holdout`: a clip keeps
        its side when clips are added), or of the array's windows.
    hop_size : float > 0
        Seconds between the centred 1-s windows cut from each clip.
    seed : int
        Seed of the window subsets.
    input_shape : tuple of int, optional
        The student's input shape without the batch axis; calibration windows must match it
        (default: the front-end's ``output_shape``).
    params : dict, optional
        The student front-end's params: windows are ``params["window_length"]`` samples long
        (default: the 1-s front-end).

    Returns
    -------
    calib, held : Windows
        Calibration windows and held-out windows, from disjoint clips.

    Raises
    ------
    ExportError
        Missing/empty run directory or folder, no cache at the student's rate, or arrays of the wrong shape.
    """
    source = Path(source)
    params = _params(params)
    input_shape = tuple(input_shape) if input_shape is not None else tuple(params["output_shape"])
    rng = np.random.default_rng(seed)
    if source.is_file():
        return _from_array(source, n_calibration, n_holdout, holdout_fraction, input_shape, params)
    sr = int(params.get("sr", STUDENT_SR))
    clips, ids = _open_folder(source, sr) if is_audio_folder(source) else _open_cache(source, sr)
    labels = _labels(source)
    calib_ids, held_ids = hashed_holdout(ids, holdout_fraction)
    if not held_ids:
        log.warning("only one clip in %s: parity windows come from the calibration clip", source)
        held_ids = calib_ids
    length = int(params["window_length"])
    ca, cids, clab = _cut(clips, calib_ids, hop_size, n_calibration, rng, labels, length, sr)
    ha, hids, hlab = _cut(clips, held_ids, hop_size, n_holdout, rng, labels, length, sr)
    calib = Windows(ca, logmel_from_audio(ca, params), cids, clab)
    held = Windows(ha, logmel_from_audio(ha, params), hids, hlab)
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


def is_audio_folder(source: str | Path) -> bool:
    """True for a folder that is not a prepared run (no ``clips.jsonl``, no ``audio/``): a folder of audio files."""
    from sea.layout import RunLayout

    source = Path(source)
    layout = RunLayout(source)
    return source.is_dir() and not layout.manifest.is_file() and not layout.audio_root.is_dir()


def audio_folder_fingerprint(source: str | Path) -> str:
    """A hash of an audio folder's files (relative names, sizes and sampled hashes): decides "up to date".

    Parameters
    ----------
    source : path
        A folder of audio files.

    Returns
    -------
    digest : str
        16 hex digits; adding, removing, truncating or altering a file changes it.
    """
    import hashlib

    from sea.files import expand_inputs
    from sea.integrity import sampled_sha256

    h = hashlib.sha256()
    root = Path(source)
    for f in _audio_files(root, expand_inputs):
        try:
            h.update(f"{f.relative_to(root)}|{f.stat().st_size}|{sampled_sha256(f)}\n".encode())
        except OSError as exc:  # unreadable: it changes the fingerprint by its error, and is skipped when read
            h.update(f"{f.relative_to(root)}|{type(exc).__name__}\n".encode())
    return h.hexdigest()[:16]


def _audio_files(root: Path, expand) -> list[Path]:
    import warnings

    from sea.errors import ParameterError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return expand([root])
    except ParameterError:
        return []


class _Folder:
    """Audio files decoded once to the student's rate, mono float32, read like an :class:`~sea.cache.AudioCache`."""

    def __init__(self, clips: dict[str, np.ndarray]):
        self.clips = clips

    def n_samples(self, clip_id: str) -> int:
        return int(self.clips[clip_id].shape[0])

    def window(self, clip_id: str, start: int, length: int) -> np.ndarray:
        y, out = self.clips[clip_id], np.zeros(length, np.float32)
        lo, hi = max(start, 0), min(start + length, y.shape[0])
        if hi > lo:
            out[lo - start : hi - start] = y[lo:hi]
        return out


def _open_folder(source: Path, sr: int = STUDENT_SR):
    """Decode a folder's audio files (sea's reader, kaiser_best to ``sr``); skip the unreadable ones, naming them."""
    from sea.audio import load
    from sea.errors import SeaError
    from sea.files import FileReport, expand_inputs

    files = _audio_files(source, expand_inputs)
    if not files:
        raise ExportError(
            f"calibration source {str(source)!r} is neither a prepared run (clips.jsonl and a {sr} Hz audio cache, "
            "from 'sea data prepare') nor a folder of audio files; int8 calibration needs real target-domain windows"
        )
    report, clips = FileReport(), {}
    for f in files:
        try:
            y, _ = load(f, sr=sr, mono=True, warn=False)
        except (SeaError, OSError, RuntimeError, ValueError) as exc:  # a bad file, not a bug: named and skipped
            report.fail(f, exc)
            continue
        if y.size:
            clips[str(f.relative_to(source))] = np.asarray(y, np.float32)
    for path, why in report.failed:
        log.warning("calibration: skipped %s: %s", path, why)
    if not clips:
        raise ExportError(
            f"calibration folder {str(source)!r} holds no readable audio file ({len(files)} found, "
            f"{len(report.failed)} unreadable); pass a run directory or a folder of target-domain recordings"
        )
    return _Folder(clips), sorted(clips)


def _open_cache(source: Path, sr: int = STUDENT_SR):
    """Open the run's cache at the student's rate; return it with its non-empty clips."""
    from sea.cache import AudioCache

    if not source.is_dir():
        raise ExportError(
            f"calibration source {str(source)!r} does not exist; pass a run directory built by 'sea data prepare'"
        )
    try:
        cache = AudioCache(source, sr)
    except ManifestError as exc:
        raise ExportError(f"cannot calibrate from {str(source)!r}: {exc}") from None
    ids = [c for c in cache.clip_ids if cache.n_samples(c) > 0]
    if not ids:
        raise ExportError(
            f"calibration run {str(source)!r} has no audio in its {sr} Hz cache; int8 calibration needs real target-domain "
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


def run_label_names(source: str | Path | None) -> list[str] | None:
    """The class names of a run's clips by ``label_id`` (index i = class i), or None when unlabelled / not a run.

    Parameters
    ----------
    source : path or None
        The calibration source.

    Returns
    -------
    names : list of str or None
    """
    from sea.layout import RunLayout
    from sea.manifest import read_manifest

    if source is None or not Path(source).is_dir() or not RunLayout(source).manifest.is_file():
        return None
    names: dict[int, str] = {}
    for rec in read_manifest(source):
        if rec.label_id is not None and rec.label is not None:
            names.setdefault(int(rec.label_id), str(rec.label))
    if not names:
        return None
    return [names.get(i, f"class{i}") for i in range(max(names) + 1)]  # as sea.evaluate names its classes


def _check_shape(x: np.ndarray, input_shape: tuple[int, ...], source) -> None:
    if tuple(x.shape[1:]) != tuple(input_shape):
        raise ExportError(
            f"calibration windows from {str(source)!r} have shape {tuple(x.shape)}; the model expects "
            f"(N, {', '.join(map(str, input_shape))})"
        )


def _from_array(path: Path, n_calibration: int, n_holdout: int, holdout_fraction: float, input_shape, params):
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
    length = int(params["window_length"])
    if x.ndim == 2 and x.shape[1] == length:
        audio, logmel = x, None
    elif x.shape[1:] == tuple(input_shape):
        audio, logmel = None, x
    else:
        raise ExportError(
            f"calibration array {str(path)!r} has shape {x.shape}; expected log-mel windows "
            f"(N, {', '.join(map(str, input_shape))}) or audio windows (N, {length}) at {params.get('sr', STUDENT_SR)} Hz of the student's "
            f"{params.get('window_size', length / params.get('sr', STUDENT_SR)):g}-s window"
        )
    n = x.shape[0]
    if n < 2:
        raise ExportError(f"calibration array {str(path)!r} holds {n} window(s); give at least 2 real windows")
    if not np.all(np.isfinite(x)):
        bad = np.argwhere(~np.isfinite(x.reshape(x.shape[0], -1)))[0]
        raise ExportError(f"calibration array {str(path)!r} contains NaN or inf (window {int(bad[0])}); "
                          "give finite windows")  # fmt: skip
    if logmel is None:
        logmel = logmel_from_audio(audio, params)
    n_held = max(1, int(round(n * holdout_fraction)))
    cut = n - n_held
    ids = [f"{path.stem}:{i}" for i in range(n)]
    lab = -np.ones(n, np.int64)

    def part(lo, hi, m):
        sl = slice(lo, min(hi, lo + m))
        return Windows(None if audio is None else audio[sl], logmel[sl], ids[sl], lab[sl])

    return part(0, cut, n_calibration), part(cut, n, n_holdout)
