"""``frontend.json`` for the firmware: validation against the model and the C tables generated from it.

The C front-end is a float32 twin of :func:`sea.students.frontend_numpy.logmel_numpy`, so it reads exactly the keys that function
reads. A corrupted or mismatched file is refused at generation time with a one-line
:class:`~sea.errors.ExportError` that names the file, the key, the rule and the fix.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sea.errors import ExportError

__all__ = ["FrontendSpec", "load_frontend"]

_FIX = "re-export with `sea export --int8` so that frontend.json and model_int8.tflite come from the same run"

# key -> (kind, rule text); kinds: int, pos_int, nonneg_int, pos_num, nonneg_num, bool, norm, window
_KEYS = {
    "sr": ("pos_int", "a positive integer sample rate in Hz"),
    "window_length": ("pos_int", "a positive integer number of samples"),
    "n_dft": ("pos_int", "a power of two >= 16"),
    "hop_length": ("pos_int", "a positive integer number of samples"),
    "n_frames": ("pos_int", "a positive integer"),
    "pad_left": ("nonneg_int", "an integer >= 0"),
    "pad_right": ("nonneg_int", "an integer >= 0"),
    "n_mels": ("pos_int", "a positive integer"),
    "fmin": ("nonneg_num", "a finite number >= 0 (Hz)"),
    "fmax": ("pos_num", "a finite number > 0 (Hz)"),
    "htk": ("bool", "true or false"),
    "norm": ("norm", '"slaney" or null'),
    "power_melgram": ("pos_num", "a finite number > 0"),
    "db_scale": ("pos_num", "a finite number > 0"),
    "amin": ("pos_num", "a finite number > 0"),
    "top_db": ("pos_num", "a finite number > 0"),
}


@dataclass
class FrontendSpec:
    """Validated front-end constants plus the model's input quantisation.

    Attributes
    ----------
    params : dict
        The ``frontend`` object of frontend.json (validated keys).
    input_scale : float
    input_zero_point : int
    path : str
    """

    params: dict
    input_scale: float
    input_zero_point: int
    path: str

    @property
    def n_dft(self) -> int:
        """DFT length (a power of two)."""
        return int(self.params["n_dft"])

    @property
    def n_mels(self) -> int:
        """Mel bands."""
        return int(self.params["n_mels"])

    @property
    def n_frames(self) -> int:
        """Frames per window."""
        return int(self.params["n_frames"])

    @property
    def window_length(self) -> int:
        """Samples per window."""
        return int(self.params["window_length"])

    @property
    def sr(self) -> int:
        """Sample rate in Hz."""
        return int(self.params["sr"])

    @property
    def scratch_floats(self) -> int:
        """Floats of scratch the C front-end needs.

        The FFT buffer, the power spectrum (+1 pad), the log-mel window and a zero-padded int16 copy of an edge
        frame.
        """
        return self.n_dft + self.n_dft // 2 + 2 + self.n_mels * self.n_frames + self.n_dft // 2

    def tables(self) -> dict:
        """The C tables: window, twiddles, bit reversal and the sparse mel filterbank.

        Returns
        -------
        dict
            ``window`` [n_dft] float32 (periodic Hann times 2**-16: PCM / 32768 and the real-FFT 1/2),
            ``window_perm`` [n_dft] float32 and ``load_idx`` [n_dft // 16] uint16 (the order of the fused
            window + bit-reversal + first radix-8 FFT stage),
            ``twiddle`` [n_dft // 4 + 1, 2] float32 (cos, -sin of 2 pi k / n_dft, the real-FFT split),
            ``stage_twiddle`` float32 and ``stages`` [(radix, half, offset)] for the FFT stages after the first,
            ``bitrev`` [n_dft // 2] uint16,
            ``mel_start``/``mel_length``/``mel_offset`` [n_mels] int and ``mel_weights`` [nnz] float32.
        """
        from ._compat import frontend_numpy

        fn = frontend_numpy()
        p = self.params
        n = self.n_dft
        m = n // 2
        window = (fn.hann_periodic(n) * 2.0**-16).astype(np.float32)

        def w(idx):  # exp(-2 pi i idx / n) as (cos, -sin) in float64
            idx = np.asarray(idx, np.float64)
            return np.stack([np.cos(2 * np.pi * idx / n), -np.sin(2 * np.pi * idx / n)], axis=-1)

        # the real-FFT split uses W^k for k <= m / 2
        twiddle = w(np.arange(m // 2 + 1)).astype(np.float32)
        # later stages: radix 8 while >= 3 radix-2 stages remain, then one radix-4 or radix-2 stage; per column
        # j >= 1 the twiddles of W = W_{R h}^j = W_n^{j n / (R h)}: (W^4, W^2, W^6, W, W^5, W^3, W^7) for r = 1..7
        # (radix 8), (W, W^2, W^3) (radix 4), W (radix 2)
        br3 = np.array([0, 4, 2, 6, 1, 5, 3, 7])  # 3-bit reversal
        log2m = int(math.log2(m))
        plan, h, rem = [], 8, log2m - 3
        while rem >= 3:
            plan.append((8, h))
            h, rem = h * 8, rem - 3
        if rem:
            plan.append((2**rem, h))
        stage, stage_off = [], []
        for radix, h in plan:
            stage_off.append(sum(len(s_) for s_ in stage))
            j = np.arange(1, h)
            base = j * (n // (radix * h))
            powers = {8: br3[1:], 4: np.array([1, 2, 3]), 2: np.array([1])}[radix]
            stage.append(np.concatenate([w(p_ * base) for p_ in powers], axis=1).reshape(-1))
        stage_twiddle = np.concatenate(stage).astype(np.float32) if stage else np.zeros(1, np.float32)
        bits = int(math.log2(m))
        bitrev = np.array([int(format(i, f"0{bits}b")[::-1], 2) if bits else 0 for i in range(m)], np.uint16)
        mel = fn.mel_filterbank_numpy(
            sr=int(p["sr"]),
            n_fft=n,
            n_mels=int(p["n_mels"]),
            fmin=float(p["fmin"]),
            fmax=float(p["fmax"]),
            htk=bool(p["htk"]),
            norm=p["norm"],
        ).astype(np.float32)
        starts, lengths, offsets, weights = [], [], [], []
        for row in mel:
            nz = np.nonzero(row != 0)[0]
            s, e = (int(nz[0]), int(nz[-1]) + 1) if nz.size else (0, 0)
            starts.append(s)
            lengths.append(e - s)
            offsets.append(len(weights))
            weights.extend(row[s:e].tolist())
        # the fused load + first radix-8 stage of sea_fft_load8: group g holds the sample pairs
        # (n + br3(r) m / 4, ... + 1), r = 0..7, n = 2 bitrev[8 g]
        load_idx = (2 * bitrev[0::8].astype(np.int64)).astype(np.uint16)
        samples = load_idx.astype(np.int64)[:, None] + br3[None, :] * (m // 4)  # [m / 8, 8]
        window_perm = np.stack([window[samples], window[samples + 1]], axis=2).reshape(-1)
        return {
            "window": window,
            "window_perm": window_perm.astype(np.float32),
            "load_idx": load_idx,
            "twiddle": twiddle,
            "stage_twiddle": stage_twiddle,
            "stages": [(radix, h, off) for (radix, h), off in zip(plan, stage_off)],
            "bitrev": bitrev,
            "mel_start": np.array(starts, np.int64),
            "mel_length": np.array(lengths, np.int64),
            "mel_offset": np.array(offsets, np.int64),
            "mel_weights": np.array(weights if weights else [0.0], np.float32),
        }


def _err(path, key: str, value, rule: str, fix: str = _FIX) -> ExportError:
    shown = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else str(value)
    return ExportError(f"{path}: '{key}' = {shown[:80]} is invalid: it must be {rule}; {fix}")


def _check_value(path, key: str, v, kind: str, rule: str):
    is_int = isinstance(v, int) and not isinstance(v, bool)
    is_num = (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(float(v))
    ok = {
        "pos_int": is_int and v > 0,
        "nonneg_int": is_int and v >= 0,
        "pos_num": is_num and float(v) > 0,
        "nonneg_num": is_num and float(v) >= 0,
        "bool": isinstance(v, bool),
        "norm": v is None or v == "slaney",
    }[kind]
    if not ok:
        raise _err(path, f"frontend.{key}", v, rule)


def load_frontend(path: str | Path, model_input_shape, input_scale: float, input_zero_point: int) -> FrontendSpec:
    """Read and validate ``frontend.json`` against the int8 model it ships with.

    Parameters
    ----------
    path : path
        ``frontend.json`` written by ``sea export``.
    model_input_shape : sequence of int
        Shape of the model's input tensor, e.g. ``[1, 1, 64, 50]`` (mel-major, frame-minor).
    input_scale, input_zero_point
        The model input's int8 quantisation.

    Raises
    ------
    ExportError
        Missing file, invalid JSON, a missing key, a wrong type, NaN/inf, inconsistent framing, or values that
        disagree with the model (mel bands, frames, input quantisation).
    """
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"{path}: frontend.json not found; it is written next to model_int8.tflite by `sea export`")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"), parse_constant=lambda c: float(c))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportError(f"{path}: not valid JSON ({exc}); {_FIX}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("frontend"), dict):
        raise ExportError(f"{path}: key 'frontend' is missing or not an object; {_FIX}")
    if doc.get("model_input", "logmel") != "logmel":
        raise ExportError(
            f"{path}: 'model_input' = {doc.get('model_input')!r} is unsupported: the firmware computes the log-mel in C "
            "and needs a model with log-mel input; export without --with-frontend"
        )
    fe = doc["frontend"]
    for key, (kind, rule) in _KEYS.items():
        if key not in fe:
            raise ExportError(f"{path}: key 'frontend.{key}' is missing (it must be {rule}); {_FIX}")
        _check_value(path, key, fe[key], kind, rule)
    n_dft, hop, win = int(fe["n_dft"]), int(fe["hop_length"]), int(fe["window_length"])
    if n_dft < 16 or n_dft & (n_dft - 1):
        raise _err(path, "frontend.n_dft", n_dft, "a power of two >= 16 (the C real FFT is radix 8/4/2)")
    if n_dft > 65536:
        raise _err(path, "frontend.n_dft", n_dft, "at most 65536")
    if "win_length" in fe and fe["win_length"] not in (None, n_dft):
        raise _err(
            path, "frontend.win_length", fe["win_length"], f"equal to n_dft ({n_dft}): the Hann window spans the frame"
        )
    if "window" in fe and fe["window"] != "hann_periodic":
        raise _err(path, "frontend.window", fe["window"], '"hann_periodic"')
    if fe.get("ref", "window_max") != "window_max":
        raise _err(path, "frontend.ref", fe.get("ref"), '"window_max" (dB relative to the window maximum)')
    n_frames, pad_l, pad_r = int(fe["n_frames"]), int(fe["pad_left"]), int(fe["pad_right"])
    if (n_frames - 1) * hop + n_dft > pad_l + win + pad_r:
        raise _err(
            path,
            "frontend.n_frames",
            n_frames,
            f"at most {1 + (pad_l + win + pad_r - n_dft) // hop} for window_length {win}, hop_length {hop}, "
            f"n_dft {n_dft} and pads {pad_l}/{pad_r}",
        )
    if float(fe["fmax"]) > int(fe["sr"]) / 2 + 1e-9 or float(fe["fmin"]) >= float(fe["fmax"]):
        raise _err(path, "frontend.fmax", fe["fmax"], f"in (fmin, sr / 2] = ({fe['fmin']}, {int(fe['sr']) / 2}]")
    dims = [int(d) for d in model_input_shape if int(d) != 1]
    n_mels = int(fe["n_mels"])
    if len(dims) != 2 or dims[0] != n_mels:
        raise _err(
            path,
            "frontend.n_mels",
            n_mels,
            f"the mel axis of the model input {list(model_input_shape)}",
            _FIX,
        )
    if dims[1] != n_frames:
        raise _err(path, "frontend.n_frames", n_frames, f"the frame axis of the model input {list(model_input_shape)}")
    iq = doc.get("input_quantization")
    if iq is not None:
        if not isinstance(iq, dict):
            raise _err(path, "input_quantization", iq, "an object with scale and zero_point")
        for key in ("scale", "zero_point"):
            if key not in iq:
                raise ExportError(f"{path}: key 'input_quantization.{key}' is missing; {_FIX}")
        s, z = iq["scale"], iq["zero_point"]
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(float(s)) or float(s) <= 0:
            raise _err(path, "input_quantization.scale", s, "a finite number > 0")
        if isinstance(z, bool) or not isinstance(z, int) or not -128 <= z <= 127:
            raise _err(path, "input_quantization.zero_point", z, "an integer in [-128, 127]")
        if not math.isclose(float(s), float(input_scale), rel_tol=1e-6) or int(z) != int(input_zero_point):
            raise _err(
                path,
                "input_quantization",
                {"scale": s, "zero_point": z},
                f"the model input's scale {input_scale:.9g} and zero point {input_zero_point}",
            )
    params = {k: fe[k] for k in _KEYS}
    params["norm"] = fe["norm"]
    return FrontendSpec(params, float(input_scale), int(input_zero_point), str(path))
