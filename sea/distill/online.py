"""Consistent teaching: the teacher labels every training window as the student sees it.

With stored frames, a time-shifted or mixed training window is paired with the target of a window it is not, and a
corpus of a few hundred clips gives the student a few thousand fixed pairs to memorise. An online teacher runs on
the augmented window itself, so every epoch brings new, correctly labelled pairs (Beyer et al., "Knowledge
distillation: a good teacher is patient and consistent", CVPR 2022). It costs one teacher forward per training
window, which only a teacher that is cheap in torch and reads the student's own 8 kHz window can afford on a CPU:
edgel3's published SEA students (122 M MACs per window against OpenL3's 10 G; BirdNET runs in TFLite at 48 kHz).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import ConfigError, ManifestError

__all__ = ["ONLINE_FAMILIES", "OnlineTeacher", "load_online_teacher"]

#: Teacher families that can label training windows online (they read the student's 8 kHz window, in torch).
ONLINE_FAMILIES = ("edgel3",)


class OnlineTeacher:
    """``audio [b, 8000] -> targets [b, d]``: the teacher's embedding of each window through the target reducer.

    Safe to call from several threads at once (the distillation loader threads label batches ahead of the trainer).

    Parameters
    ----------
    model : torch.nn.Module
        ``[b, window_length]`` float audio at 8 kHz -> ``[b, D]`` embeddings, in eval mode.
    reducer
        The target set's fitted reducer (``transform([n, D]) -> [n, d]``).
    store_dtype : np.dtype
        The frame store's dtype: embeddings are rounded to it first, as the stored frames were, so that an
        unaugmented window gets its stored target.
    device : str
    """

    def __init__(self, model: torch.nn.Module, reducer: Any, store_dtype: np.dtype, device: str):
        self.model, self.reducer, self.device = model.to(device).eval(), reducer, device
        self.store_dtype = np.dtype(store_dtype)
        n = getattr(self.model, "window_length", None)
        if n:  # the loader threads call it concurrently: a published student builds its BN-folded copy here, once
            with torch.no_grad():
                self.model(torch.zeros(1, int(n), device=device))

    @torch.no_grad()
    def __call__(self, audio: np.ndarray) -> torch.Tensor:
        """Targets of the windows ``audio`` [b, window_length] (float32, on the device)."""
        emb = self.model(torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)).to(self.device))
        emb = emb.float().cpu().numpy().astype(self.store_dtype).astype(np.float32)
        return torch.from_numpy(np.asarray(self.reducer.transform(emb), dtype=np.float32)).to(self.device)


def load_online_teacher(teacher: dict[str, Any], reducer: Any, store_dtype: np.dtype, device: str,
                        sr: int = 8000) -> OnlineTeacher:  # fmt: skip
    """The teacher that made a frame store, loaded for :class:`OnlineTeacher`.

    Parameters
    ----------
    teacher : dict
        The store's teacher identity (``family``, ``name``, ``weights_path``/``weights``, ``weights_sha256``).
    reducer, store_dtype, device
        See :class:`OnlineTeacher`.
    sr : int
        The student's rate: the teacher reads the student's own windows, so it must run at this rate.

    Returns
    -------
    teacher : OnlineTeacher

    Raises
    ------
    ConfigError
        A teacher family that cannot run online, or an untrained teacher.
    ManifestError
        The weights found now are not the ones that made the frame store.
    """
    from ..students.published import load_published

    family = teacher.get("family")
    variant = teacher.get("variant") or f"{family}_{teacher.get('name')}"
    if family not in ONLINE_FAMILIES:
        raise ConfigError(
            f"DistillConfig.online_teacher=True needs a teacher that runs on the student's 8 kHz window in torch "
            f"({', '.join(ONLINE_FAMILIES)}); these targets come from {variant!r}: set online_teacher: false and "
            "mixup: 0 (time_shift still works with the stored frames)"
        )
    if int(teacher.get("sr") or 8000) != int(sr):
        raise ConfigError(
            f"DistillConfig.online_teacher=True with sr={sr}: the online teacher {variant!r} reads the student's own "
            f"windows and runs at {teacher.get('sr') or 8000} Hz; set sr: {teacher.get('sr') or 8000}, or "
            "online_teacher: false"
        )
    weights = teacher.get("weights_path") or teacher.get("weights")
    model, info = load_published(str(teacher.get("name")), weights)
    want = teacher.get("weights_sha256")
    if want and info["weights_sha256"] != want:
        raise ManifestError(
            f"the {variant} weights found now ({info['weights']!r}, sha256 {info['weights_sha256'][:12]}...) are not "
            f"the ones that made the frame store (sha256 {str(want)[:12]}...); pass the original file, or re-extract "
            "the teacher ('sea run CONFIG --overwrite teacher')"
        )
    return OnlineTeacher(model, reducer, store_dtype, device)
