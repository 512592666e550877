"""Read an int8 ``.tflite`` into a small graph IR: tensors with shapes, quantisation and constant data, and ops.

Parsed with the flatbuffer object API shipped as ``ai_edge_litert.schema_py_generated`` (the ``tflite`` package's
module is used when LiteRT is absent). Only subgraph 0 is read; every op the firmware cannot compute is reported in
one :class:`~sea.errors.ExportError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sea.errors import ExportError

__all__ = ["SUPPORTED_OPS", "Graph", "Op", "Tensor", "read_tflite"]

# TensorType enum of the TFLite schema -> numpy dtype name
_DTYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 6: "bool", 7: "int16", 9: "int8"}

#: Builtin ops the generator lowers to C (int8 activations).
SUPPORTED_OPS = (
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "FULLY_CONNECTED",
    "MAX_POOL_2D",
    "AVERAGE_POOL_2D",
    "REDUCE_MAX",
    "RESHAPE",
    "SQUEEZE",
    "EXPAND_DIMS",
    "TRANSPOSE",
    "QUANTIZE",
    "PAD",
)


@dataclass
class Tensor:
    """One tensor of subgraph 0.

    Attributes
    ----------
    index : int
    name : str
    shape : tuple of int
    dtype : str
        numpy dtype name (``"int8"``, ``"int32"``...).
    scale : ndarray [n] float32 or None
        Quantisation scales (one, or one per channel along ``quant_dim``).
    zero_point : ndarray [n] int64 or None
    quant_dim : int
    data : ndarray or None
        Constant contents reshaped to ``shape`` (weights, biases, shape operands); None for activations.
    """

    index: int
    name: str
    shape: tuple
    dtype: str
    scale: np.ndarray | None = None
    zero_point: np.ndarray | None = None
    quant_dim: int = 0
    data: np.ndarray | None = None

    @property
    def size(self) -> int:
        """Number of elements."""
        return int(np.prod(self.shape)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        """Bytes of the tensor's data."""
        return self.size * np.dtype(self.dtype).itemsize

    @property
    def is_const(self) -> bool:
        """Whether the tensor holds constant data (weights, biases, shapes)."""
        return self.data is not None

    @property
    def qscale(self) -> float:
        """The per-tensor scale (the first one)."""
        if self.scale is None or self.scale.size == 0:
            raise ExportError(f"tensor {self.name!r} has no quantisation scale; the firmware needs a full-int8 model")
        return float(self.scale[0])

    @property
    def qzero(self) -> int:
        """The per-tensor zero point (the first one; 0 when unquantised)."""
        return int(self.zero_point[0]) if self.zero_point is not None and self.zero_point.size else 0


@dataclass
class Op:
    """One operator: ``kind`` is the builtin name, ``inputs``/``outputs`` tensor indices (-1: absent)."""

    index: int
    kind: str
    inputs: list
    outputs: list
    options: dict = field(default_factory=dict)


@dataclass
class Graph:
    """Subgraph 0 of a ``.tflite``: tensors, ops in execution order, and the graph's input/output tensor indices."""

    tensors: list
    ops: list
    inputs: list
    outputs: list
    path: str = ""

    def t(self, i: int) -> Tensor:
        """Tensor ``i``."""
        return self.tensors[i]


def _schema():
    try:
        from ai_edge_litert import schema_py_generated as s
    except ImportError:  # pragma: no cover - the tflite package has the same generated module
        import tflite as s
    return s


def _op_names(s) -> dict:
    return {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}


def _options(obj) -> dict:
    if obj is None:
        return {}
    out = {}
    for k, v in vars(obj).items():
        out[k] = v.tolist() if isinstance(v, np.ndarray) else v
    return out


