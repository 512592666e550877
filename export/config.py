"""The export stage's configuration (:class:`ExportConfig`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sea.constants import VALID_CALIBRATE_METHODS, VALID_FORMATS
from sea.errors import ConfigError

__all__ = ["INT8_FORMATS", "VALID_CALIBRATE_METHODS", "VALID_FORMATS", "ExportConfig"]

#: Formats made from the full-int8 TFLite model (TFLite Micro's C arrays, sea's generated C).
INT8_FORMATS = ("mcu", "firmware")


@dataclass(frozen=True)
class ExportConfig:
    """Everything ``sea export`` needs besides the checkpoint and the output folder.

    Every field has a default and a help text (``sea export --help``); :meth:`validate`
    checks the values.

    Parameters
    ----------
    student : str
        The run's student to export (``RUN/students/<student>/best.pt``), for :func:`export.stage.run`
        and ``sea run``; ``sea export CHECKPOINT`` ignores it. It is not a setting of the export, so it
        is left out of the export's ``stage.json`` fingerprint.
    formats : tuple of "onnx", "tflite", "mcu", "firmware", "pi"
        Artifacts to build (``mcu`` and ``firmware`` need the int8 TFLite model; ``mcu``, ``firmware`` and
        ``pi`` need TFLite, built with them).
    int8 : bool or None
        Build full-int8 models, calibrated on real windows. None (the default) follows the formats: int8 is
        built when they include ``mcu`` or ``firmware`` (and skipped, with a warning naming them, when there is
        no calibration source); False skips ``mcu`` and ``firmware`` with a warning.
    calibration : path or None
        Run directory with the audio cache at the student's rate (8 kHz for SEA's), a folder of audio files (any rate, decoded and resampled like
        the run's cache), or a ``.npy``/``.npz`` of log-mel ``[N, 1, 64, n_frames]`` or audio
        ``[N, window_length]`` windows; None: the run the checkpoint lives in.
    n_calibration : int >= 1
        Calibration windows.
    n_parity : int >= 1
        Held-out windows for the parity report (from clips distinct from calibration).
    n_parity_tflm : int >= 0
        Of those, windows also run in tflite-micro (its reference kernels are slow).
    holdout_fraction : float in (0, 1)
        Share of clips held out of calibration for parity.
    window_hop_size : float > 0
        Hop (s) between the windows (of the checkpoint's length) cut from the run's clips.
    with_frontend : bool
        Models take raw audio at the student's rate ``[B, window_length]`` with the Conv1d-DFT front-end inside.
    per_channel : bool
        Per-channel int8 weights.
    onnx_reduce_range : bool
        7-bit ONNX int8 weights (no int16 saturation in onnxruntime on x86 CPUs without VNNI).
    calibrate_method : "minmax", "entropy" or "percentile"
        onnxruntime calibration method.
    fp32_cosine, int8_cosine : float in [-1, 1]
        Parity: minimum mean cosine of fp32 and int8 artifacts against PyTorch.
    strict : bool
        Raise :class:`~sea.errors.ParityError` when an artifact misses its tolerance.
    latency : bool
        Measure host latency (batch 1, one thread).
    latency_repeats : int >= 1
        Timed invokes per runtime.
    teacher_latency : bool
        Also time the OpenL3 teacher (untrained weights) for speed-up ratios.
    arena_margin : float >= 0
        MCU arena margin over the measured TFLM arena (fraction).
    classifier : path or None
        ``.npz`` with a linear head ``W`` [D, C], ``b`` [C] (``labels`` optional) for downstream parity.
    overwrite : bool
        Replace an existing export (an action: not part of the export's fingerprint).
    seed : int
        Seed of the window selection.
    """

    student: str = field(
        default="", metadata={"help": "the run's student to export (RUN/students/<name>/best.pt), for sea run"}
    )
    formats: tuple[str, ...] = field(
        default=VALID_FORMATS,
        metadata={
            "help": f"artifacts to build, comma-separated: any of {','.join(VALID_FORMATS)} "
            "(mcu and firmware imply --int8) (default: all)",
            "metavar": "FMT,...",
        },
    )
    int8: bool | None = field(
        default=None,
        metadata={
            "help": "full-int8 models calibrated on real windows (default: built when --formats has mcu or firmware; "
            "--no-int8 skips mcu and firmware)"
        },
    )
    calibration: str | None = field(
        default=None,
        metadata={
            "help": "run directory with the audio cache at the student's rate, a folder of audio files, or a .npy of log-mel "
            "[N,1,64,n_frames] / audio [N,window_length] windows (default: the run the checkpoint lives in)",
            "metavar": "RUN_OR_AUDIO_DIR",
        },
    )
    n_calibration: int = field(default=200, metadata={"help": "calibration windows (from calibration clips)"})
    n_parity: int = field(
        default=64, metadata={"help": "held-out windows for the parity report (clips distinct from calibration)"}
    )
    n_parity_tflm: int = field(
        default=16, metadata={"help": "of those, windows run in tflite-micro (reference kernels are slow)"}
    )
    holdout_fraction: float = field(
        default=0.25, metadata={"help": "share of clips held out from calibration for parity"}
    )
    window_hop_size: float = field(
        default=0.5, metadata={"help": "hop (s) between the windows cut from the calibration clips"}
    )
    with_frontend: bool = field(
        default=False,
        metadata={"help": "models take raw audio at the student's rate [B,window_length] with the Conv1d-DFT front-end "
                  "inside"},
    )
    per_channel: bool = field(default=True, metadata={"help": "per-channel int8 weights"})
    onnx_reduce_range: bool = field(
        default=True,
        metadata={"help": "7-bit ONNX int8 weights: no int16 saturation in onnxruntime on x86 CPUs without VNNI"},
    )
    calibrate_method: str = field(
        default="minmax", metadata={"help": "onnxruntime calibration method", "choices": VALID_CALIBRATE_METHODS}
    )
    fp32_cosine: float = field(default=0.9999, metadata={"help": "parity: minimum mean cosine for fp32 artifacts"})
    int8_cosine: float = field(default=0.99, metadata={"help": "parity: minimum mean cosine for int8 artifacts"})
    strict: bool = field(default=True, metadata={"help": "raise ParityError when an artifact misses its tolerance"})
    latency: bool = field(default=True, metadata={"help": "measure host latency (batch 1, one thread)"})
    latency_repeats: int = field(default=30, metadata={"help": "timed invokes per runtime"})
    teacher_latency: bool = field(
        default=True, metadata={"help": "also time the OpenL3 teacher (untrained weights) for speed-up ratios"}
    )
    arena_margin: float = field(
        default=0.10, metadata={"help": "MCU arena margin over the measured TFLM arena (fraction)"}
    )
    classifier: str | None = field(
        default=None,
        metadata={"help": "optional .npz with a linear head W [D,C], b [C] (labels optional) for downstream parity"},
    )
    overwrite: bool = field(default=False, metadata={"help": "rebuild an export that is up to date"})
    seed: int = field(default=0, metadata={"help": "seed for window selection"})

    def validate(self) -> None:
        """Check every field.

        Raises
        ------
        ConfigError
            A field is out of range, a format or calibration method is unknown,
            or only ``mcu`` is asked for without ``int8``.
        """
        from sea.config import did_you_mean

        bad = [f for f in self.formats if f not in VALID_FORMATS]
        if bad or not self.formats:
            hint = did_you_mean(bad[0], VALID_FORMATS) if bad else ""
            raise ConfigError(
                f"ExportConfig.formats={','.join(self.formats)!r} is invalid{hint}; choose from {', '.join(VALID_FORMATS)}"
            )
        if self.calibrate_method not in VALID_CALIBRATE_METHODS:
            raise ConfigError(
                f"ExportConfig.calibrate_method={self.calibrate_method!r}; choose one of {', '.join(VALID_CALIBRATE_METHODS)}"
            )
        for name in ("n_calibration", "n_parity", "latency_repeats"):
            if getattr(self, name) < 1:
                raise ConfigError(f"ExportConfig.{name}={getattr(self, name)} must be >= 1")
        if self.n_parity_tflm < 0:
            raise ConfigError(f"ExportConfig.n_parity_tflm={self.n_parity_tflm} must be >= 0")
        if not 0.0 < self.holdout_fraction < 1.0:
            raise ConfigError(f"ExportConfig.holdout_fraction={self.holdout_fraction} must be in (0, 1)")
        if not self.window_hop_size > 0:
            raise ConfigError(f"ExportConfig.window_hop_size={self.window_hop_size} must be > 0 seconds")
        for name in ("fp32_cosine", "int8_cosine"):
            if not -1.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"ExportConfig.{name}={getattr(self, name)} must be a cosine in [-1, 1]")
        if self.arena_margin < 0:
            raise ConfigError(f"ExportConfig.arena_margin={self.arena_margin} must be >= 0")
        if self.int8 is False and set(self.formats) <= set(INT8_FORMATS):
            # asking for nothing but int8 bundles while refusing int8 cannot work: TFLM and the firmware run full-int8
            raise ConfigError(
                f"--formats {','.join(self.formats)} needs int8 models (TFLite Micro and the firmware run full-int8); "
                "drop --no-int8"
            )

    def builds_int8(self) -> bool:
        """Whether int8 models are asked for: ``int8`` itself, or (when None) the formats that need them."""
        return bool(self.int8) if self.int8 is not None else bool(set(self.formats) & set(INT8_FORMATS))
