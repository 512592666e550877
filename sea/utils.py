"""Small shared helpers: atomic writes, hashing, seeding, JSON."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

Pathlike = str | os.PathLike


@contextlib.contextmanager
def atomic_path(path: Pathlike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success.

    An interrupted writer leaves only a ``.tmp`` file that no stage trusts.
    ``suffix`` keeps libraries that key on the extension (np.save, ONNX) happy.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix or ".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            # mkstemp creates 0600; give the result the permissions a plain open() would (0666 & ~umask)
            os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: Pathlike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: Pathlike, obj: Any) -> Path:
    """Write JSON atomically, with numpy scalars and arrays converted."""
    return write_text_atomic(path, json.dumps(obj, indent=2, default=_json_default, allow_nan=True) + "\n")


def read_json(path: Pathlike) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"cannot serialise {type(o).__name__} to JSON")


def md5_file(path: Pathlike, chunk_size: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk_size), b""):
            h.update(block)
    return h.hexdigest()


def sha256_file(path: Pathlike, chunk_size: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk_size), b""):
            h.update(block)
    return h.hexdigest()


def streamed_mean_std(
    read: Callable[[np.ndarray], np.ndarray], rows: np.ndarray, *, batch: int = 65536
) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and (population) std of the rows ``read(rows)`` would return, ``batch`` rows at a time.

    Parameters
    ----------
    read : callable
        ``read(indices [k]) -> array [k, d]``, e.g. a memory-mapped array's indexing or a reader's ``read``.
    rows : np.ndarray [n]
        The rows to summarise (none: mean and std 0).
    batch : int
        Rows read at once: memory is bounded by the batch, not by ``n``.

    Returns
    -------
    mean, std : np.ndarray [d], float64
        Sums in float64; ``std`` is 0 for a constant column (callers choose what to divide by then).
    """
    d = np.asarray(read(rows[:0])).shape[1]  # zero rows still say the width
    n, s1, s2 = 0, np.zeros(d), np.zeros(d)
    for a in range(0, rows.size, batch):
        x = np.asarray(read(rows[a : a + batch]), dtype=np.float64)
        n, s1, s2 = n + x.shape[0], s1 + x.sum(0), s2 + (x * x).sum(0)
    mean = s1 / max(n, 1)
    return mean, np.sqrt(np.maximum(s2 / max(n, 1) - mean * mean, 0.0))


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (if imported) for reproducible runs."""
    random.seed(seed)
    np.random.seed(seed % (2**32))  # noqa: NPY002 (the legacy global RNG is what third-party code draws from)
    import sys

    if "torch" in sys.modules:
        import torch

        torch.manual_seed(seed)


def machine_info() -> dict[str, Any]:
    """The machine a figure was measured on: CPU model, cores, memory, OS, Python and torch versions.

    Returns
    -------
    info : dict
        ``cpu``, ``cores`` (usable by this process), ``memory_gib``, ``platform``, ``python``, ``torch`` (if imported).
    """
    import platform
    import sys

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory = None
    try:
        memory = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    info: dict[str, Any] = {"cpu": cpu, "cores": cores, "memory_gib": memory, "platform": platform.platform(),
                            "python": sys.version.split()[0]}  # fmt: skip
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch"] = torch.__version__
    return info


@contextlib.contextmanager
def c_stderr_redirected(captured: list[str]) -> Iterator[None]:
    """Send file descriptor 2 (C/C++ libraries' prints) to a temporary file while the body runs.

    Parameters
    ----------
    captured : list of str
        Receives the captured text (one string appended) once fd 2 is restored, also when the body raises.
    """
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            captured.append(tmp.read().decode("utf-8", "replace"))


@contextlib.contextmanager
def c_stderr_filtered(drop: tuple[str, ...]) -> Iterator[None]:
    """Hold back the lines a C/C++ library prints on file descriptor 2 that start with one of ``drop``.

    Every other line is written back to stderr when the body ends, so nothing but the known chatter is lost (a
    Python-level write from another thread in the meantime is delayed, not dropped).

    Parameters
    ----------
    drop : tuple of str
        Line prefixes to hold back, e.g. ``("INFO: Created TensorFlow Lite XNNPACK delegate",)``.
    """
    import sys

    captured: list[str] = []
    try:
        with c_stderr_redirected(captured):
            yield
    finally:
        lines = "".join(captured).splitlines(keepends=True)
        kept = "".join(line for line in lines if not line.startswith(drop))
        if kept:
            sys.stderr.write(kept)
            sys.stderr.flush()
