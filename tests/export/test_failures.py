"""Bad input: unexportable ops, bad calibration data, parity failures gathered into one error."""

from __future__ import annotations

import numpy as np
import pytest

from sea.errors import ConfigError, ExportError, ParityError

from .conftest import needs_export


class _AdaptivePoolNet:
    @staticmethod
    def build():
        import torch

        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)

            def forward(self, x):
                return torch.nn.functional.adaptive_max_pool2d(self.conv(x), 1).flatten(1)

        return Net().eval()


@pytest.mark.export
@needs_export
def test_unexportable_op_names_op_and_fix(tmp_path):
    import torch

    from export.tflite import export_tflite_fp32

    with pytest.raises(ExportError, match=r"adaptive_max_pool2d.*torch\.amax"):
        export_tflite_fp32(_AdaptivePoolNet.build(), torch.zeros(1, 1, 64, 50), tmp_path / "m.tflite")


def test_converter_message_is_mapped():
    from export.ops import explain

    try:
        try:
            raise RuntimeError("Lowering not found: aten.adaptive_max_pool2d.default")
        except RuntimeError as inner:
            raise ValueError("conversion failed") from inner
    except ValueError as exc:
        err = explain(exc, "TFLite")
    assert isinstance(err, ExportError)
    assert "aten.adaptive_max_pool2d" in str(err) and "torch.amax" in str(err)
    generic = explain(RuntimeError("Lowering not found: aten.weird_op.default"), "TFLite")
    assert "aten.weird_op" in str(generic) and "replace" not in str(generic).split(";")[0]
    assert "complex" in str(explain(RuntimeError("Unsupported ir element type: complex<f32>"), "TFLite"))


def test_empty_run_dir(tmp_path):
    from export.calibration import load_windows

    (tmp_path / "run").mkdir()
    with pytest.raises(ExportError, match="8000 Hz audio cache"):
        load_windows(tmp_path / "run", n_calibration=4, n_holdout=4)
    with pytest.raises(ExportError, match="does not exist"):
        load_windows(tmp_path / "nope", n_calibration=4, n_holdout=4)


def test_calibration_array_wrong_shape(tmp_path):
    from export.calibration import load_windows

    np.save(tmp_path / "bad.npy", np.zeros((8, 64, 51), np.float32))
    with pytest.raises(ExportError, match=r"shape \(8, 64, 51\).*\(N, 1, 64, 50\)"):
        load_windows(tmp_path / "bad.npy", n_calibration=4, n_holdout=4)
    np.save(tmp_path / "ok.npy", np.full((8, 1, 64, 50), -20.0, np.float32))
    cal, held = load_windows(tmp_path / "ok.npy", n_calibration=100, n_holdout=100)
    assert len(cal) == 6 and len(held) == 2


def test_int8_without_calibration_is_refused(tmp_path):
    import torch

    from export import ExportConfig, export_model

    with pytest.raises(ConfigError, match="never calibrated on random data"):
        export_model(torch.nn.Identity(), tmp_path / "o", ExportConfig(int8=True))


def test_config_validation():
    from export import ExportConfig
    from sea.config import load_config

    with pytest.raises(ConfigError, match="coreml"):
        load_config(ExportConfig, overrides={"formats": "onnx,coreml"})
    # int8 follows the formats: mcu and firmware imply it; refusing it while asking only for them is an error
    assert load_config(ExportConfig, overrides={"formats": "mcu"}).builds_int8()
    assert load_config(ExportConfig, overrides={"formats": "firmware,mcu"}).builds_int8()
    assert not load_config(ExportConfig, overrides={"formats": "onnx,pi"}).builds_int8()
    with pytest.raises(ConfigError, match="drop --no-int8"):
        load_config(ExportConfig, overrides={"formats": "mcu,firmware", "int8": "false"})
    with pytest.raises(ConfigError, match="did you mean 'firmware'"):
        load_config(ExportConfig, overrides={"formats": "onnx,firmwar"})
    with pytest.raises(ConfigError, match="int8_cosine"):
        load_config(ExportConfig, overrides={"int8_cosine": 2.0})
    assert load_config(ExportConfig, overrides={"formats": "onnx,pi", "int8": "true"}).formats == ("onnx", "pi")


def test_parity_error_lists_every_failure(caplog):
    from export.parity import compare, raise_failures

    rng = np.random.default_rng(0)
    ref = rng.random((10, 8))
    results = {
        "a.onnx|onnxruntime": compare(ref, ref + 1e-7, tolerance=0.9999),
        "b.tflite|ai-edge-litert": compare(ref, rng.random((10, 8)), tolerance=0.99),
        "c.tflite|tflite-micro": compare(ref, -ref, tolerance=0.99),
        "d.tflite|tflite-runtime": {"skipped": "numpy 2"},
        "e.onnx|onnxruntime": compare(ref, np.full_like(ref, np.nan), tolerance=0.99),
    }
    assert results["a.onnx|onnxruntime"]["passed"]
    with pytest.raises(ParityError) as e, caplog.at_level("INFO", logger="sea.export"):
        raise_failures(results)
    msg = str(e.value)
    assert "3 exported artifact(s)" in msg
    for key in ("b.tflite|ai-edge-litert", "c.tflite|tflite-micro", "e.onnx|onnxruntime"):
        assert key in msg
    assert "tolerance 0.99" in msg and "a.onnx" not in msg
    assert "-[✓] a.onnx|onnxruntime" in caplog.text and "-[x] c.tflite|tflite-micro" in caplog.text


def test_cosine_handles_zero_embeddings():
    from export.parity import cosine_rows

    z = np.zeros((2, 4))
    assert np.all(cosine_rows(z, z) == 1.0)
    assert np.all(cosine_rows(z, np.ones((2, 4))) == 0.0)


def test_downstream_accuracy_delta(tmp_path):
    from export.parity import downstream

    rng = np.random.default_rng(0)
    ref = rng.random((20, 4))
    labels = np.argmax(ref[:, :3], axis=1)
    np.savez(tmp_path / "head.npz", W=np.eye(4, 3), b=np.zeros(3))
    noisy = ref.copy()
    noisy[:5, :3] = noisy[:5, :3][:, ::-1]  # flips some predictions
    out = downstream(tmp_path / "head.npz", ref, {"m|rt": noisy, "same|rt": ref}, labels)
    assert out["reference_accuracy"] == 1.0
    assert out["same|rt"]["delta_vs_reference"] == 0.0
    assert out["m|rt"]["delta_vs_reference"] < 0
    np.savez(tmp_path / "bad.npz", V=np.eye(2))
    with pytest.raises(ExportError, match="no 'W'"):
        downstream(tmp_path / "bad.npz", ref, {}, labels)
