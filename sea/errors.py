"""Exceptions and warnings raised by sea.

Every error a user can cause derives from :class:`SeaError`. The CLI prints it
as one line and exits with code 1; ``-v`` adds the traceback. Messages name the
offending value, the rule it broke and, where possible, the fix.
"""

from __future__ import annotations


class SeaError(Exception):
    """Root of every error that sea raises on purpose."""


class ConfigError(SeaError, ValueError):
    """A configuration value or key is invalid."""


class ParameterError(SeaError, ValueError):
    """A function argument is out of its valid range."""


class ManifestError(SeaError):
    """A manifest, run directory or stage output is missing or malformed."""


class AudioError(SeaError):
    """Audio cannot be decoded or is unusable (empty, NaN, not audio)."""


class DatasetError(SeaError):
    """A raw dataset folder does not follow the expected layout."""


class WeightsError(SeaError):
    """Model weights cannot be found, downloaded or parsed."""


class ExportError(SeaError):
    """A model cannot be exported to an edge format."""


class ParityError(ExportError):
    """Exported artifacts disagree with the PyTorch model beyond tolerance."""


class SeaWarning(UserWarning):
    """Suspicious but usable input (silent or short audio, odd sample rate...)."""


class UntrainedTeacherWarning(SeaWarning):
    """Outputs come from a teacher with random weights (explicit opt-in)."""
