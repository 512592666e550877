"""Single-op int8 ``.tflite`` models written directly with the flatbuffer object API (no converter).

Used by the tests to check each generated C layer against LiteRT's and TFLite Micro's int8 kernels with chosen
shapes, strides, padding, zero points and scales (saturation, negative zero points, odd shapes...).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["build_single_op_model"]

_TYPES = {"int8": 9, "int32": 2, "float32": 0, "int64": 4}


def _schema():
    from ai_edge_litert import schema_py_generated as s

    return s


def build_single_op_model(path, op: str, inputs: list, output: dict, options: dict | None = None) -> Path:
    """Write a one-op model to ``path``.

    Parameters
    ----------
    op : str
        Builtin operator name (``"CONV_2D"``, ``"FULLY_CONNECTED"``...).
    inputs : list of dict or None
        One per op input (None: an absent optional input). Keys: ``shape``, ``dtype``, optional ``data`` (a constant),
        ``scale`` (float or sequence), ``zero_point``, ``quant_dim``. Inputs without data become graph inputs.
    output : dict
        ``shape``, ``dtype``, ``scale``, ``zero_point``.
    options : dict
        Attributes of the op's ``<Op>OptionsT`` (e.g. ``{"padding": 0, "strideW": 2}``).

    Returns
    -------
    Path
    """
    import flatbuffers

    s = _schema()
    model = s.ModelT()
    model.version = 3
    model.buffers = [s.BufferT()]  # buffer 0: empty, by convention
    sg = s.SubGraphT()
    sg.tensors, sg.inputs, sg.outputs, sg.operators = [], [], [], []

    def tensor(spec: dict, name: str) -> int:
        t = s.TensorT()
        t.name = name
        t.shape = np.asarray(spec["shape"], np.int32)
        t.type = _TYPES[spec.get("dtype", "int8")]
        if "scale" in spec:
            q = s.QuantizationParametersT()
            q.scale = np.atleast_1d(np.asarray(spec["scale"], np.float32))
            zp = spec.get("zero_point", 0)
            q.zeroPoint = np.atleast_1d(np.asarray(zp, np.int64))
            if q.zeroPoint.size != q.scale.size:
                q.zeroPoint = np.full(q.scale.size, int(q.zeroPoint[0]), np.int64)
            q.quantizedDimension = int(spec.get("quant_dim", 0))
            t.quantization = q
        b = s.BufferT()
        if spec.get("data") is not None:
            arr = np.ascontiguousarray(np.asarray(spec["data"], dtype=spec.get("dtype", "int8")))
            b.data = np.frombuffer(arr.astype(arr.dtype.newbyteorder("<")).tobytes(), np.uint8)
        model.buffers.append(b)
        t.buffer = len(model.buffers) - 1
        sg.tensors.append(t)
        return len(sg.tensors) - 1

    in_idx = []
    for i, spec in enumerate(inputs):
        if spec is None:
            in_idx.append(-1)
            continue
        idx = tensor(spec, f"in{i}")
        in_idx.append(idx)
        if spec.get("data") is None:
            sg.inputs.append(idx)
    out_idx = tensor(output, "out")
    sg.outputs.append(out_idx)
    code = s.OperatorCodeT()
    builtin = getattr(s.BuiltinOperator, op)
    code.builtinCode = builtin
    code.deprecatedBuiltinCode = min(builtin, 127)
    code.version = 1
    model.operatorCodes = [code]
    o = s.OperatorT()
    o.opcodeIndex = 0
    o.inputs = np.asarray(in_idx, np.int32)
    o.outputs = np.asarray([out_idx], np.int32)
    cls_name = {
        "CONV_2D": "Conv2DOptions",
        "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions",
        "FULLY_CONNECTED": "FullyConnectedOptions",
        "MAX_POOL_2D": "Pool2DOptions",
        "AVERAGE_POOL_2D": "Pool2DOptions",
        "REDUCE_MAX": "ReducerOptions",
        "RESHAPE": "ReshapeOptions",
        "TRANSPOSE": "TransposeOptions",
        "QUANTIZE": "QuantizeOptions",
        "PAD": "PadOptions",
    }.get(op)
    if cls_name is not None:
        opt = getattr(s, cls_name + "T")()
        for k, v in (options or {}).items():
            setattr(opt, k, v)
        o.builtinOptionsType = getattr(s.BuiltinOptions, cls_name)
        o.builtinOptions = opt
    sg.operators.append(o)
    model.subgraphs = [sg]
    model.description = "sea firmware test model"
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    path = Path(path)
    path.write_bytes(bytes(b.Output()))
    return path
