r"""OpenL3 spectrogram front-ends in PyTorch, batched on the model's device.

Three front-ends feed the same CNN (see ``docs``/openl3.md §4); each maps a batch
of 1-s windows at 48 kHz, ``x`` [B, 48000], to a dB spectrogram
[B, 1, F, T] with frequency on the height axis (bin 0 = DC) and time on the
width axis, values in [-80, 0]:

``kapre`` (default, openl3 0.4.x ``frontend='kapre'``, kapre >= 0.3.5)
    float32 ``tf.signal.stft`` with TF's float32 periodic Hann window, hop 242.
    On CPU the FFT runs in scipy's float32 pocketfft, which gives the same bits
    as TF's CPU rfft (``cpu_kernels``; see :meth:`Frontend.magnitude`).
    linear: n_fft 512, no padding -> 197 frames of \|X\|.
    mel: n_fft 2048, zeros appended at the end only (``pad_end=True``) ->
    199 frames; Slaney mel filterbank (librosa, float64 cast to float32)
    applied to the *magnitude* \|X\|.
``librosa`` (openl3 0.4.x ``frontend='librosa'``)
    linear: same as kapre but in float64. mel: ``librosa.feature.melspectrogram``
    with ``center=True`` (1024 zeros each side, librosa >= 0.9 pads with zeros),
    ``power=1``, librosa's float32 Slaney filterbank, computed in float64.
``legacy`` (kapre 0.1.4: openl3 <= 0.3.1, torchopenl3, the training front-end)
    linear: as kapre. mel: Keras ``'same'`` padding (982 zeros each side) ->
    199 frames, value ``sqrt(mel_basis @ |X|^2)`` with an HTK-scale filterbank
    with Slaney area normalisation. kapre 0.1.4 called librosa's
    ``mel(..., htk=True, norm=1)``; in librosa <= 0.7 ``norm=1`` *meant* Slaney
    area normalisation (librosa >= 0.8 reads it as an L1 norm), so we build it
    with ``htk=True, norm='slaney'``. kapre 0.1.4's float32 DFT-by-convolution is
    replaced by a float64 FFT, which is closer to it than a float32 FFT.

All three then apply kapre 0.1.4's dB step (openl3 0.4's
``kapre_v0_1_4_magnitude_to_decibel``): ``10 * log10(max(S, 1e-10))``, minus the
maximum over the whole spectrogram of each example, clipped below at -80. A
silent window therefore gives an all-zero spectrogram (not -80).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn

from ..constants import TEACHER_SR, WINDOW_SIZE
from ..errors import ParameterError

__all__ = [
    "FRAME_LEN",
    "HOP_LENGTH",
    "SPEC_SHAPES",
    "Frontend",
    "amplitude_to_db",
    "build_frontend",
    "hann_window",
    "mel_basis",
]

#: Samples in one 1-s window at 48 kHz.
FRAME_LEN = int(round(WINDOW_SIZE * TEACHER_SR))
HOP_LENGTH = 242
AMIN = 1e-10
DYNAMIC_RANGE = 80.0
N_FFT = {"linear": 512, "mel128": 2048, "mel256": 2048}
N_MELS = {"mel128": 128, "mel256": 256}
# (F, T) of the spectrogram that reaches the network, for every front-end.
SPEC_SHAPES = {"linear": (257, 197), "mel128": (128, 199), "mel256": (256, 199)}


def amplitude_to_db(s: torch.Tensor, amin: float = AMIN, dynamic_range: float = DYNAMIC_RANGE) -> torch.Tensor:
    """Convert magnitudes to dB as kapre 0.1.4: ``max(10 log10(max(s, amin)) - max_per_example, -dynamic_range)``.

    Parameters
    ----------
    s : torch.Tensor [shape=(B, ...)]
        Magnitude (or mel magnitude), any float dtype.
    amin : float
        Floor of ``s`` before the logarithm.
    dynamic_range : float
        dB range kept below each example's maximum.

    Returns
    -------
    db : torch.Tensor [shape=(B, ...)]
        Values in [-dynamic_range, 0].
    """
    log_spec = 10.0 * torch.log10(torch.clamp(s, min=amin))
    peak = log_spec.flatten(1).amax(dim=1).view((-1,) + (1,) * (s.ndim - 1))
    return torch.clamp(log_spec - peak, min=-dynamic_range)


def mel_basis(input_repr: str, frontend: str) -> np.ndarray:
    """Mel filterbank [n_mels, 1 + n_fft // 2] as the given front-end builds it (float64 array)."""
    import librosa

    n_mels = N_MELS[input_repr]
    kw = dict(sr=TEACHER_SR, n_fft=N_FFT[input_repr], n_mels=n_mels, fmin=0.0, fmax=TEACHER_SR / 2)
    if frontend == "kapre":  # kapre >= 0.3.5: librosa Slaney filterbank, float64 then tf.float32
        return (
            librosa.filters.mel(**kw, htk=False, norm="slaney", dtype=np.float64).astype(np.float32).astype(np.float64)
        )
    if frontend == "librosa":  # librosa.feature.melspectrogram: filters.mel default dtype float32
        return librosa.filters.mel(**kw, htk=False, norm="slaney", dtype=np.float32).astype(np.float64)
    if frontend == "legacy":  # kapre 0.1.4: htk mel, old librosa norm=1 == Slaney area normalisation
        # htk mel256 at n_fft 2048 has 2 empty bands (they sit at -80 dB, as in kapre 0.1.4)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return (
                librosa.filters.mel(**kw, htk=True, norm="slaney", dtype=np.float64)
                .astype(np.float32)
                .astype(np.float64)
            )
    raise ParameterError(f"frontend={frontend!r} is not one of 'kapre', 'librosa', 'legacy'")


