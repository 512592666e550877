"""The clip manifest: ``clips.jsonl``, one JSON object per clip.

Fields (schema 1): ``clip_id``, ``path`` (relative to the manifest, or absolute
for external raw data), ``duration`` (s), ``sr``, ``channels``, ``label`` (str,
list of str for multi-label, or None for unlabeled audio), ``label_id`` (int,
list of int, or None), ``fold`` (int or None), ``split`` ("train", "validate",
"test" or None), ``md5`` and ``schema``. Dataset-specific extras (sensor id,
timestamps, salience...) go into ``meta``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ManifestError
from .utils import atomic_path

SCHEMA_VERSION = 1
MANIFEST_NAME = "clips.jsonl"
VALID_SPLITS = ("train", "validate", "test")

__all__ = ["ClipRecord", "MANIFEST_NAME", "SCHEMA_VERSION", "read_manifest", "write_manifest", "resolve_path"]


@dataclass(frozen=True)
class ClipRecord:
    """One clip of a prepared dataset."""

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
        names = {f.name for f in dataclasses.fields(cls)}
        required = ("clip_id", "path", "duration", "sr", "channels")
        missing = [k for k in required if k not in d]
        if missing:
            raise ManifestError(f"{where}: missing required field(s) {missing}; required are {list(required)}")
        unknown = sorted(set(d) - names)
        if unknown:
            raise ManifestError(f"{where}: unknown field(s) {unknown}; valid fields are {sorted(names)}")
        if d.get("schema", SCHEMA_VERSION) > SCHEMA_VERSION:
            raise ManifestError(
                f"{where}: schema {d['schema']} is newer than this sea supports ({SCHEMA_VERSION}); upgrade sea"
            )
        if d.get("split") not in (None, *VALID_SPLITS):
            raise ManifestError(f"{where}: split={d['split']!r} must be one of {VALID_SPLITS} or null")
        return cls(**d)

    @property
    def is_labeled(self) -> bool:
        return self.label is not None


def write_manifest(records: Iterable[ClipRecord], path: str | Path) -> Path:
    """Write records to a JSONL manifest atomically."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            for r in records:
                fh.write(json.dumps(r.to_dict(), sort_keys=False) + "\n")
    return path


def read_manifest(path: str | Path) -> list[ClipRecord]:
    """Read a manifest file, or ``<run_dir>/clips.jsonl`` when given a directory."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    if not path.is_file():
        raise ManifestError(f"no clip manifest at {str(path)!r}; run 'sea data prepare' or 'sea data synth' first")
    records = []
    seen: set[str] = set()
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ManifestError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
            r = ClipRecord.from_dict(d, where=f"{path}:{lineno}")
            if r.clip_id in seen:
                raise ManifestError(f"{path}:{lineno}: duplicate clip_id {r.clip_id!r}; clip ids must be unique")
            seen.add(r.clip_id)
            records.append(r)
    return records


def resolve_path(record: ClipRecord, manifest_dir: str | Path) -> Path:
    """Absolute path of a record's audio file."""
    p = Path(record.path)
    return p if p.is_absolute() else Path(manifest_dir) / p
