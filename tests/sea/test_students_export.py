"""Students and the front-end convert to fp32 TFLite with litert-torch and agree with PyTorch in ai_edge_litert."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from sea.students import create
from sea.students.frontend import StudentFrontend

pytestmark = [
    pytest.mark.export,
    pytest.mark.skipif(
        importlib.util.find_spec("litert_torch") is None or importlib.util.find_spec("ai_edge_litert") is None,
        reason="litert-torch / ai-edge-litert not installed (pip install 'sea[export]')",
    ),
]


def _convert_and_run(model, x: torch.Tensor, path) -> np.ndarray:
    import litert_torch
    from ai_edge_litert.interpreter import Interpreter

    litert_torch.convert(model.eval(), (x,)).export(str(path))
    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    assert tuple(inp["shape"]) == tuple(x.shape)
    it.set_tensor(inp["index"], x.numpy())
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])


def _randomise_bn(model):
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):  # exercise BN folding
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
            m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
            m.bias.data.copy_(0.1 * torch.randn(m.num_features, generator=g))


@pytest.mark.parametrize("name", ["sea_mcu_xs", "sea_student_3", "sea_student_3_lin"])
def test_student_converts_to_tflite_fp32(tmp_path, name):
    torch.manual_seed(0)
    m = create(name).eval()
    _randomise_bn(m)
    x = -80 * torch.rand(1, 1, 64, 50)
    y_tfl = _convert_and_run(m, x, tmp_path / f"{name}.tflite")
    with torch.no_grad():
        y = m(x).numpy()
    assert y_tfl.shape == y.shape
    assert np.abs(y_tfl - y).max() <= 1e-4 * max(1.0, np.abs(y).max())


def test_frontend_conv_dft_converts_to_tflite_fp32(tmp_path, rng):
    fe = StudentFrontend(mode="conv", dtype=torch.float32)
    y = torch.from_numpy((0.1 * rng.standard_normal((1, 8000))).astype(np.float32))
    out = _convert_and_run(fe, y, tmp_path / "frontend.tflite")
    assert out.shape == (1, 1, 64, 50)
    assert np.abs(out - fe(y).numpy()).max() <= 1e-3


def test_three_second_window_student_and_frontend_convert(tmp_path, rng):
    """Windows of any length (issue 15 §2): a 3-s student (150 mel frames) and its front-end convert and agree."""
    from sea.students.frontend import frontend_params

    p = frontend_params(3.0)
    torch.manual_seed(0)
    m = create("sea_mcu_s", input_shape=tuple(p["output_shape"])).eval()
    _randomise_bn(m)
    x = -80 * torch.rand(1, *p["output_shape"])
    y_tfl = _convert_and_run(m, x, tmp_path / "mcu_3s.tflite")
    with torch.no_grad():
        y = m(x).numpy()
    assert y_tfl.shape == (1, 64) and np.abs(y_tfl - y).max() <= 1e-4 * max(1.0, np.abs(y).max())
    fe = StudentFrontend(mode="conv", dtype=torch.float32, params=p)
    audio = torch.from_numpy((0.1 * rng.standard_normal((1, p["window_length"]))).astype(np.float32))
    out = _convert_and_run(fe, audio, tmp_path / "frontend_3s.tflite")
    assert out.shape == (1, 1, 64, 150)
    assert np.abs(out - fe(audio).numpy()).max() <= 1e-3
