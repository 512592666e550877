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

from ..constants import (
    TEACHER_SR,
    VALID_CONTENT_TYPES,
    VALID_DTYPES,
    VALID_EMBEDDING_SIZES,
    VALID_FRONTENDS,
    VALID_INPUT_REPRS,
    VALID_PRECISIONS,
)
from ..errors import ConfigError

__all__ = ["VALID_DTYPES", "VALID_PRECISIONS", "EmbedConfig", "ExtractConfig", "variant_name"]

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
    """

    input_repr: str = field(default="mel256", metadata={"help": "OpenL3 input representation: linear, mel128, mel256"})
    content_type: str = field(default="music", metadata={"help": "OpenL3 training content: env or music"})
    embedding_size: int = field(default=512, metadata={"help": "embedding dimension: 512 (SEA) or 6144"})
    frontend: str = field(default="kapre", metadata={"help": "front-end: kapre (openl3 0.4.x), librosa, legacy"})
    hop_size: float = field(default=0.1, metadata={"help": "hop between 1-s frames in seconds (openl3 hop_size)"})
    center: bool = field(default=True, metadata={"help": "centre frames on their timestamps (openl3 center)"})
    batch_size: int = field(default=64, metadata={"help": "windows per teacher forward pass (bounds memory)"})
    dtype: str = field(default="float16", metadata={"help": "on-disk embedding dtype: float16 or float32"})
    shard_size: int = field(default=65536, metadata={"help": "frames per store shard (unit of resume and ranks)"})
    weights: str | None = field(
        default=None, metadata={"help": "teacher weights (.h5 or converted .pt); default: resolved"}
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

    def validate(self) -> None:
        """Check every value.

        Raises
        ------
        ConfigError
            A value outside its allowed set, a hop shorter than one sample at
            48 kHz, a batch or shard size below 1, or an unknown device type.
        """
        _check_choices(
            "ExtractConfig",
            (
                ("input_repr", self.input_repr, VALID_INPUT_REPRS),
                ("content_type", self.content_type, VALID_CONTENT_TYPES),
                ("embedding_size", self.embedding_size, VALID_EMBEDDING_SIZES),
                ("frontend", self.frontend, VALID_FRONTENDS),
                ("dtype", self.dtype, VALID_DTYPES),
                ("precision", self.precision, VALID_PRECISIONS),
            ),
        )
        if not (self.hop_size > 0 and math.isfinite(self.hop_size)):
            raise ConfigError(
                f"ExtractConfig.hop_size={self.hop_size!r} must be a positive number of seconds, e.g. 0.1"
            )
        if int(self.hop_size * TEACHER_SR) < 1:
            raise ConfigError(f"ExtractConfig.hop_size={self.hop_size} is shorter than one sample at 48 kHz")
        for name in ("batch_size", "shard_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"ExtractConfig.{name}={getattr(self, name)} must be >= 1")
        if self.device.split(":")[0] not in _DEVICE_TYPES:
            raise ConfigError(f"ExtractConfig.device={self.device!r} is not a torch device; use cpu, cuda or cuda:N")


@dataclass(frozen=True)
class EmbedConfig:
    """Config of ``sea teacher embed``: openl3's ``process_audio_file`` options, with openl3's defaults.

    The fields are the keywords of :func:`sea.teacher.embed_files` (and of
    :func:`sea.teacher.get_embedding`, but for ``output_dir`` and ``suffix``),
    with the same defaults. ``metadata["short"]`` is openl3's short option of a
    field's flag (``-i`` for ``--input-repr``).
    """

    output_dir: str | None = field(
        default=None, metadata={"help": "output directory; none: next to each input", "short": "-o"}
    )
    suffix: str | None = field(default=None, metadata={"help": "append _SUFFIX to output names", "short": "-x"})
    input_repr: Literal[VALID_INPUT_REPRS] = field(
        default="mel256", metadata={"help": "spectrogram input", "short": "-i"}
    )
    content_type: Literal[VALID_CONTENT_TYPES] = field(
        default="music", metadata={"help": "weights trained on env or music", "short": "-t"}
    )
    embedding_size: int = field(default=6144, metadata={"help": "embedding dimension", "short": "-s"})
    hop_size: float = field(default=0.1, metadata={"help": "hop between 1-s windows, in seconds"})
    center: bool = field(default=True, metadata={"help": "pad 0.5 s so timestamps are window centres"})
    frontend: Literal[VALID_FRONTENDS] = field(
        default="kapre",
        metadata={
            "help": "kapre: openl3 0.4.x default; librosa: openl3's librosa option; "
            "legacy: kapre 0.1.4 (openl3<=0.3.1, torchopenl3)"
        },
    )
    weights: str | None = field(default=None, metadata={"help": "openl3 .h5 weights or a converted .pt"})
    untrained: bool = field(
        default=False, metadata={"help": "random weights for a dry run (outputs are marked untrained)"}
    )
    batch_size: int = field(default=32, metadata={"help": "windows per forward pass; bounds memory"})
    device: str = field(default="cpu", metadata={"help": "torch device: cpu, cuda, cuda:N"})
    precision: Literal[VALID_PRECISIONS] = field(
        default="float32",
        metadata={"help": "autocast dtype of the CNN (bfloat16/float16 are faster on GPU but not openl3-exact)"},
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
        E.g. ``mel256_music_512``; ``_librosa`` or ``_legacy`` is appended for those front-ends.
    """
    name = f"{config.input_repr}_{config.content_type}_{config.embedding_size}"
    return name if config.frontend == "kapre" else f"{name}_{config.frontend}"
