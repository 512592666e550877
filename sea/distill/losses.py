"""Distillation losses: the student output ``y`` [B, d] against the reduced teacher targets ``t`` [B, d].

- :func:`mse_loss`: ``mean((y - t)^2)`` over batch and dims (SEA Eq. 1, the paper's loss).
- :func:`cosine_loss`: ``mean(1 - cos(y_i, t_i))``, direction only (scale-free).
- :func:`relational_loss`: match the student's within-batch pairwise cosine-similarity matrix to the targets'
  (relational knowledge distillation, Park et al. 2019, with cosine instead of distance). It is invariant to any
  global rotation or positive scaling of the student's output, so it constrains structure, not coordinates; use it
  next to ``mse``, not alone, when the coordinates matter downstream.

:class:`DistillLoss` is the weighted sum used by ``sea distill``; its forward returns the total and the parts.
Given a per-dimension ``center`` and ``scale`` (``standardize``: the training targets' mean and std), it compares
``(y - center) / scale`` with ``(t - center) / scale``: a dimension with a thousandth of the variance of the first
then weighs as much in the loss as in a linear probe on standardised features, instead of nothing.

>>> loss = DistillLoss(mse=1.0, relational=0.1)
>>> total, parts = loss(y, t)      # parts: {"mse": ..., "relational": ...} (detached tensors)
"""

from __future__ import annotations

import math

import torch

from ..errors import ConfigError

__all__ = ["LOSS_NAMES", "DistillLoss", "cosine_loss", "mse_loss", "pairwise_cosine", "relational_loss"]

LOSS_NAMES = ("mse", "cosine", "relational")
_EPS = 1e-8


def mse_loss(y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Mean squared error over all elements of ``y``, ``t`` [B, d]."""
    return torch.mean((y - t.to(y.dtype)) ** 2)


def cosine_loss(y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``mean_i (1 - cos(y_i, t_i))`` for ``y``, ``t`` [B, d]; 0 when every row points the same way."""
    return torch.mean(1.0 - torch.nn.functional.cosine_similarity(y, t.to(y.dtype), dim=1, eps=_EPS))


def pairwise_cosine(x: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every pair of rows of ``x`` [B, d] -> [B, B] (zero rows give 0)."""
    n = x / x.norm(dim=1, keepdim=True).clamp_min(_EPS)
    return n @ n.T


def relational_loss(y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of the off-diagonal within-batch cosine similarities of ``y`` and ``t`` [B, d].

    Needs ``B >= 2``. Zero when the two batches have the same similarity structure, whatever the rotation or
    (positive) per-batch scale of ``y``.
    """
    b = y.shape[0]
    if b < 2:
        raise ConfigError(f"relational loss needs a batch of >= 2 rows, got {b}; use batch_size >= 2")
    diff = pairwise_cosine(y) - pairwise_cosine(t.to(y.dtype))
    off = ~torch.eye(b, dtype=torch.bool, device=y.device)
    return torch.mean(diff[off] ** 2)


_FUNCS = {"mse": mse_loss, "cosine": cosine_loss, "relational": relational_loss}


class DistillLoss(torch.nn.Module):
    """Weighted sum of :data:`LOSS_NAMES` terms; zero-weight terms are not computed.

    Parameters
    ----------
    mse, cosine, relational : float >= 0
        Weights; at least one must be > 0.
    center, scale : torch.Tensor [d], optional
        Standardise ``y`` and ``t`` as ``(x - center) / scale`` before every term; ``scale`` must be finite and
        > 0. Both or neither.
    """

    def __init__(
        self,
        mse: float = 1.0,
        cosine: float = 0.0,
        relational: float = 0.0,
        center: torch.Tensor | None = None,
        scale: torch.Tensor | None = None,
    ):
        super().__init__()
        if (center is None) != (scale is None):
            raise ConfigError("DistillLoss needs both center and scale to standardise, or neither")
        if scale is not None and not bool(torch.all(torch.isfinite(scale) & (scale > 0))):
            raise ConfigError("DistillLoss scale must be finite and > 0 in every dimension")
        self.register_buffer("center", None if center is None else center.detach().clone())
        self.register_buffer("scale", None if scale is None else scale.detach().clone())
        weights = {"mse": mse, "cosine": cosine, "relational": relational}
        for k, w in weights.items():
            if not (isinstance(w, (int, float)) and math.isfinite(w) and w >= 0):
                raise ConfigError(f"loss weight {k}={w!r} must be a finite number >= 0")
        if not any(w > 0 for w in weights.values()):
            raise ConfigError(
                "loss weights mse, cosine and relational are all 0; give at least one a positive weight, e.g. mse=1"
            )
        self.weights = {k: float(w) for k, w in weights.items() if w > 0}

    def standardise(self, y: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(y, t)`` [B, d] in the space the losses compare them in: standardised, or as given."""
        if self.scale is None:
            return y, t
        c, s = self.center.to(y.dtype), self.scale.to(y.dtype)
        return (y - c) / s, (t.to(y.dtype) - c) / s

    def forward(self, y: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``(total, parts)``: the weighted loss (a scalar tensor) and each unweighted term, detached.

        Parts stay tensors (no device sync per step); call ``float()`` when logging.
        """
        y, t = self.standardise(y, t)
        total = None
        parts: dict[str, torch.Tensor] = {}
        for k, w in self.weights.items():
            v = _FUNCS[k](y, t)
            parts[k] = v.detach()
            total = w * v if total is None else total + w * v
        return total, parts
