"""Rendering rows of dicts as a text table, Markdown, JSON or CSV.

Shared by :func:`~keras_classics.inspect.summary`, ``compare`` and the model
list, so every table of the inspector reads the same way.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

FORMATS = ("table", "markdown", "json", "csv")


@dataclass(frozen=True)
class Column:
    """One column: the row key, its header and how a value is shown in a text table."""

    key: str
    header: str
    show: Callable[[Any], str] = None  # default: str(), "" for None
    align: str = ">"  # ">" numbers, "<" text
    cell: Callable[[dict], str] = None  # the text cell from the whole row (instead of ``show``)


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"Unknown format {fmt!r}. Accepted: {', '.join(FORMATS)}.")
    return fmt


# --- value formatters -------------------------------------------------------


def count(v) -> str:
    """``1234567`` → ``"1,234,567"``; ``None`` → ``"-"``."""
    return "-" if v is None else f"{int(v):,}"


def human(v) -> str:
    """Multiply-adds and other large counts: ``1_814_073_344`` → ``"1.81G"``."""
    if v is None:
        return "-"
    v = float(v)
    if v == 0:
        return "0"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(v) >= scale:
            return f"{v / scale:.3g}{unit}" if abs(v) / scale < 100 else f"{v / scale:.0f}{unit}"
    return f"{v:.0f}"


def percent(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def ratio(v) -> str:
    if v is None:
        return "-"
    if v == 0:
        return "0"
    return f"{v:.3g}x" if v >= 0.01 else f"1/{1 / v:.0f}"


def error(v) -> str:
    return "-" if v is None else f"{v:.1f}%"


def shape(v) -> str:
    if v is None:
        return ""
    if v and isinstance(v[0], (tuple, list)):
        return " ".join(shape(s) for s in v)
    return "x".join("?" if d is None else str(d) for d in v)


def window(v) -> str:
    """A kernel, stride or receptive field: ``(3, 3)`` → ``"3x3"``; ``(2, 2)`` → ``"2"`` for strides."""
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, (tuple, list)):
        return str(v[0]) if len(set(v)) == 1 else "x".join(str(d) for d in v)
    return str(v)


def plain(v) -> str:
    return "" if v is None else str(v)


# --- renderers --------------------------------------------------------------


def _json_default(v):
    if isinstance(v, tuple):
        return list(v)
    if hasattr(v, "item"):  # numpy scalars
        return v.item()
    raise TypeError(f"Object of type {type(v).__name__} is not JSON serializable")


def _csv_value(v):
    if v is None:
        return ""
    if isinstance(v, (tuple, list)):
        return "x".join("?" if d is None else str(d) for d in v)
    if isinstance(v, float):
        return "" if math.isnan(v) else repr(v)
    return v


def render(
    rows: Sequence[dict],
    columns: Sequence[Column],
    fmt: str = "table",
    *,
    totals: dict | None = None,
    title: str | None = None,
    footer: Sequence[str] = (),
    extra: dict | None = None,
) -> str:
    """Render ``rows`` (dicts) in ``fmt``.

    Args:
        rows: one dict per row; keys not in ``columns`` are kept in JSON only.
        columns: the columns of the text formats and of CSV, in order.
        fmt: ``"table"``, ``"markdown"``, ``"json"`` or ``"csv"``.
        totals: a last row (text formats, CSV) and a ``"totals"`` object (JSON).
        title: a heading line for the text formats.
        footer: lines printed under the text formats.
        extra: additional top-level JSON members.
    """
    check_format(fmt)
    if fmt == "json":
        doc = {"rows": list(rows)}
        if totals is not None:
            doc["totals"] = totals
        if extra:
            doc.update(extra)
        return json.dumps(doc, indent=2, default=_json_default)
    all_rows = list(rows) + ([totals] if totals is not None else [])
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow([c.key for c in columns])
        for row in all_rows:
            writer.writerow([_csv_value(row.get(c.key)) for c in columns])
        return buf.getvalue().rstrip("\n")
    cells = [[c.header for c in columns]]
    for row in all_rows:
        cells.append([c.cell(row) if c.cell else (c.show or plain)(row.get(c.key)) for c in columns])
    if fmt == "markdown" and totals is not None:
        cells[-1] = [f"**{v}**" if v else v for v in cells[-1]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = []
    if fmt == "markdown":
        if title:
            lines += [f"**{title}**", ""]
        lines.append("| " + " | ".join(h.ljust(w) for h, w in zip(cells[0], widths)) + " |")
        lines.append("|" + "|".join(("-" * (w + 1) + ":") if c.align == ">" else (":" + "-" * (w + 1))
                                    for c, w in zip(columns, widths)) + "|")
        for r in cells[1:]:
            lines.append("| " + " | ".join(_align(v, w, c.align) for v, w, c in zip(r, widths, columns)) + " |")
        if footer:
            lines.append("")
            lines += list(footer)
        return "\n".join(lines)
    # plain text table
    if title:
        lines.append(title)
    head = "  ".join(_align(h, w, c.align) for h, w, c in zip(cells[0], widths, columns))
    rule = "-" * len(head)
    lines += [head, rule]
    for i, r in enumerate(cells[1:]):
        if totals is not None and i == len(cells) - 2:
            lines.append(rule)
        lines.append("  ".join(_align(v, w, c.align) for v, w, c in zip(r, widths, columns)).rstrip())
    lines += list(footer)
    return "\n".join(lines)


def _align(v: str, width: int, align: str) -> str:
    return v.rjust(width) if align == ">" else v.ljust(width)
