"""``DistillConfig``: every knob of ``sea distill``, with defaults from SEA's PCA job where the paper gives one."""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from ..errors import ConfigError

__all__ = ["DistillConfig"]

#: Augmentations whose windows have no stored teacher frame (only the online teacher can label them), each with the
#: words that name such a window in the error that asks for ``online_teacher``.
ONLINE_AUGMENTS = (("mixup", "a mixed"), ("speed", "a sped-up or slowed"), ("tilt", "a tilted"), ("gain", "a rescaled"))


@dataclass(frozen=True)
class DistillConfig:
    """Config of ``sea distill`` (SEA §5: Adam, lr 1e-4, batch 64, ReduceLROnPlateau x0.1 after 5, early stop after 10)."""

    student: str = field(default="sea_student_3_lin", metadata={"help": "student registry name (sea students list)"})
    student_args: dict[str, Any] | None = field(
        default=None, metadata={"help": "kwargs of the student factory, e.g. {out_dim: 128} (YAML/JSON mapping)"}
    )
    targets: str = field(
        default="auto", metadata={"help": "target set under RUN/targets/ ('auto': the only one there)"}
    )
    name: str = field(default="", metadata={"help": "output directory under RUN/students/ (default: the student name)"})
    mse: float = field(default=1.0, metadata={"help": "weight of the MSE loss (SEA's loss)"})
    cosine: float = field(default=0.0, metadata={"help": "weight of the 1 - cosine loss"})
    relational: float = field(
        default=0.0, metadata={"help": "weight of the within-batch cosine-similarity-matrix loss (needs batch >= 2)"}
    )
    standardize: bool = field(
        default=False,
        metadata={
            "help": "compute the losses on targets standardised per dimension (mean and std of the training "
            "targets), so that every dimension counts as much as it does in a linear probe on standardised "
            "features; the student still outputs the teacher's space (SEA: off, plain MSE)"
        },
    )
    lr: float = field(default=1e-4, metadata={"help": "Adam learning rate (SEA PCA job: 1e-4)"})
    weight_decay: float = field(default=0.0, metadata={"help": "Adam L2 weight decay (SEA: none)"})
    batch_size: int = field(default=64, metadata={"help": "global batch (split over ranks under torchrun)"})
    epochs: int = field(default=100, metadata={"help": "maximum number of epochs (SEA: up to 300)"})
    max_steps_per_epoch: int = field(
        default=0, metadata={"help": "cap on batches per epoch, 0 = one pass over the training frames (SEA: 4096)"}
    )
    patience: int = field(default=10, metadata={"help": "early stopping: epochs without val improvement, 0 = off"})
    min_delta: float = field(
        default=1e-4,
        metadata={
            "help": "smallest absolute val-loss decrease that counts as an improvement, for early stopping and the "
            "LR schedule (SEA: Keras EarlyStopping min_delta 1e-4, ReduceLROnPlateau epsilon 1e-4)"
        },
    )
    lr_patience: int = field(default=5, metadata={"help": "ReduceLROnPlateau patience in epochs"})
    lr_factor: float = field(default=0.1, metadata={"help": "ReduceLROnPlateau factor"})
    val_fraction: float = field(default=0.1, metadata={"help": "share of groups held out for validation/fidelity"})
    val_by: str = field(
        default="group",
        metadata={
            "help": "held-out grouping, so that near-duplicates never sit on both sides: 'group' = the recording "
            "(the clip's meta group, else fsID / src_file, else the clip itself), 'clip', or a clip field / meta "
            "key such as fold or sensor_id"
        },
    )
    time_shift: float = field(
        default=0.0,
        metadata={
            "help": "augmentation: move each training window by up to this many seconds against its teacher frame "
            "(uniform, new every epoch; the target stays the frame's), 0 = off (SEA)"
        },
    )
    sr: int = field(
        default=8000,
        metadata={
            "help": "the student's audio rate in Hz: 8000 (SEA's students, MCUs) or a multiple of 50 up to 48000 "
            "for a teacher whose information lies above 4 kHz (BirdNET); the network and its MACs stay the same, "
            "the front-end's band widens to sr/2 (the run needs an audio cache at this rate)",
            "omit_default": True,
        },
    )
    online_teacher: bool = field(
        default=False,
        metadata={
            "help": "consistent teaching: run the teacher on every training window as augmented (time_shift, "
            "mixup) and regress its output through the target reducer, instead of the stored frame; needs a "
            "teacher that runs on the student's 8 kHz window in torch (edgel3). Validation and fidelity keep the "
            "stored frames"
        },
    )
    mixup: float = field(
        default=0.0,
        metadata={
            "help": "augmentation: share of training windows mixed with another training window at a uniform "
            "random weight, labelled by the online teacher (needs online_teacher), 0 = off (SEA)"
        },
    )
    speed: float = field(
        default=0.0,
        metadata={
            "help": "augmentation: play each training window at a random speed exp(u), u uniform in [-speed, speed] "
            "(resampled around the same centre, pitch moving with it), labelled by the online teacher (needs "
            "online_teacher), 0 = off"
        },
    )
    tilt: float = field(
        default=0.0,
        metadata={
            "help": "augmentation: a random spectral tilt y[n] = x[n] - c x[n-1], c uniform in [-tilt, tilt], on each "
            "training window, labelled by the online teacher (needs online_teacher), 0 = off"
        },
    )
    gain: float = field(
        default=0.0,
        metadata={
            "help": "augmentation: scale each training window by a random level g dB, g uniform in [-gain, gain] "
            "(recordings differ in level, and the teacher's log-mel is not level-invariant), labelled by the online "
            "teacher (needs online_teacher), 0 = off"
        },
    )
    freq_mask: int = field(
        default=0,
        metadata={
            "help": "augmentation (SpecAugment): hide one band of up to this many of the student's 64 mel bands in "
            "each training window's features, the target unchanged (the teacher heard it all), 0 = off",
            "omit_default": True,
        },
    )
    time_mask: float = field(
        default=0.0,
        metadata={
            "help": "augmentation (SpecAugment): hide one span of up to this share of each training window's "
            "feature frames, the target unchanged, 0 = off",
            "omit_default": True,
        },
    )
    fidelity_max_frames: int = field(
        default=20000, metadata={"help": "held-out frames used for fidelity.json (random subset)"}
    )
    ema: float = field(
        default=0.0,
        metadata={
            "help": "decay of an exponential moving average of the weights, updated after every step, e.g. 0.998 "
            "(~500 steps); validation, best.pt, fidelity and export use the average (BatchNorm re-estimated on "
            "it), 0 = off (SEA)"
        },
    )
    bn_recalibrate: int = field(
        default=32,
        metadata={"help": "batches that re-estimate BatchNorm statistics after each epoch (precise BN), 0 = off"},
    )
    qat: bool = field(
        default=False,
        metadata={
            "help": "quantization-aware training: train under int8 fake quantization (per-channel weights, "
            "per-tensor activations, BatchNorm frozen), usually starting from a float student via init_from"
        },
    )
    init_from: str = field(
        default="",
        metadata={"help": "start from a trained student: a name under RUN/students/ or a best.pt path"},
    )
    frontend_dtype: Literal["float64", "float32"] = field(
        default="float64",
        metadata={"help": "log-mel compute dtype: float64 = what evaluate feeds the student; float32 is ~3x faster"},
    )
    seed: int = field(default=0, metadata={"help": "seed of the split, the batch order and the initial weights"})
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda or cuda:N (cuda:LOCAL_RANK under torchrun)"})
    num_workers: int = field(
        default=2,
        metadata={
            "help": "background threads cutting (and, with online_teacher, labelling) windows, 0 = in the main loop"
        },
    )
    prefetch: int = field(default=4, metadata={"help": "batches loaded ahead of the trainer"})
    log_every: int = field(default=50, metadata={"help": "steps between progress/TensorBoard updates"})

    def augments(self) -> bool:
        """True when training windows are changed beyond a time shift (mixup, speed, tilt, gain): only the online
        teacher can label them, and precise BatchNorm measures them as trained."""
        return any(getattr(self, key) > 0 for key, _ in ONLINE_AUGMENTS)

    def output_name(self) -> str:
        """Directory name under ``RUN/students/``."""
        return self.name or (f"{self.student}_qat" if self.qat else self.student)

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the value, the rule and the fix."""

        def bad(key: str, rule: str) -> ConfigError:
            return ConfigError(f"DistillConfig.{key}={getattr(self, key)!r} {rule}")

        self._check_types(bad)
        from ..students import get_factory

        get_factory(self.student)  # unknown names suggest the nearest of the same family and list the registry
        if self.student_args is not None and not isinstance(self.student_args, dict):
            raise bad("student_args", "must be a mapping of student kwargs, e.g. {out_dim: 64}")
        if isinstance(self.student_args, dict) and "input_shape" in self.student_args:
            raise bad(
                "student_args",
                "sets input_shape; the student's input follows the teacher's window recorded in the frame store, "
                "so drop input_shape",
            )
        for key in ("mse", "cosine", "relational"):
            w = getattr(self, key)
            if not (isinstance(w, (int, float)) and math.isfinite(w) and w >= 0):
                raise bad(key, "must be a finite loss weight >= 0")
        if self.mse == 0 and self.cosine == 0 and self.relational == 0:
            raise ConfigError(
                "DistillConfig loss weights mse, cosine and relational are all 0; give at least one a positive "
                "weight, e.g. mse=1"
            )
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise bad("lr", "must be > 0, e.g. 1e-4")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise bad("weight_decay", "must be >= 0 (0 = none)")
        from ..students.frontend_numpy import frontend_params

        try:  # the front-end owns the rule
            frontend_params(1.0, self.sr)
        except ValueError:
            raise bad("sr", "must be an integer rate in Hz from 8000 to 48000 and a multiple of 50, e.g. 8000 (SEA) or "
                      "24000") from None  # fmt: skip
        if not (math.isfinite(self.time_shift) and 0 <= self.time_shift <= 0.5):
            raise bad("time_shift", "must be in [0, 0.5] seconds, e.g. 0.05 (0 = off)")
        if not (math.isfinite(self.mixup) and 0 <= self.mixup <= 1):
            raise bad("mixup", "must be in [0, 1], the share of mixed training windows, e.g. 0.5 (0 = off)")
        if not (math.isfinite(self.speed) and 0 <= self.speed <= 0.5):
            raise bad("speed", "must be in [0, 0.5], the largest log speed factor, e.g. 0.15 (0 = off)")
        if not (math.isfinite(self.tilt) and 0 <= self.tilt < 1):
            raise bad("tilt", "must be in [0, 1), the largest tilt coefficient, e.g. 0.9 (0 = off)")
        if not (math.isfinite(self.gain) and 0 <= self.gain <= 40):
            raise bad("gain", "must be in [0, 40] dB, the largest level change, e.g. 6 (0 = off)")
        if not 0 <= self.freq_mask <= 32:
            raise bad("freq_mask", "must be in [0, 32] mel bands, the widest hidden band, e.g. 8 (0 = off)")
        if not (math.isfinite(self.time_mask) and 0 <= self.time_mask <= 0.5):
            raise bad("time_mask", "must be in [0, 0.5], the widest hidden share of the frames, e.g. 0.2 (0 = off)")
        for key, what in ONLINE_AUGMENTS:
            if getattr(self, key) > 0 and not self.online_teacher:
                raise bad(key, f"needs online_teacher=true: {what} window has no stored teacher frame to regress")
        if self.batch_size < 1:
            raise bad("batch_size", "must be >= 1, e.g. 64")
        if self.relational > 0 and self.batch_size < 2:
            raise bad("batch_size", "must be >= 2 with a relational loss (it compares pairs within a batch)")
        if self.epochs < 1:
            raise bad("epochs", "must be >= 1")
        if self.max_steps_per_epoch < 0:
            raise bad("max_steps_per_epoch", "must be >= 0 (0 = a full pass)")
        if self.patience < 0:
            raise bad("patience", "must be >= 0 (0 = no early stopping)")
        if not (math.isfinite(self.min_delta) and self.min_delta >= 0):
            raise bad("min_delta", "must be >= 0")
        if self.lr_patience < 0:
            raise bad("lr_patience", "must be >= 0")
        if not 0 < self.lr_factor < 1:
            raise bad("lr_factor", "must be in (0, 1), e.g. 0.1")
        if not 0 <= self.val_fraction < 1:
            raise bad("val_fraction", "must be in [0, 1), e.g. 0.1")
        if not self.val_by:
            raise bad("val_by", "must be 'clip' or a clip field / meta key such as 'fold' or 'sensor_id'")
        if self.fidelity_max_frames < 1:
            raise bad("fidelity_max_frames", "must be >= 1")
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise bad("device", "must be auto, cpu, cuda or cuda:N")
        if self.num_workers < 0:
            raise bad("num_workers", "must be >= 0")
        if self.prefetch < 1:
            raise bad("prefetch", "must be >= 1")
        if not (math.isfinite(self.ema) and 0 <= self.ema < 1):
            raise bad("ema", "must be in [0, 1), the moving average's decay per step, e.g. 0.998 (0 = off)")
        if self.ema > 0 and self.qat:
            raise bad("ema", "cannot go with qat=true: QAT fine-tunes a float student; average that one (ema on "
                      "the float run, then init_from it)")  # fmt: skip
        if self.bn_recalibrate < 0:
            raise bad("bn_recalibrate", "must be >= 0 (0 = off)")
        if self.log_every < 1:
            raise bad("log_every", "must be >= 1")
        if self.targets != "auto" and ("/" in self.targets or self.targets.startswith(".") or not self.targets):
            raise bad("targets", "must be a directory name under RUN/targets/ or 'auto'")
        if self.name and ("/" in self.name or self.name.startswith(".")):
            raise bad("name", "must be a plain directory name")

    def _check_types(self, bad: typing.Callable[[str, str], ConfigError]) -> None:
        """Numbers, strings and flags of the declared type (YAML and flags are coerced before; this guards the API)."""
        hints = typing.get_type_hints(type(self))
        for f in fields(self):
            v, tp = getattr(self, f.name), hints[f.name]
            if tp is int and (isinstance(v, bool) or not isinstance(v, int)):
                raise bad(f.name, "must be an integer")
            if tp is float and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise bad(f.name, "must be a number")
            if tp is str and not isinstance(v, str):
                raise bad(f.name, "must be a string")
            if tp is bool and not isinstance(v, bool):
                raise bad(f.name, "must be true or false")
