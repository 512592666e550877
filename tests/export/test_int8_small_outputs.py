"""Full-int8 TFLite keeps its accuracy when a student's embeddings span a tiny range.

litert-torch's default quantizer floors every scale at 2**-12; an embedding of range ~0.01
then lands on a few int8 levels and the cosine to the float model collapses. The exporter
lowers that floor, and this test would fail with the default config.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.export.conftest import needs_export, random_bn

pytestmark = needs_export


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    num = np.sum(a * b, axis=1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-30
    return float(np.mean(num / den))


@pytest.mark.parametrize("out_scale", [1.0, 1e-3])
def test_tflite_int8_cosine_holds_for_small_embeddings(tmp_path, out_scale):
    import torch

    from export.tflite import export_tflite_int8, run_litert
    from sea import students

    torch.manual_seed(0)
    model = random_bn(students.create("sea_mcu_xs").eval())
    with torch.no_grad():
        model.head.weight.mul_(out_scale)
        model.head.bias.mul_(out_scale)
    rng = np.random.default_rng(0)
    # log-mel-like windows: dB below the window max, floored at -80
    x = np.clip(-40.0 + 20.0 * rng.standard_normal((48, 1, 64, 50)), -80.0, 0.0).astype(np.float32)
    calib, held = x[:32], x[32:]
    path = export_tflite_int8(model, torch.from_numpy(calib[:1]), tmp_path / "m.tflite", calib)
    with torch.no_grad():
        ref = model(torch.from_numpy(held)).numpy()
    out = run_litert(path, held)
    assert np.ptp(ref) < 0.1 or out_scale == 1.0  # the small case really is small
    assert _cosine(out, ref) >= 0.99, (out_scale, _cosine(out, ref))
