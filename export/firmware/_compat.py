"""Where sea's numpy front-end lives (the package is being reorganised; both homes are accepted)."""

from __future__ import annotations


def frontend_numpy():
    """The module with ``logmel_numpy``, ``mel_filterbank_numpy``, ``hann_periodic`` and ``frontend_params``."""
    try:
        from sea.students import frontend_numpy as mod
    except ImportError:  # before the reorganisation
        from sea import frontend as mod
    return mod
