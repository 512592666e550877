"""MCU bundle: the int8 model as a const aligned C array and a config header for a CMSIS-DSP front-end."""

from __future__ import annotations

import inspect
import math
import shutil
from pathlib import Path

import numpy as np

from sea.utils import write_text_atomic

TEMPLATES = Path(__file__).parent / "templates"
__all__ = ["frontend_tables", "write_mcu_bundle"]


def frontend_tables(params: dict) -> dict:
    """Hann window and mel filterbank of the student front-end, from sea's numpy twin.

    Returns
    -------
    dict with ``window`` [n_fft] float32 and ``mel`` [n_mels, n_fft // 2 + 1] float32.
    """
    from sea.students import frontend_numpy as fe

    n_fft = int(params.get("n_fft", 1024))
    win_length = int(params.get("win_length", n_fft) or n_fft)
    window = np.asarray(fe.hann_periodic(win_length), np.float32)
    if win_length < n_fft:  # centre the window in the FFT frame, like torch.stft / librosa
        pad = (n_fft - win_length) // 2
        window = np.pad(window, (pad, n_fft - win_length - pad))
    sig = inspect.signature(fe.mel_filterbank_numpy)
    kw = {k: v for k, v in params.items() if k in sig.parameters}
    mel = np.asarray(fe.mel_filterbank_numpy(**kw), np.float32)
    n_bins = n_fft // 2 + 1
    if mel.shape[0] == n_bins and mel.shape[1] != n_bins:
        mel = mel.T
    return {"window": window, "mel": mel}


def _c_floats(a: np.ndarray, per_line: int = 8) -> str:
    vals = [f"{float(v):.9g}f" if math.isfinite(float(v)) else "0.0f" for v in np.ravel(a)]
    vals = [v if ("." in v or "e" in v) else v.replace("f", ".0f") for v in vals]
    return ",\n".join("    " + ", ".join(vals[i : i + per_line]) for i in range(0, len(vals), per_line))


def _c_ints(a, per_line: int = 16) -> str:
    vals = [str(int(v)) for v in np.ravel(a)]
    return ",\n".join("    " + ", ".join(vals[i : i + per_line]) for i in range(0, len(vals), per_line))


def _c_bytes(data: bytes, per_line: int = 16) -> str:
    return ",\n".join(
        "    " + ", ".join(f"0x{b:02x}" for b in data[i : i + per_line]) for i in range(0, len(data), per_line)
    )


def _sparse_mel(mel: np.ndarray):
    starts, lengths, offsets, weights = [], [], [], []
    for row in mel:
        nz = np.nonzero(row > 0)[0]
        s, e = (int(nz[0]), int(nz[-1]) + 1) if nz.size else (0, 0)
        starts.append(s)
        lengths.append(e - s)
        offsets.append(len(weights))
        weights.extend(row[s:e].tolist())
    return starts, lengths, offsets, np.asarray(weights, np.float32)


def _define_name(k: str) -> str:
    return "SEA_FE_" + "".join(c if c.isalnum() else "_" for c in k.upper())


