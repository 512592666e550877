"""When a sensor recording was made: calendar dates and ISO 8601 time stamps for the manifest.

The targets stage buckets frames by (sensor, calendar date) and runs its SPL windows over
time stamps, so the preparers write ``meta.date`` (``YYYY-MM-DD``) and ``meta.timestamp``
(``YYYY-MM-DDTHH:MM:SS``, with the UTC offset when the source gives one) for every clip whose
recording time is known:

* SONYC-UST v2.x gives ``year``, ``week`` (week of the year), ``day`` (0 = Monday ... 6 = Sunday)
  and ``hour`` (0-23, local New York time, quantised to the hour). :func:`week_numbering` decides
  how ``week`` counts from the data itself, :func:`sonyc_date` turns a row into a date.
* A folder's CSV may give a ``timestamp`` column in ISO 8601 (:func:`parse_timestamp`).

Clips without time metadata get neither key; the targets stage then falls back to clip buckets
with a warning.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

from sea.errors import DatasetError

__all__ = ["ISO", "MONDAY_WEEKS", "parse_timestamp", "sonyc_date", "time_meta", "week_numbering"]

#: ``week`` is the ISO 8601 week number (1-53; week 1 holds the year's first Thursday).
ISO = "iso"
#: ``week`` counts Monday-started weeks, week 0 being the days before the year's first Monday (``strftime('%W')``).
MONDAY_WEEKS = "monday"


def week_numbering(weeks: Iterable[int | None]) -> tuple[str, dict[str, int], str]:
    """Decide how a SONYC-UST file numbers its weeks, from the week numbers it holds.

    ISO 8601 weeks run 1-53 and have no week 0; Monday-started ``%W`` weeks run 0-53. A file with a
    week 0 therefore counts ``%W`` weeks; any other file is read as ISO weeks (the SONYC team's own
    code uses ISO weeks, and the DCASE 2020 baseline one-hot encodes ``week - 1``, i.e. 1-based weeks).

    Parameters
    ----------
    weeks : iterable of int or None
        The ``week`` value of every row (None where empty).

    Returns
    -------
    numbering : str
        :data:`ISO` or :data:`MONDAY_WEEKS`.
    counts : dict of str -> int
        ``n_rows_with_week``, ``n_week_0``, ``n_week_53``.
    note : str
        The counts behind the decision, for the data report.
    """
    values = [w for w in weeks if w is not None]
    n0, n53 = sum(w == 0 for w in values), sum(w == 53 for w in values)
    numbering = MONDAY_WEEKS if n0 else ISO
    rule = "Monday-started weeks from 0 (strftime %W)" if n0 else "ISO 8601 weeks"
    counts = {"n_rows_with_week": len(values), "n_week_0": n0, "n_week_53": n53}
    return (
        numbering,
        counts,
        (
            f"SONYC-UST week numbering: {rule}, decided from the data ({len(values)} rows with a week: "
            f"{n0} with week 0, {n53} with week 53)"
        ),
    )


def sonyc_date(year: int, week: int, weekday: int, numbering: str = ISO) -> dt.date | None:
    """The calendar date of a SONYC-UST ``(year, week, day)``; None when no date of ``year`` matches.

    Parameters
    ----------
    year : int
        Calendar year of the recording.
    week : int
        Week of the year, numbered as ``numbering`` says.
    weekday : int
        0 = Monday ... 6 = Sunday (the dataset's ``day`` column).
    numbering : str
        :data:`ISO` or :data:`MONDAY_WEEKS` (see :func:`week_numbering`).

    Returns
    -------
    date : datetime.date or None
        For ISO weeks, the date whose ISO week and weekday match and whose *calendar* year is ``year``
        (30 December 2019 is ISO week 1 of 2020 but lies in 2019, so ``(2019, 1, 0)`` is that
        Monday); None when there is none (e.g. week 53 of a 52-week year) or a value is out of range.
    """
    if not 0 <= weekday <= 6:
        return None
    if numbering == MONDAY_WEEKS:
        try:
            d = dt.datetime.strptime(f"{year} {week} {(weekday + 1) % 7}", "%Y %W %w").date()
        except ValueError:
            return None
        return d if d.year == year else None
    for iso_year in (year, year + 1, year - 1):
        try:
            d = dt.date.fromisocalendar(iso_year, week, weekday + 1)
        except ValueError:
            continue
        if d.year == year:
            return d
    return None


def time_meta(date: dt.date | None, hour: int | None = None) -> dict[str, str]:
    """``{"date", "timestamp"}`` for the manifest (empty without a date, no timestamp without an hour).

    Parameters
    ----------
    date : datetime.date or None
    hour : int or None
        0-23; another value leaves the time stamp out.

    Returns
    -------
    meta : dict of str
    """
    if date is None:
        return {}
    out = {"date": date.isoformat()}
    if hour is not None and 0 <= hour <= 23:
        out["timestamp"] = dt.datetime(date.year, date.month, date.day, hour).isoformat()
    return out


def parse_timestamp(value: str, *, path: Path, row: int) -> dt.datetime:
    """Parse an ISO 8601 time stamp from a CSV cell (``2019-03-04T13:00:00``, ``...Z``, ``...+01:00``).

    Parameters
    ----------
    value : str
    path : Path
        The CSV, for the message.
    row : int
        Its 1-based line number, for the message.

    Returns
    -------
    timestamp : datetime.datetime
        Naive when the cell has no UTC offset.

    Raises
    ------
    DatasetError
        Not an ISO 8601 date-time, naming the file, row and value.
    """
    text = str(value).strip()
    try:
        if len(text) < 10:
            raise ValueError
        return dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise DatasetError(
            f"{str(path)!r} row {row}: timestamp={text!r} is not an ISO 8601 date-time "
            "(e.g. 2019-03-04T13:05:00 or 2019-03-04T13:05:00+01:00)"
        ) from None
