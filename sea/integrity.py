"""Size and hash records of the files a stage hands to the next, and their checks.

A stage records each artifact it writes (``record(path)``: size, a *sampled*
hash and, when affordable, a full sha256) in its ``stage.json``. Every later
read, and every "up to date" decision, checks the file against that record:

* the cheap check (:func:`check`) compares the size and the sampled hash, a
  sha256 of the size plus 16 evenly spaced 4 KiB blocks and the file's head
  and tail; it costs a few reads whatever the file's size;
* with ``--verify`` (:func:`set_full_verify`, or ``SEA_VERIFY=1``) the full
  sha256 is compared too.

A truncated or altered file is reported in one line that names the file, what
is wrong, and the fix (``--overwrite STAGE``).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from .errors import ManifestError
from .utils import Pathlike

__all__ = ["DamagedFileError", "check", "full_verify", "record", "sampled_sha256", "set_full_verify"]

_BLOCK = 4096
_N_BLOCKS = 16
# files up to this size also get a full sha256 when recorded (bigger ones only under --verify)
FULL_HASH_MAX_BYTES = 256 << 20

_full = os.environ.get("SEA_VERIFY", "") not in ("", "0")


class DamagedFileError(ManifestError):
    """A file no longer matches the size or hash its stage recorded."""


def set_full_verify(enabled: bool) -> None:
    """Compare full sha256 hashes on every check (``sea --verify``), not just sizes and sampled hashes."""
    global _full
    _full = bool(enabled)


def full_verify() -> bool:
    """True when full hashes are checked (``--verify`` or ``SEA_VERIFY=1``)."""
    return _full


def sampled_sha256(path: Pathlike, size: int | None = None) -> str:
    """sha256 of the size, the head, the tail and 16 evenly spaced 4 KiB blocks of a file.

    Parameters
    ----------
    path : path
    size : int, optional
        The file's size if already known.

    Returns
    -------
    digest : str
        Hex digest; a truncation or an overwritten block changes it.
    """
    size = os.path.getsize(path) if size is None else size
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        if size <= (_N_BLOCKS + 2) * _BLOCK:
            h.update(f.read())
            return h.hexdigest()
        offsets = [0, size - _BLOCK] + [int(i * (size - _BLOCK) / (_N_BLOCKS + 1)) for i in range(1, _N_BLOCKS + 1)]
        for off in offsets:
            f.seek(off)
            h.update(f.read(_BLOCK))
    return h.hexdigest()


def _full_sha256(path: Pathlike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def record(path: Pathlike, *, full: bool | None = None) -> dict[str, Any]:
    """The integrity record of a file as its stage writes it.

    Parameters
    ----------
    path : path
    full : bool, optional
        Also store the full sha256 (default: for files up to 256 MiB, or always under ``--verify``).

    Returns
    -------
    record : dict
        ``{"size": int, "sampled_sha256": str}`` plus ``"sha256"`` when ``full``.
    """
    size = os.path.getsize(path)
    rec: dict[str, Any] = {"size": size, "sampled_sha256": sampled_sha256(path, size)}
    if full if full is not None else (_full or size <= FULL_HASH_MAX_BYTES):
        rec["sha256"] = _full_sha256(path)
    return rec


def check(path: Pathlike, rec: dict[str, Any], *, fix: str, what: str | None = None) -> None:
    """Raise :class:`DamagedFileError` when ``path`` no longer matches ``rec``.

    Parameters
    ----------
    path : path
        The file to check.
    rec : dict
        Its record from :func:`record` (as stored in a ``stage.json``).
    fix : str
        The command that rebuilds it, for the message (e.g. ``"sea run CONFIG --overwrite teacher"``).
    what : str, optional
        What the file is ("teacher frame shard"), for the message.
    """
    path = Path(path)
    label = f"{what} {str(path)!r}" if what else repr(str(path))
    if not path.is_file():
        raise DamagedFileError(f"{label} is missing; rebuild it: {fix}")
    size = path.stat().st_size
    if size != rec.get("size"):
        raise DamagedFileError(
            f"{label} is damaged: {size} bytes where its stage wrote {rec.get('size')} (truncated or replaced); "
            f"rebuild it: {fix}"
        )
    if rec.get("sampled_sha256") and sampled_sha256(path, size) != rec["sampled_sha256"]:
        raise DamagedFileError(f"{label} was altered after its stage wrote it (hash mismatch); rebuild it: {fix}")
    if _full and rec.get("sha256") and _full_sha256(path) != rec["sha256"]:
        raise DamagedFileError(
            f"{label} was altered after its stage wrote it (full sha256 mismatch); rebuild it: {fix}"
        )
