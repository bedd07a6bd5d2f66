"""Loads the clinical data tables in records/data (each row names its source), once per process."""

from __future__ import annotations

import csv
import functools
import io
from importlib import resources

__all__ = ["TableError", "load_table"]


class TableError(RuntimeError):
    """A data table is missing, malformed or has a row without its source: a packaging bug."""


@functools.cache
def load_table(name: str) -> tuple[dict[str, str], ...]:
    """Return the rows of ``records/data/<name>.csv`` as read-only string dicts.

    Every table must have a non-empty ``source`` column, so a clinical rule can always be
    traced back to where it came from (shared/clinical/REFERENCE.md, or "unverified").
    """
    try:
        text = resources.files("records").joinpath("data", f"{name}.csv").read_text("utf-8")
    except FileNotFoundError as exc:
        raise TableError(f"data table {name}.csv is missing from records/data") from exc
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "source" not in reader.fieldnames:
        raise TableError(f"data table {name}.csv has no source column")
    rows = tuple(dict(row) for row in reader)
    for number, row in enumerate(rows, start=2):
        if not (row.get("source") or "").strip():
            raise TableError(f"data table {name}.csv line {number} has no source")
        if None in row:
            raise TableError(f"data table {name}.csv line {number} has too many fields")
    return rows
