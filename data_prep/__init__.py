"""Target-domain datasets: the ``prepare`` stage, one module per dataset.

:func:`data_prep.stage.run` (``run(run_dir, config)``) prepares the dataset a
:class:`~data_prep.config.PrepareConfig` names: it writes ``clips.jsonl``,
``data_report.json``, ``audio/<sr>/`` caches and ``stage.json``.

=============== ==========================================================================
module          what it holds
=============== ==========================================================================
config          ``PrepareConfig``, ``DATASETS``
stage           ``run`` (the stage), ``prepare``, ``prepare_from_config``, ``download_dataset``
engine          lock, decode once, validate, downmix, resample into the caches; manifest, report, records
clips           ``Candidate`` / ``ClipList``: what a dataset module hands the engine
metadata        metadata CSVs read by column name
timestamps      recording dates and ISO 8601 time stamps (SONYC-UST year/week/day/hour, CSV timestamps)
report          ``data_report.json`` and the ``sea data info`` text
download        download helpers (soundata, pooch), clear offline errors
urbansound8k    ``metadata/UrbanSound8K.csv`` + ``audio/fold1..10`` (10 folds)
sonyc_ust       ``annotations.csv`` + audio (v2.3 or v1, train/validate/test, multi-label, sensor dates)
esc50           ``meta/esc50.csv`` + ``audio/`` (5 folds, ``esc10=True`` subset)
folder          any folder of audio, optional CSV ``path[,label,fold|split,group,sensor_id,timestamp]``
synthetic       deterministic generator writing the UrbanSound8K (or SONYC-UST) layout
=============== ==========================================================================

Every dataset module has ``find_clips(raw_dir, config, run_dir) -> ClipList``
and ``prepare(raw_dir, run_dir, *, overwrite=False, **options) -> Path`` (the
manifest ``run_dir/clips.jsonl``).

Examples
--------
>>> from data_prep import synthetic, prepare
>>> synthetic.generate("raw", n_clips=50, seed=0)          # doctest: +SKIP
>>> prepare("urbansound8k", "raw", "run")                  # doctest: +SKIP
"""

from __future__ import annotations

from .config import DATASETS, DOWNLOADABLE, PrepareConfig

__all__ = ["DATASETS", "DOWNLOADABLE", "PrepareConfig", "download_dataset", "prepare", "prepare_from_config", "run"]

_STAGE_NAMES = ("download_dataset", "prepare", "prepare_from_config", "run")


def __getattr__(name: str):
    # the stage (and the audio stack under it) loads on first use: the CLI imports only the config
    if name in _STAGE_NAMES:
        from . import stage

        return getattr(stage, name)
    raise AttributeError(f"module 'data_prep' has no attribute {name!r}")