def hann_window(n_fft: int, frontend: str = "kapre") -> torch.Tensor:
    """Periodic Hann window [n_fft] as the front-end builds it.

    kapre gets it from ``tf.signal.hann_window``: ``0.5 - 0.5 cos(2 pi n / N)``
    in float32, with TF's CPU cosine. About one value in 25 of that window is an
    ulp away from the correctly rounded one, and those ulps leak into the empty
    band of resampled audio, which the 80 dB range keeps; so the kapre path
    repeats TF's float32 steps with :func:`_tf_cos_f32` (same bits as TF). The
    other front-ends compute in float64.
    """
    if frontend != "kapre":
        return torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
    n = np.arange(n_fft, dtype=np.float32)
    arg = np.float32(2 * np.pi) * n / np.float32(n_fft)
    return torch.from_numpy(np.float32(0.5) - np.float32(0.5) * _tf_cos_f32(arg))


# Eigen's float32 constants (shortest float32 reprs): -pi/2 in four parts, then the cos (1 - x^2/2 + ...)
# and sin (x - x^3/6 + ...) polynomial coefficients, highest degree first.
_TF_PI_2_PARTS = tuple(np.float32(c) for c in (-1.5703125, -0.00048398972, 1.6286504e-07, 5.5644316e-11))
_TF_COS_POLY = tuple(np.float32(c) for c in (2.4372266e-05, -0.001388652, 0.04166662, -0.5, 1.0))
_TF_SIN_POLY = tuple(np.float32(c) for c in (-0.0001959234, 0.008332687, -0.16666663))


