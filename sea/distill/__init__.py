"""The ``distill`` stage: train a student to regress the reduced teacher embeddings (SEA Eq. 1).

>>> from sea.distill import DistillConfig, run
>>> out = run(run_dir, DistillConfig(student="sea_student_3_lin", targets="pca64_random", epochs=20))
>>> from sea.checkpoint import load_student
>>> model, ckpt = load_student(out / "best.pt")

Modules: :mod:`~sea.distill.config` (``DistillConfig``), :mod:`~sea.distill.stage` (``run``: inputs, skip when
done, the torchrun world), :mod:`~sea.distill.session` (one training session: setup, resume, save, finish),
:mod:`~sea.distill.loop` (the epoch body), :mod:`~sea.distill.data` (windows, split, batch order),
:mod:`~sea.distill.metrics` (fidelity), :mod:`~sea.distill.losses`, :mod:`~sea.distill.qat` (int8 fake quantization) and
:mod:`~sea.distill.report` (the summary ``sea distill`` prints).

``import sea.distill`` stays light (no torch): training imports it on first call.
"""

from __future__ import annotations

from typing import Any

from .config import DistillConfig
from .report import distill_report, report_text
from .stage import run

__all__ = ["DistillConfig", "distill", "distill_report", "fidelity", "report_text", "run"]

#: The stage's entry point under its older name.
distill = run


def fidelity(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """Student outputs vs reduced teacher targets on store rows.

    Parameters
    ----------
    *args, **kwargs
        Those of :func:`sea.distill.metrics.fidelity` (imported on first call: it needs torch).

    Returns
    -------
    fidelity : dict
        ``n_frames``, ``mse``, ``mae``, ``r2_per_dim``, ``r2_mean``, ``r2_weighted``, ``cosine_mean``.
    """
    from .metrics import fidelity as _fidelity

    return _fidelity(*args, **kwargs)
