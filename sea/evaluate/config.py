"""Config of the evaluate stage (``sea evaluate``, the ``evaluate:`` section of ``sea run``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..config import did_you_mean
from ..constants import VALID_CONTENT_TYPES, VALID_FRONTENDS, VALID_INPUT_REPRS
from ..errors import ConfigError
from .classifiers import AUTOPOOL_PRESETS, CLASSIFIERS, ClassifierSettings, resolve_device
from .protocols import PROTOCOLS

__all__ = ["EvalConfig"]


@dataclass(frozen=True)
class EvalConfig:
    """Config of ``sea evaluate``: downstream protocols, classifiers, fidelity and cost.

    Every field has a default and a help text (``sea evaluate --help``); :meth:`validate` checks
    the values.

    Parameters
    ----------
    models : tuple of str
        Model specs: ``teacher``, ``teacher_pca[:NAME]``, ``teacher_8k[:NAME]`` (the teacher on an 8 kHz
        student's band), student checkpoints (a ``.pt`` file, a directory, or a name under ``RUN/students/``).
    dataset : str or None
        Prepared downstream run directory; None evaluates on the run itself.
    dataset_name : str or None
        Folder name under ``RUN/eval/``; None: the dataset directory's name.
    allow_overlap : bool
        The evaluation dataset shares audio with the distillation corpus and that was allowed
        (``sea run``'s ``allow_overlap: true``); every report says so in its header.
    protocol : "auto", "us8k", "esc50", "sonyc", "sonyc_sea", "folds", "split" or "kfold"
        Which clips train, validate and test (:mod:`sea.evaluate.protocols`).
    classifiers : tuple of "mlp", "logreg", "svm"
        Downstream classifiers; the first one is the report's primary classifier.
    hop_size : float > 0
        Hop between frames in seconds (a frame spans the model's window: 1 s for OpenL3, edgel3 and
        their students, 3 s for BirdNET).
    center : bool
        Centre the frames (openl3's ``center``).
    label_level : "coarse" or "fine"
        Label level of multi-label sets (SONYC-UST).
    n_folds : int >= 2
        Folds of the ``kfold`` protocol and of us8k/esc50 subsets with fewer than 3 folds present
        (grouped by recording).
    teacher : str
        Teacher store variant under ``RUN/teacher/``; ``auto`` takes the only one.
    input_repr, content_type, embedding_size, teacher_frontend : str, str, int, str
        The teacher variant when no store describes it.
    teacher_weights : str or None
        Teacher weights file; None resolves the default.
    untrained_teacher : bool
        Random teacher weights (dry runs only).
    embed_batch_size : int >= 1
        Windows per forward pass while embedding.
    device : "auto", "cpu", "cuda", "cuda:N" or "mps"
        Torch device for embedding and the MLP.
    mlp_hidden : tuple of int >= 1
        Hidden sizes of the MLP (paper: 512, 128).
    mlp_l2, mlp_lr : float
        L2 on the MLP kernels (>= 0) and the Adam learning rate (> 0).
    mlp_epochs, mlp_batch_size, mlp_patience : int >= 1
        Epoch cap, frames per batch and early-stopping patience of the MLP.
    autopool_preset : "paper" or "fast"
        Settings of the AutoPool head (multi-label): the paper's (grid 0/1/2 x 128/256 selected on
        validate, Adam 1e-5, batch 64, up to 1500 epochs) or a fast preset, labelled in reports.
    pooling : tuple of "autopool", "mean"
        Aggregations of the multi-label MLP.
    sk_max_frames : int
        Training frames of logreg/svm (a seeded random subset when there are more).
    logreg_c, svm_c : float > 0
        Inverse regularisation of the logistic regression, C of the RBF SVM.
    min_threshold : float
        Lowest AUPRC threshold (DCASE: 0.01).
    fidelity : bool
        Compute fidelity to the teacher (cosine, R², CKA, agreement).
    band_ceiling : bool
        Also evaluate ``teacher_8k[:TARGETS]``, one per ``teacher_pca`` model (else the raw teacher), when the
        teacher is faster than the students' 8 kHz (logged and skipped otherwise).
    fidelity_max_frames : int >= 1
        Frames used for CKA, cosine and R² (a seeded random subset).
    cost : bool
        Compute params, MACs and bytes of every model.
    plots : bool
        Write PNG plots next to ``report.md``.
    seed : int
        Seed of the k-fold assignment, subsets and classifier initialisation.
    """

    models: tuple[str, ...] = field(
        default=("teacher",),
        metadata={
            "help": "comma list: teacher, teacher_pca[:TARGETS], teacher_8k[:TARGETS] (the teacher hearing only "
            "what an 8 kHz student hears), students/<name> (or a name under RUN/students/, "
            "a directory, a .pt file)"
        },
    )
    dataset: str | None = field(
        default=None, metadata={"help": "prepared downstream run dir (default: RUN_DIR itself)"}
    )
    dataset_name: str | None = field(
        default=None, metadata={"help": "name under RUN/eval/ (default: the dataset dir's name)"}
    )
    allow_overlap: bool = field(
        default=False,
        metadata={"help": "the dataset shares audio with the distillation corpus (allowed; said in every report)"},
    )
    protocol: str = field(
        default="auto",
        metadata={
            "help": "which clips train/validate/test (auto: from the dataset's name, else its folds or splits)",
            "choices": PROTOCOLS,
        },
    )
    classifiers: tuple[str, ...] = field(
        default=("mlp", "logreg"),
        metadata={"help": f"comma list of {', '.join(CLASSIFIERS)}; the first is the report's primary one"},
    )
    hop_size: float = field(default=0.1, metadata={"help": "hop between frames in seconds"})
    center: bool = field(default=True, metadata={"help": "centre frames (openl3 center)"})
    label_level: str = field(
        default="coarse",
        metadata={"help": "label level of multi-label sets (SONYC-UST)", "choices": ("coarse", "fine")},
    )
    n_folds: int = field(
        default=5, metadata={"help": "folds of kfold, and of us8k/esc50 subsets under 3 folds (grouped by recording)"}
    )
    teacher: str = field(
        default="auto", metadata={"help": "teacher store variant under RUN/teacher/ (auto: the only one)"}
    )
    input_repr: str = field(
        default="mel256",
        metadata={"help": "OpenL3 input_repr when no store describes the teacher", "choices": VALID_INPUT_REPRS},
    )
    content_type: str = field(
        default="music",
        metadata={"help": "OpenL3 content_type when no store describes the teacher", "choices": VALID_CONTENT_TYPES},
    )
    embedding_size: int = field(default=512, metadata={"help": "teacher embedding size when no store describes it"})
    teacher_frontend: str = field(
        default="kapre",
        metadata={"help": "OpenL3 front-end when no store describes the teacher", "choices": VALID_FRONTENDS},
    )
    teacher_weights: str | None = field(default=None, metadata={"help": "teacher weights file (default: resolved)"})
    untrained_teacher: bool = field(default=False, metadata={"help": "random teacher weights (dry runs only)"})
    embed_batch_size: int = field(default=64, metadata={"help": "windows per forward pass while embedding"})
    device: str = field(
        default="auto", metadata={"help": "torch device for embedding and the MLP: auto, cpu, cuda[:N], mps"}
    )
    mlp_hidden: tuple[int, ...] = field(
        default=(512, 128), metadata={"help": "hidden sizes of the MLP (paper: 512,128)"}
    )
    mlp_l2: float = field(default=1e-5, metadata={"help": "L2 on the MLP kernels (Keras style)"})
    mlp_lr: float = field(default=1e-4, metadata={"help": "Adam learning rate of the MLP"})
    mlp_epochs: int = field(default=150, metadata={"help": "max epochs of the MLP"})
    mlp_batch_size: int = field(default=32, metadata={"help": "frames per MLP batch"})
    mlp_patience: int = field(default=20, metadata={"help": "early-stopping patience (epochs) on the validation loss"})
    autopool_preset: str = field(
        default="paper",
        metadata={
            "help": "AutoPool head (multi-label): paper (grid 0/1/2 x 128/256, Adam 1e-5, 1500 epochs) or fast",
            "choices": tuple(AUTOPOOL_PRESETS),
        },
    )
    pooling: tuple[str, ...] = field(
        default=("autopool", "mean"), metadata={"help": "comma list of multi-label MLP aggregations: autopool, mean"}
    )
    sk_max_frames: int = field(default=20000, metadata={"help": "max training frames of logreg/svm (random subset)"})
    logreg_c: float = field(default=1.0, metadata={"help": "inverse regularisation of the logistic regression"})
    svm_c: float = field(default=1.0, metadata={"help": "C of the RBF SVM"})
    min_threshold: float = field(
        default=0.01, metadata={"help": "lowest score used as an AUPRC threshold (the DCASE-UST scorer's)"}
    )
    fidelity: bool = field(
        default=True, metadata={"help": "compute fidelity to the teacher (cosine, R2, CKA, agreement)"}
    )
    band_ceiling: bool = field(
        default=False,
        metadata={
            "help": "also evaluate teacher_8k[:TARGETS] (one per teacher_pca model, else the raw teacher) when the "
            "teacher is faster than 8 kHz (BirdNET, OpenL3): the teacher on its windows low-passed at 4 kHz, the "
            "ceiling of its 8 kHz students"
        },
    )
    fidelity_max_frames: int = field(default=20000, metadata={"help": "frames used for CKA/cosine/R2 (random subset)"})
    cost: bool = field(default=True, metadata={"help": "compute params/MACs/bytes of every model"})
    plots: bool = field(default=True, metadata={"help": "write PNG plots next to report.md"})
    seed: int = field(default=0, metadata={"help": "seed of k-fold assignment, subsets and classifier init"})

    def validate(self) -> None:
        """Check every field.

        Raises
        ------
        ConfigError
            Naming the first invalid field, its value and the rule.
        """

        def bad(key: str, rule: str) -> ConfigError:
            return ConfigError(f"EvalConfig.{key}={getattr(self, key)!r} {rule}")

        if not self.models:
            raise bad("models", "must name at least one model, e.g. teacher")
        if len(set(self.models)) != len(self.models):
            raise bad("models", "lists a model twice")
        for key, choices in (
            ("protocol", PROTOCOLS),
            ("label_level", ("coarse", "fine")),
            ("autopool_preset", tuple(AUTOPOOL_PRESETS)),
        ):
            v = getattr(self, key)
            if v not in choices:
                raise bad(key, f"is not known{did_you_mean(v, choices)}; choose one of {', '.join(choices)}")
        for key, choices in (("classifiers", CLASSIFIERS), ("pooling", ("autopool", "mean"))):
            values = getattr(self, key)
            unknown = [c for c in values if c not in choices]
            if unknown or not values:
                hint = did_you_mean(unknown[0], choices) if unknown else ""
                raise bad(key, f"must be a non-empty list of {', '.join(choices)}{hint}")
        if not (self.hop_size > 0 and math.isfinite(self.hop_size)):
            raise bad("hop_size", "must be a positive number of seconds, e.g. 0.1")
        for k in (
            "embed_batch_size",
            "mlp_epochs",
            "mlp_batch_size",
            "mlp_patience",
            "fidelity_max_frames",
        ):
            if getattr(self, k) < 1:
                raise bad(k, "must be >= 1")
        if self.n_folds < 2:
            raise bad("n_folds", "must be >= 2")
        if any(h < 1 for h in self.mlp_hidden):
            raise bad("mlp_hidden", "hidden sizes must be >= 1")
        for k in ("mlp_lr", "logreg_c", "svm_c"):
            if not getattr(self, k) > 0:
                raise bad(k, "must be > 0")
        if self.mlp_l2 < 0:
            raise bad("mlp_l2", "must be >= 0")
        if self.device.split(":")[0] not in ("auto", "cpu", "cuda", "mps"):
            raise bad("device", "must be auto, cpu, cuda or cuda:N")

    def settings(self) -> ClassifierSettings:
        """Return the classifier settings of this config (``device`` resolved: ``auto`` -> cuda or cpu).

        Returns
        -------
        settings : ClassifierSettings
        """
        return ClassifierSettings(
            hidden=tuple(self.mlp_hidden),
            l2=self.mlp_l2,
            lr=self.mlp_lr,
            epochs=self.mlp_epochs,
            batch_size=self.mlp_batch_size,
            patience=self.mlp_patience,
            autopool=AUTOPOOL_PRESETS[self.autopool_preset],
            max_frames=self.sk_max_frames,
            logreg_c=self.logreg_c,
            svm_c=self.svm_c,
            device=resolve_device(self.device),
            seed=self.seed,
        )
