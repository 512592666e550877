"""Read a fitted target set: its reducer φ, its teacher store, and the projected targets φ(teacher).

Files of ``RUN/targets/<name>/``::

    reducer.npz, reducer.json    the fitted reduction (see reducers.py)
    sample_indices.npy           int64 store indices of the frames φ was fitted on
    report.json                  held-out explained variance / reconstruction error, sampler stats
    stage.json                   resolved config, input hashes (teacher store, manifest), counts
    targets-00000.npy ...        after ``apply``: float32 [n, d] shards aligned with the store
    targets_index.json           shard list with each shard's size and hashes, reducer sha256 and store fingerprint

A target set is read only while it matches its inputs: ``reducer.npz`` and ``sample_indices.npy``
must match the sizes and hashes its ``stage.json`` recorded, and the teacher store must be the one it
was fitted on (a re-extracted store needs a refit). Applied shards are used only when
``targets_index.json`` names this reducer and this store and every shard matches its record;
otherwise targets are projected on the fly from the store.

Examples
--------
>>> t = open_targets(run_dir, "pca64_spl")
>>> t.read(np.arange(8)).shape
(8, 64)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .. import integrity
from ..errors import ManifestError, ParameterError
from ..layout import RunLayout
from ..runs import input_hash, require_stage
from ..store import FrameStore
from ..utils import read_json
from .config import DEFAULT_BATCH_SIZE
from .reducers import load_reducer
from .teacher_store import open_store, read_rows, resolve_teacher_dir

log = logging.getLogger(__name__)

__all__ = [
    "INDEX_NAME",
    "REPORT_NAME",
    "SAMPLE_INDICES_NAME",
    "TargetsReader",
    "load_targets",
    "open_targets",
    "target_spec",
]

SAMPLE_INDICES_NAME = "sample_indices.npy"
REPORT_NAME = "report.json"
INDEX_NAME = "targets_index.json"


def refit_command(run_dir: str | Path, name: str) -> str:
    """The command that rebuilds target set ``name``, for messages."""
    return (
        f"'sea targets fit {run_dir} --overwrite' with the options that made {name!r} "
        "(or 'sea run CONFIG --overwrite targets')"
    )


def fitted_stage(run_dir: str | Path, name: str) -> dict[str, Any]:
    """Return the ``stage.json`` record of a finished, intact target set, or raise saying how to (re)fit it."""
    return require_stage(
        RunLayout(run_dir).targets(name), f"target set {name!r}", f"sea targets fit {run_dir}",
        fix=refit_command(run_dir, name),
    )  # fmt: skip


def check_teacher_unchanged(run_dir: str | Path, name: str, stage: dict[str, Any], teacher_dir: Path) -> str:
    """Return the teacher store's fingerprint, or raise when it changed since target set ``name`` was fitted.

    Raises
    ------
    ManifestError
        The store was re-extracted (its ``stage.json`` fingerprint differs from the one the fit recorded).
    """
    current = input_hash(teacher_dir)
    recorded = (stage.get("inputs") or {}).get("teacher")
    if recorded is not None and recorded != current:
        raise ManifestError(
            f"target set {name!r} was fitted on an earlier version of the teacher store {str(teacher_dir)!r} "
            f"(re-extracted since); its reduction no longer matches the frames: refit it with {refit_command(run_dir, name)}"
        )
    return current


def teacher_dir_of(run_dir: str | Path, stage: dict[str, Any]) -> Path:
    """Return the teacher store a target set was fitted on, from its ``stage.json`` record."""
    return resolve_teacher_dir(run_dir, stage.get("config", {}).get("teacher", "auto"))


def load_targets(run_dir: str | Path, name: str) -> tuple[Any, FrameStore]:
    """Load a fitted target set.

    Parameters
    ----------
    run_dir : path
        The run that holds the target set.
    name : str
        The target set's directory name under ``RUN/targets/``.

    Returns
    -------
    reducer : PCAReducer, IdentityReducer or DimSampleReducer
        The fitted reduction φ.
    store : FrameStore
        The teacher frame store it was fitted on.
    """
    run_dir = Path(run_dir)
    stage = fitted_stage(run_dir, name)
    teacher_dir = teacher_dir_of(run_dir, stage)
    check_teacher_unchanged(run_dir, name, stage, teacher_dir)
    return load_reducer(RunLayout(run_dir).reducer(name)), open_store(teacher_dir)


def target_spec(run_dir: str | Path, name: str) -> dict[str, Any]:
    """Describe a target set for student checkpoints (their ``target_spec``).

    Parameters
    ----------
    run_dir : path
        A run where the target set has been fitted.
    name : str
        Which target set.

    Returns
    -------
    spec : dict
        The reducer's :meth:`spec` plus the target set's ``name``, ``teacher`` variant and ``sampler``.
    """
    config = fitted_stage(run_dir, name).get("config", {})
    reducer = load_reducer(RunLayout(run_dir).reducer(name))
    return {**reducer.spec(), "name": name, "teacher": config.get("teacher"), "sampler": config.get("sampler")}


def applied_shards(
    index_path: Path, reducer_sha256: str | None, n_frames: int, store_fingerprint: str | None = None
) -> list[dict[str, Any]] | None:
    """Return the shard list of ``targets_index.json`` when it is current and intact, else None.

    Current: it names this reducer (sha256), this store (fingerprint, when given) and its row count.
    Intact: every shard matches the size and hashes recorded for it (a damaged one is named in a warning).
    """
    if not index_path.is_file():
        return None
    try:
        index = read_json(index_path)
    except (OSError, ValueError):
        log.warning("%s is unreadable; projecting targets on the fly (rerun 'sea targets apply')", index_path)
        return None
    if (
        not isinstance(index, dict)
        or index.get("reducer_sha256") != reducer_sha256
        or index.get("n_frames") != n_frames
    ):
        return None
    if store_fingerprint is not None and index.get("store") != store_fingerprint:
        log.warning(
            "%s: the applied targets belong to an earlier teacher store; projecting on the fly "
            "(rerun 'sea targets apply' to rebuild them)", index_path.parent,
        )  # fmt: skip
        return None
    for s in index.get("shards") or []:
        try:
            integrity.check(index_path.parent / s["file"], s.get("record") or {}, fix="rerun 'sea targets apply'")
        except integrity.DamagedFileError as exc:
            log.warning("%s; projecting targets on the fly", exc)
            return None
    return index["shards"]


class TargetsReader:
    """Projected targets φ(teacher), row-aligned with the teacher frame store.

    Reads the ``apply`` shards when they are up to date, otherwise projects
    store rows on the fly.

    Parameters
    ----------
    run_dir : path
        Where the teacher store and ``targets/<name>`` live.
    name : str
        A fitted target set.

    Attributes
    ----------
    reducer : PCAReducer, IdentityReducer or DimSampleReducer
        The fitted reduction φ.
    store : FrameStore
        The teacher frame store.
    dim : int
        The targets' dimension ``d``.
    n_frames : int
        Rows of the store.
    applied : bool
        True when reads come from up-to-date ``targets-*.npy`` shards.
    """

    def __init__(self, run_dir: str | Path, name: str):
        self.run_dir, self.name = Path(run_dir), name
        self.reducer, self.store = load_targets(run_dir, name)
        self.dim = int(self.reducer.out_dim)
        self.n_frames = int(len(self.store))
        self._shards: list[np.ndarray] = []
        self._starts = np.zeros(0, dtype=np.int64)
        index_path = RunLayout(self.run_dir).targets(name) / INDEX_NAME
        shards = applied_shards(index_path, self.reducer.sha256_, self.n_frames, input_hash(self.store.dir))
        self.applied = shards is not None
        if shards is not None:
            base = index_path.parent
            self._shards = [np.load(base / s["file"], mmap_mode="r", allow_pickle=False) for s in shards]
            self._starts = np.array([s["start"] for s in shards], dtype=np.int64)

    def __len__(self) -> int:
        """Return the number of frames (store rows)."""
        return self.n_frames

    @property
    def spec(self) -> dict[str, Any]:
        """The target set's :func:`target_spec`."""
        return target_spec(self.run_dir, self.name)

    def read(self, indices) -> np.ndarray:
        """Return the targets of store rows ``indices``, in the given order.

        Parameters
        ----------
        indices : array-like of int [shape=(k,)]
            Store rows in ``[0, n_frames)``.

        Returns
        -------
        targets : np.ndarray [shape=(k, d), dtype=float32]
            One row per index.
        """
        indices = np.asarray(indices, dtype=np.int64)
        if indices.size and (indices.min() < 0 or indices.max() >= self.n_frames):
            raise ParameterError(
                f"target indices must be in [0, {self.n_frames}), got {int(indices.min())}..{int(indices.max())}"
            )
        out = np.empty((indices.size, self.dim), dtype=np.float32)
        if not self.applied:
            order = np.argsort(indices, kind="stable")
            out[order] = self.reducer.transform(read_rows(self.store, indices[order]))
            return out
        shard = np.searchsorted(self._starts, indices, side="right") - 1
        for s in np.unique(shard):
            m = shard == s
            out[m] = self._shards[s][indices[m] - self._starts[s]]
        return out

    def iter_batches(self, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(start, targets)`` over all frames in store order.

        Parameters
        ----------
        batch_size : int > 0
            Rows per batch.

        Yields
        ------
        start : int
            The batch's first store row.
        targets : np.ndarray [shape=(b, d), dtype=float32]
            Targets of rows ``start .. start + b - 1``.
        """
        for start in range(0, self.n_frames, batch_size):
            yield start, self.read(np.arange(start, min(self.n_frames, start + batch_size)))


def open_targets(run_dir: str | Path, name: str) -> TargetsReader:
    """Open ``RUN/targets/<name>`` for reading (the distill stage's entry point).

    Parameters
    ----------
    run_dir : path
        A run with a teacher store and fitted target sets.
    name : str
        The target set to read.

    Returns
    -------
    reader : TargetsReader
        Targets of every store frame, read from the applied shards or projected on the fly.
    """
    return TargetsReader(run_dir, name)
