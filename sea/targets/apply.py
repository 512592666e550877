"""``sea targets apply``: project every teacher frame through φ into shards aligned with the store."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from .. import integrity
from ..errors import ParameterError
from ..layout import RunLayout
from ..lock import run_lock
from ..progress import progress
from ..runs import input_hash
from ..store import FrameStore
from ..utils import atomic_path, write_json
from .config import DEFAULT_BATCH_SIZE
from .reader import INDEX_NAME, applied_shards, load_targets
from .teacher_store import read_rows

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_SHARD_SIZE", "apply_targets"]

#: Rows per ``targets-*.npy`` shard.
DEFAULT_SHARD_SIZE = 65536


def _shard_name(k: int) -> str:
    return f"targets-{k:05d}.npy"


def apply_targets(
    run_dir: str | Path,
    name: str,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    shard_size: int = DEFAULT_SHARD_SIZE,
    overwrite: bool = False,
) -> Path:
    """Project every store frame through φ into ``targets-*.npy`` shards.

    Shards are row-aligned with the store: shard ``i`` holds rows
    ``[i·shard_size, (i+1)·shard_size)``. ``targets_index.json`` records the
    reducer sha256, the store fingerprint and each shard's size and hashes; an
    index that matches all of them means done. The run directory is locked
    while the shards are written; a NaN/Inf teacher frame stops the step.

    Parameters
    ----------
    run_dir : path
        A run with the teacher store the target set was fitted on.
    name : str
        The fitted target set to project with.
    batch_size : int > 0
        Frames per projection batch.
    shard_size : int > 0
        Rows per shard.
    overwrite : bool
        Rewrite the shards even when they are up to date.

    Returns
    -------
    out_dir : Path
        ``RUN/targets/<name>``, holding float32 shards of shape ``(rows, d)``.
    """
    if int(shard_size) < 1 or int(batch_size) < 1:
        raise ParameterError(
            f"batch_size={batch_size} and shard_size={shard_size} must be >= 1; e.g. --batch-size {DEFAULT_BATCH_SIZE}"
        )
    run_dir = Path(run_dir)
    out = RunLayout(run_dir).targets(name)
    reducer, store = load_targets(run_dir, name)  # checks the target set and its teacher store first
    with run_lock(run_dir):
        fingerprint = input_hash(store.dir)
        index_path = out / INDEX_NAME
        if not overwrite and applied_shards(index_path, reducer.sha256_, len(store), fingerprint) is not None:
            log.info("targets %s: already applied, skipping", name)
            return out
        if index_path.exists():
            index_path.unlink()  # first: shards without a matching index are never read
        for old in out.glob("targets-*.npy"):
            old.unlink()
        n, d = len(store), reducer.out_dim
        n_shards = max(1, -(-n // shard_size))
        shards = [
            _write_shard(out, k, reducer, store, k * shard_size, min(n, (k + 1) * shard_size), batch_size)
            for k in progress(range(n_shards), total=n_shards, desc=f"apply {name}", unit="shard")
        ]
        index = {"n_frames": n, "dim": d, "shard_size": shard_size, "shards": shards}
        write_json(index_path, {**index, "reducer_sha256": reducer.sha256_, "store": fingerprint})
    return out


def _write_shard(
    out: Path, k: int, reducer, store: FrameStore, start: int, stop: int, batch_size: int
) -> dict[str, Any]:
    """Write rows ``[start, stop)`` of φ(store) as shard ``k``; return its index entry."""
    fname = _shard_name(k)
    with atomic_path(out / fname, suffix=".npy") as tmp:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(stop - start, reducer.out_dim))
        for b in range(start, stop, batch_size):
            e = min(stop, b + batch_size)
            arr[b - start : e - start] = reducer.transform(read_rows(store, np.arange(b, e)))
        arr.flush()
        del arr
    return {"file": fname, "start": start, "stop": stop, "record": integrity.record(out / fname)}
