"""Winograd F(4x4, 3x3) convolution for the teacher on CPU (conv3-conv8 of OpenL3).

A 3x3 "same" convolution computes each 4x4 output tile from a 6x6 input tile with
36 multiplies per (input, output) channel pair instead of 144 (Lavin & Gray, 2016):
``Y = A^T [(G g G^T) * (B^T d B)] A``. The elementwise products summed over input
channels are 36 independent GEMMs of [tiles, C] x [C, K], so the work goes to the
BLAS at its full rate. The transforms are memory-bound, so they run a strip of tile
rows at a time to stay in cache; even so the 64-channel conv2 on the full-size map is
faster as a direct convolution.
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
    """Transform 3x3 kernels: weight [K, C, 3, 3] -> U [36, C, K] (computed in float64)."""
    g = torch.tensor(_G, dtype=torch.float64, device=weight.device)
    u = torch.einsum("ai,kcij,bj->abck", g, weight.detach().double(), g)
    return u.reshape(36, weight.shape[1], weight.shape[0]).to(weight.dtype).contiguous()


def winograd_conv3x3(
    x: torch.Tensor, u: torch.Tensor, bias: torch.Tensor, relu: bool = False, strip_rows: int | None = None
) -> torch.Tensor:
    """``conv2d(x, w, bias, padding=1)`` (then ReLU) by Winograd F(4x4, 3x3).

    Parameters
    ----------
    x : Tensor [shape=(B, C, H, W)], channels-last memory
    u : Tensor [shape=(36, C, K)] from :func:`winograd_filter`
    bias : Tensor [shape=(K,)]
    relu : bool
        Apply ReLU to the output.
    strip_rows : int or None
        Tile rows (4 output rows each) transformed at a time, so a strip's tiles stay in
        cache; ``None``: 2 rows, or the whole map when ``u`` is over 16 MB (it is re-read
        for every strip).

    Returns
    -------
    Tensor [shape=(B, K, H, W)], channels-last strides (a view of a buffer rounded up to
    whole 4x4 tiles when H or W is not a multiple of 4).
    """
    n, c, h, w = x.shape
    k = u.shape[2]
    th, tw = -(-h // 4), -(-w // 4)
    if strip_rows is None:
        strip_rows = th if u.numel() * u.element_size() > (16 << 20) else 2
    bt, at = _mats(x.device, x.dtype)
    xp = F.pad(x.permute(0, 2, 3, 1), (0, 0, 1, 4 * tw + 1 - w, 1, 4 * th + 1 - h))  # [B, 4th+2, 4tw+2, C]
    out = torch.empty((n, 4 * th, 4 * tw, k), dtype=x.dtype, device=x.device)
    for r0 in range(0, th, strip_rows):
        rows = min(strip_rows, th - r0)
        t = n * rows * tw
        tiles = xp[:, 4 * r0 : 4 * (r0 + rows) + 2].unfold(1, 6, 4).unfold(2, 6, 4)  # [B, rows, tw, C, 6, 6]
        d = tiles.permute(4, 5, 0, 1, 2, 3).reshape(6, 6 * t * c)
        d = torch.matmul(bt, torch.mm(bt, d).view(6, 6, t * c))  # B^T d B, one axis at a time
        m = torch.bmm(d.view(36, t, c), u)  # [36, T, K]
        y = torch.mm(at, m.view(6, 6 * t * k)).view(4, 6, t * k)
        y = torch.matmul(at, y).view(4, 4, n, rows, tw, k)  # A^T m A
        # bias and ReLU while the strip is in cache, written straight into the output
        dst = out[:, 4 * r0 : 4 * (r0 + rows)].view(n, rows, 4, tw, 4, k)
        torch.add(y.permute(2, 3, 0, 4, 1, 5), bias, out=dst)
        if relu:
            dst.relu_()
    return out[:, :h, :w].permute(0, 3, 1, 2)
