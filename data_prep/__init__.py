"""Target-domain datasets: one module per dataset, each turning a raw layout into a run directory.

Every module exposes ``prepare(raw_dir, run_dir, *, cache_srs=(48000, 8000), strict=False,
overwrite=False, **options) -> Path`` (the manifest ``run_dir/clips.jsonl``), built on the shared
engine :func:`data_prep.common.prepare_clips`, which writes ``clips.jsonl``, ``data_report.json``,
``audio/<sr>/`` caches and ``stage.json``.

=============== ==========================================================================
module          raw layout
=============== ==========================================================================
urbansound8k    ``metadata/UrbanSound8K.csv`` + ``audio/fold1..10`` (10 folds)
sonyc_ust       ``annotations.csv`` + ``audio*/`` (v2.3, train/validate/test, multi-label)
esc50           ``meta/esc50.csv`` + ``audio/`` (5 folds, ``esc10=True`` subset)
folder          any folder of audio, optional CSV ``path,label[,fold|split]`` (unlabeled otherwise)
synthetic       deterministic generator writing the UrbanSound8K (or SONYC-UST) layout
=============== ==========================================================================

Examples
--------
>>> from data_prep import synthetic, prepare
>>> synthetic.generate("raw", n_clips=50, seed=0)          # doctest: +SKIP
>>> prepare("urbansound8k", "raw", "run")                  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from pathlib import Path

from .common import DATASETS, PrepareConfig

__all__ = ["DATASETS", "PrepareConfig", "download_dataset", "prepare", "prepare_from_config"]

DOWNLOADABLE = ("urbansound8k", "sonyc_ust", "esc50")


def _module(dataset: str):
    from sea.errors import ConfigError

    if dataset not in DATASETS:
        raise ConfigError(f"dataset {dataset!r} is not known; choose one of {', '.join(DATASETS)}")
    return importlib.import_module(f".{dataset}", __name__)


def prepare(dataset: str, raw_dir: str | Path | None, run_dir: str | Path, **kwargs) -> Path:
    """Prepare ``dataset`` from ``raw_dir`` into ``run_dir``; returns the manifest path.

    ``kwargs`` go to the dataset module's ``prepare`` (cache_srs, strict, overwrite, res_type,
    esc10, csv; n_clips, seed, duration for synthetic). For ``synthetic``, ``raw_dir`` None means
    ``run_dir/raw``.
    """
    from sea.errors import ConfigError

    if raw_dir is None and dataset != "synthetic":
        raise ConfigError(f"dataset {dataset!r} needs RAW_DIR, the folder holding the raw data")
    return _module(dataset).prepare(raw_dir, run_dir, **kwargs)


def prepare_from_config(config: PrepareConfig, run_dir: str | Path, *, overwrite: bool = False, **extra) -> Path:
    """Run :func:`prepare` from a resolved :class:`PrepareConfig` (the CLI path)."""
    kwargs = {"cache_srs": config.cache_srs, "strict": config.strict, "res_type": config.res_type}
    if config.esc10:
        kwargs["esc10"] = True
    if config.csv is not None:
        kwargs["csv"] = config.csv
    raw = config.raw_dir or None
    return prepare(config.dataset, raw, run_dir, overwrite=overwrite, **kwargs, **extra)


def download_dataset(dataset: str, data_home: str | Path) -> Path:
    """Download a public dataset into ``data_home`` (needs internet).

    (Not called ``download``: that name is the :mod:`data_prep.download` helper module.)
    """
    from sea.errors import ConfigError

    if dataset not in DOWNLOADABLE:
        raise ConfigError(
            f"dataset {dataset!r} cannot be downloaded; downloadable datasets are {', '.join(DOWNLOADABLE)} "
            "('synthetic' is generated with 'sea data synth', 'folder' is your own audio)"
        )
    return _module(dataset).download(data_home)
