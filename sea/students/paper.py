"""SEA's Students 0-3 (SEA Table 1), exactly, plus ``_lin`` variants that can output negative PCA coordinates.

Architecture (``edgel3/models.py::_construct_ust_specialized_audio_network``): input BatchNorm (1 channel) ->
4 blocks of 2 x (Conv 3x3 'same' with bias, BatchNorm, ReLU), MaxPool 2x2 after blocks 1-3
(64x50 -> 32x25 -> 16x12 -> 8x6), global max-pool over the 8x6 map (``torch.amax``; no adaptive pooling, so it
exports), flatten -> C4-dim embedding.

Windows of any length: the paper's last pooling is Keras ``MaxPooling2D(pool_size=(8, 6))`` over the whole 8x6 map
of a 1-s window, i.e. a global max-pool. The global max (``torch.amax`` over the last map) is the same operation on
a 1-s window and the natural one on longer windows (``input_shape=(1, 64, 150)``, 3 s: map 8x18), so 1-s outputs
are unchanged and any ``n_frames >= 8`` works.

Keras conventions are kept: convolutions have biases (they are part of the published parameter counts),
BatchNorm ``eps=1e-3`` and momentum 0.99 (torch ``momentum=0.01``), Glorot-uniform kernels with zero biases.
Trainable parameters: 4,688,066 / 1,173,602 / 583,010 / 398,306 for Students 0-3.

``_lin`` variants: the same body, and the last conv keeps its BatchNorm but has **no ReLU**, so the max-pooled
embedding can be negative (PCA targets are signed). Keeping the BatchNorm keeps the parameter count identical to the
paper student, and it folds into conv8 for export anyway. Options for any paper student:
``out_dim=d`` adds a ``Linear(C4, d)`` projection head (embedding dim ``d``), ``head="linear"`` adds
``Linear(C4, C4)``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from .registry import check_input_shape, register_student

__all__ = ["PAPER_FILTERS", "SeaStudent"]

#: Filters of blocks 1-4 for Students 0-3 (SEA Table 1).
PAPER_FILTERS: dict[int, tuple[int, int, int, int]] = {
    0: (64, 128, 256, 512),
    1: (32, 64, 128, 256),
    2: (32, 64, 128, 128),
    3: (32, 64, 128, 64),
}

KERAS_BN_EPS = 1e-3
KERAS_BN_MOMENTUM = 0.01  # Keras momentum 0.99


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=KERAS_BN_EPS, momentum=KERAS_BN_MOMENTUM)


class SeaStudent(nn.Module):
    """The SEA student CNN.

    Parameters
    ----------
    filters : sequence of 4 ints
        Filters of blocks 1-4 (C1..C4).
    final_relu : bool
        ReLU after the last conv's BatchNorm (paper: True; ``_lin`` variants: False).
    head : {None, "linear"}
        Optional linear projection after the global max-pool.
    out_dim : int, optional
        Output dimension of the linear head (implies ``head="linear"``); default C4.
    input_shape : tuple
        ``(1, n_mels, n_frames)``; default ``(1, 64, 50)`` (a 1-s window; ``(1, 64, 150)`` for 3 s).

    Input ``[B, 1, 64, n_frames]`` log-mel (dB), output ``[B, embedding_dim]``.
    """

    def __init__(self, filters=(32, 64, 128, 64), final_relu=True, head=None, out_dim=None, input_shape=(1, 64, 50)):
        super().__init__()
        filters = tuple(int(f) for f in filters)
        if len(filters) != 4 or min(filters) < 1:
            raise ConfigError(f"filters={filters} must be 4 positive ints (blocks 1-4)")
        if head not in (None, "none", "linear"):
            raise ConfigError(f"head={head!r} must be None or 'linear'")
        if out_dim is not None and int(out_dim) < 1:
            raise ConfigError(f"out_dim={out_dim} must be a positive int or None")
        self.filters = filters
        self.final_relu = bool(final_relu)
        self.input_shape = check_input_shape(input_shape, "SeaStudent")
        layers: list[nn.Module] = [_bn(self.input_shape[0])]
        c_in = self.input_shape[0]
        for b, c in enumerate(filters):
            for k in range(2):
                last = b == 3 and k == 1
                layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=True), _bn(c)]
                if not last or self.final_relu:
                    layers.append(nn.ReLU(inplace=True))
                c_in = c
            if b < 3:
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        if out_dim is not None or head == "linear":
            d = int(out_dim) if out_dim is not None else filters[3]
            self.head = nn.Linear(filters[3], d)
        else:
            self.head = None
        self.embedding_dim = self.head.out_features if self.head is not None else filters[3]
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Keras defaults: Glorot-uniform kernels, zero biases, BN gamma=1, beta=0."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_parameters()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 1, 64, n_frames]`` -> last conv block's map ``[B, C4, 8, n_frames // 8]`` (8x6 for 1 s)."""
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 1, 64, n_frames]`` log-mel -> ``[B, embedding_dim]``."""
        # global max-pool = the paper's (8, 6) pool on a 1-s window; exportable (no adaptive pooling)
        x = torch.amax(self.features(x), dim=(2, 3))
        if self.head is not None:
            x = self.head(x)
        return x


def _make_paper(idx: int, lin: bool):
    def factory(head: str | None = None, out_dim: int | None = None, input_shape=(1, 64, 50)):
        return SeaStudent(PAPER_FILTERS[idx], final_relu=not lin, head=head, out_dim=out_dim, input_shape=input_shape)

    f = PAPER_FILTERS[idx]
    kind = "final conv without ReLU (signed output)" if lin else "post-ReLU output, as published"
    factory.__doc__ = f"SEA Student {idx} ({'/'.join(map(str, f))} filters, {f[3]}-d), {kind}."
    name = f"sea_student_{idx}" + ("_lin" if lin else "")
    factory.__name__ = name
    return register_student(name)(factory)


for _lin in (False, True):
    for _i in range(4):
        _make_paper(_i, _lin)
