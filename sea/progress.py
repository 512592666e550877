"""Progress bars that honour ``sea -q`` and non-interactive runs."""

from __future__ import annotations

import os
import sys

_ENABLED = True


def set_enabled(enabled: bool) -> None:
    global _ENABLED
    _ENABLED = enabled


def progress(iterable=None, *, total=None, desc: str | None = None, unit: str = "it", leave: bool = True, **kwargs):
    """A tqdm bar, disabled by ``-q``, by ``SEA_NO_PROGRESS=1`` or when stderr is not a TTY under CI."""
    from tqdm.auto import tqdm

    disable = (not _ENABLED) or bool(os.environ.get("SEA_NO_PROGRESS")) or (
        bool(os.environ.get("CI")) and not sys.stderr.isatty()
    )
    return tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave, disable=disable, dynamic_ncols=True, **kwargs)
