"""The MCU bundle is valid C: gcc compiles the model array and a main including both headers."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from .conftest import needs_export

pytestmark = [pytest.mark.export, needs_export, pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")]

MAIN_C = r"""
#include <stdint.h>
#include <stdio.h>
#include "model_int8.h"
#include "sea_model_config.h"

int main(void) {
    double wsum = 0.0;
    for (int i = 0; i < SEA_MEL_N_WEIGHTS; ++i) wsum += sea_mel_weights[i];
    unsigned last = 0;
    for (int m = 0; m < SEA_N_MELS; ++m) last = sea_mel_offset[m] + sea_mel_length[m];
    printf("%u %u %c%c%c%c %d %d %d %d %.9g %u %.9g %.9g\n",
           sea_model_int8_len, (unsigned)((uintptr_t)sea_model_int8 % 16),
           sea_model_int8[4], sea_model_int8[5], sea_model_int8[6], sea_model_int8[7],
           SEA_TENSOR_ARENA_SIZE, SEA_INPUT_SIZE, SEA_EMBEDDING_DIM, SEA_INPUT_ZERO_POINT,
           (double)SEA_INPUT_SCALE, last, wsum, (double)sea_hann_window[SEA_FFT_LENGTH / 2]);
    return 0;
}
"""


def test_mcu_bundle_compiles_and_matches(mcu_export, tmp_path):
    from sea.students.frontend import mel_filterbank_numpy

    mcu = Path(mcu_export["out_dir"]) / "mcu"
    for f in ("model_int8.c", "model_int8.h", "sea_model_config.h"):
        shutil.copy(mcu / f, tmp_path / f)
    (tmp_path / "main.c").write_text(MAIN_C)
    flags = ["-std=c11", "-Wall", "-Werror", "-pedantic", "-Wno-overlength-strings"]
    for src in ("model_int8.c", "main.c"):
        subprocess.run(["gcc", *flags, "-c", src, "-o", src[:-2] + ".o"], cwd=tmp_path, check=True)
    subprocess.run(["gcc", "model_int8.o", "main.o", "-o", "check"], cwd=tmp_path, check=True)
    out = subprocess.run([str(tmp_path / "check")], capture_output=True, text=True, check=True).stdout.split()
    tfl = (mcu / "model_int8.tflite").read_bytes()
    assert int(out[0]) == len(tfl) and int(out[1]) == 0 and out[2] == "TFL3"
    arena, in_size, dim, zp, scale = int(out[3]), int(out[4]), int(out[5]), int(out[6]), float(out[7])
    fp = mcu_export["footprint"]
    assert arena >= fp["artifacts"]["model_int8.tflite"]["tflm_arena_bytes"] and arena % 16 == 0
    q = json.loads((Path(mcu_export["out_dir"]) / "frontend.json").read_text())
    assert in_size == 64 * 50 and dim == q["embedding_dim"]
    assert zp == q["input_quantization"]["zero_point"] and np.isclose(
        scale, q["input_quantization"]["scale"], rtol=1e-6
    )
    mel = mel_filterbank_numpy()
    assert int(out[8]) == int((mel > 0).sum())  # sparse table holds every non-zero weight
    assert np.isclose(float(out[9]), mel.sum(), rtol=1e-5) and np.isclose(float(out[10]), 1.0)
    # and C++ sees the same header (alignas keyword path)
    if shutil.which("g++"):
        subprocess.run(
            ["g++", "-std=c++17", "-c", "model_int8.c", "-x", "c++", "-o", "cpp.o"], cwd=tmp_path, check=True
        )
