"""An exponential moving average of a student's weights (Polyak averaging), for ``DistillConfig.ema``.

The trainer steps the live weights; after every step the average moves towards them,
``avg <- d_t avg + (1 - d_t) w`` with ``d_t = min(decay, (1 + t) / (10 + t))`` at step ``t`` (the usual warm-up,
so the first epochs are not dominated by the initial weights). After each epoch the average is swapped into the
model: BatchNorm statistics are re-estimated on it (precise BN), it is validated, and it is what ``best.pt`` and
``ckpt.pt`` hold as ``state_dict``. The live weights are swapped back before the next epoch trains, and ``ckpt.pt``
keeps them (``ema_live``) so that a resumed run continues exactly.

Why: distilled on a small corpus the student's weights wander between recordings from step to step; their average
generalises better to recordings it has not heard (measured on UrbanSound8K: held-out R² and agreement with the
teacher's predictions up in both directions of a two-part split, probe accuracy +1.2 points on average; see the
README).
"""

from __future__ import annotations

import torch

__all__ = ["WeightAverage"]


def _tensors(model: torch.nn.Module) -> list[torch.Tensor]:
    """The averaged tensors: parameters, then floating-point buffers (BatchNorm statistics), in a fixed order."""
    return [*model.parameters(), *(b for b in model.buffers() if b.is_floating_point())]


class WeightAverage:
    """The moving average of ``model``'s weights, and the live weights while the average is swapped in.

    Parameters
    ----------
    model : torch.nn.Module
        The student; the average starts from its current weights.
    decay : float in (0, 1)
        The largest weight of the old average per step, e.g. 0.998 (a memory of ~500 steps).
    """

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay={decay!r} must be in (0, 1), e.g. 0.998")
        self.decay = float(decay)
        self.average = [t.detach().clone() for t in _tensors(model)]
        self.live: list[torch.Tensor] | None = None  # set while the average is in the model

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        """Move the average towards the live weights after optimiser step ``step`` (1-based)."""
        d = min(self.decay, (1.0 + step) / (10.0 + step))
        for a, t in zip(self.average, _tensors(model)):
            a.lerp_(t.detach(), 1.0 - d)

    @torch.no_grad()
    def swap_in(self, model: torch.nn.Module) -> None:
        """Put the average into ``model`` (to re-estimate BN, validate, save), keeping the live weights aside."""
        if self.live is not None:
            return
        tensors = _tensors(model)
        self.live = [t.detach().clone() for t in tensors]
        for t, a in zip(tensors, self.average):
            t.copy_(a)

    @torch.no_grad()
    def swap_out(self, model: torch.nn.Module) -> None:
        """Put the live weights back into ``model`` to train on; the average keeps what BN re-estimation set."""
        if self.live is None:
            return
        tensors = _tensors(model)
        for a, t, w in zip(self.average, tensors, self.live):
            a.copy_(t)
            t.copy_(w)
        self.live = None

    def live_state(self) -> list[torch.Tensor] | None:
        """The live weights as ``ckpt.pt`` stores them (``ema_live``), or None when the model holds them."""
        return None if self.live is None else [w.detach().cpu().clone() for w in self.live]

    @torch.no_grad()
    def resume(self, model: torch.nn.Module, live: list[torch.Tensor] | None) -> None:
        """Continue from a checkpoint whose ``state_dict`` (now in ``model``) is the average and ``live`` the rest."""
        tensors = _tensors(model)
        self.average = [t.detach().clone() for t in tensors]
        if live is None:
            self.live = None
            return
        if len(live) != len(tensors) or any(w.shape != t.shape for w, t in zip(live, tensors)):
            raise ValueError("ema_live does not match the student's tensors")
        self.live = [w.to(t.device, t.dtype).clone() for w, t in zip(live, tensors)]
