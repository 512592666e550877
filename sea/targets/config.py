"""Config of the targets stage (``sea targets fit``, the ``targets:`` section of ``sea run``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..errors import ConfigError

__all__ = ["DEFAULT_BATCH_SIZE", "METHODS", "TargetsConfig"]

METHODS = ("pca", "identity", "dims_random", "dims_variance")
#: Frames per store read and per projection batch (fit, report and ``sea targets apply``).
DEFAULT_BATCH_SIZE = 8192


@dataclass(frozen=True)
class TargetsConfig:
    """Config of ``sea targets fit``: how to sample teacher frames and which reduction φ to fit.

    Every field has a default and a help text (``sea targets fit --help``);
    :meth:`validate` checks the values.

    Parameters
    ----------
    method : "pca", "identity", "dims_random" or "dims_variance"
        The reduction φ.
    dim : int > 0
        Output dimension ``d`` (ignored by ``identity``).
    sampler : "random", "spl", "dpp_div", "dpp" or "all"
        Which frames φ is fitted on; ``all`` fits one target set per sampler.
    n_points : int >= 2
        Frames to fit on (capped to the frames available).
    bucket : "clip", "sensor", "day" or "auto"
        Time buckets for the samplers' quotas.
    spl_window : int >= 0
        ``spl`` rank window in frames within a bucket; 0 = the whole bucket.
    dpp_pool_size : int >= 0
        k-DPP candidate pool drawn uniformly per DPP bucket; 0 = all candidates.
    dpp_sigma : float > 0
        Ridge of the k-DPP kernel ``L = F̂F̂ᵀ + σI``.
    dpp_norm : "l1" or "l2"
        Row normalisation of ``F̂`` for the DPP kernels.
    heldout_fraction : float in [0, 1)
        Share of clips held out of fitting for the report.
    report_max_frames : int > 0
        Held-out frames used for the report (a random subset).
    whiten : bool
        PCA whitening (unit-variance components).
    pca_method : "auto", "exact", "randomized" or "streaming"
        PCA solver.
    seed : int
        Seed of the held-out split and the samplers.
    teacher : str
        Teacher store variant under ``RUN/teacher/``; ``auto`` takes the only one.
    name : str
        Output name under ``RUN/targets/``; empty: :meth:`default_name`.
    batch_size : int > 0
        Frames per read / projection batch.
    """

    method: Literal["pca", "identity", "dims_random", "dims_variance"] = field(
        default="pca", metadata={"help": "reduction: pca, identity (Student 0), dims_random or dims_variance"}
    )
    dim: int = field(default=64, metadata={"help": "output dimension d (ignored by identity)"})
    sampler: Literal["random", "spl", "dpp_div", "dpp", "all"] = field(
        default="random", metadata={"help": "which frames fit the reduction; 'all' fits one target set per sampler"}
    )
    n_points: int = field(default=20000, metadata={"help": "frames to fit on (capped to the available frames)"})
    bucket: Literal["clip", "sensor", "day", "auto"] = field(
        default="auto",
        metadata={"help": "time buckets for quotas: clip, sensor, day (per sensor) or auto (day if known, else clip)"},
    )
    spl_window: int = field(default=0, metadata={"help": "spl rank window in frames within a bucket; 0 = whole bucket"})
    dpp_pool_size: int = field(
        default=20000, metadata={"help": "k-DPP candidate pool drawn uniformly per DPP bucket; 0 = all candidates"}
    )
    dpp_sigma: float = field(default=0.1, metadata={"help": "k-DPP kernel ridge: L = F^F^T + sigma*I"})
    dpp_norm: Literal["l1", "l2"] = field(
        default="l1",
        metadata={"help": "row normalisation of F^ for the DPP kernels: l1 (paper) or l2 (stronger diversity)"},
    )
    heldout_fraction: float = field(default=0.1, metadata={"help": "share of clips held out of fitting for the report"})
    report_max_frames: int = field(
        default=50000, metadata={"help": "held-out frames used for the report (random subset)"}
    )
    whiten: bool = field(default=False, metadata={"help": "PCA whitening (unit-variance components)"})
    pca_method: Literal["auto", "exact", "randomized", "streaming"] = field(
        default="streaming", metadata={"help": "PCA solver; streaming = exact, O(D^2) memory"}
    )
    seed: int = field(default=0, metadata={"help": "seed of the held-out split and the samplers"})
    teacher: str = field(
        default="auto", metadata={"help": "teacher store variant under RUN/teacher/ ('auto': the only one)"}
    )
    name: str = field(
        default="", metadata={"help": "output name under RUN/targets/ (default: {method}{dim}_{sampler})"}
    )
    batch_size: int = field(default=DEFAULT_BATCH_SIZE, metadata={"help": "frames per read / projection batch"})

    def validate(self) -> None:
        """Check the values.

        Raises
        ------
        ConfigError
            Naming the first field out of range and the rule it breaks.
        """

        def bad(key: str, rule: str) -> ConfigError:
            return ConfigError(f"TargetsConfig.{key}={getattr(self, key)!r} {rule}")

        if self.dim < 1:
            raise bad("dim", "must be >= 1, e.g. 64, 128 or 256")
        if self.n_points < 2:
            raise bad("n_points", "must be >= 2")
        if not 0.0 <= self.heldout_fraction < 1.0:
            raise bad("heldout_fraction", "must be in [0, 1), e.g. 0.1")
        if self.spl_window < 0:
            raise bad("spl_window", "must be >= 0 (0 = whole bucket)")
        if self.dpp_pool_size < 0:
            raise bad("dpp_pool_size", "must be >= 0 (0 = no pool)")
        if not self.dpp_sigma > 0:
            raise bad("dpp_sigma", "must be > 0, e.g. 0.1")
        if self.batch_size < 1:
            raise bad("batch_size", "must be >= 1")
        if self.report_max_frames < 1:
            raise bad("report_max_frames", "must be >= 1")
        if self.name and ("/" in self.name or self.name.startswith(".")):
            raise bad("name", "must be a plain directory name")

    def default_name(self, in_dim: int | None = None) -> str:
        """Return the target set's name under ``RUN/targets/``.

        Parameters
        ----------
        in_dim : int, optional
            The teacher's dimension, which names an ``identity`` target set.

        Returns
        -------
        name : str
            :attr:`name` when set, else ``identity<in_dim>`` or ``{method}{dim}_{sampler}``.
        """
        if self.name:
            return self.name
        if self.method == "identity":
            return f"identity{in_dim if in_dim is not None else ''}"
        return f"{self.method}{self.dim}_{self.sampler}"