def write_mcu_bundle(
    out_dir: str | Path,
    tflite_int8: str | Path,
    *,
    io: dict,
    arena_bytes: int,
    arena_margin: float,
    frontend_params: dict,
    model_name: str,
    with_frontend: bool = False,
) -> dict:
    """Write ``model_int8.{h,c}``, ``sea_model_config.h``, ``README.md`` and the model to ``out_dir``.

    Parameters
    ----------
    out_dir : path
        The bundle folder (``RUN/export/<name>/mcu``).
    tflite_int8 : path
        The full-int8 ``.tflite`` model.
    io : dict
        Its input/output quantization (``export.tflite.io_quantization``).
    arena_bytes : int
        The TFLM arena measured on the host.
    arena_margin : float
        Fraction added to the arena (rounded up to 16 bytes).
    frontend_params : dict
        The student front-end's constants (``frontend.json``'s ``frontend``).
    model_name : str
        The student's registry name.
    with_frontend : bool
        Whether the model takes raw audio (the front-end inside the graph).

    Returns
    -------
    bundle : dict
        ``dir``, ``files``, ``arena_size`` (bytes, with margin) and ``model_bytes``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = Path(tflite_int8).read_bytes()
    write_text_atomic(out / "model_int8.h", _model_header(model_name, len(data)))
    write_text_atomic(out / "model_int8.c", _model_source(model_name, data))
    arena = int(math.ceil(arena_bytes * (1.0 + arena_margin) / 16.0) * 16)
    tables = frontend_tables(frontend_params)
    sparse = _sparse_mel(tables["mel"])
    text = (
        _config_intro(model_name, io, with_frontend, float(frontend_params["window_length"]) / float(frontend_params["sr"]),
                      int(frontend_params["sr"]))  # fmt: skip
        + _config_io(io, arena, arena_bytes, arena_margin)
        + _config_frontend(frontend_params, tables, n_weights=sparse[3].size, in_shape=io["input"]["shape"])
        + _config_tables(sparse, tables["window"])
    )
    write_text_atomic(out / "sea_model_config.h", text)
    readme = (TEMPLATES / "README_mcu.md").read_text(encoding="utf-8")
    write_text_atomic(out / "README.md", readme.replace("{{MODEL_NAME}}", model_name).replace("{{ARENA}}", str(arena)))
    shutil.copyfile(tflite_int8, out / "model_int8.tflite")
    for f in out.iterdir():  # atomic writes create 0600 files; bundles are meant to be shared
        f.chmod(0o755 if f.name.endswith(".py") else 0o644)
    return {
        "dir": str(out),
        "files": ["model_int8.h", "model_int8.c", "sea_model_config.h", "README.md", "model_int8.tflite"],
        "arena_size": arena,
        "model_bytes": len(data),
    }


def _model_header(model_name: str, n: int) -> str:
    return f"""/* {model_name} full-int8 TFLite flatbuffer, generated by `sea export`. */
#ifndef SEA_MODEL_INT8_H
#define SEA_MODEL_INT8_H

#ifdef __cplusplus
extern "C" {{
#endif

/* {n} bytes; 16-byte aligned so TFLite Micro can read the flatbuffer in place (from flash). */
extern const unsigned char sea_model_int8[];
extern const unsigned int sea_model_int8_len;

#ifdef __cplusplus
}}
#endif

#endif /* SEA_MODEL_INT8_H */
"""


def _model_source(model_name: str, data: bytes) -> str:
    n = len(data)
    return f"""/* {model_name} full-int8 TFLite flatbuffer ({n} bytes), generated by `sea export`. */
#include "model_int8.h"

#if defined(__cplusplus)
#define SEA_ALIGN16 alignas(16)
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#include <stdalign.h>
#define SEA_ALIGN16 alignas(16)
#else
#define SEA_ALIGN16 __attribute__((aligned(16)))
#endif

SEA_ALIGN16 const unsigned char sea_model_int8[{n}] = {{
{_c_bytes(data)}
}};

const unsigned int sea_model_int8_len = {n}u;
"""


def _config_intro(model_name: str, io: dict, with_frontend: bool, window_size: float, sr: int = 8000) -> str:
    iq, oq = io["input"], io["output"]
    in_shape, out_shape = iq["shape"], oq["shape"]
    return f"""/* Configuration of the {model_name} int8 model for TensorFlow Lite Micro, generated by `sea export`.
 *
 * Input : {f"raw {sr / 1000:g} kHz audio" if with_frontend else f"log-mel dB (max-normalised per {window_size:g}-s window, floored at -80 dB)"},
 *         shape {in_shape} ({iq["dtype"]}); feed q = clamp(round(x / SEA_INPUT_SCALE) + SEA_INPUT_ZERO_POINT, -128, 127).
 *         The layout is the PyTorch one: [batch, channel, mel band, frame], i.e. input[m * SEA_N_FRAMES + t].
 * Output: embedding, shape {out_shape} ({oq["dtype"]}); x = (q - SEA_OUTPUT_ZERO_POINT) * SEA_OUTPUT_SCALE.
 *
 * Front-end on the MCU (CMSIS-DSP): for each of SEA_N_FRAMES frames, multiply SEA_FFT_LENGTH samples by
 * sea_hann_window, arm_rfft_fast_f32, take |X|^2 per bin, then for mel band m sum
 * sea_mel_weights[sea_mel_offset[m] + j] * power[sea_mel_start_bin[m] + j] for j < sea_mel_length[m],
 * and apply the log/normalisation steps listed in frontend.json (SEA_FE_* below mirror it).
 * Include this header in ONE translation unit (the tables are static const).
 */
