"""Band-limited resampling exactly as resampy 0.2.2 ``kaiser_best`` computes it (openl3's and edgel3's resampler).

openl3 0.4.2 and edgel3 0.2.1 both require ``resampy>=0.2.1,<0.3.0``, so their embeddings of audio that is
not at the model's rate were made with resampy 0.2.2. Later resampy releases changed the arithmetic
(the output times, the filter table), which moves openl3's embeddings by ~2e-2 relative L2. This module
reproduces 0.2.2 bit for bit, written from a reading of the algorithm (no resampy code, no resampy import):

* ratio ``r = float(sr_new) / sr_orig``; output length ``int(n * r)`` (:func:`output_length`);
* filter: the right half of a Kaiser-windowed sinc, 64 zero crossings, 512 table entries per crossing
  (32769 float64 values), Kaiser beta 14.769656459379492, roll-off 0.9475937167399596; multiplied by ``r``
  when downsampling; linearly interpolated between table entries (forward differences, the last one 0);
* output sample ``k`` sits at input time ``t_k``, a float64 *running sum* ``t_0 = 0, t_k = t_{k-1} + 1/r``;
* per output, left-wing taps over ``x[n], x[n-1], ...`` then right-wing taps over ``x[n+1], ...``
  (``n = int(t)``); products in float64, each partial sum stored in the output dtype, which is the
  input dtype: float32 input is rounded to float32 after every tap, integer input is truncated to
  its integer type after every tap (what resampy 0.2.2 does, and hence openl3 given an integer array);
* equal rates are not short-cut here (the filter still runs, as in resampy); :func:`sea.audio.resample`
  returns the input unchanged at equal rates, as openl3 and edgel3 skip resampling then.

The filter table is regenerated from its formula with correctly rounded ``exp`` and ``sin`` (integer
fixed-point arithmetic, so every machine computes the same bits) and checked against a pinned sha256.
:func:`resample_blocks` streams a long signal block by block with the same bits as one shot: the running
time sum continues across blocks and every output reads the same taps of the same samples.

The kernel is compiled with numba when it is importable (it is a dependency of librosa), else a
vectorised numpy version with the same arithmetic runs (about 2x slower).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator
from functools import cache, lru_cache

import numpy as np

from .errors import ParameterError

__all__ = [
    "BETA",
    "NUM_ZEROS",
    "PRECISION",
    "ROLLOFF",
    "TABLE_SHA256",
    "kaiser_best_table",
    "output_length",
    "resample",
    "resample_blocks",
]

NUM_ZEROS = 64
PRECISION = 512  # table entries per zero crossing
BETA = 14.769656459379492
ROLLOFF = 0.9475937167399596
#: sha256 of the 32769 little-endian float64 values of resampy 0.2.2's ``kaiser_best`` half window.
TABLE_SHA256 = "bd9ef1c92cce4d94cfa2d39baed11e160dad3e452bb59258d0404e1d73f2751b"

# Cephes' Chebyshev coefficients of exp(-x) I0(x): A on [0, 8], B on (8, inf) (Cephes i0.c, public domain).
_I0_A = (
    -4.4153416464793395e-18, 3.3307945188222384e-17, -2.431279846547955e-16, 1.715391285555133e-15,
    -1.1685332877993451e-14, 7.676185498604936e-14, -4.856446783111929e-13, 2.95505266312964e-12,
    -1.726826291441556e-11, 9.675809035373237e-11, -5.189795601635263e-10, 2.6598237246823866e-09,
    -1.300025009986248e-08, 6.046995022541919e-08, -2.670793853940612e-07, 1.1173875391201037e-06,
    -4.4167383584587505e-06, 1.6448448070728896e-05, -5.754195010082104e-05, 0.00018850288509584165,
    -0.0005763755745385824, 0.0016394756169413357, -0.004324309995050576, 0.010546460394594998,
    -0.02373741480589947, 0.04930528423967071, -0.09490109704804764, 0.17162090152220877,
    -0.3046826723431984, 0.6767952744094761,
)  # fmt: skip
_I0_B = (
    -7.233180487874754e-18, -4.830504485944182e-18, 4.46562142029676e-17, 3.461222867697461e-17,
    -2.8276239805165836e-16, -3.425485619677219e-16, 1.7725601330565263e-15, 3.8116806693526224e-15,
    -9.554846698828307e-15, -4.150569347287222e-14, 1.54008621752141e-14, 3.8527783827421426e-13,
    7.180124451383666e-13, -1.7941785315068062e-12, -1.3215811840447713e-11, -3.1499165279632416e-11,
    1.1889147107846439e-11, 4.94060238822497e-10, 3.3962320257083865e-09, 2.266668990498178e-08,
    2.0489185894690638e-07, 2.8913705208347567e-06, 6.889758346916825e-05, 0.0033691164782556943,
    0.8044904110141088,
)  # fmt: skip

# -- correctly rounded exp and sin of float64 arguments, in 160-bit fixed point ------------------------------

_FX = 160
_PI = "3.14159265358979323846264338327950288419716939937510582097494459230781640628620899862803482534211706798"
_LN2 = "0.69314718055994530941723212145817656807550013436025525412068000949339362196969471560586332699641868754"


def _fixed(digits: str) -> int:
    whole, frac = digits.split(".")
    return int(whole + frac) * (1 << _FX) // 10 ** len(frac)


_PI_FX, _LN2_FX = _fixed(_PI), _fixed(_LN2)


def _to_fixed(x: float) -> int:
    p, q = float(x).as_integer_ratio()  # q is a power of two
    return (p << _FX) // q


def _exp_cr(x: float) -> float:
    """exp(x), correctly rounded (barring a ~2^-150 tie), for a float64 ``x``."""
    xf = _to_fixed(x)
    k = (xf + _LN2_FX // 2) // _LN2_FX  # exp(x) = 2^k exp(r), |r| <= ln2 / 2
    r = xf - k * _LN2_FX
    term = s = 1 << _FX
    i = 1
    while term:
        term = (term * r >> _FX) // i
        s += term
        i += 1
    return (s << k) / (1 << _FX) if k >= 0 else s / (1 << (_FX - k))  # int / int rounds correctly


def _sin_cr(x: float) -> float:
    """sin(x), correctly rounded (barring a ~2^-150 tie), for a float64 ``x``."""
    xf = _to_fixed(abs(x))
    half_pi = _PI_FX // 2
    k = (xf + half_pi // 2) // half_pi  # x = k pi/2 + r, |r| <= pi/4
    r = xf - k * half_pi
    r2 = r * r >> _FX
    term = s = r if k % 2 == 0 else 1 << _FX  # sin(r) or cos(r)
    i = 1
    while term:
        d = (2 * i) * (2 * i + 1) if k % 2 == 0 else (2 * i - 1) * (2 * i)
        term = -(term * r2 >> _FX) // d
        s += term
        i += 1
    if (k % 4 >= 2) != (x < 0):
        s = -s
    return s / (1 << _FX)


def _chbevl(x: np.ndarray, coef: tuple[float, ...]) -> np.ndarray:
    """Clenshaw sum of a Chebyshev series (Cephes ``chbevl``), plain float64 operations in Cephes' order."""
    b0, b1, b2 = np.full_like(x, coef[0]), np.zeros_like(x), np.zeros_like(x)
    for c in coef[1:]:
        b2, b1 = b1, b0
        b0 = x * b1 - b2 + c
    return 0.5 * (b0 - b2)


