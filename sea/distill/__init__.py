"""The ``distill`` stage: train a student to regress the reduced teacher embeddings (SEA Eq. 1).

>>> from sea.distill import DistillConfig, distill
>>> out = distill(run_dir, DistillConfig(student="sea_student_3_lin", targets="pca64_random", epochs=20))
>>> from sea.checkpoint import load_student
>>> model, ckpt = load_student(out / "best.pt")

``import sea.distill`` stays light (no torch): :func:`distill` and :func:`fidelity` import the training module on
first call. See :mod:`sea.distill.train` for the outputs and :mod:`sea.distill.data` for windowing and batching.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import DistillConfig

__all__ = ["DistillConfig", "distill", "distill_report", "fidelity"]


def distill(run_dir: str | Path, config: DistillConfig | None = None, *, overwrite: bool = False) -> Path:
    """Train a student on ``RUN/targets/<config.targets>``; returns ``RUN/students/<name>``.

    See :func:`sea.distill.train.distill` for the details (resume, torchrun/DDP, outputs).
    """
    from .train import distill as _distill

    return _distill(run_dir, config, overwrite=overwrite)


def fidelity(*args: Any, **kwargs: Any) -> dict:
    """Student vs targets on store rows: see :func:`sea.distill.train.fidelity`."""
    from .train import fidelity as _fidelity

    return _fidelity(*args, **kwargs)


def distill_report(student_dir: str | Path) -> dict[str, Any]:
    """The finished run's summary: ``fidelity.json`` plus the counts of ``stage.json`` and the last log row."""
    from ..errors import ManifestError
    from ..runs import read_stage
    from ..utils import read_json

    student_dir = Path(student_dir)
    f = student_dir / "fidelity.json"
    if not f.is_file():
        raise ManifestError(
            f"no fidelity.json in {str(student_dir)!r}; run 'sea distill RUN_DIR' first (or it has not finished)"
        )
    s = read_stage(student_dir) or {}
    return {**read_json(f), "counts": s.get("counts", {}), "status": s.get("status")}
