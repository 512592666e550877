"""MCU-class students of our own design (not from the paper).

SEA's smallest student still needs ~122 M MACs and ~205 KB of int8 activations per window because its first block runs
32 filters at the full 64x50 resolution (two such tensors are live at once). This family keeps the SEA input
(``[B, 1, 64, 50]`` log-mel, input BatchNorm) and changes the body:

- a **stride-2 stem** (4x4 conv, padding 1, 1 -> C0) halves both axes at once (64x50 -> 32x25), so no full-resolution
  multi-channel tensor exists;
- **narrow plain 3x3 conv stages** (conv + BN + ReLU, no skips): one at 32x25, then one stride-2 conv per stage
  (-> 16x13 -> 8x7 -> 4x4); stride-2 kernels are 4 on even and 3 on odd axes (padding 1), which is exactly TF 'SAME',
  so the converted graph has no extra PAD op (a PAD's padded copy would add ~20% to the peak activation memory);
- global max-pool (``torch.amax``) and a ``Linear`` head to ``out_dim`` (default 64) with **no final ReLU**, so
  signed PCA coordinates are reachable.

Why plain convs and not MobileNet-style depthwise-separable blocks (still available as ``"ds"`` stages through
``stages=``): measured on the synthetic run (untrained teacher, PCA 64, 12 epochs), depthwise variants of the same
budgets lost int8 parity (mean cosine of PT2E/onnxruntime int8 vs fp32 0.95-0.98, below the 0.99 export tolerance;
their BN-folded depthwise filters have gains of 10-28x and amplify activation rounding), while the plain-conv ones
stay at >= 0.998 *and* fit the PCA targets better (held-out R2 0.56 vs 0.44-0.47). See ``benchmarks/bench_tradeoff.py``.

Only ops that litert-torch converts: Conv2d (incl. depthwise groups), BatchNorm2d (folded), ReLU, amax, Linear.

Budgets (per 1-s window, see :data:`MCU_BUDGET`): <= 20 M MACs, <= 64 KiB peak int8 activations (live-tensor sum,
as TFLM's planner sees it), <= 150 KB int8 weights. Three sizes give a trade-off curve: ``sea_mcu_xs``,
``sea_mcu_s``, ``sea_mcu_m``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from .paper import KERAS_BN_EPS, KERAS_BN_MOMENTUM
from .registry import check_input_shape, register_student

__all__ = ["MCU_BUDGET", "MCU_SPECS", "McuStudent"]

#: Per-window budgets the MCU family is tested against.
MCU_BUDGET = {"macs": 20_000_000, "peak_activation_bytes_int8": 64 * 1024, "weight_bytes_int8": 150_000}

#: ``stem``: (channels, stride); ``stages``: list of [block, channels, stride, repeats], block "ds" or "conv".
MCU_SPECS: dict[str, dict] = {
    "sea_mcu_xs": {
        "stem": [8, 2],
        "stages": [["conv", 12, 1, 1], ["conv", 24, 2, 1], ["conv", 32, 2, 1], ["conv", 48, 2, 1]],
    },
    "sea_mcu_s": {
        "stem": [16, 2],
        "stages": [["conv", 16, 1, 1], ["conv", 32, 2, 1], ["conv", 64, 2, 1], ["conv", 64, 2, 1]],
    },
    "sea_mcu_m": {
        "stem": [24, 2],
        "stages": [["conv", 24, 1, 1], ["conv", 48, 2, 1], ["conv", 64, 2, 1], ["conv", 96, 2, 1]],
    },
}


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=KERAS_BN_EPS, momentum=KERAS_BN_MOMENTUM)


def _down_kernel(h: int, w: int) -> tuple[int, int]:
    """Stride-2 kernel per axis whose symmetric padding 1 equals TensorFlow 'SAME': 4 on even sizes, 3 on odd ones.

    With k=3, p=1, s=2 on an even size, PyTorch pads (1, 1) where TF 'SAME' pads (0, 1); the converter then inserts an
    explicit PAD op whose padded copy is live next to its input (+~20% peak memory). k=4, p=1 is exactly 'SAME'.
    """
    return (4 if h % 2 == 0 else 3, 4 if w % 2 == 0 else 3)


def _conv_bn_relu(c_in: int, c_out: int, k, stride: int, groups: int = 1) -> list[nn.Module]:
    k = (k, k) if isinstance(k, int) else tuple(k)
    pad = (1, 1) if stride == 2 else (k[0] // 2, k[1] // 2)
    return [
        nn.Conv2d(c_in, c_out, k, stride=stride, padding=pad, groups=groups, bias=False),
        _bn(c_out),
        nn.ReLU(inplace=True),
    ]


class McuStudent(nn.Module):
    """Stride-2 stem + conv (or depthwise-separable) stages + global max-pool + linear head.

    Parameters
    ----------
    stem : [channels, stride]
    stages : list of [block, channels, stride, repeats]
        ``block`` is ``"ds"`` (depthwise 3x3 + pointwise 1x1) or ``"conv"`` (plain 3x3); the stride applies to the first
        block of the stage.
    out_dim : int or None
        Embedding dimension of the linear head; ``None`` returns the pooled features (post-ReLU, dim = last channels).
    final_relu : bool
        ReLU on the head output (default False: signed embedding).
    input_shape : tuple
        ``(1, 64, n_frames)``: 50 frames for a 1-s window (default), 150 for a 3-s one. The stride-2 kernels are
        chosen per axis from the map size, so every length keeps the no-PAD export property.
    """

    def __init__(self, stem=(16, 2), stages=(), out_dim=64, final_relu=False, input_shape=(1, 64, 50)):
        super().__init__()
        self.input_shape = check_input_shape(input_shape, "McuStudent")
        try:
            c0, s0 = int(stem[0]), int(stem[1])
            stages = [(str(b), int(c), int(s), int(r)) for b, c, s, r in stages]
        except (TypeError, ValueError, IndexError):
            raise ConfigError(
                f"McuStudent stem={stem!r} / stages={stages!r} must be [channels, stride] and [[block, channels, stride, repeats], ...]"
            ) from None
        for b, c, s, r in stages:
            if b not in ("ds", "conv") or c < 1 or s not in (1, 2) or r < 1:
                raise ConfigError(
                    f"bad MCU stage {[b, c, s, r]}: block 'ds'|'conv', channels >= 1, stride 1|2, repeats >= 1"
                )
        layers: list[nn.Module] = [_bn(self.input_shape[0])]
        h, w = self.input_shape[1:]
        if s0 not in (1, 2):
            raise ConfigError(f"MCU stem stride {s0} must be 1 or 2")

        def kernel(stride):  # stride-2 kernels are chosen so that the exported graph needs no PAD op
            nonlocal h, w
            if stride == 1:
                return 3
            k = _down_kernel(h, w)
            h, w = -(-h // 2), -(-w // 2)
            return k

        layers += _conv_bn_relu(self.input_shape[0], c0, kernel(s0), s0)
        c_in = c0
        for block, c, stride, repeats in stages:
            for i in range(repeats):
                st = stride if i == 0 else 1
                if block == "conv":
                    layers += _conv_bn_relu(c_in, c, kernel(st), st)
                else:
                    layers += _conv_bn_relu(c_in, c_in, kernel(st), st, groups=c_in)
                    layers += _conv_bn_relu(c_in, c, 1, 1)
                c_in = c
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, int(out_dim)) if out_dim is not None else None
        self.final_relu = bool(final_relu)
        self.embedding_dim = int(out_dim) if out_dim is not None else c_in
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-normal convs, Xavier head, fresh BatchNorm (the init distillation starts from)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_parameters()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 1, 64, T]`` log-mel -> the last conv stage's map ``[B, C, H, W]``."""
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 1, 64, T]`` log-mel -> ``[B, embedding_dim]`` (global max-pool, then the linear head if any)."""
        x = torch.amax(self.features(x), dim=(2, 3))
        if self.head is not None:
            x = self.head(x)
        if self.final_relu:
            x = torch.relu(x)
        return x


def _make_mcu(name: str):
    spec = MCU_SPECS[name]

    def factory(out_dim: int | None = 64, final_relu: bool = False, stem=None, stages=None, input_shape=(1, 64, 50)):
        return McuStudent(
            stem=spec["stem"] if stem is None else stem,
            stages=spec["stages"] if stages is None else stages,
            out_dim=out_dim,
            final_relu=final_relu,
            input_shape=input_shape,
        )

    desc = " / ".join(f"{b}{c}x{r}" + ("/s2" if s == 2 else "") for b, c, s, r in spec["stages"])
    factory.__doc__ = f"MCU family: stem {spec['stem'][0]}/s{spec['stem'][1]}, {desc}, linear head (default 64-d)."
    factory.__name__ = name
    return register_student(name)(factory)


for _name in MCU_SPECS:
    _make_mcu(_name)
