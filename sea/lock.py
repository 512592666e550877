"""One writer per run directory.

Two sea commands writing one run directory at once corrupt it (both append to
the same partial caches), so every stage takes ``RUN/.sea.lock`` before it
writes. The lock is an ``fcntl`` lock on that file: the kernel drops it when
its process dies, even by SIGKILL, so a killed run never blocks the next one.
The file also records the holder's pid and command, for the message a second
command prints; a clean exit clears the record, so a record left behind means
its holder died, and the next command takes it over with a warning.

Within one process the lock is re-entrant (``sea run`` holds it while each
stage takes it again). Under torchrun only rank 0 takes it: the other ranks
of the same job work in the directory with rank 0's permission.

Examples
--------
>>> with run_lock("runs/quickstart"):
...     ...  # write the stage's outputs
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

from .errors import ManifestError, SeaWarning
from .utils import Pathlike

__all__ = ["LOCK_NAME", "RunLockedError", "run_lock"]

LOCK_NAME = ".sea.lock"

# re-entrancy: run directory (resolved) -> (open file, depth)
_held: dict[str, list] = {}
_guard = threading.Lock()


class RunLockedError(ManifestError):
    """Another live process holds the run directory."""


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def _holder(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}


def _describe(holder: dict) -> str:
    pid = holder.get("pid", "?")
    cmd = holder.get("command")
    since = holder.get("started")
    return f"pid {pid}" + (f" ({cmd})" if cmd else "") + (f", since {since}" if since else "")


def _acquire(run_dir: Path):
    import fcntl

    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_NAME
    f = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (held open while the lock is held)
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(path)
        f.close()
        raise RunLockedError(
            f"run directory {str(run_dir)!r} is locked by {_describe(holder)}; wait for it to finish "
            f"or stop it, or use another run directory"
        ) from None
    previous = _holder(path)
    if previous.get("pid") and previous.get("host") == socket.gethostname() and not _is_alive(int(previous["pid"])):
        warnings.warn(
            f"run directory {str(run_dir)!r}: taking over the stale lock of {_describe(previous)}, which is no "
            "longer running (it was killed or crashed); its unfinished stage resumes",
            SeaWarning,
            stacklevel=4,
        )
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))[:200],
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    f.seek(0)
    f.truncate()
    f.write(json.dumps(record))
    f.flush()
    return f


def _single_rank_job() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


@contextlib.contextmanager
def run_lock(run_dir: Pathlike) -> Iterator[None]:
    """Hold the run directory's lock for the body (re-entrant within this process).

    Parameters
    ----------
    run_dir : path
        The run directory; created if missing.

    Raises
    ------
    RunLockedError
        A live process (another command) holds it: the message names its pid and command.
    """
    if not _single_rank_job():
        yield
        return
    key = str(Path(run_dir).resolve())
    with _guard:
        entry = _held.get(key)
        if entry is None:
            entry = _held[key] = [_acquire(Path(run_dir)), 0]
        entry[1] += 1
    try:
        yield
    finally:
        with _guard:
            entry[1] -= 1
            if entry[1] == 0:
                del _held[key]
                f = entry[0]
                # a clean exit clears its record: only a holder that died (kill -9, crash) leaves one behind,
                # which is what the next command's "stale lock" warning reports
                f.seek(0)
                f.truncate()
                f.close()  # closing the descriptor drops the flock
