"""Cost counting for any ``nn.Module``: parameters, MACs, weight bytes and peak activation memory.

One eval-mode forward pass of a batch of 1 runs under a ``TorchDispatchMode`` that sees every aten op, so functional
ops (``torch.amax``, additions of skip connections, ``torch.cat``) count as well as modules. Module hooks attribute
each op to the innermost module for the layer-by-layer summary.

Definitions (deployment view, as a TFLite / TFLM memory planner sees the folded graph):

- ``macs``: multiply-accumulates of convolutions (incl. grouped/depthwise: ``out.numel() * C_in/groups * k_h * k_w``)
  and matrix products (``Linear``, ``mm``, ``bmm``). BatchNorm, activations, pooling and additions are not counted
  (that is how SEA's 122.4 M / 636.5 M / 10.2 G figures are derived).
- ``peak_activation_bytes_*``: each activation buffer is live from the op that writes it to the last op that reads it
  (the model input from the start, the outputs to the end); the peak is the maximum over ops of the summed sizes of
  live buffers. BatchNorm and element-wise activations that directly follow a conv/linear are treated as fused into it
  (BN folding, fused ReLU) and add no buffer; views/reshapes share their buffer; outputs nobody reads (max-pool
  indices) are ignored; integer tensors are ignored. ``int8`` counts 1 byte per element, ``fp32`` 4 bytes. For the
  SEA students the peak is inside block 1: conv1 and conv2 outputs (64x50xC1 each) live together.
- ``largest_activation_bytes``: the largest single activation buffer in fp32 bytes (SEA Table 1's "Act. mem.").
- ``weight_bytes_fp32``: 4 bytes per parameter (the state dict, BN unfolded; SEA Table 1's "Model size").
- ``weight_bytes_int8``: deployed int8 estimate: conv/linear weights 1 byte each plus one int32 bias per output channel
  (BN folded into it); a BatchNorm that cannot be folded (e.g. the input BN) costs 8 bytes per channel; any other
  parameter 1 byte.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

__all__ = ["format_cost_table", "format_layer_summary", "layer_summary", "model_cost"]

_CONV_OPS = {"convolution", "_convolution", "conv2d", "conv1d", "conv3d", "mkldnn_convolution"}
_MM_OPS = {"addmm", "mm", "bmm", "baddbmm", "matmul", "linear"}
_FUSABLE_OPS = {
    "_native_batch_norm_legit_no_training",
    "_native_batch_norm_legit",
    "native_batch_norm",
    "batch_norm",
    "cudnn_batch_norm",
    "relu",
    "relu_",
    "relu6",
    "hardtanh",
    "hardtanh_",
    "clamp",
    "clamp_",
    "clamp_min",
    "clamp_min_",
    "leaky_relu",
    "leaky_relu_",
    "gelu",
    "silu",
    "silu_",
    "hardswish",
    "hardswish_",
    "sigmoid",
    "tanh",
}
_BN_OPS = {n for n in _FUSABLE_OPS if "batch_norm" in n}


def _key(t: torch.Tensor) -> int:
    return t.untyped_storage().data_ptr()


class _Tracer(TorchDispatchMode):
    def __init__(self, exclude: set[int]):
        super().__init__()
        self.exclude = exclude
        self.step = 0
        self.keep: list[torch.Tensor] = []  # hold references: no storage address is reused during the trace
        self.buf: dict[int, dict] = {}  # root key -> {numel, producer, last_use, kind}
        self.alias: dict[int, int] = {}  # key -> root key
        self.module_stack: list[str] = []
        self.macs_by_module: dict[str, int] = {}
        self.folded_bn_modules: set[str] = set()
        self.total_macs = 0

    def root(self, k: int) -> int:
        while k in self.alias:
            k = self.alias[k]
        return k

    def _acts(self, tree) -> list[torch.Tensor]:
        flat, _ = tree_flatten(tree)
        return [
            t
            for t in flat
            if isinstance(t, torch.Tensor)
            and t.is_floating_point()
            and t.numel() > 0
            and _key(t) != 0
            and _key(t) not in self.exclude
        ]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = func._overloadpacket.__name__
        s = self.step
        self.step += 1
        module = self.module_stack[-1] if self.module_stack else ""

        macs = 0
        if name in _CONV_OPS:
            w = args[1]
            transposed = bool(args[6]) if len(args) > 6 and name in ("convolution", "_convolution") else False
            k = math.prod(w.shape[2:])
            macs = (args[0].numel() * w.shape[1] * k) if transposed else (out.numel() * w.shape[1] * k)
        elif name in ("addmm", "baddbmm"):
            a, b = args[1], args[2]
            macs = math.prod(a.shape) * b.shape[-1]
        elif name in ("mm", "bmm", "matmul"):
            a, b = args[0], args[1]
            macs = math.prod(a.shape) * b.shape[-1]
        if macs:
            self.total_macs += int(macs)
            self.macs_by_module[module] = self.macs_by_module.get(module, 0) + int(macs)

        ins = self._acts((args, kwargs))
        in_roots = []
        for t in ins:
            self.keep.append(t)
            r = self.root(_key(t))
            if r not in self.buf:  # the model input (or a tensor made outside the trace): live from the start
                self.buf[r] = {
                    "numel": t.untyped_storage().nbytes() // t.element_size(),
                    "producer": -1,
                    "kind": "input",
                }
            self.buf[r]["last_use"] = s
            in_roots.append(r)

        kind = "conv" if name in _CONV_OPS else "linear" if name in _MM_OPS else "op"
        for t in self._acts(out):
            self.keep.append(t)
            k = _key(t)
            r = self.root(k)
            if r in self.buf:  # in-place op or a view: same buffer
                self.buf[r]["last_use"] = max(self.buf[r].get("last_use", s), s)
                continue
            fusable = (
                name in _FUSABLE_OPS
                and len(set(in_roots)) == 1
                and self.buf[in_roots[0]]["kind"] in ("conv", "linear")
                and t.numel() == args[0].numel()
            )
            if fusable:
                self.alias[k] = in_roots[0]
                self.buf[in_roots[0]]["last_use"] = s
                if name in _BN_OPS:
                    self.folded_bn_modules.add(module)
                continue
            self.buf[k] = {
                "numel": t.untyped_storage().nbytes() // t.element_size(),
                "producer": s,
                "last_use": None,
                "kind": kind,
            }
        return out


def _leaf_modules(model: nn.Module):
    return [(n, m) for n, m in model.named_modules() if not list(m.children())]


def _trace(model: nn.Module, input_shape) -> tuple[_Tracer, torch.Tensor, dict[str, dict]]:
    try:
        p0 = next(model.parameters())
        device, dtype = p0.device, p0.dtype
    except StopIteration:
        device, dtype = torch.device("cpu"), torch.float32
    exclude = {_key(p) for p in model.parameters()} | {_key(b) for b in model.buffers() if b.numel() > 0}
    tracer = _Tracer(exclude)
    info: dict[str, dict] = {}
    handles = []

    def pre(name):
        def _pre(mod, inp):
            tracer.module_stack.append(name)

        return _pre

    def post(name):
        def _post(mod, inp, out):
            tracer.module_stack.pop()
            o = out[0] if isinstance(out, (tuple, list)) else out
            d = info.setdefault(name, {"calls": 0})
            d["calls"] += 1
            d["output_shape"] = tuple(o.shape) if isinstance(o, torch.Tensor) else None

        return _post

    for name, m in _leaf_modules(model):
        handles.append(m.register_forward_pre_hook(pre(name)))
        handles.append(m.register_forward_hook(post(name)))
    was_training = model.training
    model.eval()
    # Count the network's own convolutions, not the GEMMs of a faster algorithm (the teacher's Winograd).
    fast = [m for m in model.modules() if getattr(m, "cpu_kernels", False)]
    for m in fast:
        m.cpu_kernels = False
    x = torch.zeros((1, *input_shape), device=device, dtype=dtype)
    try:
        with torch.no_grad(), tracer:
            y = model(x)
    finally:
        for h in handles:
            h.remove()
        for m in fast:
            m.cpu_kernels = True
        model.train(was_training)
    end = tracer.step
    for t in tracer._acts(y):
        r = tracer.root(_key(t))
        if r in tracer.buf:
            tracer.buf[r]["last_use"] = end
    return tracer, y, info


def _peak(tracer: _Tracer) -> tuple[int, int, int]:
    """(peak elements, step of the peak, largest buffer elements)."""
    end = tracer.step
    delta = [0] * (end + 2)
    largest = 0
    for b in tracer.buf.values():
        if b.get("last_use") is None:  # written but never read (e.g. max-pool indices): not a graph tensor
            continue
        start = max(b["producer"], 0)
        delta[start] += b["numel"]
        delta[b["last_use"] + 1] -= b["numel"]
        largest = max(largest, b["numel"])
    peak, peak_step, cur = 0, 0, 0
    for s in range(end + 1):
        cur += delta[s]
        if cur > peak:
            peak, peak_step = cur, s
    return peak, peak_step, largest


def _int8_weight_bytes(model: nn.Module, folded_bn: set[str]) -> int:
    total = 0
    for name, m in _leaf_modules(model):
        own = list(m.parameters(recurse=False))
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            total += m.weight.numel() + 4 * m.out_channels
        elif isinstance(m, nn.Linear):
            total += m.weight.numel() + 4 * m.out_features
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            total += 0 if name in folded_bn else 8 * m.num_features
        else:
            total += sum(p.numel() for p in own)
    return int(total)


def model_cost(model: nn.Module, input_shape=(1, 64, 50)) -> dict[str, Any]:
    """Parameters, MACs, weight bytes and peak activation memory of ``model`` for one input of ``input_shape``.

    Parameters
    ----------
    model : nn.Module
        Any module of standard layers (students, the teacher...). Run in eval mode with a batch of one zero input.
    input_shape : tuple
        Shape of one example without the batch dim, e.g. ``(1, 64, 50)`` or the teacher's ``(1, 256, 199)``.

    Returns
    -------
    dict
        ``params, trainable_params, macs, weight_bytes_fp32, weight_bytes_int8, peak_activation_bytes_fp32,
        peak_activation_bytes_int8, largest_activation_bytes`` (fp32), ``largest_activation_elements``,
        ``input_shape``, ``output_dim`` (see the module docstring for the definitions).
    """
    input_shape = tuple(int(s) for s in input_shape)
    tracer, y, _ = _trace(model, input_shape)
    peak, _, largest = _peak(tracer)
    params = sum(p.numel() for p in model.parameters())
    return {
        "params": int(params),
        "trainable_params": int(sum(p.numel() for p in model.parameters() if p.requires_grad)),
        "macs": int(tracer.total_macs),
        "weight_bytes_fp32": int(4 * params),
        "weight_bytes_int8": _int8_weight_bytes(model, tracer.folded_bn_modules),
        "peak_activation_bytes_fp32": int(4 * peak),
        "peak_activation_bytes_int8": int(peak),
        "largest_activation_bytes": int(4 * largest),
        "largest_activation_elements": int(largest),
        "input_shape": list(input_shape),
        "output_dim": int(y.shape[-1]) if y.dim() >= 1 else 1,
    }


def layer_summary(model: nn.Module, input_shape=(1, 64, 50)) -> list[dict[str, Any]]:
    """Per leaf module (in call order): name, type, output shape (batch 1), own parameters, MACs."""
    tracer, _, info = _trace(model, tuple(input_shape))
    rows = []
    for name, m in _leaf_modules(model):
        if name not in info:
            continue
        rows.append(
            {
                "name": name,
                "type": type(m).__name__,
                "output_shape": list(info[name]["output_shape"] or []),
                "params": int(sum(p.numel() for p in m.parameters(recurse=False))),
                "macs": int(tracer.macs_by_module.get(name, 0)),
            }
        )
    other = tracer.macs_by_module.get("", 0)
    if other:
        rows.append({"name": "(functional)", "type": "-", "output_shape": [], "params": 0, "macs": int(other)})
    return rows


def format_cost_table(rows: list[dict[str, Any]]) -> str:
    """Fixed-width table of ``model_cost`` dicts that carry a ``name`` key.

    Parameters
    ----------
    rows : list of dict
        :func:`model_cost` results with ``name`` added.

    Returns
    -------
    table : str
    """
    from ..tables import render_table

    header = ("name", "params", "MACs", "peak act int8 B", "peak act fp32 B", "int8 weights B", "input", "out")
    cells = [
        (
            r["name"],
            f"{r['params']:,}",
            f"{r['macs'] / 1e6:,.1f} M",
            f"{r['peak_activation_bytes_int8']:,}",
            f"{r['peak_activation_bytes_fp32']:,}",
            f"{r['weight_bytes_int8']:,}",
            "x".join(map(str, r["input_shape"])),
            str(r["output_dim"]),
        )
        for r in rows
    ]
    return render_table(header, cells, style="text", align="<>>>>><>")


def format_layer_summary(name: str, description: str, model: nn.Module) -> str:
    """Layer-by-layer text summary of one student: shapes, params and MACs, then the totals.

    Parameters
    ----------
    name : str
        The registry name.
    description : str
        Its one-line description.
    model : nn.Module
        The student (its ``input_shape`` and ``model_args`` are used).

    Returns
    -------
    text : str
    """
    import json

    from ..tables import render_table

    cost = model_cost(model, model.input_shape)
    rows = layer_summary(model, model.input_shape)
    lines = [f"{name}: {description}"]
    if getattr(model, "model_args", None):
        lines.append(f"model_args: {json.dumps(model.model_args)}")
    cells = [
        (r["name"], r["type"], "x".join(map(str, r["output_shape"][1:])), f"{r['params']:,}", f"{r['macs']:,}")
        for r in rows
    ]
    lines.append(render_table(("layer", "type", "output shape", "params", "MACs"), cells, style="text", align="<<<>>"))
    lines.append(
        f"total: {cost['params']:,} params ({cost['trainable_params']:,} trainable), {cost['macs']:,} MACs, "
        f"input {'x'.join(map(str, cost['input_shape']))}, output {cost['output_dim']}\n"
        f"weights: {cost['weight_bytes_fp32']:,} B fp32, ~{cost['weight_bytes_int8']:,} B int8; "
        f"peak activations: {cost['peak_activation_bytes_fp32']:,} B fp32, {cost['peak_activation_bytes_int8']:,} B int8; "
        f"largest tensor {cost['largest_activation_bytes']:,} B fp32"
    )
    return "\n".join(lines)
