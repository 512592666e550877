"""TFLite fp32 and full-int8 (int8 in/out) through litert-torch with PT2E, and the runtimes that run them."""

from __future__ import annotations

import contextlib
import logging
import os
import re
from pathlib import Path

import numpy as np

from .ops import check_ops, explain
from .quiet import c_stderr_captured, quiet

log = logging.getLogger("sea.export")

__all__ = [
    "export_tflite_fp32",
    "export_tflite_int8",
    "io_quantization",
    "litert_interpreter",
    "run_litert",
    "run_tflm",
    "tflm_interpreter",
]


def export_tflite_fp32(model, example, path: str | Path) -> Path:
    """Float TFLite of ``model`` at batch 1 (the MCU/Pi shape)."""
    with quiet("litert-torch import"):
        import litert_torch

    check_ops(model, example[:1], target="TFLite")
    try:
        with quiet("TFLite fp32 conversion"):
            litert_torch.convert(model, (example[:1],)).export(str(path))
    except Exception as exc:
        raise explain(exc, "TFLite") from exc
    return Path(path)


def input_bn_to_conv(model, example):
    """Copy of ``model`` whose input BatchNorm layers are 1x1 depthwise convolutions.

    A BatchNorm that reads the graph input is not preceded by a conv to fold into,
    so PT2E leaves it as float sub/div ops and the .tflite keeps a float input. As a
    1x1 conv (exactly the same affine map) it is quantized, and the model gets int8 I/O.
    """
    import copy

    import torch
    from torch import nn

    ep = torch.export.export(model, (example,))
    placeholders = set(ep.graph_signature.user_inputs)
    paths = []
    for node in ep.graph.nodes:
        name = getattr(node.target, "__name__", str(node.target))
        if node.op == "call_function" and "batch_norm" in name:
            src = node.args[0]
            if getattr(src, "op", None) == "placeholder" and src.name in placeholders:
                stack = node.meta.get("nn_module_stack") or {}
                if stack:
                    path, _ = list(stack.values())[-1]
                    paths.append(path)
    if not paths:
        return model
    model = copy.deepcopy(model)
    for path in paths:
        path = re.sub(r"\[(\d+)\]", r".\1", path).replace("L['self'].", "").replace("L__self__.", "")
        parent_path, _, leaf = path.rpartition(".")
        parent = model.get_submodule(parent_path) if parent_path else model
        bn = getattr(parent, leaf) if not leaf.isdigit() else parent[int(leaf)]
        if not isinstance(bn, nn.BatchNorm2d):
            continue
        c = bn.num_features
        conv = nn.Conv2d(c, c, 1, groups=c, bias=True)
        with torch.no_grad():
            scale = (bn.weight if bn.affine else torch.ones(c)) / torch.sqrt(bn.running_var + bn.eps)
            shift = (bn.bias if bn.affine else torch.zeros(c)) - bn.running_mean * scale
            conv.weight.copy_(scale.view(c, 1, 1, 1))
            conv.bias.copy_(shift)
        if leaf.isdigit():
            parent[int(leaf)] = conv
        else:
            setattr(parent, leaf, conv)
        log.debug("input BatchNorm %s exported as a 1x1 depthwise conv (int8 input)", path)
    return model.eval()


# litert-torch floors every activation and weight scale at 2**-12. A student whose embeddings
# span less than ~0.03 (small PCA coordinates, an untrained teacher) then quantizes to a
# handful of levels, or to zero, and int8 parity collapses. float32 eps as the floor keeps
# the scales data-driven; int8 kernels (TFLite, TFLM) take any positive float scale.
_SCALE_FLOOR = float(np.finfo(np.float32).eps)


def _quantization_config(per_channel: bool):
    import dataclasses
    import functools

    from litert_torch.quantize.pt2e_quantizer import get_symmetric_quantization_config

    base = get_symmetric_quantization_config(is_per_channel=per_channel)

    def floor(spec):
        # observers come wrapped by ``with_args`` (a _PartialWrapper around a functools.partial)
        part = getattr(getattr(spec, "observer_or_fake_quant_ctr", None), "p", None)
        if not isinstance(part, functools.partial) or "eps" not in part.keywords:
            return spec
        ctr = part.func.with_args(**{**part.keywords, "eps": _SCALE_FLOOR})
        return dataclasses.replace(spec, observer_or_fake_quant_ctr=ctr)

    return dataclasses.replace(
        base,
        input_activation=floor(base.input_activation),
        output_activation=floor(base.output_activation),
        weight=floor(base.weight),
    )


