"""Printing for the CLI: JSON for scripts, plain tables for people, errors on stderr."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from automechanica.redaction import redact_text

# Piped output is read by scripts and pagers: don't squeeze tables into 80 columns.
console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    sys.stdout.write(redact_text(json.dumps(data, indent=2, default=str)) + "\n")


def print_pairs(rows: list[tuple[str, Any]]) -> None:
    width = max((len(k) for k, _ in rows), default=0)
    for key, value in rows:
        console.print(f"{key.ljust(width)}  {redact_text(str(value))}", markup=False)


def print_table(columns: list[str], rows: list[list[Any]], title: str | None = None) -> None:
    table = Table(title=title, show_edge=False, header_style="bold")
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*(redact_text("" if v is None else str(v)) for v in row))
    console.print(table)


def fail(message: str, fix: str | None = None) -> None:
    err_console.print(f"error: {redact_text(message)}", markup=False)
    if fix:
        err_console.print(f"  fix: {redact_text(fix)}", markup=False)
