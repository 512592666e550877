"""The clip manifest: ``clips.jsonl``, one JSON object per clip.

Fields (schema 1): ``clip_id``, ``path`` (relative to the manifest, or absolute
for external raw data), ``duration`` (s), ``sr``, ``channels``, ``label`` (str,
list of str for multi-label, or None for unlabeled audio), ``label_id`` (int,
list of int, or None), ``fold`` (int or None), ``split`` ("train", "validate",
"test" or None), ``md5`` and ``schema``. Dataset-specific extras go into ``meta``;
the keys later stages read:

``meta.group``
    Recording the clip was cut from (UrbanSound8K ``fsID``, ESC-50 ``src_file``): grouped
    cross-validation keeps a group on one side of every split.
``meta.sensor_id``, ``meta.date``, ``meta.timestamp``
    Sensor, local calendar date (ISO ``YYYY-MM-DD``) and start time (ISO 8601) of a sensor
    recording (SONYC-UST, or a folder CSV's ``sensor_id``/``timestamp`` columns): the targets
    stage's ``day`` buckets are (sensor, date) and its SPL windows run over time stamps.

A line that is not a valid record (bad JSON, a wrong type, a missing field) is a
:class:`~sea.errors.ManifestError` naming the file and the line.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .constants import VALID_SPLITS as _VALID_SPLITS
from .errors import ManifestError
from .utils import atomic_path

SCHEMA_VERSION = 1
MANIFEST_NAME = "clips.jsonl"
VALID_SPLITS = _VALID_SPLITS  # re-exported for readers of the manifest

__all__ = ["ClipRecord", "MANIFEST_NAME", "SCHEMA_VERSION", "read_manifest", "write_manifest", "resolve_path"]


# field -> (allowed JSON types, what the message calls them); label and label_id may be lists of these
_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "clip_id": ((str,), "a string"),
    "path": ((str,), "a string"),
    "duration": ((int, float), "a number"),
    "sr": ((int,), "an integer"),
    "channels": ((int,), "an integer"),
    "label": ((str, type(None)), "a string, a list of strings or null"),
    "label_id": ((int, type(None)), "an integer, a list of integers or null"),
    "fold": ((int, type(None)), "an integer or null"),
    "split": ((str, type(None)), "a string or null"),
    "md5": ((str, type(None)), "a string or null"),
    "meta": ((dict,), "an object"),
    "schema": ((int,), "an integer"),
}


def _type_error(d: dict[str, Any]) -> str | None:
    """The first field of ``d`` whose value has the wrong JSON type, described; None if all are right."""
    for name, (types, what) in _TYPES.items():
        if name not in d:
            continue
        v = d[name]
        items = v if name in ("label", "label_id") and isinstance(v, list) else [v]
        if any(isinstance(x, bool) or not isinstance(x, types) or (x is None and isinstance(v, list)) for x in items):
            return f"{name}={v!r} must be {what}"
    return None


@dataclass(frozen=True)
class ClipRecord:
    """One clip of a prepared dataset (see the module docstring for the fields)."""

    clip_id: str
    path: str
    duration: float
    sr: int
    channels: int
    label: str | list[str] | None = None
    label_id: int | list[int] | None = None
    fold: int | None = None
    split: str | None = None
    md5: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    schema: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, where: str = "manifest") -> ClipRecord:
        """Build a record from its JSON object, checking field names and types.

        Parameters
        ----------
        d : dict
            One parsed manifest line.
        where : str
            ``file:line``, for the messages.

        Returns
        -------
        record : ClipRecord

        Raises
        ------
        ManifestError
            Not an object, missing or unknown fields, a value of the wrong type, an unknown split or a newer schema.
        """
        if not isinstance(d, dict):
            raise ManifestError(f"{where}: expected a JSON object (one clip record), got {type(d).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        required = ("clip_id", "path", "duration", "sr", "channels")
        missing = [k for k in required if k not in d]
        if missing:
            raise ManifestError(f"{where}: missing required field(s) {missing}; required are {list(required)}")
        unknown = sorted(set(d) - names)
        if unknown:
            raise ManifestError(f"{where}: unknown field(s) {unknown}; valid fields are {sorted(names)}")
        wrong = _type_error(d)
        if wrong:
            raise ManifestError(f"{where}: {wrong}; rebuild the manifest with 'sea data prepare ... --overwrite'")
        if d.get("schema", SCHEMA_VERSION) > SCHEMA_VERSION:
            raise ManifestError(
                f"{where}: schema {d['schema']} is newer than this sea supports ({SCHEMA_VERSION}); upgrade sea"
            )
        if d.get("split") not in (None, *VALID_SPLITS):
            raise ManifestError(f"{where}: split={d['split']!r} must be one of {VALID_SPLITS} or null")
        return cls(**d)

    @property
    def is_labeled(self) -> bool:
        """True when the clip has a label (a class name or a list of them, possibly empty)."""
        return self.label is not None


def write_manifest(records: Iterable[ClipRecord], path: str | Path) -> Path:
    """Write records to a JSONL manifest atomically.

    Parameters
    ----------
    records : iterable of ClipRecord
    path : path
        The manifest file, or a run directory (then ``<dir>/clips.jsonl``).

    Returns
    -------
    path : Path
        The file written.
    """
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            for r in records:
                fh.write(json.dumps(r.to_dict(), sort_keys=False) + "\n")
    return path


def read_manifest(path: str | Path) -> list[ClipRecord]:
    """Read a manifest file, or ``<run_dir>/clips.jsonl`` when given a directory.

    Parameters
    ----------
    path : path

    Returns
    -------
    records : list of ClipRecord
        In file order.

    Raises
    ------
    ManifestError
        No manifest, or a line that is not a valid record (the message names the file and line).
    """
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    if not path.is_file():
        raise ManifestError(f"no clip manifest at {str(path)!r}; run 'sea data prepare' or 'sea data synth' first")
    records = []
    seen: set[str] = set()
    try:
        with open(path, "rb") as fh:  # bytes: a line of binary garbage is named, not a UnicodeDecodeError
            for lineno, raw in enumerate(fh, 1):
                if raw.strip():
                    r = ClipRecord.from_dict(_parse_line(raw, f"{path}:{lineno}"), where=f"{path}:{lineno}")
                    if r.clip_id in seen:
                        raise ManifestError(
                            f"{path}:{lineno}: duplicate clip_id {r.clip_id!r}; clip ids must be unique"
                        )
                    seen.add(r.clip_id)
                    records.append(r)
    except OSError as exc:
        raise ManifestError(f"cannot read manifest {str(path)!r}: {exc.strerror or exc}") from None
    return records


def _parse_line(raw: bytes, where: str) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ManifestError(f"{where}: not UTF-8 text (binary garbage?); rebuild it with 'sea data prepare'") from None
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{where}: not valid JSON ({exc.msg}); rebuild it with 'sea data prepare'") from None
    except RecursionError:
        raise ManifestError(f"{where}: not a clip record (nested too deeply)") from None


def resolve_path(record: ClipRecord, manifest_dir: str | Path) -> Path:
    """Absolute path of a record's audio file.

    Parameters
    ----------
    record : ClipRecord
    manifest_dir : path
        The folder holding the manifest (relative paths are relative to it).

    Returns
    -------
    path : Path
    """
    p = Path(record.path)
    return p if p.is_absolute() else Path(manifest_dir) / p
