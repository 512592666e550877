"""The student front-end's numpy twin: kapre-0.1.4 ``Melspectrogram`` (8 kHz, or wider), numpy only.

This module imports nothing but numpy, so the Raspberry Pi bundle ships it unchanged next to its runner
(``sea export`` copies the file) and the edge computes exactly what :mod:`sea.students.frontend` computes.
The maths, step by step, is documented in :mod:`sea.students.frontend`.

Windows of any length: :func:`frontend_params` takes the window in seconds (the teacher's: 1 s for OpenL3 and
edgel3, 3 s for BirdNET), and the student's rate (8 kHz by default); every function here follows the params it is
given.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "FRONTEND_PARAMS",
    "N_FRAMES",
    "dft_kernels_numpy",
    "frontend_mel_basis",
    "frontend_params",
    "hann_periodic",
    "logmel_numpy",
    "mel_filterbank_numpy",
    "params_window_size",
    "same_padding",
]


def same_padding(n_samples: int, n_dft: int, hop_length: int) -> tuple[int, int, int]:
    """Keras/TensorFlow ``padding='same'`` for a strided 1-D convolution.

    Returns ``(n_frames, pad_left, pad_right)`` with ``n_frames = ceil(n_samples / hop_length)``,
    total pad ``max((n_frames - 1) * hop_length + n_dft - n_samples, 0)``, ``pad_left = total // 2``.
    """
    n_frames = -(-n_samples // hop_length)
    total = max((n_frames - 1) * hop_length + n_dft - n_samples, 0)
    return n_frames, total // 2, total - total // 2


_SR, _N_DFT, _HOP = 8000, 1024, 160
#: Student rates above 8 kHz: 20-ms hops, so the rate must be a multiple of 50 Hz, up to 48 kHz (the teachers').
MAX_SR = 48000


def _rate_constants(sr: int) -> tuple[int, int]:
    """``(n_dft, hop_length)`` at ``sr`` Hz: kapre's 1024 / 160 at 8 kHz.

    Above 8 kHz: the same 20-ms hop, and the smallest power of two spanning at least the 128 ms of 1024 samples at
    8 kHz (the C firmware's FFT is radix-2).
    """
    if sr == _SR:
        return _N_DFT, _HOP
    n_dft = 1 << int(np.ceil(np.log2(_N_DFT * sr / _SR)))
    return n_dft, sr // 50


def _params(window_size: float, sr: int = _SR) -> dict:
    n_dft, hop = _rate_constants(sr)
    window_length = int(round(window_size * sr))
    n_frames, pad_left, pad_right = same_padding(window_length, n_dft, hop)
    return {
        "name": "kapre-0.1.4-melspectrogram",
        "sr": int(sr),  # 8000 (SEA's students) unless the student was distilled at a wider band
        "window_size": float(window_size),  # seconds: the teacher's window (1 s OpenL3/edgel3, 3 s BirdNET)
        "window_length": window_length,  # samples per window (8000 for 1 s at 8 kHz)
        "n_dft": n_dft,
        "n_fft": n_dft,  # alias of n_dft (librosa / torch name)
        "win_length": n_dft,  # the Hann window spans the whole DFT frame
        "hop_length": hop,
        "n_frames": n_frames,  # ceil(window_length / hop_length): 50 for 1 s, 150 for 3 s, at any rate
        "padding": "same",  # Keras conv 'same', zero padding
        "pad_left": pad_left,  # 432 for 1 s at 8 kHz
        "pad_right": pad_right,  # 432 for 1 s at 8 kHz
        "window": "hann_periodic",
        "n_mels": 64,
        "fmin": 0.0,
        "fmax": sr / 2.0,  # 4000 at 8 kHz
        "htk": True,
        "norm": "slaney",  # kapre norm=1 == librosa<=0.7 norm=1 == librosa>=0.8 norm='slaney'
        "power_spectrogram": 2.0,
        "power_melgram": 1.0,  # S = sqrt(mel_basis @ |X|^2)
        "db_scale": 10.0,  # D = 10 * log10(max(S, amin))
        "amin": 1e-10,
        "top_db": 80.0,  # D = max(D - max(D), -top_db), max over the whole window
        "ref": "window_max",
        "output_shape": [1, 64, n_frames],  # [C, mels (low->high), frames]
    }


#: Every constant of the student front-end on a 1-s window; written to ``frontend.json`` by export.
FRONTEND_PARAMS: dict = _params(1.0)
N_FRAMES: int = FRONTEND_PARAMS["n_frames"]  # 50


def frontend_params(window_size: float = 1.0, sr: int = _SR) -> dict:
    """The front-end constants for windows of ``window_size`` seconds at ``sr`` Hz (a fresh, JSON-serialisable dict).

    Parameters
    ----------
    window_size : float
        Window length in seconds, the teacher's window: 1.0 for OpenL3 and edgel3, 3.0 for BirdNET. It must be
        a whole number of samples at ``sr`` and at least one DFT frame (0.128 s at 8 kHz).
    sr : int
        The student's audio rate in Hz: 8000 (SEA's students, the default), or a multiple of 50 up to 48000 for a
        student that must hear more than 4 kHz (BirdNET's information reaches ~12 kHz). Above 8 kHz the hop stays
        20 ms (``sr / 50`` samples) and ``n_dft`` is the smallest power of two of at least 128 ms (2048 at 16 kHz,
        4096 at 24 and 32 kHz, 8192 at 44.1 and 48 kHz); 64 mel bands span 0 to ``sr / 2``, so the network's
        input, ``[1, 64, n_frames]``, and its MACs do not change with the rate.

    Returns
    -------
    params : dict
        :data:`FRONTEND_PARAMS` for that window and rate: ``window_length = window_size * sr`` samples,
        ``n_frames = ceil(window_length / hop_length)`` (50 for 1 s, 150 for 3 s), TensorFlow 'same' padding and
        ``output_shape = [1, 64, n_frames]``.
    """
    try:
        rate = int(sr)
    except (TypeError, ValueError):
        raise ValueError(f"sr={sr!r} must be an integer rate in Hz, e.g. 8000 or 16000") from None
    if rate != sr or not _SR <= rate <= MAX_SR or rate % 50:
        raise ValueError(
            f"sr={sr!r} must be an integer rate in Hz from {_SR} to {MAX_SR} and a multiple of 50 (a 20-ms hop in "
            "whole samples), e.g. 8000, 16000, 24000 or 48000"
        )
    try:
        w = float(window_size)
    except (TypeError, ValueError):
        raise ValueError(f"window_size={window_size!r} must be a number of seconds, e.g. 1.0 or 3.0") from None
    n_dft = _rate_constants(rate)[0]
    n = w * rate
    if not (n == n and n >= n_dft and n < float("inf")) or abs(n - round(n)) > 1e-6:
        raise ValueError(
            f"window_size={window_size!r} s must be finite, at least {n_dft / rate:g} s (one DFT frame) and a whole "
            f"number of samples at {rate} Hz (window_size * {rate} an integer), e.g. 1.0 or 3.0"
        )
    return _params(w, rate)


def params_window_size(params: dict) -> float:
    """The window in seconds of a front-end's params; params written before windows had a length mean 1 s.

    Parameters
    ----------
    params : dict
        :func:`frontend_params` output, or an older ``frontend.json`` / checkpoint record without
        ``window_size`` (then ``window_length / sr``, 1 s for every file sea wrote before).

    Returns
    -------
    window_size : float
    """
    if params.get("window_size") is not None:
        return float(params["window_size"])
    return float(params.get("window_length", _SR)) / float(params.get("sr", _SR))


def hann_periodic(n: int) -> np.ndarray:
    """Periodic ("fftbins") Hann window of length ``n``, float64: ``0.5 - 0.5 cos(2 pi k / n)``."""
    k = np.arange(n, dtype=np.float64)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * k / n)


def _hz_to_mel(f, htk):
    f = np.asarray(f, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    # Slaney: linear below 1 kHz, log above
    f_sp = 200.0 / 3
    min_log_hz, logstep = 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    mel = f / f_sp
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep, mel)


def _mel_to_hz(m, htk):
    m = np.asarray(m, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f_sp = 200.0 / 3
    min_log_hz, logstep = 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filterbank_numpy(
    sr: int = 8000,
    n_fft: int = 1024,
    n_mels: int = 64,
    fmin: float = 0.0,
    fmax: float | None = 4000.0,
    htk: bool = True,
    norm: str | None = "slaney",
) -> np.ndarray:
    """Triangular mel filterbank ``[n_mels, 1 + n_fft // 2]`` (float64), numpy only.

    Equals ``librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm)``
    (``norm`` ``'slaney'`` or ``None``), which for ``norm='slaney'`` is kapre 0.1.4 ``backend.mel(norm=1)``.
    """
    if fmax is None:
        fmax = sr / 2.0
    n_bins = 1 + n_fft // 2
    fftfreqs = np.linspace(0.0, sr / 2.0, n_bins, endpoint=True)
    mel_pts = np.linspace(_hz_to_mel(fmin, htk), _hz_to_mel(fmax, htk), n_mels + 2)
    mel_f = _mel_to_hz(mel_pts, htk)
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fftfreqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    if norm == "slaney":
        weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    elif norm is not None:
        raise ValueError(f"norm={norm!r} is not supported; use 'slaney' or None")
    return weights


def dft_kernels_numpy(n_dft: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """The kapre DFT kernels ``(real, imag)``, each ``[1 + n_dft // 2, n_dft]`` float64, windowed by periodic Hann.

    ``real[k, n] = cos(2 pi k n / n_dft) w[n]``, ``imag[k, n] = -sin(2 pi k n / n_dft) w[n]``.
    The phase ``k n mod n_dft`` is reduced exactly in integers before the trig call.
    """
    k = np.arange(1 + n_dft // 2)[:, None]
    n = np.arange(n_dft)[None, :]
    phase = 2.0 * np.pi * ((k * n) % n_dft) / n_dft
    w = hann_periodic(n_dft)[None, :]
    return np.cos(phase) * w, -np.sin(phase) * w


def frontend_mel_basis(params: dict) -> np.ndarray:
    """The mel filterbank ``[n_mels, 1 + n_dft // 2]`` (float64) of a front-end's params (``frontend.json``)."""
    return mel_filterbank_numpy(
        sr=params["sr"],
        n_fft=params["n_dft"],
        n_mels=params["n_mels"],
        fmin=params["fmin"],
        fmax=params["fmax"],
        htk=params["htk"],
        norm=params["norm"],
    )


def logmel_numpy(y: np.ndarray, params: dict | None = None, mel_basis: np.ndarray | None = None) -> np.ndarray:
    """Student log-mel of whole windows, numpy only, float64 internally.

    Parameters
    ----------
    y : ndarray, shape [window_length] or [B, window_length]
        Mono audio at ``params["sr"]`` (8 kHz by default) in [-1, 1]; ``window_length`` is
        ``params["window_length"]`` (8000 for 1-s windows at 8 kHz).
    params : dict, optional
        Front-end constants (:func:`frontend_params`, ``frontend.json``); default :data:`FRONTEND_PARAMS` (1 s).
    mel_basis : ndarray [n_mels, 1 + n_dft // 2], optional
        Precomputed filterbank (saves ~1 ms per call).

    Returns
    -------
    ndarray, float32, shape [64, n_frames] or [B, 64, n_frames]
        dB relative to each window's maximum, in [-80, 0]; mel bin 0 is the lowest band; ``n_frames`` is 50 for
        1-s windows, 150 for 3-s ones.
    """
    p = FRONTEND_PARAMS if params is None else params
    y = np.asarray(y, dtype=np.float64)
    single = y.ndim == 1
    if single:
        y = y[None, :]
    if y.ndim != 2 or y.shape[1] != p["window_length"]:
        raise ValueError(
            f"logmel_numpy expects [{p['window_length']}] or [B, {p['window_length']}] samples, got {y.shape}"
        )
    n_dft, hop, n_frames = p["n_dft"], p["hop_length"], p["n_frames"]
    if mel_basis is None:
        mel_basis = frontend_mel_basis(p)
    yp = np.pad(y, ((0, 0), (p["pad_left"], p["pad_right"])))
    frames = np.lib.stride_tricks.sliding_window_view(yp, n_dft, axis=-1)[:, ::hop][:, :n_frames]  # [B, T, n_dft]
    # rfft with the e^{-i...} convention == kapre's cos / -sin kernels
    spec = np.fft.rfft(frames * hann_periodic(n_dft), n=n_dft, axis=-1)  # [B, T, F]
    power = spec.real**2 + spec.imag**2
    mel_power = np.swapaxes(power @ mel_basis.T, 1, 2)  # [B, M, T]
    mag = np.sqrt(mel_power) ** p["power_melgram"]
    db = p["db_scale"] * np.log10(np.maximum(mag, p["amin"]))
    db = db - db.max(axis=(1, 2), keepdims=True)
    db = np.maximum(db, -p["top_db"]).astype(np.float32)
    return db[0] if single else db
