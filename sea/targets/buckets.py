"""Time buckets of the samplers, and the time of every frame.

A sampler splits its ``n_points`` over *buckets* of candidate frames (SEA §4.2.1: daily timeframes per sensor):

* ``day`` — one bucket per (sensor, calendar date). The date is the manifest's ``meta.date`` (ISO
  ``YYYY-MM-DD``), else the date of ``meta.timestamp``; the sensor is ``meta.sensor_id`` (without one,
  all sensors of a date share the bucket). ``meta.day`` is never read: SONYC-UST's ``day`` column is the
  weekday (0 = Monday), and a year of Mondays is 52 buckets, not one. A clip without a date or a timestamp
  falls back to a bucket of its own (a clip bucket), with a warning; the report records it.
* ``sensor`` — one bucket per ``meta.sensor_id`` (every clip must have one).
* ``clip`` — one bucket per clip.
* ``auto`` — ``day`` when every clip has a date or a timestamp, else ``clip``.

Timestamps (``meta.timestamp``) are read one way: a number is POSIX seconds (UTC); an ISO 8601 string
keeps the zone it carries, and a string without a zone is read as UTC, the same instant a number would
give. A timestamp's date is its calendar date as written (the UTC date for numbers and zone-less strings).

A frame's time is its clip's start (``meta.timestamp``) plus its timestamp within the clip; it orders the
frames of a bucket for the ``spl`` relevance window (2 hours as in the paper).
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ParameterError

__all__ = ["BUCKETS", "Buckets", "clip_date", "clip_start", "frame_times", "make_buckets", "parse_timestamp"]

BUCKETS = ("clip", "sensor", "day", "auto")


def parse_timestamp(value: Any) -> _dt.datetime | None:
    """Read a ``meta.timestamp`` as an aware datetime.

    Parameters
    ----------
    value : int, float, str or None
        POSIX seconds (UTC), or an ISO 8601 string (``Z`` or an offset keeps its zone; no zone = UTC).

    Returns
    -------
    when : datetime or None
        Aware (never naive); None when ``value`` is None, empty, not finite or not a timestamp.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        if not math.isfinite(float(value)):
            return None
        return _dt.datetime.fromtimestamp(float(value), _dt.timezone.utc)
    text = str(value).strip()
    if not text:
        return None
    try:
        when = _dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=_dt.timezone.utc)


def clip_date(meta: dict[str, Any]) -> str | None:
    """Return the calendar date (ISO ``YYYY-MM-DD``) of a clip from ``meta.date`` or ``meta.timestamp``.

    Parameters
    ----------
    meta : dict
        A manifest record's ``meta``.

    Returns
    -------
    date : str or None
        None when the clip has neither (``meta.day``, a weekday in SONYC-UST, is not a date).
    """
    d = meta.get("date")
    if d is not None and str(d).strip():
        try:
            return _dt.date.fromisoformat(str(d).strip()[:10]).isoformat()
        except ValueError:
            return None
    when = parse_timestamp(meta.get("timestamp"))
    return when.date().isoformat() if when is not None else None


def clip_start(meta: dict[str, Any]) -> float | None:
    """Return a clip's start as POSIX seconds from ``meta.timestamp``, or None.

    Parameters
    ----------
    meta : dict
        A manifest record's ``meta``.

    Returns
    -------
    start : float or None
        Seconds since the epoch (UTC).
    """
    when = parse_timestamp(meta.get("timestamp"))
    return when.timestamp() if when is not None else None


@dataclass(frozen=True)
class Buckets:
    """The bucket of every candidate frame.

    Attributes
    ----------
    labels : np.ndarray [shape=(M,), dtype=int64]
        Bucket of each frame, ``0 .. len(keys) - 1``.
    keys : list of str
        Key of each bucket: the clip id, the sensor id, ``"<sensor>|<date>"`` (or the date alone), or
        ``"clip:<id>"`` for a clip without time metadata under ``day``.
    kind : str
        The bucket kind used: ``clip``, ``sensor`` or ``day``.
    fallback_clips : list of str
        Clips bucketed alone because they have no date or timestamp (``day`` only).
    note : str or None
        Why ``auto`` chose what it chose, or None.
    """

    labels: np.ndarray
    keys: list[str]
    kind: str
    fallback_clips: list[str] = field(default_factory=list)
    note: str | None = None

    @property
    def n_buckets(self) -> int:
        """The number of buckets."""
        return len(self.keys)


