"""Tables for terminals and Markdown reports, rendered in one place.

Every table sea prints or writes (``sea run``'s summary, ``sea data info``,
``sea targets info``, ``sea students list``, evaluation reports, export
footprints) goes through :func:`render_table`, and every size or count in
them through :func:`fmt_bytes` / :func:`fmt_count`, so units and layout
agree everywhere.

Examples
--------
>>> print(render_table(["model", "MACs"], [["sea_mcu_s", "5.5 M"]], style="text", align="<>"))
model      MACs
sea_mcu_s  5.5 M
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["fmt_bytes", "fmt_count", "fmt_float", "render_table"]


def fmt_bytes(n: float | None) -> str:
    """Bytes in binary units (KiB = 1024 B, MiB, GiB), or ``-`` for None; sea's one unit convention."""
    if n is None:
        return "-"
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def fmt_count(n: float | None) -> str:
    """A count with a decimal suffix (``5.52 M``), or ``-`` for None."""
    if n is None:
        return "-"
    n = float(n)
    for div, suf in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.2f} {suf}"
    return f"{n:.0f}"


def fmt_float(v: Any, spec: str = ".3f") -> str:
    """``format(v, spec)`` for numbers, ``str(v)`` otherwise, ``-`` for None."""
    if v is None:
        return "-"
    if isinstance(v, float):
        return format(v, spec)
    return str(v)


def render_table(
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    style: str = "markdown",
    align: str | None = None,
) -> str:
    """Render rows under a header.

    Parameters
    ----------
    header : sequence of str, length C
    rows : sequence of sequences, each of length C
        Cells are converted with ``str``.
    style : "markdown" or "text"
        ``markdown``: ``| a | b |`` lines under a ``|---|`` rule. ``text``:
        columns padded to their widest cell and separated by two spaces.
    align : str of length C, optional
        Per column ``<`` (left, the default) or ``>`` (right); text style only.

    Returns
    -------
    table : str
        The lines joined by newlines, without a trailing newline.
    """
    cells = [[str(c) for c in r] for r in rows]
    if style == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in cells]
        return "\n".join(lines)
    if style != "text":
        raise ValueError(f"style={style!r} must be 'markdown' or 'text'")
    align = align or "<" * len(header)
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(header)]

    def line(values: Sequence[str]) -> str:
        padded = [v.rjust(w) if a == ">" else v.ljust(w) for v, w, a in zip(values, widths, align)]
        return "  ".join(padded).rstrip()

    return "\n".join([line(list(header))] + [line(r) for r in cells])
