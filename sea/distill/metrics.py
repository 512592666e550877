"""How closely a student reproduces its targets: held-out MSE, R^2 and cosine, in float and int8-simulated."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from .data import WindowSource

__all__ = ["batch_tensors", "fidelity", "int8_fidelity"]


def batch_tensors(
    batch: tuple[np.ndarray, np.ndarray], device: str, frontend: torch.nn.Module
) -> tuple[torch.Tensor, torch.Tensor]:
    """Student features and targets of one batch, on ``device``.

    Parameters
    ----------
    batch : (np.ndarray [shape=(b, 8000)], np.ndarray or torch.Tensor [shape=(b, d)])
        Audio windows and targets, as :class:`~sea.distill.data.WindowSource` returns them (or as an online
        teacher labels them).
    device : str
    frontend : StudentFrontend

    Returns
    -------
    feats : torch.Tensor [shape=(b, 1, 64, 50), dtype=float32]
        Log-mel features (computed without gradient).
    targets : torch.Tensor [shape=(b, d), dtype=float32]
    """
    audio, target = batch
    x = torch.from_numpy(audio).to(device)
    t = (target if isinstance(target, torch.Tensor) else torch.from_numpy(target)).to(device)
    with torch.no_grad():
        feats = frontend(x)
    return feats, t


@torch.no_grad()
def fidelity(
    model: torch.nn.Module,
    frontend: torch.nn.Module,
    source: WindowSource,
    rows: np.ndarray,
    *,
    device: str = "cpu",
    batch_size: int = 256,
) -> dict[str, Any]:
    """Student outputs vs reduced teacher targets on store ``rows``.

    Parameters
    ----------
    model : torch.nn.Module
        The student (put in eval mode here).
    frontend : StudentFrontend
    source : WindowSource
    rows : np.ndarray [shape=(n,), dtype=int64]
        Frame-store rows to score.
    device : str
    batch_size : int > 0

    Returns
    -------
    fidelity : dict
        ``n_frames``, ``mse``, ``mae``, ``r2_per_dim`` [d] (1 - SSE/SST per target dimension, SST about the rows'
        mean; None for a dimension without variance on these rows), ``r2_mean`` (their mean), ``r2_weighted``
        (1 - total SSE / total SST) and ``cosine_mean`` (mean cosine similarity of each output with its target).
        Only ``n_frames`` (0) when ``rows`` is empty.
    """
    model.eval()
    d = source.dim
    n = 0
    sy, syy, sse, sae = (np.zeros(d) for _ in range(4))
    cos = 0.0
    for a in range(0, rows.size, batch_size):
        feats, t = batch_tensors(source(rows[a : a + batch_size]), device, frontend)
        y = model(feats).double()
        t = t.double()
        err = y - t
        sy += t.sum(0).cpu().numpy()
        syy += (t * t).sum(0).cpu().numpy()
        sse += (err * err).sum(0).cpu().numpy()
        sae += err.abs().sum(0).cpu().numpy()
        cos += float(torch.nn.functional.cosine_similarity(y, t, dim=1, eps=1e-12).sum())
        n += int(t.shape[0])
    if n == 0:
        return {"n_frames": 0}
    sst = syy - sy * sy / n
    # dims without held-out variance (beyond the teacher's rank, or constant) have no meaningful R^2
    live = sst > 1e-6 * max(float(sst.max()), 1e-30)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(live, 1.0 - sse / np.where(live, sst, 1.0), np.nan)
    return {
        "n_frames": n,
        "mse": float(sse.sum() / (n * d)),
        "mae": float(sae.sum() / (n * d)),
        "r2_mean": float(np.nanmean(r2)) if np.isfinite(r2).any() else None,
        "r2_weighted": float(1.0 - sse.sum() / sst.sum()) if sst.sum() > 0 else None,
        "cosine_mean": cos / n,
        "r2_per_dim": [None if not math.isfinite(v) else float(v) for v in r2],
    }


def int8_fidelity(
    model: torch.nn.Module,
    frontend: torch.nn.Module,
    source: WindowSource,
    rows: np.ndarray,
    device: str,
    fq: Any = None,
) -> dict[str, Any]:
    """Fidelity of ``model`` under int8 fake quantization (what a post-training int8 export computes, roughly).

    Parameters
    ----------
    model, frontend, source, rows, device
        As for :func:`fidelity`.
    fq : FakeQuant, optional
        A QAT run's quantizer: its activation ranges are used as they are. Without it the ranges come from a
        calibration pass over ``rows``.

    Returns
    -------
    fidelity : dict
        :func:`fidelity`'s keys without ``r2_per_dim``.
    """
    from .qat import FakeQuant

    sim = FakeQuant(model)
    try:
        if fq is not None and fq.ranges:
            sim.load_state(fq.state())
        else:
            sim.calibrating = True
            fidelity(model, frontend, source, rows, device=device)
            sim.calibrating = False
        out = fidelity(model, frontend, source, rows, device=device)
    finally:
        sim.remove()
    out.pop("r2_per_dim", None)
    return out