def make_buckets(
    clip_ids: Sequence[str] | np.ndarray, clip_meta: dict[str, dict[str, Any]] | None, bucket: str = "auto"
) -> Buckets:
    """Assign every candidate frame to a bucket (see the module docstring for the rules).

    Parameters
    ----------
    clip_ids : array [shape=(M,)]
        Clip of each candidate frame.
    clip_meta : dict clip_id -> ClipRecord.meta, or None
        Where ``sensor_id``, ``date`` and ``timestamp`` are looked up.
    bucket : {"clip", "sensor", "day", "auto"}
        The bucket kind asked for.

    Returns
    -------
    buckets : Buckets
        Labels, keys, the kind used and the clips that fell back to clip buckets.

    Raises
    ------
    ParameterError
        For an unknown ``bucket``, or ``sensor`` buckets with a clip that has no ``meta.sensor_id``.
    """
    if bucket not in BUCKETS:
        raise ParameterError(f"bucket={bucket!r} must be one of {BUCKETS}")
    clip_ids = np.asarray(clip_ids).astype(str)
    uniq, inverse = np.unique(clip_ids, return_inverse=True)
    meta = {c: (clip_meta or {}).get(c) or {} for c in uniq}
    dates = {c: clip_date(meta[c]) for c in uniq}
    note = None
    if bucket == "auto":
        missing = [c for c in uniq if dates[c] is None]
        bucket = "day" if uniq.size and not missing else "clip"
        if missing and uniq.size:
            note = f"auto: {len(missing)} of {uniq.size} clips have no meta.date/timestamp (e.g. {missing[0]!r}), so clip buckets"
    if bucket == "clip":
        return Buckets(inverse.astype(np.int64), [str(c) for c in uniq], "clip", note=note)
    keys, fallback = [], []
    for c in uniq:
        sensor = meta[c].get("sensor_id")
        sensor = None if sensor is None or str(sensor).strip() == "" else str(sensor)
        if bucket == "sensor":
            if sensor is None:
                raise ParameterError(
                    f"bucket='sensor' but clip {c!r} has no meta.sensor_id in the manifest; use bucket 'day', 'clip' "
                    "or 'auto'"
                )
            keys.append(sensor)
        elif dates[c] is None:
            fallback.append(str(c))
            keys.append(f"clip:{c}")
        else:
            keys.append(f"{sensor}|{dates[c]}" if sensor is not None else dates[c])
    key_table, key_ids = np.unique(np.asarray(keys, dtype=str), return_inverse=True)
    kind = "clip" if bucket == "day" and len(fallback) == uniq.size else bucket
    return Buckets(key_ids[inverse].astype(np.int64), [str(k) for k in key_table], kind, fallback, note)


def frame_times(
    clip_ids: np.ndarray, timestamps: np.ndarray, clip_meta: dict[str, dict[str, Any]] | None, buckets: Buckets
) -> np.ndarray:
    """Time of every candidate frame: its clip's start plus its timestamp within the clip.

    Parameters
    ----------
    clip_ids : np.ndarray [shape=(M,)]
        Clip of each frame.
    timestamps : np.ndarray [shape=(M,)]
        Frame time within its clip, in seconds.
    clip_meta : dict clip_id -> meta, or None
        Where ``meta.timestamp`` (the clip's start) is looked up.
    buckets : Buckets
        The frames' buckets: a clip alone in its bucket needs no start.

    Returns
    -------
    times : np.ndarray [shape=(M,), dtype=float64]
        POSIX seconds, or seconds from the clip's start when the clip is alone in its bucket; NaN for a
        clip without a start that shares its bucket (its bucket is then ranked as a whole).
    """
    clip_ids = np.asarray(clip_ids).astype(str)
    uniq, inverse = np.unique(clip_ids, return_inverse=True)
    clips_per_bucket = np.bincount(np.unique(np.stack([buckets.labels, inverse]), axis=1)[0])
    alone = clips_per_bucket[buckets.labels] == 1
    starts = np.array([clip_start((clip_meta or {}).get(c) or {}) for c in uniq], dtype=object)
    start = np.array([np.nan if s is None else s for s in starts], dtype=np.float64)[inverse]
    start = np.where(alone & np.isnan(start), 0.0, start)
    return start + np.asarray(timestamps, dtype=np.float64)