#ifndef SEA_MODEL_CONFIG_H
#define SEA_MODEL_CONFIG_H

#include <stdint.h>

"""


def _config_io(io: dict, arena: int, arena_bytes: int, arena_margin: float) -> str:
    iq, oq = io["input"], io["output"]
    in_shape, out_shape = iq["shape"], oq["shape"]
    return f"""/* Tensor arena: measured with tflite-micro on the host ({arena_bytes} B) + {arena_margin:.0%} margin, 16-byte multiple. */
#define SEA_TENSOR_ARENA_SIZE {arena}
#define SEA_TENSOR_ARENA_MEASURED {arena_bytes}

#define SEA_INPUT_RANK {len(in_shape)}
{chr(10).join(f"#define SEA_INPUT_DIM{i} {d}" for i, d in enumerate(in_shape))}
#define SEA_INPUT_SIZE {int(np.prod(in_shape))}
#define SEA_INPUT_SCALE {iq["scale"]!r}f
#define SEA_INPUT_ZERO_POINT {iq["zero_point"]}
#define SEA_OUTPUT_RANK {len(out_shape)}
{chr(10).join(f"#define SEA_OUTPUT_DIM{i} {d}" for i, d in enumerate(out_shape))}
#define SEA_EMBEDDING_DIM {int(out_shape[-1])}
#define SEA_OUTPUT_SCALE {oq["scale"]!r}f
#define SEA_OUTPUT_ZERO_POINT {oq["zero_point"]}

"""


def _fe_define(k: str, v) -> str:
    if isinstance(v, bool):
        return f"#define {_define_name(k)} {int(v)}"
    if isinstance(v, int):
        return f"#define {_define_name(k)} {v}"
    if isinstance(v, float):
        return f"#define {_define_name(k)} {v!r}f" if math.isfinite(v) else f"/* {k} = {v} */"
    return f"/* {k} = {v!r} */"


def _config_frontend(params: dict, tables: dict, *, n_weights: int, in_shape: list[int]) -> str:
    mel, window = tables["mel"], tables["window"]
    n_fft = int(params.get("n_fft", window.shape[0]))
    fe_defines = [_fe_define(k, v) for k, v in sorted(params.items())]
    return f"""/* Front-end parameters (frontend.json). */
#define SEA_FFT_LENGTH {n_fft}
#define SEA_N_FFT_BINS {n_fft // 2 + 1}
#define SEA_N_MELS {mel.shape[0]}
#define SEA_N_FRAMES {int(params.get("n_frames", in_shape[-1]))}
#define SEA_HOP_LENGTH {int(params.get("hop_length", 160))}
#define SEA_SAMPLE_RATE {int(params.get("sr", 8000))}
#define SEA_WINDOW_SAMPLES {int(params.get("window_length", 8000))}
#define SEA_MEL_N_WEIGHTS {n_weights}
{chr(10).join(fe_defines)}

"""


def _config_tables(sparse: tuple, window: np.ndarray) -> str:
    starts, lengths, offsets, weights = sparse
    return f"""/* Sparse mel filterbank: band m covers FFT bins [start, start + length). */
static const uint16_t sea_mel_start_bin[{len(starts)}] = {{
{_c_ints(starts)}
}};
static const uint16_t sea_mel_length[{len(lengths)}] = {{
{_c_ints(lengths)}
}};
static const uint32_t sea_mel_offset[{len(offsets)}] = {{
{_c_ints(offsets)}
}};
static const float sea_mel_weights[{max(weights.size, 1)}] = {{
{_c_floats(weights) if weights.size else "    0.0f"}
}};

/* Periodic Hann window of SEA_FFT_LENGTH samples. */
static const float sea_hann_window[{window.shape[0]}] = {{
{_c_floats(window)}
}};

#endif /* SEA_MODEL_CONFIG_H */
"""
