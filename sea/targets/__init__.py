"""The targets stage: reduced teacher targets φ(teacher) and the samplers that choose φ's fitting frames.

Modules:

* :mod:`~sea.targets.config`: :class:`TargetsConfig`;
* :mod:`~sea.targets.stage`: :func:`run` (one target set) and :func:`fit_targets` (also ``sampler="all"``);
* :mod:`~sea.targets.fit`: the fitting steps (split, sample, fit, save, report);
* :mod:`~sea.targets.apply`: :func:`apply_targets`, φ of every frame into shards;
* :mod:`~sea.targets.reader`: :func:`open_targets` / :class:`TargetsReader` (what distillation reads),
  :func:`load_targets`, :func:`target_spec`;
* :mod:`~sea.targets.info`: :func:`targets_info`, :func:`info_table`;
* :mod:`~sea.targets.teacher_store`: the teacher frame store as the stage reads it;
* :mod:`~sea.targets.reducers`: PCA, identity and dimension-sampling estimators, npz save/load;
* :mod:`~sea.targets.samplers`: random / spl / dpp_div / dpp frame selection;
* :mod:`~sea.targets.buckets`: day (sensor, date) / sensor / clip buckets and frame times;
* :mod:`~sea.targets.diversity`: ``report.json``'s ``buckets`` and ``diversity`` (vs a uniform draw);
* :mod:`~sea.targets.dpp`: exact k-DPP samplers.
"""

from .apply import apply_targets
from .config import TargetsConfig
from .info import info_table, targets_info
from .reader import TargetsReader, load_targets, open_targets, target_spec
from .reducers import DimSampleReducer, IdentityReducer, PCAReducer, load_reducer, reconstruction_report, save_reducer
from .samplers import (
    SAMPLERS,
    allocate,
    bucket_labels,
    diversity_stats,
    frame_levels,
    l1_normalise,
    relevance_scores,
    sample_dpp,
    sample_points,
    sample_random,
    sample_spl,
)
from .stage import fit_targets, run
from .teacher_store import resolve_teacher_dir

__all__ = [
    "SAMPLERS", "DimSampleReducer", "IdentityReducer", "PCAReducer", "TargetsConfig", "TargetsReader", "allocate",
    "apply_targets", "bucket_labels", "diversity_stats", "fit_targets", "frame_levels", "info_table", "l1_normalise",
    "load_reducer", "load_targets", "open_targets", "reconstruction_report", "relevance_scores",
    "resolve_teacher_dir", "run", "sample_dpp", "sample_points", "sample_random", "sample_spl", "save_reducer",
    "target_spec", "targets_info",
]  # fmt: skip
