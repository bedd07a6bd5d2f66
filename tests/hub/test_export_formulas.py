"""Exports through a real hub (SQLite and PostgreSQL) never carry a formula: a record pushed
with text that begins like one comes out of every CSV as text (an apostrophe first) and of
every XLSX as the same text stored as text, over REST and from ``telehub-export --db``."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from hub.export_cli import main as telehub_export
from records.schema import TriageRecord
from tests.helpers.hubserver import HubDatabase, ThreadedHub
from tests.records.builders import make_record
from tests.records.test_export import HOSTILE

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
NEWS2 = 7  # of the builder's observations: RR 21, SpO2 95, new confusion, pulse 96
JANUARY = {"from": "2025-01-01", "to": "2025-01-31"}
# The hub writes these from the principal that pushed the record (hub/authorship.py), so a
# body cannot carry a formula in them; tests/records/test_export.py still feeds them hostile
# text at the writers themselves.
STAMPED = {"nurse", "signed_off_by"}
THROUGH_THE_HUB = {k: v for k, v in HOSTILE.items() if k not in STAMPED}


def hostile_record() -> TriageRecord:
    base = make_record()
    assert base.patient is not None
    return make_record(
        requested_at=T0, answered_at=T0 + timedelta(minutes=2), status="signed_off",
        outcome="advice_managed_in_place", signed_off_at=T0 + timedelta(minutes=20),
        patient=base.patient.model_copy(update={"respect_plan": HOSTILE["respect_plan"]}),
        **{k: v for k, v in HOSTILE.items() if k != "respect_plan"})


def assert_csv_inert(text: str) -> None:
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows, text[:200]
    [row] = [r for r in rows if r["presenting_problem"].startswith("'=HYPERLINK")]
    for name, value in THROUGH_THE_HUB.items():
        assert row[name] == "'" + value, name
    assert row["news2_total"] == str(NEWS2)  # numbers as they are


def assert_xlsx_inert(content: bytes, tmp_path: Path, sheet_name: str) -> None:
    path = tmp_path / "export.xlsx"
    path.write_bytes(content)
    book = load_workbook(path)
    sheet = book[sheet_name]
    header = [str(c.value).removesuffix(" (UTC)") for c in sheet[1]]
    cells = dict(zip(header, sheet[2], strict=True))
    for name, value in THROUGH_THE_HUB.items():
        cell = cells[name]
        assert (cell.value, cell.data_type, cell.quotePrefix) == (value, "s", True), name
    assert (cells["news2_total"].value, cells["news2_total"].data_type) == (NEWS2, "n")
    for each in book.worksheets:  # not one formula anywhere in the workbook
        assert not [c.coordinate for r in each.iter_rows() for c in r if c.data_type == "f"]


@pytest.mark.slow
def test_no_export_carries_a_formula(hub: ThreadedHub, hubdb: HubDatabase,
                                     tmp_path: Path) -> None:
    nurse, manager = hubdb.staff("nina", "nurse"), hubdb.staff("max", "manager")
    record = hostile_record()
    pushed = httpx.put(f"{hub.http}/api/v1/records/{record.uuid}",
                       headers={"Authorization": f"Bearer {nurse.token}"},
                       content=record.model_dump_json())
    assert pushed.status_code == 201, pushed.text
    with httpx.Client(base_url=f"{hub.http}/api/v1", timeout=30,
                      headers={"Authorization": f"Bearer {manager.token}"}) as http:

        def get(path: str, **params: Any) -> httpx.Response:
            r = http.get(path, params={**JANUARY, **params})
            assert r.status_code == 200, r.text
            return r

        assert_csv_inert(get("/records:export", format="csv").text)
        assert_xlsx_inert(get("/records:export", format="xlsx").content, tmp_path,
                          "avoided admissions")
        assert_csv_inert(get("/reports:export", format="csv").text)
        assert_xlsx_inert(get("/reports:export", format="xlsx").content, tmp_path, "log")
        summary = get("/reports:export", format="summary").text
        assert not [f for r in csv.reader(io.StringIO(summary)) for f in r
                    if f and f[0] in "=+@\t\r"]
    # telehub-export reading the hub's database itself.
    for fmt in ("csv", "xlsx"):
        out = tmp_path / f"direct.{fmt}"
        assert telehub_export(["--from", JANUARY["from"], "--to", JANUARY["to"], "--format",
                               fmt, "--out", str(out), "--db", hubdb.url,
                               "--no-progress"]) == 0
        if fmt == "csv":
            assert_csv_inert(out.read_bytes().decode())
        else:
            assert_xlsx_inert(out.read_bytes(), tmp_path, "avoided admissions")