def _tf_cos_f32(x: np.ndarray) -> np.ndarray:
    """float32 cosine as TF's CPU ``Cos`` computes it (Eigen's ``psincos_float``, no FMA), for |x| < 18838.

    Reduction by x * 2/pi rounded to an integer quadrant k, then x - k pi/2 in four
    float32 steps, then a degree-8 cosine or degree-7 sine polynomial by the parity
    of k, sign from bit 1 of k + 1. Every step is a separate float32 multiply or
    add, as in a build without fused multiply-add (TF's pip wheels).
    """
    f32 = np.float32
    a = np.abs(np.asarray(x, dtype=np.float32))
    magic = f32(12582912.0)  # 1.5 * 2**23: adding it rounds to an integer held in the low mantissa bits
    k_round = a * f32(0.63661975) + magic  # float32(2 / pi)
    k_int = k_round.view(np.int32)
    k = k_round - magic
    r = a
    for c in _TF_PI_2_PARTS:
        r = k * c + r
    r2 = r * r
    cos_poly = _TF_COS_POLY[0]
    for c in _TF_COS_POLY[1:]:
        cos_poly = cos_poly * r2 + c
    sin_poly = _TF_SIN_POLY[0]
    for c in _TF_SIN_POLY[1:]:
        sin_poly = sin_poly * r2 + c
    sin_poly = (sin_poly * r2) * r + r
    y = np.where((k_int & 1) == 0, cos_poly, sin_poly).astype(np.float32)
    sign = ((k_int + 1) << 30).view(np.uint32) & np.uint32(0x80000000)
    return (y.view(np.uint32) ^ sign).view(np.float32)


