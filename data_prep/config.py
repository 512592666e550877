"""Config of the ``prepare`` stage: which dataset, where it lies, which audio caches to build."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sea.config import config_from_dict, config_to_dict
from sea.constants import DEFAULT_CACHE_SRS, VALID_RES_TYPES
from sea.errors import ConfigError

__all__ = ["DATASETS", "DOWNLOADABLE", "GENERATION_FIELDS", "PrepareConfig", "check_generation", "make_config"]

DATASETS = ("urbansound8k", "sonyc_ust", "esc50", "folder", "synthetic")
DOWNLOADABLE = ("urbansound8k", "sonyc_ust", "esc50")
#: Options of the synthetic generator. They describe the raw set, whose files are fingerprinted one by
#: one, so ``stage.json`` records the prepare options without them.
GENERATION_FIELDS = ("n_clips", "duration", "synth_seed")
#: Options that change how fast the stage runs, not what it writes: left out of ``stage.json``'s config.
SPEED_FIELDS = ("workers",)
#: Defaults and limits of the synthetic generator's options (checked before anything is written).
DEFAULT_N_CLIPS = 200
MIN_DURATION, MAX_DURATION = 0.5, 60.0


@dataclass(frozen=True)
class PrepareConfig:
    """Config of the ``prepare`` stage (recorded in ``stage.json``).

    Parameters
    ----------
    dataset : str
        One of :data:`DATASETS`.
    raw_dir : str
        Raw dataset folder; empty for ``synthetic`` means ``RUN_DIR/raw``.
    cache_srs : tuple of int
        Sample rates of the audio caches.
    strict : bool
        Fail on any skipped file instead of listing it.
    res_type : str
        Resampler, one of :data:`sea.constants.VALID_RES_TYPES`.
    esc10 : bool
        ``esc50`` only: keep the ESC-10 subset.
    csv : str or None
        ``folder`` only: CSV of labels.
    n_clips, duration, synth_seed : int, float, int or None
        ``synthetic`` only: generator options; all None reuses a set already in ``raw_dir``.
    folds : tuple of int
        Keep only the clips of these folds; empty keeps every fold.
    part, part_fraction : str, float
        One of two disjoint halves split by recording (see :func:`data_prep.clips.select_part`).
    workers : int
        Threads that decode and resample; 0 = automatic. Not recorded: outputs do not depend on it.
    """

    dataset: str = field(default="folder", metadata={"help": f"dataset loader: {', '.join(DATASETS)}"})
    raw_dir: str = field(default="", metadata={"help": "raw dataset folder"})
    cache_srs: tuple[int, ...] = field(
        default=DEFAULT_CACHE_SRS, metadata={"help": "sample rates of the audio caches (teacher 48000, student 8000)"}
    )
    strict: bool = field(
        default=False,
        metadata={"help": "fail on any skipped file (unreadable, empty, NaN, missing) instead of listing it"},
    )
    res_type: str = field(
        default="kaiser_best",
        metadata={
            "help": "resampler of the caches: kaiser_best (resampy 0.2.2's, as openl3 and edgel3 resample; the "
            "teacher then sees the samples 'sea teacher embed' sees), or soxr_vhq / soxr_hq (faster, not exact)",
            "choices": VALID_RES_TYPES,
        },
    )
    esc10: bool = field(default=False, metadata={"help": "esc50 only: keep the ESC-10 subset (labels re-indexed 0..9)"})
    csv: str | None = field(
        default=None,
        metadata={
            "help": "folder only: CSV with a 'path' column (relative to the folder) and optional 'label', "
            "'fold' or 'split', 'group', 'sensor_id', 'timestamp' (ISO 8601) columns",
            "metavar": "CSV",
        },
    )
    n_clips: int | None = field(
        default=None,
        metadata={"help": f"synthetic: number of clips, >= 1 (default: {DEFAULT_N_CLIPS})", "metavar": "N"},
    )
    duration: float | None = field(
        default=None,
        metadata={
            "help": f"synthetic: clip length in s, {MIN_DURATION:g}-{MAX_DURATION:g} (default: 4)",
            "metavar": "SECONDS",
        },
    )
    synth_seed: int | None = field(default=None, metadata={"help": "synthetic: generator seed, >= 0 (default: 0)"})
    folds: tuple[int, ...] = field(
        default=(),
        metadata={
            "help": "keep only the clips of these folds (UrbanSound8K's and ESC-50's, a folder CSV's 'fold' "
            "column), e.g. 1,2,3 to evaluate on three held-out folds; empty = every fold. The rows of other "
            "folds are left out, counted in the report, and their files need not exist",
            "metavar": "K,K,...",
        },
    )
    part: str = field(
        default="all",
        metadata={
            "help": "keep all clips, or one of two disjoint halves split by recording (meta.group, else the clip): "
            "'a' or 'b', e.g. distil on part a of a corpus and evaluate on part b; 'auto' (sea run's data "
            "section): the other half when an evaluate.datasets entry prepares part a or b of the same folder, "
            "else all",
            "choices": ("all", "a", "b", "auto"),
        },
    )
    part_fraction: float = field(
        default=0.5, metadata={"help": "share of the recordings in part b (the rest is part a)", "metavar": "F"}
    )
    workers: int = field(
        default=0,
        metadata={
            "help": "threads that decode and resample clips; 0 = the usable cores, at most 8 (outputs do not "
            "depend on it; memory grows with it for long files)",
            "metavar": "N",
        },
    )

    def validate(self) -> None:
        """Check the values together.

        Raises
        ------
        ConfigError
            Unknown dataset or resampler, a cache rate out of range or repeated, or an option given
            to a dataset it does not apply to.
        """
        if self.dataset not in DATASETS:
            raise ConfigError(f"dataset={self.dataset!r} is not known; choose one of {', '.join(DATASETS)}")
        if not self.cache_srs:
            raise ConfigError("cache_srs is empty; give at least one rate, e.g. --cache-srs 48000,8000")
        for sr in self.cache_srs:
            if not 1000 <= int(sr) <= 192000:
                raise ConfigError(f"cache rate {sr} Hz is out of range 1000-192000 Hz (e.g. --cache-srs 48000,8000)")
        if self.workers < 0:
            raise ConfigError(f"workers={self.workers} must be >= 0 (0 = one thread per usable core, at most 8)")
        if len(set(self.cache_srs)) != len(self.cache_srs):
            raise ConfigError(f"cache_srs={list(self.cache_srs)} repeats a rate; list each rate once")
        if self.res_type not in VALID_RES_TYPES:
            raise ConfigError(
                f"res_type={self.res_type!r} is not supported; choose one of {', '.join(VALID_RES_TYPES)}"
            )
        if self.esc10 and self.dataset != "esc50":
            raise ConfigError(f"esc10=True only applies to the esc50 dataset, not {self.dataset!r}")
        if self.csv is not None and self.dataset != "folder":
            raise ConfigError(f"csv= only applies to the folder dataset, not {self.dataset!r}")
        given = [k for k in GENERATION_FIELDS if getattr(self, k) is not None]
        if given and self.dataset != "synthetic":
            names = ", ".join(f"{k}=" for k in given)
            raise ConfigError(f"{names} only apply to the synthetic dataset, not {self.dataset!r}")
        check_generation(self.n_clips, self.duration, self.synth_seed)
        if not 0.0 < self.part_fraction < 1.0:
            raise ConfigError(f"part_fraction={self.part_fraction} must be strictly between 0 and 1 (e.g. 0.5)")
        if self.folds and self.dataset == "sonyc_ust":
            raise ConfigError("folds= does not apply to sonyc_ust, whose clips come in splits (train/validate/test)")
        if any(int(k) < 0 for k in self.folds) or len(set(self.folds)) != len(self.folds):
            raise ConfigError(f"folds={list(self.folds)} must be distinct fold numbers >= 0, e.g. 1,2,3")

    def recorded(self) -> dict[str, Any]:
        """Return the values ``stage.json`` records and hashes: every field but :data:`GENERATION_FIELDS` and ``workers``.

        Returns
        -------
        values : dict
            JSON-ready values, in field order.
        """
        values = {k: v for k, v in config_to_dict(self).items() if k not in GENERATION_FIELDS + SPEED_FIELDS}
        # the defaults leave the record (and the hash of earlier runs) as it was
        if self.part == "all":
            values.pop("part"), values.pop("part_fraction")
        if not self.folds:
            values.pop("folds")
        return values


def check_generation(n_clips: int | None, duration: float | None, seed: int | None) -> None:
    """Check the synthetic generator's options (None: the default) before anything is written.

    Parameters
    ----------
    n_clips : int or None
        At least 1.
    duration : float or None
        Clip length in seconds, within ``MIN_DURATION``-``MAX_DURATION``.
    seed : int or None
        At least 0 (numpy seeds are non-negative).

    Raises
    ------
    ConfigError
        A value out of range, naming it and the valid range.
    """
    if n_clips is not None and int(n_clips) < 1:
        raise ConfigError(f"n_clips={n_clips} must be >= 1 (the number of synthetic clips to generate)")
    if duration is not None and not (math.isfinite(duration) and MIN_DURATION <= duration <= MAX_DURATION):
        raise ConfigError(
            f"duration={duration} s is out of range {MIN_DURATION:g}-{MAX_DURATION:g} s (the synthetic clip length)"
        )
    if seed is not None and int(seed) < 0:
        raise ConfigError(f"synth_seed={seed} must be >= 0 (numpy seeds are non-negative)")


def make_config(dataset: str, raw_dir: str | Path, **options: Any) -> PrepareConfig:
    """Build and validate a :class:`PrepareConfig` with ``raw_dir`` resolved.

    Parameters
    ----------
    dataset : str
        One of :data:`DATASETS`.
    raw_dir : path
        Raw dataset folder, made absolute.
    **options
        Other :class:`PrepareConfig` fields; None values keep the default, unknown names are rejected.

    Returns
    -------
    config : PrepareConfig

    Raises
    ------
    ConfigError
        Unknown option or invalid value.
    """
    values = {"dataset": dataset, "raw_dir": str(Path(raw_dir).resolve())}
    values.update({k: v for k, v in options.items() if v is not None})
    return config_from_dict(PrepareConfig, values)
