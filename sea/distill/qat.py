"""Int8 fake quantization of a student, for quantization-aware training and int8-simulated fidelity.

The simulation follows what the exporters build (``export/tflite.py``, ``export/onnx.py``): weights
int8 symmetric per output channel (invariant to the per-channel scale that BatchNorm folding
applies), activations int8 affine per tensor at the points a fused graph materialises them: the
model input, every ReLU output and the model output. Ranges are the running min/max observed
while training (or calibrating), as the exporters' min/max calibration sees them, and are frozen
in eval mode. Gradients pass
straight through the rounding (``torch.fake_quantize_*``).

Everything is done with forward hooks, so the model's ``state_dict`` keeps its plain layout and
a QAT checkpoint loads and exports like any other student.
"""

from __future__ import annotations

import functools

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["FakeQuant"]


def _fq_weight(w: torch.Tensor) -> torch.Tensor:
    dims = tuple(range(1, w.dim()))
    scale = (w.detach().abs().amax(dim=dims) / 127.0).clamp_min(1e-12).float()
    zero = torch.zeros_like(scale, dtype=torch.int32)
    return torch.fake_quantize_per_channel_affine(w, scale, zero, 0, -127, 127)


class FakeQuant:
    """Attach int8 fake quantization to ``model`` (hooks); :meth:`remove` restores the float model.

    Parameters
    ----------
    model : nn.Module
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.calibrating = False
        self.ranges: dict[str, tuple[float, float]] = {}
        self._handles = []
        for name, m in model.named_modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                self._handles.append(m.register_forward_hook(self._weight_hook))
            elif isinstance(m, nn.ReLU):
                m.inplace = False  # the hook replaces the output; an in-place ReLU would alias its input
                self._handles.append(m.register_forward_hook(functools.partial(self._act_hook, name)))
        self._handles.append(model.register_forward_pre_hook(self._input_hook))
        self._handles.append(model.register_forward_hook(functools.partial(self._act_hook, "<output>")))

    # -- hooks ------------------------------------------------------------------------------------

    @staticmethod
    def _weight_hook(mod, inputs, out):
        w = _fq_weight(mod.weight)
        if isinstance(mod, nn.Conv2d):
            return mod._conv_forward(inputs[0], w, mod.bias)
        return F.linear(inputs[0], w, mod.bias)

    def _input_hook(self, mod, inputs):
        return (self._quantize("<input>", inputs[0], mod.training), *inputs[1:])

    def _act_hook(self, name, mod, inputs, out):
        return self._quantize(name, out, mod.training)

    def _quantize(self, name: str, x: torch.Tensor, training: bool) -> torch.Tensor:
        lo, hi = float(x.detach().min()), float(x.detach().max())
        if training or self.calibrating or name not in self.ranges:
            if name in self.ranges:
                # running min/max, as the exporters' min/max calibration sees the data (a moving average
                # would simulate finer steps than the exported model gets)
                plo, phi = self.ranges[name]
                lo, hi = min(plo, lo), max(phi, hi)
            self.ranges[name] = (lo, hi)
        lo, hi = self.ranges[name]
        lo, hi = min(lo, 0.0), max(hi, 0.0)
        scale = max((hi - lo) / 255.0, 1e-8)
        zp = int(min(127, max(-128, round(-lo / scale) - 128)))
        return torch.fake_quantize_per_tensor_affine(x, scale, zp, -128, 127)

    # -- control ----------------------------------------------------------------------------------

    def freeze_bn(self) -> None:
        """Keep BatchNorm statistics fixed (standard for QAT fine-tuning of a trained float model)."""
        for m in self.model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()

    def state(self) -> dict[str, list[float]]:
        """Return the activation ranges, JSON-ready (``{point: [lo, hi]}``), as checkpoints store them."""
        return {k: [float(a), float(b)] for k, (a, b) in self.ranges.items()}

    def load_state(self, state: dict | None) -> None:
        """Take the activation ranges of :meth:`state` (None: none, they are observed again)."""
        self.ranges = {k: (float(v[0]), float(v[1])) for k, v in (state or {}).items()}

    def remove(self) -> None:
        """Remove the hooks: the model computes in float again."""
        for h in self._handles:
            h.remove()
        self._handles = []