class Frontend(nn.Module):
    """Batched OpenL3 front-end: [B, 48000] -> dB spectrogram [B, 1, F, T] float32.

    Parameters
    ----------
    input_repr : "linear", "mel128" or "mel256"
    frontend : "kapre", "librosa" or "legacy"

    Notes
    -----
    Buffers are non-persistent (they are rebuilt from the parameters above), so
    they are neither in the state dict nor in the parameter count.
    """

    def __init__(self, input_repr: str = "mel256", frontend: str = "kapre") -> None:
        super().__init__()
        if input_repr not in N_FFT:
            raise ParameterError(f"input_repr={input_repr!r} is not one of 'linear', 'mel128', 'mel256'")
        if frontend not in ("kapre", "librosa", "legacy"):
            raise ParameterError(f"frontend={frontend!r} is not one of 'kapre', 'librosa', 'legacy'")
        self.input_repr = input_repr
        self.frontend = frontend
        self.n_fft = N_FFT[input_repr]
        # kapre and the kapre path of openl3 compute in float32; librosa (float64 input) and our
        # legacy stand-in for kapre 0.1.4's conv-DFT compute in float64.
        self.compute_dtype = torch.float32 if frontend == "kapre" else torch.float64
        self.register_buffer("window", hann_window(self.n_fft, frontend).to(self.compute_dtype), persistent=False)
        if input_repr in N_MELS:
            basis = torch.from_numpy(mel_basis(input_repr, frontend)).to(self.compute_dtype)
            self.register_buffer("mel", basis, persistent=False)
        else:
            self.mel = None
        # (left, right) zero padding of each 48000-sample window.
        if input_repr == "linear":
            self.pad = (0, 0)  # 1 + (48000 - 512) // 242 = 197 frames
        elif frontend == "kapre":
            self.pad = (0, self.n_fft - 1)  # pad_end: ceil(48000 / 242) = 199 frames starting at 242 j
        elif frontend == "librosa":
            self.pad = (self.n_fft // 2, self.n_fft // 2)  # center=True: 1 + 48000 // 242 = 199 frames
        else:
            self.pad = (982, 982)  # Keras 'same' for stride 242 over 48000: 1964 zeros split evenly
        self.out_shape = SPEC_SHAPES[input_repr]
        # kapre on CPU: rfft by scipy (same bits as TF). Off for tracing/cost counting, like the CNN's kernels.
        self.cpu_kernels = True

    def extra_repr(self) -> str:
        """Describe the front-end in the module's repr."""
        return (
            f"input_repr={self.input_repr!r}, frontend={self.frontend!r}, n_fft={self.n_fft}, hop=242, pad={self.pad}"
        )

    def magnitude(self, x: torch.Tensor) -> torch.Tensor:
        """Compute the (mel) magnitude before dB.

        Parameters
        ----------
        x : torch.Tensor [shape=(B, 48000)]

        Returns
        -------
        magnitude : torch.Tensor [shape=(B, F, T)]
            In the compute dtype (float64 for the librosa front-end, else float32).
        """
        x = x.to(self.compute_dtype)
        if self.pad != (0, 0):
            x = nn.functional.pad(x, self.pad)
        if self._use_scipy_fft(x):
            spec = _scipy_stft(x, self.window, self.n_fft)
        else:
            spec = torch.stft(
                x,
                n_fft=self.n_fft,
                hop_length=HOP_LENGTH,
                window=self.window,
                center=False,
                return_complex=True,
            )
        if self.mel is None:
            return spec.abs()
        if self.frontend == "legacy":  # mel of the power spectrum, then sqrt (power_melgram=1)
            power = spec.real.square() + spec.imag.square()
            return torch.sqrt(torch.matmul(self.mel, power))
        return torch.matmul(self.mel, spec.abs())

    def _use_scipy_fft(self, x: torch.Tensor) -> bool:
        """Tell whether the FFT runs in scipy (kapre on CPU, no autograd, no tracing).

        Why scipy: audio resampled from 44.1 kHz or less leaves the band above the old Nyquist
        empty, and there kapre's magnitudes are float32 FFT rounding noise, which the 80 dB range
        (10 log10 of a magnitude: 8 decades) keeps. TF's CPU rfft and scipy's float32 pocketfft
        give identical bits; torch's MKL FFT does not, which alone costs ~3e-3 relative L2 in the
        embedding against openl3. GPUs, autograd and tracing use ``torch.stft``.
        """
        return (
            self.cpu_kernels
            and self.frontend == "kapre"
            and x.device.type == "cpu"
            and x.dtype == torch.float32
            and not x.requires_grad
            and not torch.jit.is_tracing()
            and not torch.compiler.is_compiling()
        )

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a ParameterError unless ``x`` is a batch of 1-s windows [B, 48000]."""
        if x.ndim != 2 or x.shape[1] != FRAME_LEN:
            raise ParameterError(
                f"the OpenL3 front-end expects windows of shape [B, {FRAME_LEN}], got {tuple(x.shape)}"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Compute the dB spectrogram of 1-s windows at 48 kHz.

        Parameters
        ----------
        x : torch.Tensor [shape=(B, 48000)]

        Returns
        -------
        spectrogram : torch.Tensor [shape=(B, 1, F, T)]
            float32 dB in [-80, 0]; (F, T) is ``SPEC_SHAPES[input_repr]``.
        """
        self.check_input(x)
        db = amplitude_to_db(self.magnitude(x))
        return db.to(torch.float32).unsqueeze(1)


def _scipy_stft(x: torch.Tensor, window: torch.Tensor, n_fft: int) -> torch.Tensor:
    """``tf.signal.stft`` on CPU: float32 frames times the window, float32 rfft. [B, n] -> [B, F, T] complex64."""
    frames = x.unfold(-1, n_fft, HOP_LENGTH) * window  # [B, T, n_fft], float32 products as in TF
    return torch.from_numpy(_tf_rfft(frames.numpy())).transpose(1, 2)


def _tf_rfft(frames: np.ndarray) -> np.ndarray:
    """float32 rfft over the last axis with the bits of TF's CPU ``RFFT`` (scipy's pocketfft). [..., n] -> [..., n // 2 + 1]."""
    import scipy.fft

    return scipy.fft.rfft(frames, axis=-1, workers=max(1, torch.get_num_threads()))


def build_frontend(input_repr: str = "mel256", frontend: str = "kapre") -> Frontend:
    """Shorthand for :class:`Frontend`."""
    return Frontend(input_repr, frontend)