def _i0(x: np.ndarray) -> np.ndarray:
    """Modified Bessel function I0 of ``x >= 0`` as Cephes computes it, with a correctly rounded exp."""
    x = np.asarray(x, dtype=np.float64)
    e = np.array([_exp_cr(float(v)) for v in x.ravel()]).reshape(x.shape)
    out = np.empty_like(x)
    lo = x <= 8.0
    out[lo] = e[lo] * _chbevl(x[lo] / 2.0 - 2.0, _I0_A)
    hi = ~lo
    out[hi] = e[hi] * _chbevl(32.0 / x[hi] - 2.0, _I0_B) / np.sqrt(x[hi])
    return out


@lru_cache(maxsize=1)
def kaiser_best_table() -> np.ndarray:
    """Return the 32769-entry right half window of resampy 0.2.2's ``kaiser_best`` filter (read-only).

    ``win[j] = kaiser(j) * rolloff * sinc(rolloff * j / 512)`` for ``j = 0 .. 64 * 512``, where ``kaiser`` is
    the right half of a symmetric Kaiser window of length ``2 * 32768 + 1``:
    ``I0(beta * sqrt(1 - ((m - a) / a) ** 2)) / I0(beta)``. Computed once per process (~0.5 s) and
    checked against :data:`TABLE_SHA256`.

    Returns
    -------
    table : np.ndarray [shape=(32769,), float64]

    Raises
    ------
    RuntimeError
        The regenerated table does not have the pinned hash (a bug, never expected).
    """
    n = PRECISION * NUM_ZEROS
    m = np.arange(n, 2 * n + 1, dtype=np.float64)
    alpha = float(n)
    taper = _i0(BETA * np.sqrt(1 - ((m - alpha) / alpha) ** 2.0)) / _i0(np.array([BETA]))[0]
    xs = ROLLOFF * (np.arange(n + 1, dtype=np.float64) * (NUM_ZEROS / n))
    ys = np.pi * np.where(xs == 0, 1.0e-20, xs)
    sinc = np.array([_sin_cr(float(v)) for v in ys]) / ys
    table = taper * (ROLLOFF * sinc)
    digest = hashlib.sha256(table.astype("<f8").tobytes()).hexdigest()
    if digest != TABLE_SHA256:
        raise RuntimeError(f"kaiser_best table sha256 {digest} != pinned {TABLE_SHA256}; please report this bug")
    table.setflags(write=False)
    return table


