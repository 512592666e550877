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
    spl_window : float >= 0
        ``spl``/``dpp`` relevance window in seconds within a bucket (the paper's 2 hours); 0 = the whole bucket.
    dpp_pool_size : int >= 0
        k-DPP candidate pool drawn uniformly per DPP bucket, raised to at least 4x the bucket's
        quota (or the whole bucket); 0 = all candidates.
    dpp_sigma : float > 0 or None
        k-DPP kernel ridge ``sigma``; None: 0.1 (the paper's) with ``l1``/``l2`` rows, 0.01 with ``zscore``
        rows (see :attr:`resolved_dpp_sigma`).
    dpp_quality : "tempered" or "relevance"
        ``dpp``'s quality: the spl relevance ``r`` itself (the paper's) or ``sqrt((1 + r) / 2)``.
    dpp_norm : "zscore", "l1" or "l2"
        How ``F̂`` is made from the embeddings (:func:`sea.targets.samplers.kernel_rows`). ``l1`` is the
        paper's kernel, but on dense 512-d embeddings its ridge dominates and the draw is close to
        uniform (``report.json``'s ``diversity`` shows it); ``zscore`` (default) diversifies.
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
    spl_window: float = field(
        default=7200.0,
        metadata={"help": "spl/dpp loudness-rank window in seconds within a bucket (paper: 2 h); 0 = whole bucket"},
    )
    dpp_pool_size: int = field(
        default=20000,
        metadata={
            "help": "k-DPP candidate pool drawn uniformly per DPP bucket, raised to at least 4x the bucket's "
            "quota (or the whole bucket); 0 = all candidates"
        },
    )
    dpp_sigma: float | None = field(
        default=None,
        metadata={
            "help": "k-DPP kernel ridge: L = F^F^T + sigma*I (default: 0.1, the paper's, with l1/l2; 0.01 with "
            "zscore, whose rows have unit mean square norm, so that the kernel rather than the ridge decides)"
        },
    )
    dpp_quality: Literal["tempered", "relevance"] = field(
        default="tempered",
        metadata={
            "help": "dpp's quality q in L = diag(q) F^F^T diag(q) + sigma*I: relevance = the spl rank r in (0, 1] "
            "(the paper's; the quietest frames are all but excluded, so draws are less diverse than uniform), "
            "tempered = sqrt((1 + r) / 2) (loud frames up to 2x the kernel weight; diversity decides)"
        },
    )
    dpp_norm: Literal["zscore", "l1", "l2"] = field(
        default="zscore",
        metadata={
            "help": "F^ of the DPP kernels: zscore = standardised dimensions (diversity in teacher space), "
            "l1 = rows L1-normalised (the paper's; near-uniform draws on dense 512-d embeddings), "
            "l2 = rows L2-normalised"
        },
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
            Naming the first field out of range, the rule it breaks and a valid value.
        """

        def bad(key: str, rule: str) -> ConfigError:
            return ConfigError(f"TargetsConfig.{key}={getattr(self, key)!r} {rule}")

        if self.dim < 1:
            raise bad("dim", "must be >= 1; use e.g. dim: 64, 128 or 256 (the paper's), or method: identity")
        if self.n_points < 2:
            raise bad("n_points", "must be >= 2 (frames to fit on); use e.g. n_points: 20000")
        if not 0.0 <= self.heldout_fraction < 1.0:
            raise bad("heldout_fraction", "must be in [0, 1); use e.g. heldout_fraction: 0.1")
        if not 0.0 <= self.spl_window < float("inf"):
            raise bad(
                "spl_window", "must be a finite number of seconds >= 0; use 7200 (2 h, the paper) or 0 (whole bucket)"
            )
        if self.dpp_pool_size < 0:
            raise bad("dpp_pool_size", "must be >= 0; use e.g. dpp_pool_size: 20000, or 0 for whole buckets")
        if self.dpp_sigma is not None and not 0.0 < self.dpp_sigma < float("inf"):
            raise bad("dpp_sigma", "must be a finite number > 0; use dpp_sigma: 0.1 (the paper's)")
        if self.batch_size < 1:
            raise bad("batch_size", f"must be >= 1 (frames per read); use e.g. batch_size: {DEFAULT_BATCH_SIZE}")
        if self.report_max_frames < 1:
            raise bad("report_max_frames", "must be >= 1; use e.g. report_max_frames: 50000")
        if self.seed < 0:
            raise bad("seed", "must be >= 0; use e.g. seed: 0")
        if self.name and ("/" in self.name or "\\" in self.name or self.name.startswith(".")):
            raise bad("name", "must be a plain directory name (no '/', not starting with '.'); e.g. name: pca64_day")

    @property
    def resolved_dpp_sigma(self) -> float:
        """The k-DPP ridge in use: ``dpp_sigma``, else 0.1 (the paper's) for l1/l2 rows and 0.01 for zscore rows."""
        if self.dpp_sigma is not None:
            return float(self.dpp_sigma)
        return 0.01 if self.dpp_norm == "zscore" else 0.1

    def check_teacher_dim(self, embedding_size: int) -> None:
        """Check ``dim`` against the teacher's embedding size, before anything runs.

        Parameters
        ----------
        embedding_size : int
            The teacher's embedding dimension (the frame store's ``dim``, or the teacher's
            ``embedding_size`` before extraction).

        Raises
        ------
        ConfigError
            When a reduction would have more outputs than the teacher has dimensions.
        """
        if self.method != "identity" and self.dim > int(embedding_size):
            raise ConfigError(
                f"TargetsConfig.dim={self.dim} exceeds the teacher's embedding size {int(embedding_size)}: "
                f"{self.method} cannot give more outputs than inputs; use dim <= {int(embedding_size)} "
                "or method: identity"
            )

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
