"""Winograd F(4x4, 3x3) convolution for the teacher's widest layers on CPU.

A 3x3 "same" convolution computes each 4x4 output tile from a 6x6 input tile with
36 multiplies per (input, output) channel pair instead of 144 (Lavin & Gray, 2016):
``Y = A^T [(G g G^T) * (B^T d B)] A``. The elementwise products summed over input
channels are 36 independent GEMMs of [tiles, C] x [C, K], so the work goes to the
BLAS at its full rate. The transforms are memory-bound, which is why only layers
with many channels gain (conv6-8 of OpenL3: 256 and 512 channels, on small maps).
Rounding grows from about 8e-7 to 2e-6 relative per layer (float32).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["winograd_conv3x3", "winograd_filter"]

_BT = ((4, 0, -5, 0, 1, 0), (0, -4, -4, 1, 1, 0), (0, 4, -4, -1, 1, 0), (0, -2, -1, 2, 1, 0), (0, 2, -1, -2, 1, 0),
       (0, 4, 0, -5, 0, 1))  # fmt: skip
_G = ((1 / 4, 0, 0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6), (1 / 24, 1 / 12, 1 / 6),
      (1 / 24, -1 / 12, 1 / 6), (0, 0, 1))  # fmt: skip
_AT = ((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0), (0, 1, -1, 8, -8, 1))
_CACHE: dict = {}


def _mats(device, dtype):
    key = (device, dtype)
    if key not in _CACHE:
        _CACHE[key] = tuple(torch.tensor(m, dtype=torch.float64).to(device, dtype) for m in (_BT, _AT))
    return _CACHE[key]


def winograd_filter(weight: torch.Tensor) -> torch.Tensor:
    """Transformed 3x3 kernels: weight [K, C, 3, 3] -> U [36, C, K] (computed in float64)."""
    g = torch.tensor(_G, dtype=torch.float64, device=weight.device)
    u = torch.einsum("ai,kcij,bj->abck", g, weight.detach().double(), g)
    return u.reshape(36, weight.shape[1], weight.shape[0]).to(weight.dtype).contiguous()


def winograd_conv3x3(x: torch.Tensor, u: torch.Tensor, bias: torch.Tensor, relu: bool = False) -> torch.Tensor:
    """``conv2d(x, w, bias, padding=1)`` (then ReLU) by Winograd F(4x4, 3x3).

    Parameters
    ----------
    x : Tensor [shape=(B, C, H, W)], channels-last memory
    u : Tensor [shape=(36, C, K)] from :func:`winograd_filter`
    bias : Tensor [shape=(K,)]

    Returns
    -------
    Tensor [shape=(B, K, H, W)], channels-last memory.
    """
    n, c, h, w = x.shape
    k = u.shape[2]
    th, tw = -(-h // 4), -(-w // 4)
    t = n * th * tw
    bt, at = _mats(x.device, x.dtype)
    xp = F.pad(x.permute(0, 2, 3, 1), (0, 0, 1, 4 * tw + 1 - w, 1, 4 * th + 1 - h))  # [B, 4th+2, 4tw+2, C]
    d = xp.unfold(1, 6, 4).unfold(2, 6, 4).permute(4, 5, 0, 1, 2, 3).reshape(6, 6 * t * c)  # tiles [6, 6, T*C]
    d = torch.matmul(bt, torch.mm(bt, d).view(6, 6, t * c))  # B^T d B, one axis at a time
    m = torch.bmm(d.view(36, t, c), u)  # [36, T, K]
    y = torch.mm(at, m.view(6, 6 * t * k)).view(4, 6, t * k)
    y = torch.matmul(at, y).view(4, 4, n, th, tw, k)  # A^T m A
    y = y.permute(2, 3, 0, 4, 1, 5).reshape(n, 4 * th, 4 * tw, k)[:, :h, :w]
    out = torch.empty((n, h, w, k), dtype=x.dtype, device=x.device)
    torch.add(y, bias, out=out)
    if relu:
        out.relu_()
    return out.permute(0, 3, 1, 2)