def read_tflite(path: str | Path) -> Graph:
    """Parse ``path`` (a full-int8 ``.tflite``) into a :class:`Graph`.

    Raises
    ------
    ExportError
        Unreadable file, several subgraphs with ops, dynamic shapes, or ops outside :data:`SUPPORTED_OPS`.
    """
    s = _schema()
    path = Path(path)
    try:
        buf = path.read_bytes()
        model = s.ModelT.InitFromObj(s.Model.GetRootAsModel(buf, 0))
    except Exception as exc:
        raise ExportError(f"{path}: cannot read it as a .tflite flatbuffer ({type(exc).__name__}: {exc})") from None
    if not model.subgraphs:
        raise ExportError(f"{path}: the model has no subgraph")
    sg = model.subgraphs[0]
    names = _op_names(s)
    tensors = []
    for i, t in enumerate(sg.tensors):
        shape = tuple(int(d) for d in (t.shape if t.shape is not None else []))
        if t.shapeSignature is not None and any(int(d) < 0 for d in t.shapeSignature[1:]):
            raise ExportError(
                f"{path}: tensor {t.name!r} has a dynamic shape {list(t.shapeSignature)}; export with fixed shapes"
            )
        dtype = _DTYPES.get(int(t.type))
        if dtype is None:
            raise ExportError(f"{path}: tensor {t.name!r} has TFLite type {t.type}, which the firmware does not handle")
        data = None
        b = model.buffers[t.buffer] if t.buffer < len(model.buffers) else None
        if b is not None:
            raw = None
            if b.data is not None and len(b.data):
                raw = np.asarray(b.data, np.uint8).tobytes()
            elif getattr(b, "offset", 0) and b.offset > 1:
                raw = buf[int(b.offset) : int(b.offset) + int(b.size)]
            if raw is not None:
                data = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype).reshape(shape)
        q = t.quantization
        scale = zp = None
        qdim = 0
        if q is not None and q.scale is not None and len(q.scale):
            scale = np.asarray(q.scale, np.float32)
            zp = np.asarray(q.zeroPoint if q.zeroPoint is not None else np.zeros(len(scale)), np.int64)
            qdim = int(q.quantizedDimension)
        name = t.name.decode() if isinstance(t.name, bytes) else str(t.name)
        tensors.append(Tensor(i, name, shape, dtype, scale, zp, qdim, data))
    ops = []
    bad = []
    for i, op in enumerate(sg.operators):
        oc = model.operatorCodes[op.opcodeIndex]
        code = max(int(oc.builtinCode), int(oc.deprecatedBuiltinCode))
        kind = names.get(code, f"builtin#{code}")
        if kind == "CUSTOM":
            kind = f"CUSTOM:{oc.customCode.decode() if isinstance(oc.customCode, bytes) else oc.customCode}"
        if kind not in SUPPORTED_OPS:
            bad.append(kind)
        ops.append(
            Op(
                i,
                kind,
                [int(v) for v in (op.inputs if op.inputs is not None else [])],
                [int(v) for v in (op.outputs if op.outputs is not None else [])],
                _options(op.builtinOptions),
            )
        )
    if bad:
        raise ExportError(
            f"{path}: ops {', '.join(sorted(set(bad)))} are not supported by the firmware generator "
            f"(supported: {', '.join(SUPPORTED_OPS)}); use a student built from conv/pool/linear layers"
        )
    if len(model.subgraphs) > 1 and any(len(g.operators or []) for g in model.subgraphs[1:]):
        raise ExportError(f"{path}: the model has control-flow subgraphs, which the firmware does not support")
    g = Graph(tensors, ops, [int(v) for v in sg.inputs], [int(v) for v in sg.outputs], str(path))
    if len(g.inputs) != 1 or len(g.outputs) != 1:
        raise ExportError(f"{path}: the firmware needs exactly one input and one output tensor")
    for idx in (g.inputs[0], g.outputs[0]):
        if g.t(idx).dtype != "int8":
            raise ExportError(
                f"{path}: tensor {g.t(idx).name!r} is {g.t(idx).dtype}; the firmware needs a full-int8 model "
                "(int8 input and output, as `sea export --int8` writes model_int8.tflite)"
            )
    return g
