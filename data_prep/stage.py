"""The ``prepare`` stage: a raw dataset -> ``clips.jsonl``, ``audio/<sr>/`` caches, ``data_report.json``.

:func:`run` is the one entry point of the CLI (``sea data prepare``), ``sea run``
and notebooks. It picks the dataset module named by the config, which reads its
raw layout into candidate clips, and hands them to the shared engine
(:func:`data_prep.engine.prepare_clips`).

Examples
--------
>>> from data_prep.config import PrepareConfig
>>> run("runs/demo", PrepareConfig(dataset="synthetic", n_clips=50))  # doctest: +SKIP
PosixPath('runs/demo/clips.jsonl')
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

from sea.config import config_to_dict
from sea.errors import ConfigError
from sea.layout import RunLayout
from sea.lock import run_lock

from .clips import select_clips
from .config import DATASETS, DOWNLOADABLE, PrepareConfig, make_config
from .engine import check_run_dir, prepare_clips

__all__ = ["dataset_module", "download_dataset", "prepare", "prepare_from_config", "run"]


def dataset_module(dataset: str) -> ModuleType:
    """Import the module that reads ``dataset`` (``data_prep.<dataset>``).

    Parameters
    ----------
    dataset : str
        One of :data:`~data_prep.config.DATASETS`.

    Returns
    -------
    module : module
        It has ``find_clips(raw_dir, config, run_dir)`` and ``prepare(raw_dir, run_dir, **options)``.

    Raises
    ------
    ConfigError
        Unknown dataset.
    """
    if dataset not in DATASETS:
        raise ConfigError(f"dataset {dataset!r} is not known; choose one of {', '.join(DATASETS)}")
    return importlib.import_module(f"data_prep.{dataset}")


def run(run_dir: str | Path, config: PrepareConfig, *, overwrite: bool = False) -> Path:
    """Prepare the dataset that ``config`` names into ``run_dir``.

    The config, the run directory and the raw layout are validated before anything is written;
    the work runs under the run-directory lock (:func:`sea.lock.run_lock`). For ``synthetic``, the
    raw set is first generated into ``config.raw_dir`` (default ``run_dir/raw``), or reused when it
    is already there (see :func:`data_prep.synthetic.generate_raw`). A finished prepare with the
    same config, the same raw files and intact outputs is not redone unless ``overwrite``.

    Parameters
    ----------
    run_dir : path
        Output run directory.
    config : PrepareConfig
        The dataset, its raw folder and the cache options.
    overwrite : bool
        Redo a finished prepare (and, for ``synthetic``, replace a set made with other options).

    Returns
    -------
    manifest : Path
        ``run_dir / "clips.jsonl"``.

    Raises
    ------
    ConfigError
        No ``raw_dir`` for a dataset other than ``synthetic``, or an invalid config.
    DatasetError
        Unreadable raw layout, no usable clip, or a skipped file with ``strict``.
    ManifestError
        The run directory is a file, not writable, or locked by another command (named by its pid).
    """
    if not config.raw_dir and config.dataset != "synthetic":
        raise ConfigError(f"dataset {config.dataset!r} needs RAW_DIR, the folder holding the raw data")
    module = dataset_module(config.dataset)
    # paths derived from raw_dir keep the spelling given (they go into the report); the config records it resolved
    raw_dir = Path(config.raw_dir) if config.raw_dir else RunLayout(run_dir).raw_dir
    options = {k: v for k, v in config_to_dict(config).items() if k not in ("dataset", "raw_dir")}
    config = make_config(config.dataset, raw_dir, **options)
    check_run_dir(Path(run_dir))

    def clips():
        return select_clips(module.find_clips(raw_dir, config, Path(run_dir)), config)

    if config.dataset != "synthetic":  # the raw layout is read (and validated) before anything is written
        return prepare_clips(clips(), run_dir, config, overwrite=overwrite)
    module.check_raw(raw_dir, config, overwrite=overwrite)  # before the lock and the set are written
    with run_lock(run_dir):  # the synthetic set is generated into the run directory: hold it from the start
        module.generate_raw(raw_dir, config, overwrite=overwrite)
        return prepare_clips(clips(), run_dir, config, overwrite=overwrite)


def prepare(dataset: str, raw_dir: str | Path | None, run_dir: str | Path, **kwargs: Any) -> Path:
    """Prepare ``dataset`` from ``raw_dir`` into ``run_dir`` (the dataset module's ``prepare``).

    Parameters
    ----------
    dataset : str
        One of :data:`~data_prep.config.DATASETS`.
    raw_dir : path or None
        Raw dataset folder; None is allowed for ``synthetic`` only (meaning ``run_dir/raw``).
    run_dir : path
        Output run directory.
    **kwargs
        ``overwrite`` and :class:`~data_prep.config.PrepareConfig` fields (cache_srs, strict,
        res_type, esc10, csv); ``n_clips``, ``seed``, ``duration`` for synthetic.

    Returns
    -------
    manifest : Path
        ``run_dir / "clips.jsonl"``.
    """
    if raw_dir is None and dataset != "synthetic":
        raise ConfigError(f"dataset {dataset!r} needs RAW_DIR, the folder holding the raw data")
    return dataset_module(dataset).prepare(raw_dir, run_dir, **kwargs)


def prepare_from_config(config: PrepareConfig, run_dir: str | Path, *, overwrite: bool = False, **extra: Any) -> Path:
    """:func:`run`, with the synthetic generation options also accepted as keywords.

    Parameters
    ----------
    config : PrepareConfig
    run_dir : path
    overwrite : bool
    **extra
        ``n_clips``, ``seed`` (the config's ``synth_seed``) or ``duration``; they override the config's.

    Returns
    -------
    manifest : Path
        ``run_dir / "clips.jsonl"``.
    """
    if "seed" in extra:
        extra["synth_seed"] = extra.pop("seed")
    if extra:
        config = dataclasses.replace(config, **extra)
    return run(run_dir, config, overwrite=overwrite)


def download_dataset(dataset: str, data_home: str | Path) -> Path:
    """Download a public dataset into ``data_home`` (needs internet).

    Not called ``download``: that name is the :mod:`data_prep.download` helper module.

    Parameters
    ----------
    dataset : str
        One of :data:`~data_prep.config.DOWNLOADABLE`.
    data_home : path
        Destination folder; it becomes the ``RAW_DIR`` of ``sea data prepare``.

    Returns
    -------
    data_home : Path
    """
    if dataset not in DOWNLOADABLE:
        raise ConfigError(
            f"dataset {dataset!r} cannot be downloaded; downloadable datasets are {', '.join(DOWNLOADABLE)} "
            "('synthetic' is generated with 'sea data synth', 'folder' is your own audio)"
        )
    return dataset_module(dataset).download(data_home)
