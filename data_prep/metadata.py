"""Metadata CSVs of the datasets, read by column name, with errors that name the file, row and column."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from sea.errors import DatasetError

__all__ = ["parse_float", "parse_int", "read_csv_columns"]


def read_csv_columns(path: Path, required: Sequence[str | tuple[str, ...]], *, what: str) -> tuple[list[dict], dict]:
    """Read a CSV by column name.

    Parameters
    ----------
    path : Path
    required : sequence of str or tuple of alternative names
        Columns that must be present; a tuple accepts any one of its names
        (e.g. ``("class", "class_name")``).
    what : str
        Dataset name used in error messages.

    Returns
    -------
    rows : list of dict
        One mapping of header name to cell per data row.
    names : dict
        Maps each required entry (its first name) to the header name found.

    Raises
    ------
    DatasetError
        Missing file, empty file or missing column (the message lists the columns found).
    """
    if not path.is_file():
        raise DatasetError(f"{what}: metadata file {str(path)!r} does not exist; check that RAW_DIR is the {what} root")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        reader.fieldnames = header
        rows = list(reader)
    if not header:
        raise DatasetError(f"{what}: {str(path)!r} is empty; expected a header row")
    names = {}
    for req in required:
        alts = (req,) if isinstance(req, str) else tuple(req)
        found = next((a for a in alts if a in header), None)
        if found is None:
            want = " or ".join(repr(a) for a in alts)
            raise DatasetError(f"{what}: {str(path)!r} has no column {want}; columns found: {', '.join(header)}")
        names[alts[0]] = found
    return rows, names


def parse_int(value: str, *, column: str, path: Path, row: int) -> int:
    """Parse an integer cell (``"3"`` or ``"3.0"``).

    Parameters
    ----------
    value : str
    column : str
    path : Path
    row : int
        1-based line number, for the error message.

    Returns
    -------
    value : int

    Raises
    ------
    DatasetError
        The cell is not an integer.
    """
    try:
        f = float(str(value).strip())
        if not f.is_integer():
            raise ValueError
        return int(f)
    except ValueError:
        raise DatasetError(f"{str(path)!r} row {row}: column {column!r}={value!r} is not an integer") from None


def parse_float(value: str, *, column: str, path: Path, row: int) -> float:
    """Parse a number cell.

    Parameters
    ----------
    value : str
    column, path, row : str, Path, int
        Only for the error message (``row`` is the 1-based line number).

    Returns
    -------
    value : float

    Raises
    ------
    DatasetError
        The cell is not a number.
    """
    try:
        return float(str(value).strip())
    except ValueError:
        raise DatasetError(f"{str(path)!r} row {row}: column {column!r}={value!r} is not a number") from None