# -- plan and kernels ----------------------------------------------------------------------------------------


def output_length(n_in: int, sr_orig: float, sr_new: float) -> int:
    """Output length of resampy 0.2.2: ``int(n_in * (float(sr_new) / sr_orig))``.

    Parameters
    ----------
    n_in : int
        Input samples.
    sr_orig, sr_new : number > 0
        Input and output rates.

    Returns
    -------
    n_out : int
    """
    return int(n_in * (float(sr_new) / sr_orig))


class _Plan:
    """The filter and steps of one rate pair (resampy 0.2.2's set-up)."""

    def __init__(self, sr_orig: float, sr_new: float) -> None:
        if not (_positive(sr_orig) and _positive(sr_new)):
            raise ParameterError(f"sample rates must be positive numbers, got sr_orig={sr_orig!r}, sr_new={sr_new!r}")
        self.ratio = float(sr_new) / sr_orig
        win = kaiser_best_table()
        if self.ratio < 1:
            win = win * self.ratio
        dwin = np.zeros_like(win)
        dwin[:-1] = np.diff(win)
        self.wd = np.ascontiguousarray(np.stack([win, dwin], axis=1))  # one cache line per tap
        self.scale = min(1.0, self.ratio)
        self.step = int(self.scale * PRECISION)
        self.reach = win.shape[0] // self.step  # most taps per wing
        self.inc = 1.0 / self.ratio


def _positive(v) -> bool:
    return (
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
    )


def _times(t0: float, inc: float, count: int) -> np.ndarray:
    """``count`` running-sum times ``t0, t0 + inc, (t0 + inc) + inc, ...`` (sequential float64 adds)."""
    seq = np.full(count, inc)
    if count:
        seq[0] = t0
    return np.add.accumulate(seq)  # strictly sequential, as resampy's time register


