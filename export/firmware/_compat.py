"""Where sea's numpy front-end lives: :mod:`sea.students.frontend_numpy` (numpy only; the Pi bundle ships it)."""

from __future__ import annotations


def frontend_numpy():
    """The module with ``logmel_numpy``, ``mel_filterbank_numpy``, ``hann_periodic`` and ``frontend_params``."""
    from sea.students import frontend_numpy as mod

    return mod
