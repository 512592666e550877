"""Run directories and stage bookkeeping (``stage.json``).

A stage writes its outputs into a directory of the run and, last, a
``stage.json`` with the resolved config, the hashes of its inputs, the sea
version, timings and counts. ``stage.json`` with ``status: "done"`` is the
only proof that a stage finished: a later run with the same config and the
same input hashes skips the stage; a changed config or input reruns it.

Examples
--------
>>> stage = Stage(run_dir / "teacher" / "mel256_music_512", "teacher", config, inputs={"clips": run_dir / "clips.jsonl"})
>>> if not stage.is_done():
...     with stage.running():
...         ...  # write outputs
...         stage.counts["n_frames"] = n
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import integrity
from .config import config_hash, config_to_dict
from .errors import ManifestError
from .layout import STAGE_FILE
from .utils import read_json, sha256_file, write_json

log = logging.getLogger(__name__)

__all__ = ["STAGE_FILE", "Stage", "input_hash", "read_stage", "require_stage", "verify_stage"]


def input_hash(path: str | Path) -> str:
    """Hash identifying an input: a file's sha256, or a stage dir's stage.json fingerprint.

    Hashing an upstream ``stage.json`` (its config and input hashes, not its
    timings) chains stages cheaply: large outputs are never re-read.
    """
    path = Path(path)
    if path.is_dir():
        stage_file = path / STAGE_FILE
        if stage_file.is_file():
            s = read_json(stage_file)
            key = {k: s.get(k) for k in ("stage", "config_hash", "inputs", "version", "counts")}
            import json

            return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
        raise ManifestError(f"input directory {str(path)!r} has no {STAGE_FILE}; its stage has not finished")
    if path.is_file():
        return sha256_file(path)[:16]
    raise ManifestError(f"input {str(path)!r} does not exist")


def read_stage(stage_dir: str | Path) -> dict[str, Any] | None:
    """The ``stage.json`` of a stage directory, or None when there is none.

    Raises
    ------
    ManifestError
        The file exists but is not a JSON object (truncated, overwritten by hand...).
    """
    f = Path(stage_dir) / STAGE_FILE
    if not f.is_file():
        return None
    try:
        record = read_json(f)
    except (OSError, ValueError) as exc:
        raise ManifestError(
            f"{str(f)!r} is damaged ({type(exc).__name__}: {str(exc)[:80]}); delete it and rerun its stage "
            "(with --overwrite) to rebuild that stage's outputs"
        ) from None
    if not isinstance(record, dict):
        raise ManifestError(f"{str(f)!r} is not a stage record (a JSON object); delete it and rerun its stage")
    return record


def verify_stage(stage_dir: str | Path, record: dict[str, Any] | None = None, *, fix: str) -> None:
    """Check every artifact a finished stage recorded (cheap check; full sha256 under ``--verify``).

    Parameters
    ----------
    stage_dir : path
        The stage's output directory.
    record : dict, optional
        Its ``stage.json`` if already read.
    fix : str
        The command that rebuilds the stage, for the message.

    Raises
    ------
    DamagedFileError
        One line naming the first damaged file and the fix.
    """
    record = read_stage(stage_dir) if record is None else record
    for rel, rec in ((record or {}).get("files") or {}).items():
        integrity.check(Path(stage_dir) / rel, rec, fix=fix)


def require_stage(stage_dir: str | Path, what: str, command: str, *, fix: str | None = None) -> dict[str, Any]:
    """Return a finished stage's record, its artifacts checked, or raise a ManifestError naming the command to run.

    Parameters
    ----------
    stage_dir : path
        The upstream stage's directory.
    what : str
        What the stage produces, for the message ("teacher frames").
    command : str
        The command that runs the stage.
    fix : str, optional
        The command that rebuilds damaged outputs (default: ``command`` with ``--overwrite``).
    """
    s = read_stage(stage_dir)
    if not s or s.get("status") != "done":
        raise ManifestError(f"{what} not found in {str(stage_dir)!r} (no finished {STAGE_FILE}); run '{command}' first")
    verify_stage(stage_dir, s, fix=fix or f"{command} --overwrite")
    return s


class Stage:
    """Bookkeeping of one stage's output directory.

    Parameters
    ----------
    out_dir : path
        The stage's output directory (created on demand).
    name : str
        Stage name, e.g. "prepare", "teacher", "targets", "distill".
    config : dataclass or dict
        The resolved config.
    inputs : dict[str, path]
        Input files or upstream stage directories, hashed with :func:`input_hash`.
    """

    def __init__(self, out_dir: str | Path, name: str, config: Any, inputs: dict[str, str | Path] | None = None):
        from ._version import __version__

        self.out_dir = Path(out_dir)
        self.name = name
        self.config = config
        self.inputs = {k: str(v) for k, v in (inputs or {}).items()}
        self.version = __version__
        self.counts: dict[str, Any] = {}
        self.extra: dict[str, Any] = {}
        self.artifacts: list[Path] = []

    def track(self, *paths: str | Path) -> None:
        """Record these output files (size and hashes) in ``stage.json`` when the stage finishes.

        Later reads and "up to date" checks compare the files with the record, so a truncated or
        altered output is found and named instead of trusted.
        """
        self.artifacts.extend(Path(p) for p in paths)

    @property
    def path(self) -> Path:
        return self.out_dir / STAGE_FILE

    def _config_dict(self) -> dict[str, Any]:
        return self.config if isinstance(self.config, dict) else config_to_dict(self.config)

    def _config_hash(self) -> str:
        if isinstance(self.config, dict):
            import json

            return hashlib.sha256(json.dumps(self.config, sort_keys=True, default=str).encode()).hexdigest()[:16]
        return config_hash(self.config)

    def input_hashes(self) -> dict[str, str]:
        return {k: input_hash(v) for k, v in self.inputs.items()}

    def is_done(self) -> bool:
        """True when a finished stage.json matches this config and these inputs."""
        s = read_stage(self.out_dir)
        if not s or s.get("status") != "done":
            return False
        if s.get("config_hash") != self._config_hash():
            log.info("%s: config changed since the last run; rerunning", self.name)
            return False
        try:
            current = self.input_hashes()
        except ManifestError:
            return False
        if s.get("inputs") != current:
            log.info("%s: inputs changed since the last run; rerunning", self.name)
            return False
        try:
            verify_stage(self.out_dir, s, fix="rerun the stage")
        except integrity.DamagedFileError as exc:
            log.warning("%s: %s; rerunning the stage", self.name, str(exc).split("; rebuild it")[0])
            return False
        return True

    def previous(self) -> dict[str, Any] | None:
        return read_stage(self.out_dir)

    @contextlib.contextmanager
    def running(self) -> Iterator[Stage]:
        """Mark the stage running; write ``status: done`` only if the body succeeds."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        started = _now()
        t0 = time.perf_counter()
        record = {
            "stage": self.name,
            "status": "running",
            "version": self.version,
            "config": self._config_dict(),
            "config_hash": self._config_hash(),
            "inputs": self.input_hashes(),
            "input_paths": self.inputs,
            "started": started,
        }
        write_json(self.path, record)
        yield self
        record.update(
            status="done",
            finished=_now(),
            seconds=round(time.perf_counter() - t0, 3),
            counts=self.counts,
            **self.extra,
        )
        if self.artifacts:
            record["files"] = {_relative(p, self.out_dir): integrity.record(p) for p in self.artifacts}
        write_json(self.path, record)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def _relative(path: Path, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return str(Path(path).resolve())
