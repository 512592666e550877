"""The student front-end: SEA's kapre-0.1.4 ``Melspectrogram`` at 8 kHz (or wider), in torch and in numpy.

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

Windows of any length (the teacher's window defines the student's span): ``frontend_params(window_size)`` gives
``window_length = window_size * 8000`` samples and ``n_frames = ceil(window_length / 160)`` frames with the same
TensorFlow 'same' padding rule (150 frames for a 3-s BirdNET window); :class:`StudentFrontend` and
:func:`logmel_numpy` follow the params they are given. The dB normalisation is over the whole window.

Wider bands: ``frontend_params(window_size, sr)`` with ``sr`` above 8 kHz (a multiple of 50, up to 48 kHz) keeps the
20-ms hop (``sr / 50`` samples) and 64 HTK-mel bands, now from 0 to ``sr / 2``, over a DFT of the smallest power of
two of at least 128 ms (2048 at 16 kHz, 4096 at 24 and 32 kHz, 8192 at 48 kHz). The map stays ``[64, n_frames]``,
so a student's network and MACs do not depend on its rate. This is sea's extension, not kapre's: SEA's students,
and edgel3's, are 8 kHz models.

Silence: an all-zero window gives ``S = 0`` everywhere, ``D = 10 log10(1e-10) = -100`` everywhere, and after max
normalisation ``D = 0`` everywhere (the kapre/openl3 semantics of per-window normalisation). The front-end
reproduces that rather than returning -80.

Precision: the floor at a power ratio of 1e-16 is below float32 resolution. A float32 DFT of a tone has a
round-off floor near 1e-14 of the peak power (about -70 dB here), where the exact value is below -80 dB, so a
float32 front-end differs from the exact one by several dB in near-empty bands of tonal audio. Both
:class:`StudentFrontend` (by default) and :func:`logmel_numpy` therefore compute in float64 and agree to ~1e-10 dB;
a float32 front-end (``dtype=torch.float32``, used for export) agrees within 1e-4 dB only on broadband audio.

The numpy twin (:func:`logmel_numpy` and its helpers) lives in :mod:`sea.students.frontend_numpy`, which imports
nothing but numpy so that the edge runtime can ship it unchanged; this module re-exports it.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import ParameterError
from . import frontend_numpy as _np_frontend
from .frontend_numpy import (
    FRONTEND_PARAMS,
    N_FRAMES,
    dft_kernels_numpy,
    frontend_mel_basis,
    hann_periodic,
    logmel_numpy,
    mel_filterbank_numpy,
    params_window_size,
    same_padding,
)

__all__ = [
    "FRONTEND_PARAMS",
    "N_FRAMES",
    "StudentFrontend",
    "dft_kernels_numpy",
    "frontend_mel_basis",
    "frontend_params",
    "hann_periodic",
    "logmel_numpy",
    "mel_filterbank_numpy",
    "params_window_size",
    "same_padding",
]


def frontend_params(window_size: float = 1.0, sr: int = 8000) -> dict:
    """The student front-end's constants for windows of ``window_size`` seconds at ``sr`` Hz.

    Parameters
    ----------
    window_size : float
        The teacher's window in seconds (1.0 for OpenL3 and edgel3, 3.0 for BirdNET); a whole number of samples
        at ``sr``, at least one DFT frame (0.128 s at 8 kHz).
    sr : int
        The student's audio rate: 8000 (SEA's, the default) or a multiple of 50 up to 48000. Above 8 kHz the hop
        stays 20 ms, ``n_dft`` is the smallest power of two of at least 128 ms and the 64 mel bands reach
        ``sr / 2``: the network's input shape does not change.

    Returns
    -------
    params : dict
        ``sr``, ``window_size``, ``window_length`` (samples), ``n_dft``, ``hop_length``, ``n_frames``
        (``ceil(window_length / hop_length)``: 50 for 1 s, 150 for 3 s), paddings, mel and dB constants,
        ``output_shape = [1, 64, n_frames]``; JSON-serialisable.

    Raises
    ------
    ParameterError
        A rate outside 8000..48000 or not a multiple of 50; a window that is not a positive whole number of
        samples, or shorter than one DFT frame.
    """
    try:
        return _np_frontend.frontend_params(window_size, sr)
    except ValueError as exc:
        raise ParameterError(str(exc)) from None


# ---------------------------------------------------------------------------------------------------------------
# torch front-end
# ---------------------------------------------------------------------------------------------------------------


class StudentFrontend(torch.nn.Module):
    """kapre-0.1.4 student log-mel as a torch module: ``[B, window_length] -> [B, 1, 64, n_frames]``.

    ``[B, 8000] -> [B, 1, 64, 50]`` for the default 1-s window, ``[B, 24000] -> [B, 1, 64, 150]`` with
    ``params=frontend_params(3.0)``.

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
    params : dict, optional
        Front-end constants (:func:`frontend_params`, a checkpoint's ``"frontend"``, ``frontend.json``);
        default: 1-s windows.
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
        self.register_buffer("mel_basis", torch.from_numpy(frontend_mel_basis(p)).to(dtype), persistent=False)  # [M, F]
        self.n_bins = n_bins

    @property
    def compute_dtype(self):
        """The dtype the DFT and mel stages compute in (that of the buffers)."""
        return self.dft_kernel.dtype

    def extra_repr(self) -> str:
        """Mode, compute dtype, DFT size and hop, for ``print(module)``."""
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
        """``y``: [B, window_length] float audio -> [B, 1, 64, n_frames] float32 dB in [-80, 0]."""
        if y.dim() == 1:
            y = y.unsqueeze(0)
        if y.dim() != 2 or y.shape[-1] != self.window_length:
            raise ParameterError(
                f"StudentFrontend expects [B, {self.window_length}] samples ({self.params.get('window_size', 1.0)} s at "
                f"{self.params.get('sr', 8000)} Hz), got {tuple(y.shape)}; build it with "
                "params=frontend_params(window_size, sr) for other windows or rates"
            )
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
