"""ONNX fp32 (dynamo exporter) and onnxruntime static int8 (QDQ, per channel)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .ops import explain
from .quiet import quiet

log = logging.getLogger("sea.export")

INPUT_NAME = {"logmel": "logmel", "audio": "audio"}
OUTPUT_NAME = "embedding"
__all__ = ["export_onnx", "onnx_session", "quantize_onnx_int8", "run_onnx"]


def export_onnx(model, example, path: str | Path, *, input_name: str = "logmel") -> Path:
    """Export fp32 ONNX with a dynamic batch axis and the weights inside the file.

    Parameters
    ----------
    model : torch.nn.Module in eval mode
    example : torch.Tensor [shape=(B, ...)]
        Example input; B >= 2 keeps the batch axis symbolic.
    """
    import torch

    path = Path(path)
    batch = torch.export.Dim("batch", min=1, max=4096)
    if example.shape[0] < 2:
        example = example.repeat(2, *([1] * (example.ndim - 1)))
    try:
        with quiet("ONNX export"):
            prog = torch.onnx.export(
                model,
                (example,),
                dynamo=True,
                external_data=False,
                input_names=[input_name],
                output_names=[OUTPUT_NAME],
                dynamic_shapes=({0: batch},),
                verbose=False,
            )
            prog.save(str(path), external_data=False)
    except Exception as exc:
        raise explain(exc, "ONNX") from exc
    return path


class _Reader:
    """onnxruntime CalibrationDataReader over real windows, batch 1."""

    def __init__(self, name: str, x: np.ndarray):
        self.name, self.x, self.i = name, x, 0

    def get_next(self):
        if self.i >= self.x.shape[0]:
            return None
        self.i += 1
        return {self.name: self.x[self.i - 1 : self.i]}

    def rewind(self):
        self.i = 0


def quantize_onnx_int8(
    src: str | Path,
    dst: str | Path,
    calib: np.ndarray,
    *,
    input_name: str = "logmel",
    per_channel: bool = True,
    method: str = "minmax",
    reduce_range: bool = True,
) -> Path:
    """Quantize to static QDQ int8 (s8 activations and weights), calibrated on ``calib`` windows.

    ``reduce_range`` keeps weights in 7 bits. onnxruntime's x86 kernels for CPUs without
    VNNI (AVX2 ``vpmaddubsw``) add pairs of u8 x s8 products in int16, which saturates
    with full 8-bit weights; the artifact may be deployed on such a CPU, so it is the
    default (measured here: mean cosine 0.984 with 8-bit weights on an AVX2-only EPYC).
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    src, dst = Path(src), Path(dst)
    pre = dst.with_suffix(".pre.onnx")
    try:
        with quiet("onnxruntime quant_pre_process"):
            quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
    except Exception as exc:  # pre-processing is an optimisation (any failure of it): quantize the raw graph
        log.warning("onnxruntime quant_pre_process failed (%s: %s); quantizing the unprocessed graph",
                    type(exc).__name__, exc)  # fmt: skip
        pre = src
    methods = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }
    try:
        with quiet("onnxruntime quantize_static"):
            quantize_static(
                str(pre),
                str(dst),
                _Reader(input_name, np.ascontiguousarray(calib, dtype=np.float32)),
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
                per_channel=per_channel,
                reduce_range=reduce_range,
                calibrate_method=methods[method],
            )
    finally:
        if pre != src and pre.exists():
            pre.unlink()
    return dst


def onnx_session(path: str | Path, *, threads: int = 1):
    """Open an onnxruntime CPU session with ``threads`` intra-op threads and quiet logs."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def run_onnx(path_or_session, x: np.ndarray, *, batch: int = 32) -> np.ndarray:
    """Run an ONNX model (path or session) on ``x`` [n, ...] in batches; return float32 outputs [n, D]."""
    sess = onnx_session(path_or_session) if isinstance(path_or_session, (str, Path)) else path_or_session
    name = sess.get_inputs()[0].name
    outs = [
        sess.run(None, {name: np.ascontiguousarray(x[i : i + batch], np.float32)})[0] for i in range(0, len(x), batch)
    ]
    return np.concatenate(outs).astype(np.float32)
