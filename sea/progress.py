"""Progress bars that honour ``sea -q`` and non-interactive runs, and a fault hook for reliability tests.

Every long loop of a stage reports through :func:`progress`. That makes it the one
place where a test can stop a run at a known point: with
``SEA_FAULT_KILL="<bar description prefix>:<n>"`` in the environment, the process
kills itself with SIGKILL when such a bar reaches ``n`` steps (what ``kill -9``
or a power cut does mid-stage). The resume tests use it to check that every
stage picks up where it was killed and ends bit-identical to an uninterrupted run.
"""

from __future__ import annotations

import os
import signal
import sys

__all__ = ["progress", "set_enabled"]

_ENABLED = True


def set_enabled(enabled: bool) -> None:
    """Turn progress bars on or off (``sea -q`` turns them off)."""
    global _ENABLED
    _ENABLED = enabled


def _fault() -> tuple[str, int] | None:
    spec = os.environ.get("SEA_FAULT_KILL")
    if not spec or ":" not in spec:
        return None
    prefix, _, n = spec.rpartition(":")
    return prefix, int(n)


def progress(iterable=None, *, total=None, desc: str | None = None, unit: str = "it", leave: bool = True, **kwargs):
    """A tqdm bar, disabled by ``-q``, by ``SEA_NO_PROGRESS=1`` or when stderr is not a TTY under CI.

    Parameters
    ----------
    iterable : iterable, optional
        Wrapped like ``tqdm(iterable)``; without it, call ``.update(n)``.
    total : int, optional
    desc : str, optional
        Shown before the bar (and matched by ``SEA_FAULT_KILL``).
    unit : str
    leave : bool
    **kwargs
        More tqdm options.

    Returns
    -------
    bar : tqdm
    """
    from tqdm.auto import tqdm

    disable = (
        (not _ENABLED)
        or bool(os.environ.get("SEA_NO_PROGRESS"))
        or (bool(os.environ.get("CI")) and not sys.stderr.isatty())
    )
    fault = _fault()
    if fault is None or not (desc or "").startswith(fault[0]):
        return tqdm(
            iterable, total=total, desc=desc, unit=unit, leave=leave, disable=disable, dynamic_ncols=True, **kwargs
        )
    return _fault_bar(tqdm, fault[1])(
        iterable, total=total, desc=desc, unit=unit, leave=leave, disable=disable, dynamic_ncols=True, **kwargs
    )


def _fault_bar(tqdm, kill_at: int):
    class FaultBar(tqdm):
        """A bar that SIGKILLs its process at step ``kill_at`` (reliability tests only)."""

        _steps = 0

        def _step(self, n: float = 1) -> None:
            self._steps += n
            if self._steps >= kill_at:
                sys.stderr.flush()
                os.kill(os.getpid(), signal.SIGKILL)

        def update(self, n: float = 1):
            out = super().update(n)
            self._step(n)
            return out

        def __iter__(self):
            for item in self.iterable:
                yield item
                self._step()

    return FaultBar
