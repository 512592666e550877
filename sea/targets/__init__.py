"""Reduced teacher targets: φ (PCA, identity, dimension sampling) and the point samplers.

See :mod:`sea.targets.reducers` (estimators, npz save/load), :mod:`sea.targets.samplers`
(random / spl / dpp_div / dpp frame selection), :mod:`sea.targets.stage` (``fit_targets``,
``apply_targets``, readers) and :mod:`sea.targets.dpp` (exact k-DPP samplers).
"""

from .reducers import (
    DimSampleReducer,
    IdentityReducer,
    PCAReducer,
    load_reducer,
    reconstruction_report,
    save_reducer,
)
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
from .stage import (
    TargetsConfig,
    TargetsReader,
    apply_targets,
    fit_targets,
    load_targets,
    open_targets,
    resolve_teacher_dir,
    target_spec,
    targets_info,
)

__all__ = [
    "SAMPLERS",
    "DimSampleReducer",
    "IdentityReducer",
    "PCAReducer",
    "TargetsConfig",
    "TargetsReader",
    "allocate",
    "apply_targets",
    "bucket_labels",
    "diversity_stats",
    "fit_targets",
    "frame_levels",
    "l1_normalise",
    "load_reducer",
    "load_targets",
    "open_targets",
    "reconstruction_report",
    "relevance_scores",
    "resolve_teacher_dir",
    "sample_dpp",
    "sample_points",
    "sample_random",
    "sample_spl",
    "save_reducer",
    "target_spec",
    "targets_info",
]
