"""The student front-end: SEA's kapre-0.1.4 ``Melspectrogram`` at 8 kHz, in torch and in numpy.

SEA students (and ``edgel3`` ``model_type='sea'``) compute their input inside the Keras model with kapre 0.1.4
``Melspectrogram(n_dft=1024, n_hop=160, sr=8000, n_mels=64, fmin=0, fmax=4000, htk=True, norm=1,
power_melgram=1.0, return_decibel_melgram=True, padding='same')`` on 1-s windows of 8 kHz audio.
This module reproduces that maths exactly, in float64 by default:

1. **Framing** (Keras ``conv2d(padding='same')`` with a ``(1024, 1)`` kernel and stride 160 over 8000 samples):
   ``n_frames = ceil(8000 / 160) = 50``; total pad ``= max((n_frames - 1) * 160 + 1024 - 8000, 0) = 864``, split as
   TensorFlow does, ``pad_left = 864 // 2 = 432``, ``pad_right = 864 - 432 = 432``, with **zeros** (not reflect).
   Frame ``t`` covers samples ``[160 t - 432, 160 t + 592)``.
2. **DFT** (kapre ``get_stft_kernels``): real kernels ``cos(2 pi k n / 1024) * w[n]``, imaginary ``-sin(...) * w[n]``,
   ``k = 0..512``, ``w`` the *periodic* Hann window ``0.5 - 0.5 cos(2 pi n / 1024)``. Power ``P = re^2 + im^2``
   (kapre ``power_spectrogram=2.0``).
3. **Mel** (kapre ``backend.mel``, a copy of librosa<=0.7 ``filters.mel`` where ``norm=1`` means Slaney area
   normalisation, i.e. librosa 0.11 ``norm='slaney'``): 64 triangular HTK-mel filters between 0 and 4000 Hz over
   the 513 bins, each scaled by ``2 / (f[i+2] - f[i])``. ``M = mel_basis @ P`` (a mel *power* spectrogram).
4. **Magnitude mel** (kapre ``power_melgram=1.0``: ``output = sqrt(output) ** 1.0``): ``S = sqrt(M)``.
   Note: this is the square root of the mel-weighted *power*, not the mel-weighted magnitude.
5. **dB** (kapre ``amplitude_to_decibel``): ``D = 10 log10(max(S, 1e-10))`` (10, not 20, applied to the magnitude,
   as kapre does), ``D -= max(D)`` over the whole 64x50 window (kapre 0.1.4: per example), ``D = max(D, -80)``.
   So ``D = 5 log10(M) - max``; the -80 dB floor sits at a mel power 1e-16 below the window maximum.

Output ``[64, 50]`` per window: mel band on the first axis (bin 0 = lowest frequency), frame on the second;
the torch module returns ``[B, 1, 64, 50]``.

Silence: an all-zero window gives ``S = 0`` everywhere, ``D = 10 log10(1e-10) = -100`` everywhere, and after max
normalisation ``D = 0`` everywhere (the kapre/openl3 semantics of per-window normalisation). The front-end
reproduces that rather than returning -80.

Precision: the floor at a power ratio of 1e-16 is below float32 resolution. A float32 DFT of a tone has a
round-off floor near 1e-14 of the peak power (about -70 dB here), where the exact value is below -80 dB, so a
float32 front-end differs from the exact one by several dB in near-empty bands of tonal audio. Both
:class:`StudentFrontend` (by default) and :func:`logmel_numpy` therefore compute in float64 and agree to ~1e-10 dB;
a float32 front-end (``dtype=torch.float32``, used for export) agrees within 1e-4 dB only on broadband audio.

The numpy functions :func:`hann_periodic`, :func:`mel_filterbank_numpy`, :func:`dft_kernels_numpy` and
:func:`logmel_numpy` are self-contained (numpy only) so that the edge runtime can copy them verbatim.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .errors import ParameterError

__all__ = [
    "FRONTEND_PARAMS",
    "N_FRAMES",
    "StudentFrontend",
    "dft_kernels_numpy",
    "frontend_params",
    "hann_periodic",
    "logmel_numpy",
    "mel_filterbank_numpy",
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


_SR, _N_DFT, _HOP, _WIN = 8000, 1024, 160, 8000
N_FRAMES, _PAD_LEFT, _PAD_RIGHT = same_padding(_WIN, _N_DFT, _HOP)

#: Every constant of the student front-end; written to ``frontend.json`` by export.
FRONTEND_PARAMS: dict = {
    "name": "kapre-0.1.4-melspectrogram",
    "sr": _SR,
    "window_length": _WIN,  # samples per 1-s window
    "n_dft": _N_DFT,
    "n_fft": _N_DFT,  # alias of n_dft (librosa / torch name)
    "win_length": _N_DFT,  # the Hann window spans the whole DFT frame
    "hop_length": _HOP,
    "n_frames": N_FRAMES,  # 50
    "padding": "same",  # Keras conv 'same', zero padding
    "pad_left": _PAD_LEFT,  # 432
    "pad_right": _PAD_RIGHT,  # 432
    "window": "hann_periodic",
    "n_mels": 64,
    "fmin": 0.0,
    "fmax": 4000.0,
    "htk": True,
    "norm": "slaney",  # kapre norm=1 == librosa<=0.7 norm=1 == librosa>=0.8 norm='slaney'
    "power_spectrogram": 2.0,
    "power_melgram": 1.0,  # S = sqrt(mel_basis @ |X|^2)
    "db_scale": 10.0,  # D = 10 * log10(max(S, amin))
    "amin": 1e-10,
    "top_db": 80.0,  # D = max(D - max(D), -top_db), max over the whole window
    "ref": "window_max",
    "output_shape": [1, 64, N_FRAMES],  # [C, mels (low->high), frames]
}


def frontend_params() -> dict:
    """A copy of :data:`FRONTEND_PARAMS` (safe to mutate, JSON-serialisable)."""
    return dict(FRONTEND_PARAMS, output_shape=list(FRONTEND_PARAMS["output_shape"]))


# ---------------------------------------------------------------------------------------------------------------
# numpy twin (self-contained: numpy only; the edge runtime copies these functions)
# ---------------------------------------------------------------------------------------------------------------


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
    """kapre DFT kernels ``(real, imag)``, each ``[1 + n_dft // 2, n_dft]`` float64, windowed by periodic Hann.

    ``real[k, n] = cos(2 pi k n / n_dft) w[n]``, ``imag[k, n] = -sin(2 pi k n / n_dft) w[n]``.
    The phase ``k n mod n_dft`` is reduced exactly in integers before the trig call.
    """
    k = np.arange(1 + n_dft // 2)[:, None]
    n = np.arange(n_dft)[None, :]
    phase = 2.0 * np.pi * ((k * n) % n_dft) / n_dft
    w = hann_periodic(n_dft)[None, :]
    return np.cos(phase) * w, -np.sin(phase) * w


def _frontend_mel_basis(params: dict) -> np.ndarray:
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
    """Student log-mel of 1-s windows, numpy only, float64 internally.

    Parameters
    ----------
    y : ndarray, shape [8000] or [B, 8000]
        Mono audio at 8 kHz in [-1, 1].
    params : dict, optional
        Front-end constants; default :data:`FRONTEND_PARAMS`.
    mel_basis : ndarray [n_mels, 1 + n_dft // 2], optional
        Precomputed filterbank (saves ~1 ms per call).

    Returns
    -------
    ndarray, float32, shape [64, 50] or [B, 64, 50]
        dB relative to each window's maximum, in [-80, 0]; mel bin 0 is the lowest band.
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
        mel_basis = _frontend_mel_basis(p)
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


# ---------------------------------------------------------------------------------------------------------------
# torch front-end
# ---------------------------------------------------------------------------------------------------------------


class StudentFrontend(torch.nn.Module):
    """kapre-0.1.4 student log-mel as a torch module: ``[B, 8000] -> [B, 1, 64, 50]``.

    Parameters
    ----------
    mode : {"conv", "stft"}
        ``"conv"`` (default): a strided ``Conv1d`` with the windowed cos/-sin DFT kernels as buffers, square-add,
        matmul with the mel basis, sqrt, log, amax, clamp: real-valued ops only, exportable to ONNX and convertible
        with litert-torch. ``"stft"``: ``torch.stft`` (FFT) on the zero-padded signal, same maths, much faster
        for training; not exportable (complex tensors).
    dtype : torch.dtype
        Compute dtype of the DFT/mel stage; ``torch.float64`` (default) matches :func:`logmel_numpy` to ~1e-10 dB
        on any audio. ``torch.float32`` is what an exported model runs; it is exact above roughly -60 dB but its
        round-off floor (~-70 dB re max) replaces true values below it on tonal audio. ``module.float()`` /
        ``module.double()`` switch it (the compute dtype follows the buffers). The output is always float32.
    """

    def __init__(self, mode: str = "conv", dtype=torch.float64, params: dict | None = None):
        super().__init__()
        if mode not in ("conv", "stft"):
            raise ParameterError(f"StudentFrontend mode={mode!r} is not one of 'conv', 'stft'")
        p = frontend_params() if params is None else dict(params)
        self.params = p
        self.mode = mode
        self.n_dft, self.hop_length = p["n_dft"], p["hop_length"]
        self.pad_left, self.pad_right = p["pad_left"], p["pad_right"]
        self.window_length = p["window_length"]
        self.amin, self.top_db = float(p["amin"]), float(p["top_db"])
        self.db_scale, self.power_melgram = float(p["db_scale"]), float(p["power_melgram"])
        re, im = dft_kernels_numpy(self.n_dft)
        n_bins = re.shape[0]
        # one Conv1d with 2*n_bins output channels: [real; imag]
        kernel = np.concatenate([re, im], axis=0)[:, None, :]
        self.register_buffer("dft_kernel", torch.from_numpy(kernel).to(dtype), persistent=False)
        self.register_buffer("window", torch.from_numpy(hann_periodic(self.n_dft)).to(dtype), persistent=False)
        self.register_buffer(
            "mel_basis", torch.from_numpy(_frontend_mel_basis(p)).to(dtype), persistent=False
        )  # [M, F]
        self.n_bins = n_bins

    @property
    def compute_dtype(self):
        return self.dft_kernel.dtype

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, dtype={self.compute_dtype}, n_dft={self.n_dft}, hop={self.hop_length}"

    def power_spectrogram(self, y):
        """``|X|^2`` as ``[B, F, T]`` in the compute dtype."""
        y = y.to(self.compute_dtype)
        yp = torch.nn.functional.pad(y, (self.pad_left, self.pad_right))
        if self.mode == "stft":
            spec = torch.stft(
                yp, self.n_dft, hop_length=self.hop_length, window=self.window, center=False, return_complex=True
            )
            return spec.real.square() + spec.imag.square()
        z = torch.nn.functional.conv1d(yp.unsqueeze(1), self.dft_kernel, stride=self.hop_length)  # [B, 2F, T]
        re, im = z[:, : self.n_bins], z[:, self.n_bins :]
        return re * re + im * im

    def forward(self, y):
        """``y``: [B, 8000] float audio -> [B, 1, 64, 50] float32 dB in [-80, 0]."""
        if y.dim() == 1:
            y = y.unsqueeze(0)
        power = self.power_spectrogram(y)
        mel = torch.matmul(self.mel_basis, power)  # [B, M, T]
        # sqrt(max(mel, amin^2)) == max(sqrt(mel), amin), and keeps sqrt's gradient finite at silent bins
        mag = torch.sqrt(torch.clamp(mel, min=self.amin * self.amin))
        if self.power_melgram != 1.0:
            mag = torch.clamp(mag**self.power_melgram, min=self.amin)
        db = torch.log(mag) * (self.db_scale / math.log(10.0))
        db = db - torch.amax(db, dim=(1, 2), keepdim=True)
        db = torch.clamp(db, min=-self.top_db)
        return db.unsqueeze(1).to(torch.float32)
