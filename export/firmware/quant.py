"""TFLite int8 fixed-point arithmetic in numpy: the oracle the generated C must equal bit for bit.

Follows the TFLite quantisation spec and the reference kernels (double rounding, i.e. built without
``TFLITE_SINGLE_ROUNDING``):

- ``QuantizeMultiplier``: a real multiplier ``m > 0`` becomes ``(q, shift)`` with ``m = q * 2**(shift - 31)``,
  ``q`` in ``[2**30, 2**31)`` rounded half away from zero from ``frexp``; shifts below -31 flush to zero.
- ``MultiplyByQuantizedMultiplier(x, q, shift)``: ``RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(
  x * 2**max(shift, 0), q), max(-shift, 0))``.

The generator uses these to fill lookup tables (int8 -> int8 elementwise layers) and the tests use them to
cross-check the C. Everything is exact integer arithmetic on int64 arrays.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "act_range",
    "conv_multipliers",
    "multiply_by_quantized_multiplier",
    "quantize_multiplier",
    "rounding_divide_by_pot",
    "saturating_rounding_doubling_high_mul",
]

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def quantize_multiplier(m: float) -> tuple[int, int]:
    """TFLite ``QuantizeMultiplier(double)``: ``(quantized_multiplier, shift)`` with ``m ~= q * 2**(shift-31)``."""
    m = float(m)
    if m == 0.0:
        return 0, 0
    frac, shift = math.frexp(m)
    # TfLiteRound is std::round: half away from zero
    q = int(math.floor(abs(frac) * (1 << 31) + 0.5)) * (1 if frac >= 0 else -1)
    if q == (1 << 31):
        q //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return int(q), int(shift)


def conv_multipliers(input_scale: float, filter_scales, output_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``(multiplier [C] int32, shift [C] int32)`` as ``PopulateConvolutionQuantizationParams``.

    The effective scale is ``double(input_scale) * double(filter_scale) / double(output_scale)`` with every
    scale first rounded to float32 (the flatbuffer stores float32).
    """
    fs = np.asarray(filter_scales, np.float32).reshape(-1)
    s_in, s_out = float(np.float32(input_scale)), float(np.float32(output_scale))
    pairs = [quantize_multiplier(s_in * float(f) / s_out) for f in fs]
    return np.array([p[0] for p in pairs], np.int64), np.array([p[1] for p in pairs], np.int64)


def saturating_rounding_doubling_high_mul(a, b) -> np.ndarray:
    """Gemmlowp's ``SaturatingRoundingDoublingHighMul`` on int32 values (int64 arrays in and out)."""
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    t = ab + nudge
    # C++ integer division truncates toward zero
    q = np.where(t >= 0, t >> 31, -((-t) >> 31))
    return np.where((a == b) & (a == INT32_MIN), INT32_MAX, q).astype(np.int64)


def rounding_divide_by_pot(x, exponent) -> np.ndarray:
    """Gemmlowp's ``RoundingDivideByPOT``: ``x / 2**exponent`` rounded half away from zero."""
    x = np.asarray(x, np.int64)
    e = np.asarray(exponent, np.int64)
    mask = (np.int64(1) << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> e) + (remainder > threshold)


def multiply_by_quantized_multiplier(x, multiplier, shift) -> np.ndarray:
    """TFLite ``MultiplyByQuantizedMultiplier(int32 x, int32 multiplier, int shift)`` (double rounding)."""
    x = np.asarray(x, np.int64)
    shift = np.asarray(shift, np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    # x * (1 << left_shift) wraps in 32 bits like the C it mirrors
    xl = ((x << left) + 2**31) % 2**32 - 2**31
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(xl, multiplier), right)


def act_range(activation: int, scale: float, zero_point: int, qmin: int = -128, qmax: int = 127) -> tuple[int, int]:
    """``CalculateActivationRangeQuantized`` for fused NONE (0), RELU (1), RELU_N1_TO_1 (2), RELU6 (3)."""

    def q(v: float) -> int:
        # TfLiteRound (std::round, half away from zero) of a float32 quotient
        t = float(np.float32(v) / np.float32(scale))
        return int(zero_point) + int(math.copysign(math.floor(abs(t) + 0.5), t))

    if activation == 0:
        return qmin, qmax
    if activation == 1:
        return max(qmin, q(0.0)), qmax
    if activation == 2:
        return max(qmin, q(-1.0)), min(qmax, q(1.0))
    if activation == 3:
        return max(qmin, q(0.0)), min(qmax, q(6.0))
    raise ValueError(f"fused activation {activation} has no int8 range")
