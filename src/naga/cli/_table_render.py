"""The formats of ``naga ls --table``: aligned text, markdown, CSV, JSON and rich on a terminal.

A :class:`Table` holds raw values; :func:`cell_text` is how a value is shown (``-`` for none,
durations as ``1m05s``, short floats), while CSV and JSON keep the raw values (durations in
seconds). Rich is imported only by :func:`print_rich`, when the table is printed to a terminal.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

from naga.cli._table_query import is_number

__all__ = [
    "Table",
    "cell_text",
    "print_rich",
    "render_csv",
    "render_json",
    "render_markdown",
    "render_text",
]

_STYLES = {
    "done": "green",
    "fresh": "green",
    "failed": "red",
    "died": "red",
    "unreadable": "red",
    "timeout": "red",
    "running": "cyan",
    "requeued": "cyan",
    "stale": "yellow",
    "interrupted": "yellow",
}


class Table:
    """The columns and the rows' raw values (``None`` where a run has no value)."""

    def __init__(self, columns: list[str], rows: list[list[Any]]) -> None:
        self.columns = columns
        self.rows = rows


def cell_text(value: Any, column: str = "") -> str:
    """A value as a table shows it: ``-`` for none, durations as ``1m05s``, short floats."""
    if value is None:
        return "-"
    if column == "duration" and is_number(value):
        return _duration(float(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        text = f"{value:.6g}"
        return text + ".0" if text.lstrip("-").isdigit() else text  # 1.0, not the int 1
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"), default=str)
    return str(value)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def _numeric(table: Table, index: int) -> bool:
    values = [row[index] for row in table.rows if row[index] is not None]
    return bool(values) and all(is_number(v) for v in values)


def render_text(table: Table) -> str:
    """Plain aligned columns, numbers to the right: for pipes, files and logs."""
    cells = [table.columns] + [
        [cell_text(v, c) for v, c in zip(row, table.columns, strict=True)] for row in table.rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(table.columns))]
    right = [_numeric(table, i) for i in range(len(table.columns))]
    lines = []
    for line in cells:
        parts = [
            cell.rjust(w) if r else cell.ljust(w)
            for cell, w, r in zip(line, widths, right, strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines) + "\n"


def render_markdown(table: Table) -> str:
    """A GitHub markdown table."""

    def esc(text: str) -> str:
        return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")

    rule = ["---:" if _numeric(table, i) else "---" for i in range(len(table.columns))]
    lines = [
        "| " + " | ".join(esc(c) for c in table.columns) + " |",
        "| " + " | ".join(rule) + " |",
    ]
    for row in table.rows:
        cells = [esc(cell_text(v, c)) for v, c in zip(row, table.columns, strict=True)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _machine(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def render_csv(table: Table) -> str:
    """CSV with raw values: durations in seconds, lists and mappings as JSON, nothing as empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow(
            [
                ""
                if v is None
                else json.dumps(v, default=str)
                if isinstance(v, (list, dict))
                else cell_text(v)
                if isinstance(v, bool)
                else _machine(v)
                for v in row
            ]
        )
    return out.getvalue()


def render_json(table: Table) -> str:
    """A JSON list of ``{column: raw value}``: durations in seconds, ``null`` when absent."""
    rows = [{c: _machine(v) for c, v in zip(table.columns, row, strict=True)} for row in table.rows]
    return json.dumps(rows, indent=2, default=str) + "\n"


def print_rich(table: Table) -> None:
    """The table on a terminal, with rich (imported here only)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table as RichTable
    from rich.text import Text

    shown = RichTable(box=box.SIMPLE_HEAD, header_style="bold")
    for i, column in enumerate(table.columns):
        shown.add_column(column, justify="right" if _numeric(table, i) else "left")
    for row in table.rows:
        cells = []
        for value, column in zip(row, table.columns, strict=True):
            text = cell_text(value, column)
            style = _STYLES.get(text, "") if column in ("status", "fresh") else ""
            cells.append(Text(text, style=style))
        shown.add_row(*cells)
    Console().print(shown)
