"""Lower a TFLite int8 graph to firmware layers, and plan their activation memory.

Lowering rules (all arithmetic follows the TFLite int8 spec; see :mod:`export.firmware.quant`):

- ``CONV_2D``, ``FULLY_CONNECTED`` (a 1x1 conv over ``B`` pixels) and ``DEPTHWISE_CONV_2D`` with one input channel
  (a conv with ``depth_multiplier`` outputs) become ``conv`` layers: im2col of 4 output pixels, then each output
  channel's dot products with them (SMLAD on Cortex-M, see templates/sea_conv.h);
- other ``DEPTHWISE_CONV_2D`` become ``dwconv`` layers;
- int8 -> int8 elementwise maps (``QUANTIZE`` requantisation, a 1x1 depthwise conv on one channel such as an input
  BatchNorm) become 256-entry lookup tables computed here with the same fixed-point arithmetic;
- ``RESHAPE``/``SQUEEZE``/``EXPAND_DIMS`` are views of their input's buffer; ``TRANSPOSE`` is a strided view that
  ``REDUCE_MAX`` and lookup tables read directly, and is copied only when another layer needs it contiguous;
- ``MAX_POOL_2D``, ``AVERAGE_POOL_2D``, ``REDUCE_MAX``, ``PAD`` map to their own kernels.

Memory: every buffer (activations, im2col columns, the front-end's float scratch) gets an offset in one static arena
by greedy-by-size first-fit over live ranges (the front-end runs as step -1, before layer 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sea.errors import ExportError

from . import quant
from .graph import Graph, Op, Tensor

__all__ = ["Buffer", "Layer", "Program", "lower_graph", "plan_memory"]

_ACT_NAMES = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6"}


@dataclass
class Buffer:
    """A region of the arena: an activation tensor (possibly shared by views) or a scratch area."""

    name: str
    nbytes: int
    first: int  # first step that writes it (-1: the front-end)
    last: int  # last step that reads it
    offset: int = -1
    kind: str = "activation"  # activation | scratch | frontend


@dataclass
class Layer:
    """One generated C layer function.

    ``kind``: conv | dwconv | maxpool | avgpool | lut | reduce_max | transpose | pad.
    ``params`` holds what the emitter needs (shapes, quantisation, arrays); ``src``/``dst``/``scratch`` name buffers.
    """

    index: int
    kind: str
    op: str
    src: str
    dst: str
    params: dict = field(default_factory=dict)
    scratch: str | None = None
    macs: int = 0
    note: str = ""


@dataclass
class Program:
    """The lowered network: layers in order, buffers by name, the input/output buffers and tensors, MACs."""

    layers: list
    buffers: dict
    input_buffer: str
    output_buffer: str
    input_tensor: Tensor
    output_tensor: Tensor
    macs: int


@dataclass
class _View:
    """A logical tensor stored in ``buffer`` with ``base_shape`` (contiguous); logical axis i = base axis perm[i]."""

    buffer: str
    base_shape: tuple
    perm: tuple
    tensor: Tensor

    @property
    def shape(self) -> tuple:
        return tuple(self.base_shape[p] for p in self.perm)

    @property
    def contiguous(self) -> bool:
        return self.perm == tuple(range(len(self.perm)))

    def strides(self) -> tuple:
        """Element strides of the logical axes in the base buffer."""
        base = [1] * len(self.base_shape)
        for i in range(len(self.base_shape) - 2, -1, -1):
            base[i] = base[i + 1] * self.base_shape[i + 1]
        return tuple(base[p] for p in self.perm)


def _same_quant(a: Tensor, b: Tensor) -> bool:
    return np.isclose(a.qscale, b.qscale, rtol=0, atol=0) and a.qzero == b.qzero


def _pad_same(in_size: int, k: int, stride: int, dil: int, padding: int) -> tuple[int, int]:
    """TFLite ``ComputePaddingHeightWidth``: (out_size, pad_before); padding 0 = SAME, 1 = VALID."""
    eff = (k - 1) * dil + 1
    out = (in_size + stride - 1) // stride if padding == 0 else (in_size - eff + stride) // stride
    total = max(0, (out - 1) * stride + eff - in_size)
    return out, total // 2


def _nhwc(shape: tuple, what: str, path: str) -> tuple[int, int, int]:
    if len(shape) != 4 or shape[0] != 1:
        raise ExportError(f"{path}: {what} has shape {list(shape)}; the firmware supports batch-1 NHWC tensors only")
    return int(shape[1]), int(shape[2]), int(shape[3])


def _pack_weights(w2: np.ndarray, w16: bool) -> tuple[np.ndarray, int]:
    """Pack ``w2`` [OC, K] int8 into the uint32 words ``sea_conv_s8`` reads (see sea_conv.h).

    K is padded to a multiple of 8 with zeros. Per output channel and group of 4 taps: the int16 pairs (w0, w2) and
    (w1, w3) (two words), or one word with the bytes w0 w1 w2 w3. Returns ``(words, k_pad)``.
    """
    oc, k = w2.shape
    k_pad = max(8, -(-k // 8) * 8)
    w = np.zeros((oc, k_pad), np.int64)
    w[:, :k] = w2
    w = w.reshape(oc, k_pad // 4, 4)
    arr = w[..., [0, 2, 1, 3]].astype("<i2") if w16 else w.astype("<i1")
    return np.ascontiguousarray(arr).reshape(-1).view("<u4").astype(np.uint32), k_pad


def _fast_requant(p: dict) -> tuple[bool, np.ndarray]:
    """Whether sea_conv.h's fast requantisation is exact for this layer, and its per-channel rounding words.

    It needs every right shift r >= 1 and no overflow: |acc| + 2^(r-1) + 128 2^r < 2^30 (double rounding, 32-bit
    arithmetic) or |acc| 2^31 + 2^(30+r) + 128 2^(31+r) < 2^62 (single rounding, one 64-bit SMLAL). The words are
    2^(r-1) + zp 2^r per channel (double) or the low and high words of 2^(30+r) + zp 2^(31+r) (single).
    """
    sh = p["shift"].astype(np.int64)
    n = len(sh)
    bound = p["k_len"] * 255 * 128 + int(np.abs(p["bias"]).max(initial=0))
    r = -np.minimum(sh, -1)
    r_max = int(r.max(initial=1))
    zp = int(p["out_zp"])
    if p["single"]:
        ok = bool(np.all(sh <= -1)) and bound * 2**31 + 2 ** (30 + r_max) + 128 * 2 ** (31 + r_max) < 2**62
        c64 = [(1 << (30 + int(v))) + zp * (1 << (31 + int(v))) for v in r] if ok else [0] * n
        words = np.array([[u & 0xFFFFFFFF, u >> 32] for u in (v & 0xFFFFFFFFFFFFFFFF for v in c64)], np.int64)
        return ok, np.where(words >= 1 << 31, words - (1 << 32), words).reshape(n, 2)
    ok = bool(np.all(sh <= -1)) and bound + 2 ** (r_max - 1) + 128 * 2**r_max < 2**30
    rnd = (np.int64(1) << (r - 1)) + zp * (np.int64(1) << r) if ok else np.zeros(n, np.int64)
    return ok, rnd.reshape(n, 1)


class _Lowering:
    def __init__(self, g: Graph, int16_budget: int, rounding: str = "litert"):
        self.g = g
        self.rounding = rounding
        self.path = g.path
        self.layers: list[Layer] = []
        self.views: dict[int, _View] = {}
        self.buffers: dict[str, Buffer] = {}
        self.int16_budget = int(int16_budget)
        self.uses: dict[int, int] = {}
        for op in g.ops:
            for t in op.inputs:
                if t >= 0:
                    self.uses[t] = self.uses.get(t, 0) + 1

    # -- buffers -------------------------------------------------------------------------------------------------
    def new_buffer(self, name: str, nbytes: int, kind: str = "activation") -> str:
        if name in self.buffers:
            raise ExportError(f"{self.path}: duplicate buffer {name}")
        self.buffers[name] = Buffer(name, int(nbytes), 10**9, -1, kind=kind)
        return name

    def touch(self, name: str, step: int):
        b = self.buffers[name]
        b.first = min(b.first, step)
        b.last = max(b.last, step)

    def out_view(self, t: Tensor) -> _View:
        name = self.new_buffer(f"t{t.index}", t.nbytes)
        v = _View(name, tuple(t.shape), tuple(range(len(t.shape))), t)
        self.views[t.index] = v
        return v

    def contiguous(self, t_idx: int) -> _View:
        """The view of tensor ``t_idx``, copied to a contiguous buffer first if it is a transposed view."""
        v = self.views[t_idx]
        if v.contiguous:
            return v
        t = v.tensor
        name = self.new_buffer(f"t{t.index}_c", t.nbytes)
        nv = _View(name, v.shape, tuple(range(len(v.shape))), t)
        self.add(Layer(0, "transpose", "TRANSPOSE", v.buffer, name, {"shape": v.shape, "strides": v.strides()}))
        self.views[t_idx] = nv
        return nv

    def add(self, layer: Layer):
        layer.index = len(self.layers)
        self.layers.append(layer)
        for b in (layer.src, layer.dst, layer.scratch):
            if b is not None:
                self.touch(b, layer.index)

    # -- ops -----------------------------------------------------------------------------------------------------
    def run(self) -> Program:
        g = self.g
        tin, tout = g.t(g.inputs[0]), g.t(g.outputs[0])
        v = self.out_view(tin)
        self.touch(v.buffer, -1)  # written by the front-end
        convs = []
        for op in g.ops:
            fn = getattr(self, "op_" + op.kind.lower())
            res = fn(op)
            if res is not None:
                convs.append(res)
        out = self.contiguous(g.outputs[0])
        self.touch(out.buffer, len(self.layers))  # read by sea_network's final copy
        self.choose_weight_formats(convs)
        macs = sum(layer.macs for layer in self.layers)
        return Program(self.layers, self.buffers, self.views[g.inputs[0]].buffer, out.buffer, tin, tout, macs)

    def alias(self, op: Op):
        src, dst = self.g.t(op.inputs[0]), self.g.t(op.outputs[0])
        if not _same_quant(src, dst):
            raise ExportError(f"{self.path}: {op.kind} op {op.index} changes quantisation, which TFLite does not allow")
        v = self.contiguous(op.inputs[0])
        if int(np.prod(dst.shape)) != int(np.prod(v.shape)):
            raise ExportError(f"{self.path}: {op.kind} op {op.index} changes the element count")
        self.views[dst.index] = _View(v.buffer, tuple(dst.shape), tuple(range(len(dst.shape))), dst)

    op_reshape = op_squeeze = op_expand_dims = alias

    def op_transpose(self, op: Op):
        src, dst = self.g.t(op.inputs[0]), self.g.t(op.outputs[0])
        perm_t = self.g.t(op.inputs[1])
        if perm_t.data is None:
            raise ExportError(f"{self.path}: TRANSPOSE op {op.index} has a non-constant permutation")
        if not _same_quant(src, dst):
            raise ExportError(f"{self.path}: TRANSPOSE op {op.index} changes quantisation")
        perm = tuple(int(p) for p in perm_t.data.reshape(-1))
        v = self.views[op.inputs[0]]
        # logical axis i of the output = logical axis perm[i] of the input = base axis v.perm[perm[i]]
        self.views[dst.index] = _View(v.buffer, v.base_shape, tuple(v.perm[p] for p in perm), dst)

    def lut_layer(self, op: Op, table: np.ndarray, note: str):
        src_v = self.views[op.inputs[0]]
        dst = self.g.t(op.outputs[0])
        name = self.new_buffer(f"t{dst.index}", dst.nbytes)
        # elementwise: the output keeps the input's layout (a transposed view stays transposed)
        self.views[dst.index] = _View(name, src_v.base_shape, src_v.perm, dst)
        self.add(
            Layer(0, "lut", op.kind, src_v.buffer, name, {"table": table.astype(np.int8), "n": dst.size}, note=note)
        )

    def op_quantize(self, op: Op):
        src, dst = self.g.t(op.inputs[0]), self.g.t(op.outputs[0])
        if src.dtype != "int8" or dst.dtype != "int8":
            raise ExportError(
                f"{self.path}: QUANTIZE op {op.index} converts {src.dtype} to {dst.dtype}; only int8 -> int8 "
                "requantisation is supported (export a full-int8 model)"
            )
        m, s = quant.quantize_multiplier(float(np.float32(src.qscale)) / float(np.float32(dst.qscale)))
        v = np.arange(-128, 128)
        table = np.clip(quant.multiply_by_quantized_multiplier(v - src.qzero, m, s) + dst.qzero, -128, 127)
        self.lut_layer(op, table, f"requantise scale {src.qscale:.6g}->{dst.qscale:.6g}")

    def conv_common(self, op: Op, x: Tensor, w2: np.ndarray, bias, out: Tensor, geom: dict, act: int, fc: bool):
        """Register a conv layer; ``w2`` [OC, K] int weights in (ky, kx, ic) order."""
        oc = w2.shape[0]
        ws = self.g.t(op.inputs[1])
        if ws.scale is None:
            raise ExportError(f"{self.path}: {op.kind} op {op.index} has unquantised weights; export a full-int8 model")
        if np.any(ws.zero_point != 0):
            raise ExportError(
                f"{self.path}: {op.kind} op {op.index} has weight zero points != 0 (not TFLite int8 spec)"
            )
        if ws.scale.size not in (1, oc):
            raise ExportError(
                f"{self.path}: {op.kind} op {op.index} has {ws.scale.size} weight scales for {oc} channels"
            )
        if fc and ws.scale.size == 1:
            # per-tensor FULLY_CONNECTED: GetQuantizedConvolutionMultipler multiplies the scales in float32
            m0, s0 = quant.quantize_multiplier(
                float(np.float32(x.qscale) * np.float32(ws.scale[0])) / float(np.float32(out.qscale))
            )
            mult, shift = np.full(oc, m0, np.int64), np.full(oc, s0, np.int64)
        else:
            scales = ws.scale if ws.scale.size == oc else np.full(oc, ws.scale[0], np.float32)
            mult, shift = quant.conv_multipliers(x.qscale, scales, out.qscale)
        lo, hi = quant.act_range(act, out.qscale, out.qzero)
        b = np.zeros(oc + (oc & 1), np.int64)
        if bias is not None:
            b[:oc] = bias.reshape(-1)
        k_len = int(w2.shape[1])
        src = self.contiguous(op.inputs[0])
        dst = self.out_view(out)
        params = dict(
            geom,
            k_len=k_len,
            in_zp=x.qzero,
            out_zp=out.qzero,
            act_min=lo,
            act_max=hi,
            w2=w2.astype(np.int64),
            bias=b,
            mult=mult,
            shift=shift,
            w16=False,
            # LiteRT's reference FULLY_CONNECTED rounds once; its conv kernels and TFLite Micro round twice
            single=bool(fc and self.rounding == "litert"),
        )
        n_pix = geom["out_h"] * geom["out_w"]
        layer = Layer(0, "conv", op.kind, src.buffer, dst.buffer, params, macs=n_pix * oc * k_len)
        layer.note = (
            f"{geom['in_h']}x{geom['in_w']}x{geom['in_c']} -> {geom['out_h']}x{geom['out_w']}x{oc}, "
            f"kernel {geom['k_h']}x{geom['k_w']} stride {geom['s_h']}x{geom['s_w']}, {_ACT_NAMES.get(act, act)}"
        )
        self.add(layer)
        return layer

    def op_conv_2d(self, op: Op):
        o = op.options
        x, w, out = self.g.t(op.inputs[0]), self.g.t(op.inputs[1]), self.g.t(op.outputs[0])
        bias = self.g.t(op.inputs[2]).data if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        in_h, in_w, in_c = _nhwc(x.shape, f"CONV_2D op {op.index} input", self.path)
        oc, kh, kw, ic = (int(d) for d in w.shape)
        if ic != in_c:
            raise ExportError(f"{self.path}: CONV_2D op {op.index} is grouped ({in_c} channels, filter depth {ic})")
        geom = self.geometry(op, in_h, in_w, in_c, kh, kw, oc, o)
        return self.conv_common(
            op, x, w.data.reshape(oc, -1), bias, out, geom, int(o.get("fusedActivationFunction", 0)), False
        )

    def op_depthwise_conv_2d(self, op: Op):
        o = op.options
        x, w, out = self.g.t(op.inputs[0]), self.g.t(op.inputs[1]), self.g.t(op.outputs[0])
        bias = self.g.t(op.inputs[2]).data if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        in_h, in_w, in_c = _nhwc(x.shape, f"DEPTHWISE_CONV_2D op {op.index} input", self.path)
        _, kh, kw, oc = (int(d) for d in w.shape)
        mult = oc // in_c
        act = int(o.get("fusedActivationFunction", 0))
        geom = self.geometry(op, in_h, in_w, in_c, kh, kw, oc, o)
        if in_c == 1 and oc == 1 and kh == 1 and kw == 1 and geom["s_h"] == 1 and geom["s_w"] == 1:
            # one-channel 1x1: an int8 -> int8 map (e.g. the input BatchNorm); a 256-entry table
            m, s = quant.conv_multipliers(x.qscale, w.scale[:1], out.qscale)
            lo, hi = quant.act_range(act, out.qscale, out.qzero)
            b = 0 if bias is None else int(bias.reshape(-1)[0])
            v = np.arange(-128, 128)
            acc = (v - x.qzero) * int(w.data.reshape(-1)[0]) + b
            table = np.clip(quant.multiply_by_quantized_multiplier(acc, m[0], s[0]) + out.qzero, lo, hi)
            self.lut_layer(op, table, "1x1 depthwise conv on one channel (affine map)")
            return None
        if in_c == 1:
            # depth multiplier on a single channel is an ordinary conv with `oc` filters
            w2 = w.data.reshape(kh * kw, oc).T
            return self.conv_common(op, x, w2, bias, out, geom, act, False)
        ws = w
        if ws.scale is None or np.any(ws.zero_point != 0):
            raise ExportError(f"{self.path}: DEPTHWISE_CONV_2D op {op.index} needs symmetric int8 weights")
        scales = ws.scale if ws.scale.size == oc else np.full(oc, ws.scale[0], np.float32)
        mults, shifts = quant.conv_multipliers(x.qscale, scales, out.qscale)
        lo, hi = quant.act_range(act, out.qscale, out.qzero)
        src = self.contiguous(op.inputs[0])
        dst = self.out_view(out)
        params = dict(
            geom,
            depth_mul=mult,
            in_zp=x.qzero,
            out_zp=out.qzero,
            act_min=lo,
            act_max=hi,
            w=w.data.reshape(kh, kw, oc).astype(np.int8),
            bias=None if bias is None else bias.reshape(-1).astype(np.int64),
            mult=mults,
            shift=shifts,
        )
        n_out = geom["out_h"] * geom["out_w"] * oc
        self.add(
            Layer(
                0,
                "dwconv",
                op.kind,
                src.buffer,
                dst.buffer,
                params,
                macs=n_out * kh * kw,
                note=f"{in_h}x{in_w}x{in_c} -> {geom['out_h']}x{geom['out_w']}x{oc}, kernel {kh}x{kw}",
            )
        )
        return None

    def op_fully_connected(self, op: Op):
        x, w, out = self.g.t(op.inputs[0]), self.g.t(op.inputs[1]), self.g.t(op.outputs[0])
        bias = self.g.t(op.inputs[2]).data if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        if op.options.get("weightsFormat", 0) != 0:
            raise ExportError(f"{self.path}: FULLY_CONNECTED op {op.index} uses shuffled weights")
        m, n = (int(d) for d in w.shape)
        if x.size % n:
            raise ExportError(
                f"{self.path}: FULLY_CONNECTED op {op.index}: input size {x.size} is not a multiple of {n}"
            )
        rows = x.size // n
        geom = dict(
            in_h=1,
            in_w=rows,
            in_c=n,
            out_h=1,
            out_w=rows,
            out_c=m,
            k_h=1,
            k_w=1,
            s_h=1,
            s_w=1,
            d_h=1,
            d_w=1,
            pad_t=0,
            pad_l=0,
        )
        return self.conv_common(
            op, x, w.data.reshape(m, n), bias, out, geom, int(op.options.get("fusedActivationFunction", 0)), True
        )

    def geometry(self, op: Op, in_h, in_w, in_c, kh, kw, oc, o) -> dict:
        out = self.g.t(op.outputs[0])
        sh, sw = int(o.get("strideH", 1)), int(o.get("strideW", 1))
        dh, dw = int(o.get("dilationHFactor", 1)), int(o.get("dilationWFactor", 1))
        out_h, pad_t = _pad_same(in_h, kh, sh, dh, int(o.get("padding", 0)))
        out_w, pad_l = _pad_same(in_w, kw, sw, dw, int(o.get("padding", 0)))
        oh, ow, c = _nhwc(out.shape, f"{op.kind} op {op.index} output", self.path)
        if (oh, ow, c) != (out_h, out_w, oc):
            raise ExportError(
                f"{self.path}: {op.kind} op {op.index} output {list(out.shape)} does not match its padding/stride "
                f"({out_h}x{out_w}x{oc})"
            )
        return dict(
            in_h=in_h,
            in_w=in_w,
            in_c=in_c,
            out_h=out_h,
            out_w=out_w,
            out_c=oc,
            k_h=kh,
            k_w=kw,
            s_h=sh,
            s_w=sw,
            d_h=dh,
            d_w=dw,
            pad_t=pad_t,
            pad_l=pad_l,
        )

    def pool(self, op: Op, kind: str):
        o = op.options
        x, out = self.g.t(op.inputs[0]), self.g.t(op.outputs[0])
        if not _same_quant(x, out):
            raise ExportError(
                f"{self.path}: {op.kind} op {op.index} changes quantisation, which TFLite int8 pooling does not do"
            )
        in_h, in_w, c = _nhwc(x.shape, f"{op.kind} op {op.index} input", self.path)
        fh, fw = int(o["filterHeight"]), int(o["filterWidth"])
        sh, sw = int(o.get("strideH", 1)), int(o.get("strideW", 1))
        out_h, pad_t = _pad_same(in_h, fh, sh, 1, int(o.get("padding", 0)))
        out_w, pad_l = _pad_same(in_w, fw, sw, 1, int(o.get("padding", 0)))
        if _nhwc(out.shape, f"{op.kind} output", self.path) != (out_h, out_w, c):
            raise ExportError(f"{self.path}: {op.kind} op {op.index} output shape does not match its padding/stride")
        lo, hi = quant.act_range(int(o.get("fusedActivationFunction", 0)), out.qscale, out.qzero)
        src = self.contiguous(op.inputs[0])
        dst = self.out_view(out)
        params = dict(
            in_h=in_h,
            in_w=in_w,
            c=c,
            out_h=out_h,
            out_w=out_w,
            f_h=fh,
            f_w=fw,
            s_h=sh,
            s_w=sw,
            pad_t=pad_t,
            pad_l=pad_l,
            act_min=lo,
            act_max=hi,
        )
        self.add(
            Layer(
                0,
                kind,
                op.kind,
                src.buffer,
                dst.buffer,
                params,
                note=f"{in_h}x{in_w}x{c} -> {out_h}x{out_w}x{c}, window {fh}x{fw} stride {sh}x{sw}",
            )
        )

    def op_max_pool_2d(self, op: Op):
        self.pool(op, "maxpool")

    def op_average_pool_2d(self, op: Op):
        self.pool(op, "avgpool")

    def op_reduce_max(self, op: Op):
        x, out = self.g.t(op.inputs[0]), self.g.t(op.outputs[0])
        axes_t = self.g.t(op.inputs[1])
        if axes_t.data is None:
            raise ExportError(f"{self.path}: REDUCE_MAX op {op.index} has non-constant axes")
        if not _same_quant(x, out):
            raise ExportError(f"{self.path}: REDUCE_MAX op {op.index} changes quantisation; not supported")
        v = self.views[op.inputs[0]]
        rank = len(v.shape)
        axes = sorted({int(a) % rank for a in axes_t.data.reshape(-1)})
        dst = self.out_view(out)
        params = {"shape": v.shape, "strides": v.strides(), "axes": axes}
        self.add(
            Layer(0, "reduce_max", op.kind, v.buffer, dst.buffer, params, note=f"{list(v.shape)} over axes {axes}")
        )

    def op_pad(self, op: Op):
        x, out = self.g.t(op.inputs[0]), self.g.t(op.outputs[0])
        pads_t = self.g.t(op.inputs[1])
        if pads_t.data is None:
            raise ExportError(f"{self.path}: PAD op {op.index} has non-constant paddings")
        if not _same_quant(x, out):
            raise ExportError(f"{self.path}: PAD op {op.index} changes quantisation; not supported")
        src = self.contiguous(op.inputs[0])
        pads = pads_t.data.reshape(-1, 2).astype(int).tolist()
        if len(pads) != len(src.shape) or any(p < 0 for pr in pads for p in pr):
            raise ExportError(f"{self.path}: PAD op {op.index} has paddings {pads} for shape {list(src.shape)}")
        dst = self.out_view(out)
        params = {"in_shape": src.shape, "out_shape": tuple(out.shape), "pads": pads, "value": out.qzero}
        self.add(
            Layer(0, "pad", op.kind, src.buffer, dst.buffer, params, note=f"{list(src.shape)} -> {list(out.shape)}")
        )

    # -- weight format ------------------------------------------------------------------------------------------
    def choose_weight_formats(self, convs: list):
        """int16 weights (no SXTB16 in the inner loop) for the layers with most MACs per weight byte, within budget."""
        budget = self.int16_budget
        for layer in sorted(convs, key=lambda la: -(la.params["out_h"] * la.params["out_w"])):
            extra = layer.params["w2"].size  # int8 -> int16 doubles the weight bytes
            # each weight is reused once per output pixel: below a few pixels the saving is noise
            if extra <= budget and layer.params["out_h"] * layer.params["out_w"] >= 8:
                layer.params["w16"] = True
                budget -= extra
        for layer in convs:
            p = layer.params
            words, k_pad = _pack_weights(p["w2"], p["w16"])
            p["words"] = words
            p["k_pad"] = k_pad
            # im2col stores raw inputs (zero point in the padding): fold -in_zp * sum(w) into the bias
            oc = p["w2"].shape[0]
            p["bias_folded"] = p["bias"].copy()
            p["bias_folded"][:oc] -= p["in_zp"] * p["w2"].sum(axis=1)
            worst = int(np.abs(p["bias_folded"]).max(initial=0)) + p["k_len"] * 128 * 128
            if worst >= 2**31:
                raise ExportError(
                    f"{self.path}: {layer.op} layer {layer.index}: int32 accumulators could overflow "
                    f"(|bias| + K * 128 * 128 = {worst}); the bias is out of the int8 spec's range"
                )
            p["fast"], rnd = _fast_requant(p)
            # per output channel: bias (zero point folded in), multiplier, shift, rounding word(s)
            oc = p["w2"].shape[0]
            p["q"] = np.concatenate(
                [p["bias_folded"][:oc, None], p["mult"][:, None], p["shift"][:, None].astype(np.int64), rnd], axis=1
            )
            col = self.new_buffer(f"col{layer.index}", 8 * k_pad, kind="scratch")
            layer.scratch = col
            self.touch(col, layer.index)


def lower_graph(g: Graph, *, int16_weight_budget: int = 48 * 1024, rounding: str = "litert") -> Program:
    """Lower ``g`` to firmware layers.

    Parameters
    ----------
    g : Graph
    int16_weight_budget : int
        Extra flash bytes allowed for storing conv weights as int16 (faster SMLAD inner loop), spent greedily on
        the layers with the most output pixels.
    rounding : {"litert", "tflm"}
        ``"litert"`` reproduces ai-edge-litert's reference kernels (single rounding in FULLY_CONNECTED, double
        rounding elsewhere); ``"tflm"`` rounds twice everywhere, as TensorFlow Lite Micro does.
    """
    if rounding not in ("litert", "tflm"):
        raise ExportError(f"rounding={rounding!r} must be 'litert' or 'tflm'")
    return _Lowering(g, int16_weight_budget, rounding).run()


def plan_memory(prog: Program, frontend_bytes: int, align: int = 8) -> dict:
    """Assign arena offsets: greedy by size, first fit between buffers whose live ranges overlap.

    Parameters
    ----------
    prog : Program
    frontend_bytes : int
        The C front-end's float scratch, live at step -1 together with the network input buffer.

    Returns
    -------
    dict
        ``arena_bytes``, ``peak_live_bytes`` (the lower bound any plan needs) and ``buffers`` (name, kind, bytes,
        offset, first, last), sorted by offset.
    """
    bufs = dict(prog.buffers)
    bufs["frontend"] = Buffer("frontend", int(frontend_bytes), -1, -1, kind="frontend")
    order = sorted(bufs.values(), key=lambda b: (-b.nbytes, b.first, b.name))
    placed: list[Buffer] = []
    for b in order:
        if b.first > b.last:  # never used
            b.first = b.last = -1
        live = sorted((p for p in placed if not (p.last < b.first or b.last < p.first)), key=lambda p: p.offset)
        off = 0
        for p in live:
            if off + b.nbytes <= p.offset:
                break
            off = max(off, -(-(p.offset + p.nbytes) // align) * align)
        b.offset = off
        placed.append(b)
    arena = max((b.offset + b.nbytes for b in placed), default=0)
    arena = -(-arena // align) * align
    steps = range(-1, len(prog.layers) + 1)
    peak = max(sum(b.nbytes for b in placed if b.first <= s <= b.last) for s in steps)
    for b in placed:
        prog.buffers.setdefault(b.name, b)
    return {
        "arena_bytes": int(arena),
        "peak_live_bytes": int(peak),
        "buffers": [
            {"name": b.name, "kind": b.kind, "bytes": b.nbytes, "offset": b.offset, "first": b.first, "last": b.last}
            for b in sorted(placed, key=lambda b: (b.offset, b.first))
        ],
        "offsets": {b.name: b.offset for b in placed},
    }