def export_tflite_int8(model, example, path: str | Path, calib: np.ndarray, *, per_channel: bool = True) -> Path:
    """Full-integer TFLite (int8 activations, weights, input and output), PT2E static.

    The PT2E module only accepts batch 1 after capture, so calibration runs window by window.
    """
    import torch

    with quiet("litert-torch import"):
        import litert_torch
        from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer
        from litert_torch.quantize.quant_config import QuantConfig
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    x1 = example[:1]
    check_ops(model, x1, target="TFLite int8")
    model = input_bn_to_conv(model, x1)
    try:
        with quiet("TFLite int8 conversion"):
            quantizer = PT2EQuantizer().set_global(_quantization_config(per_channel))
            pm = prepare_pt2e(torch.export.export(model, (x1,)).module(), quantizer)
            with torch.no_grad():
                for i in range(calib.shape[0]):
                    pm(torch.from_numpy(np.ascontiguousarray(calib[i : i + 1], dtype=np.float32)))
            pm = convert_pt2e(pm, fold_quantize=False)
            litert_torch.convert(pm, (x1,), quant_config=QuantConfig(pt2e_quantizer=quantizer)).export(str(path))
    except Exception as exc:
        raise explain(exc, "TFLite int8") from exc
    return Path(path)


def litert_interpreter(path: str | Path, *, threads: int = 1):
    """Open a .tflite in ai-edge-litert with tensors allocated."""
    from ai_edge_litert.interpreter import Interpreter

    with c_stderr_captured(f"ai-edge-litert on {path}"):  # "Created TensorFlow Lite XNNPACK delegate for CPU."
        it = Interpreter(model_path=str(path), num_threads=threads)
        it.allocate_tensors()
    return it


def io_quantization(path: str | Path) -> dict:
    """Input/output dtype, shape and (scale, zero_point) of a .tflite file."""
    it = litert_interpreter(path)
    i, o = it.get_input_details()[0], it.get_output_details()[0]

    def q(d):
        s, z = d.get("quantization", (0.0, 0))
        return {
            "dtype": np.dtype(d["dtype"]).name,
            "shape": [int(v) for v in d["shape"]],
            "scale": float(s),
            "zero_point": int(z),
        }

    return {"input": q(i), "output": q(o)}


def _quantize(x: np.ndarray, scale: float, zp: int, dtype) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zp, info.min, info.max).astype(dtype)


def run_litert(path_or_it, x: np.ndarray) -> np.ndarray:
    """Run a .tflite window by window (batch 1), quantizing/dequantizing int8 I/O."""
    it = litert_interpreter(path_or_it) if isinstance(path_or_it, (str, Path)) else path_or_it
    di, do = it.get_input_details()[0], it.get_output_details()[0]
    outs = []
    for k in range(x.shape[0]):
        xi = x[k : k + 1].reshape(di["shape"])
        if np.issubdtype(di["dtype"], np.integer):
            s, z = di["quantization"]
            xi = _quantize(xi, s, z, di["dtype"])
        it.set_tensor(di["index"], np.ascontiguousarray(xi.astype(di["dtype"])))
        it.invoke()
        y = it.get_tensor(do["index"])
        if np.issubdtype(do["dtype"], np.integer):
            s, z = do["quantization"]
            y = (y.astype(np.float32) - z) * s
        outs.append(y.reshape(1, -1).astype(np.float32))
    return np.concatenate(outs)


@contextlib.contextmanager
def _no_stderr():
    """TFLM prints allocation failures on C-level stderr; mute fd 2 while probing."""
    fd = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(fd, 2)
        os.close(fd)


def tflm_interpreter(path: str | Path, arena_size: int):
    """Open a .tflite in TFLite Micro with an arena of ``arena_size`` bytes (raises when it does not fit)."""
    from tflite_micro.python.tflite_micro import runtime

    return runtime.Interpreter.from_file(str(path), arena_size=int(arena_size))


def run_tflm(path: str | Path, x: np.ndarray, *, arena_size: int = 2 * 1024 * 1024) -> np.ndarray:
    """Run a .tflite in TFLite Micro (reference kernels), window by window."""
    with _no_stderr():
        it = tflm_interpreter(path, arena_size)
    di, do = it.get_input_details(0), it.get_output_details(0)
    outs = []
    for k in range(x.shape[0]):
        xi = x[k : k + 1].reshape(di["shape"])
        dt = np.dtype(di["dtype"])
        if np.issubdtype(dt, np.integer):
            qp = di["quantization_parameters"]
            xi = _quantize(xi, float(qp["scales"][0]), int(qp["zero_points"][0]), dt)
        it.set_input(np.ascontiguousarray(xi.astype(dt)), 0)
        it.invoke()
        y = it.get_output(0)
        if np.issubdtype(np.dtype(do["dtype"]), np.integer):
            qp = do["quantization_parameters"]
            y = (y.astype(np.float32) - int(qp["zero_points"][0])) * float(qp["scales"][0])
        outs.append(np.asarray(y, np.float32).reshape(1, -1))
    return np.concatenate(outs)