def _wing(tk: float, n: int, scale: float, step: int, nwin: int, right: bool, n_orig: int):
    """Offset, interpolation factor and tap count of one wing of the filter at time ``tk``."""
    frac = scale * (tk - n)
    if right:
        frac = scale - frac
    idx = frac * 512.0
    off = int(idx)
    eta = idx - off
    m = min(n_orig - n - 1, (nwin - off) // step) if right else min(n + 1, (nwin - off) // step)
    return off, eta, m


def _kern_f8(x, lo, t, wd, scale, step, n_orig, y):
    """float64 outputs: the running sum stays in a register."""
    nwin = wd.shape[0]
    for k in range(t.shape[0]):
        tk = t[k]
        n = int(tk)
        acc = 0.0
        off, eta, m = _wing_jit(tk, n, scale, step, nwin, False, n_orig)
        for i in range(m):
            j = off + i * step
            acc = acc + (wd[j, 0] + eta * wd[j, 1]) * x[n - i - lo]
        off, eta, m = _wing_jit(tk, n, scale, step, nwin, True, n_orig)
        for i in range(m):
            j = off + i * step
            acc = acc + (wd[j, 0] + eta * wd[j, 1]) * x[n + 1 + i - lo]
        y[k] = acc


def _kern_f4(x, lo, t, wd, scale, step, n_orig, y):
    """float32 outputs: every partial sum is rounded to float32, as resampy 0.2.2 stores it in ``y``."""
    nwin = wd.shape[0]
    for k in range(t.shape[0]):
        tk = t[k]
        n = int(tk)
        acc = np.float32(0.0)
        off, eta, m = _wing_jit(tk, n, scale, step, nwin, False, n_orig)
        for i in range(m):
            j = off + i * step
            acc = np.float32(np.float64(acc) + (wd[j, 0] + eta * wd[j, 1]) * x[n - i - lo])
        off, eta, m = _wing_jit(tk, n, scale, step, nwin, True, n_orig)
        for i in range(m):
            j = off + i * step
            acc = np.float32(np.float64(acc) + (wd[j, 0] + eta * wd[j, 1]) * x[n + 1 + i - lo])
        y[k] = acc


def _kern_int(x, lo, t, wd, scale, step, n_orig, y):
    """Integer outputs: each partial sum is stored in ``y`` (numba's float -> int conversion), as in resampy 0.2.2."""
    nwin = wd.shape[0]
    for k in range(t.shape[0]):
        tk = t[k]
        n = int(tk)
        y[k] = 0
        off, eta, m = _wing_jit(tk, n, scale, step, nwin, False, n_orig)
        for i in range(m):
            j = off + i * step
            y[k] += (wd[j, 0] + eta * wd[j, 1]) * x[n - i - lo]
        off, eta, m = _wing_jit(tk, n, scale, step, nwin, True, n_orig)
        for i in range(m):
            j = off + i * step
            y[k] += (wd[j, 0] + eta * wd[j, 1]) * x[n + 1 + i - lo]


_wing_jit = _wing  # replaced by its compiled version when numba is importable


@cache
def _compiled(kind: str):
    """The numba-compiled kernel for ``"f8"``, ``"f4"`` or ``"int"`` outputs, or None without numba."""
    global _wing_jit
    try:
        import numba
    except ImportError:
        return None
    jit = numba.njit(nogil=True, cache=True)
    if not isinstance(_wing_jit, numba.core.registry.CPUDispatcher):
        _wing_jit = jit(_wing)
    return jit({"f8": _kern_f8, "f4": _kern_f4, "int": _kern_int}[kind])


def _store(acc: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Round float64 partial sums to the output dtype as numba's store does (ints: truncate, then wrap)."""
    if dtype.kind == "f":
        return acc.astype(dtype).astype(np.float64)
    via = np.int64 if dtype.itemsize == 8 or dtype == np.uint32 else np.int32
    with np.errstate(invalid="ignore"):
        return acc.astype(via).astype(dtype).astype(np.float64)


def _kernel_numpy(x, lo, t, wd, scale, step, n_orig, y, chunk: int = 1 << 15) -> None:
    """The same arithmetic vectorised over outputs (tap-major), for machines without numba."""
    nwin = wd.shape[0]
    exact = y.dtype == np.float64
    for c0 in range(0, t.shape[0], chunk):
        tc = t[c0 : c0 + chunk]
        n = tc.astype(np.int64)
        acc = np.zeros(tc.shape[0])
        for left in (True, False):
            frac = scale * (tc - n)
            if not left:
                frac = scale - frac
            idx = frac * 512.0
            off = idx.astype(np.int64)
            eta = idx - off
            ntap = np.minimum(n + 1 if left else n_orig - n - 1, (nwin - off) // step)
            for i in range(int(ntap.max(initial=0))):
                live = i < ntap
                j = np.minimum(off + i * step, nwin - 1)
                xi = np.clip(n - i - lo if left else n + 1 + i - lo, 0, x.shape[0] - 1)
                s = acc + (wd[j, 0] + eta * wd[j, 1]) * x[xi]
                acc = np.where(live, s if exact else _store(s, y.dtype), acc)
        y[c0 : c0 + chunk] = acc


def _run(x: np.ndarray, lo: int, t: np.ndarray, plan: _Plan, n_orig: int, dtype, backend: str) -> np.ndarray:
    y = np.zeros(t.shape[0], dtype=dtype)
    kind = ("f8" if y.dtype.itemsize == 8 else "f4") if y.dtype.kind == "f" else "int"
    kern = _compiled(kind) if backend == "numba" else None
    if kern is not None:
        kern(np.ascontiguousarray(x), lo, t, plan.wd, plan.scale, plan.step, n_orig, y)
    else:
        _kernel_numpy(np.asarray(x), lo, t, plan.wd, plan.scale, plan.step, n_orig, y)
    return y


_DTYPES = ("float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16")


def _check_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.name not in _DTYPES:
        raise ParameterError(f"cannot resample {dtype} samples; give one of {', '.join(_DTYPES)}")
    return dtype


def resample(x: np.ndarray, sr_orig: float, sr_new: float, *, backend: str = "numba") -> np.ndarray:
    """Resample along the first axis exactly as ``resampy.resample(x, sr_orig, sr_new, filter='kaiser_best')`` 0.2.2.

    Parameters
    ----------
    x : np.ndarray [shape=(n,) or (n, channels)]
        float32, float64 or integer samples; the output has the same dtype (see the module notes).
    sr_orig, sr_new : number > 0
        Input and output rates.
    backend : "numba" or "numpy"
        The compiled kernel (when numba is importable) or the numpy one; both give the same bits.

    Returns
    -------
    y : np.ndarray [shape=(output_length(n, sr_orig, sr_new),) or (..., channels)]

    Raises
    ------
    ParameterError
        Non-positive rates, an unsupported dtype or shape, or an input too short to give one sample.
    """
    x = np.asarray(x)
    dtype = _check_dtype(x.dtype)
    if x.ndim not in (1, 2):
        raise ParameterError(f"resample takes (n,) or (n, channels) samples, got shape {x.shape}")
    plan = _Plan(sr_orig, sr_new)
    n_out = output_length(x.shape[0], sr_orig, sr_new)
    if n_out < 1:
        raise ParameterError(f"{x.shape[0]} samples at {sr_orig} Hz are too few to give one sample at {sr_new} Hz")
    t = _times(0.0, plan.inc, n_out)
    if x.ndim == 1:
        return _run(x, 0, t, plan, x.shape[0], dtype, backend)
    cols = [_run(np.ascontiguousarray(x[:, c]), 0, t, plan, x.shape[0], dtype, backend) for c in range(x.shape[1])]
    return np.stack(cols, axis=1) if cols else np.zeros((n_out, 0), dtype=dtype)


def resample_blocks(
    read: Callable[[int, int], np.ndarray],
    n_in: int,
    sr_orig: float,
    sr_new: float,
    *,
    block: int = 480_000,
    backend: str = "numba",
) -> Iterator[np.ndarray]:
    """Stream the resampled signal in blocks of ``block`` output samples; their concatenation equals :func:`resample`.

    Parameters
    ----------
    read : callable (lo, hi) -> np.ndarray [shape=(hi - lo,)]
        Returns the 1-D input samples ``[lo, hi)``, in the same dtype every call. A reader that returns
        fewer samples (a file shorter than its header said) gets the rest as zeros.
    n_in : int
        Input length.
    sr_orig, sr_new : number > 0
        Input and output rates.
    block : int
        Output samples per block. Each block reads its outputs' span plus the filter reach.
    backend : "numba" or "numpy"

    Yields
    ------
    y : np.ndarray [shape=(<= block,)]
        The next output samples, in the input's dtype.
    """
    plan = _Plan(sr_orig, sr_new)
    if not (isinstance(block, int) and block > 0):
        raise ParameterError(f"block={block!r} must be a positive number of output samples")
    n_out = output_length(n_in, sr_orig, sr_new)
    t_next = 0.0
    for k0 in range(0, n_out, block):
        t = _times(t_next, plan.inc, min(n_out, k0 + block) - k0)
        t_next = t[-1] + plan.inc  # the running sum continues exactly as in one shot
        lo = max(0, int(t[0]) - plan.reach)
        hi = min(n_in, int(t[-1]) + plan.reach + 2)
        x = np.asarray(read(lo, hi))
        dtype = _check_dtype(x.dtype)
        if x.shape[0] < hi - lo:
            x = np.concatenate([x, np.zeros(hi - lo - x.shape[0], dtype=x.dtype)])
        yield _run(x, lo, t, plan, n_in, dtype, backend)
