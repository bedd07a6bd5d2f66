"""Exports of the avoided-admission log (CSV, XLSX) and FHIR R4 Bundles, streamed in chunks.

Sources are either the central store's tables in a database (:func:`log_rows` and
:func:`records` read a connection, a chunk at a time, so a million records never sit in memory)
or any iterable of :class:`~records.schema.TriageRecord` (:func:`rows_of`). Writers take
iterators and yield text chunks (CSV, FHIR JSON) or write a file (XLSX, a zip written whole).

FHIR: one ``collection`` Bundle; per record an Encounter (class VR, type SNOMED video-link
encounter), the Patient (once per patient), Observations for the NEWS2 total, each known
sub-score and ACVPU, with the SNOMED codes of data/news2_snomed.csv, and a Media resource
for each photo attached to the record (records/photos.py; its ``encounter`` is the record's).
Scores are the ones this package computed from the observations (records/news2.py), never
copied from elsewhere.

CSV and XLSX cells hold text a spreadsheet shows and never runs (:func:`csv_text`,
:func:`sheet_cell`): a record's free text can come from anyone who can push one.
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import json
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa

from records.avoided_log import (
    EXPORT_FIELDS,
    LOG_COLUMNS,
    log_row,
    log_table,
    versions_table,
)
from records.photos import PhotoMedia, media_resource
from records.schema import TriageRecord
from records.tables import load_table

__all__ = [
    "CHUNK",
    "FORMULA_STARTS",
    "LogRows",
    "count",
    "csv_chunks",
    "csv_text",
    "date_filter",
    "encode",
    "fhir_chunks",
    "fhir_entries",
    "format_value",
    "log_rows",
    "records",
    "rows_of",
    "sheet_cell",
    "snapshot",
    "write_xlsx",
]

CHUNK = 5_000  # rows fetched and written per step: memory stays flat however long the export
SNOMED = "http://snomed.info/sct"
NHS_NUMBER = "https://fhir.nhs.uk/Id/nhs-number"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
XLSX_MAX_ROWS = 1_048_576  # Excel's limit per sheet, header included

_META = sa.MetaData()
_LOG = log_table(_META)
_VERSIONS = versions_table(_META)
Row = tuple[Any, ...]
Progress = Callable[[int], None]
# The attached photos of a chunk of records, by record (the hub reads its own table).
PhotoLookup = Callable[[Sequence[uuid.UUID]], Mapping[uuid.UUID, Sequence[PhotoMedia]]]


# --- reading the central store -------------------------------------------------------------


@contextmanager
def atomic_output(out: Path) -> Iterator[IO[bytes]]:
    """A temporary file beside ``out``, renamed over it only if the block completes; the
    file is readable by its owner only (0600): an export carries patients' data."""
    tmp = out.with_name(f".{out.name}.{os.getpid()}.partial")
    try:
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())  # the rename must not expose an empty file after a crash
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def date_filter(table: sa.Table, start: date | None, end: date | None) -> list[Any]:
    """``occurred_at`` within the UTC days ``start``..``end``, both included."""
    clauses = []
    if start is not None:
        clauses.append(table.c.occurred_at >= datetime.combine(start, time(), UTC))
    if end is not None:
        clauses.append(table.c.occurred_at < datetime.combine(end + timedelta(days=1), time(), UTC))
    return clauses


def snapshot(engine: sa.Engine) -> sa.Connection:
    """A connection in one read transaction, so a count and the rows that follow agree."""
    if engine.dialect.name == "sqlite":
        conn = engine.connect()
        # pysqlite only opens a transaction before writes; ask for one so reads share it.
        conn.exec_driver_sql("BEGIN")
        return conn
    conn = engine.connect().execution_options(isolation_level="REPEATABLE READ")
    conn.begin()
    return conn


def count(conn: sa.Connection, start: date | None, end: date | None) -> int:
    query = sa.select(sa.func.count()).select_from(_LOG).where(*date_filter(_LOG, start, end))
    return int(conn.scalar(query) or 0)


def _ordered(query: sa.Select[Any], start: date | None, end: date | None) -> sa.Select[Any]:
    return query.where(*date_filter(_LOG, start, end)).order_by(_LOG.c.occurred_at, _LOG.c.uuid)


class LogRows:
    """The log's rows in :data:`~records.avoided_log.EXPORT_FIELDS` order, oldest call first.

    Iterating gives typed values (datetimes, booleans), a chunk at a time. :func:`csv_chunks`
    reads it another way (:meth:`csv_values`): values as the driver gives them, turned into
    CSV text with string slicing, which is several times faster than building datetimes only
    to format them again.
    """

    def __init__(self, conn: sa.Connection, start: date | None, end: date | None) -> None:
        self._conn, self._start, self._end = conn, start, end

    def _fetch(self, columns: list[Any]) -> Iterator[Sequence[Any]]:
        query = _ordered(sa.select(*columns), self._start, self._end)
        result = self._conn.execution_options(stream_results=True, yield_per=CHUNK).execute(query)
        for partition in result.partitions():
            yield from partition

    def __iter__(self) -> Iterator[Row]:
        columns = [_LOG.c[name] for name in EXPORT_FIELDS[1:]]
        for row in self._fetch([_LOG.c.uuid, *columns]):
            yield (str(row[0]), *row[1:])

    def csv_values(self) -> Iterator[list[Any]]:
        """Rows of CSV-ready values (what :func:`format_value` gives), straight from the driver."""
        # Coerced types have no result processors: SQLite gives its stored text and 0/1,
        # PostgreSQL its native values; the converters below take either.
        columns: list[Any] = [sa.type_coerce(_LOG.c.uuid, sa.String())]
        for name in EXPORT_FIELDS[1:]:
            kind = column_kind(name)
            coerce: sa.types.TypeEngine[Any] | None = (
                sa.String() if kind is datetime else sa.Integer() if kind is bool else None
            )
            columns.append(_LOG.c[name] if coerce is None else sa.type_coerce(_LOG.c[name], coerce))
        times = [n for n, name in enumerate(EXPORT_FIELDS) if column_kind(name) is datetime]
        flags = [n for n, name in enumerate(EXPORT_FIELDS) if column_kind(name) is bool]
        texts = _text_columns()
        first = _FORMULA_FIRST
        for row in self._fetch(columns):
            out = list(row)
            out[0] = _uuid_text(out[0])
            for n in times:
                if out[n] is not None:
                    out[n] = _time_text(out[n])
            for n in flags:
                out[n] = _FLAG[out[n]]
            for n in texts:  # csv_text, inline: this is the export's hot loop
                value = out[n]
                if value and value[0] in first:
                    out[n] = "'" + value
            yield out


def log_rows(conn: sa.Connection, start: date | None, end: date | None) -> LogRows:
    """Rows in :data:`~records.avoided_log.EXPORT_FIELDS` order, oldest call first."""
    return LogRows(conn, start, end)


_FLAG = {None: "", True: "true", False: "false"}  # 1 and 0 (SQLite) hash as True and False


def _uuid_text(value: Any) -> str:
    if isinstance(value, str) and len(value) == 32:  # SQLite keeps a UUID as 32 hex digits
        return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"
    return str(uuid.UUID(str(value)))


def _time_text(value: Any) -> str:
    """:func:`format_value` of a stored time: SQLite's UTC text is re-punctuated, not parsed."""
    if isinstance(value, str):
        if len(value) == 26 and value[10] == " " and value[19] == ".":  # 2025-01-06 09:00:00.000000
            fraction = "" if value.endswith(".000000") else value[19:]
            return f"{value[:10]}T{value[11:19]}{fraction}Z"
        value = datetime.fromisoformat(value)
        if value.tzinfo is None:  # stored as UTC (records.models.UtcDateTime)
            value = value.replace(tzinfo=UTC)
    return format_value(value)


def records(conn: sa.Connection, start: date | None, end: date | None) -> Iterator[TriageRecord]:
    """The latest version of each record, oldest call first, as validated TriageRecords."""
    v = _VERSIONS
    query = _ordered(
        sa.select(v.c.payload).join(
            _LOG, sa.and_(v.c.record_uuid == _LOG.c.uuid, v.c.version == _LOG.c.version)
        ),
        start,
        end,
    )
    result = conn.execution_options(stream_results=True, yield_per=CHUNK).execute(query)
    for partition in result.partitions():
        for (payload,) in partition:
            yield TriageRecord.model_validate_json(payload)


def rows_of(items: Iterable[TriageRecord]) -> Iterator[Row]:
    """Log rows of records held in memory or read from elsewhere (the local store, a test)."""
    for record in items:
        row = log_row(record)
        yield (str(record.uuid), *(row[c.name] for c in LOG_COLUMNS))


# --- CSV and XLSX --------------------------------------------------------------------------

# A cell that begins with one of these is a formula to Excel, LibreOffice and Google Sheets
# (OWASP, "CSV injection"; tab and carriage return too): "=HYPERLINK(...)" typed into a record
# would run on the computer of the manager who opens the export. Only text is changed, never
# a number, so -3 in a numeric cell stays the number -3.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_FIRST = frozenset(FORMULA_STARTS)
_XLSX_ERROR_CODES = frozenset(("#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!",
                               "#N/A"))  # text openpyxl would store as an error value


def csv_text(value: Any) -> Any:
    """A CSV value no spreadsheet runs: text that begins like a formula gets a leading
    apostrophe (a spreadsheet then takes it as text, showing the apostrophe); any other value
    (numbers included) as it is."""
    if isinstance(value, str) and value[:1] in _FORMULA_FIRST:
        return "'" + value
    return value


def sheet_cell(sheet: Any, value: Any) -> Any:
    """An XLSX cell for ``value`` in a write-only ``sheet`` that no spreadsheet runs.

    Text that begins like a formula is stored as text, exactly as written, with Excel's quote
    prefix (so it stays text when someone edits the cell); openpyxl would otherwise store
    "=..." as a formula. Any other value goes in as it is (numbers stay numbers).
    """
    if isinstance(value, str) and (value[:1] in _FORMULA_FIRST or value in _XLSX_ERROR_CODES):
        from openpyxl.cell import WriteOnlyCell

        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"
        cell.quotePrefix = True
        return cell
    return value


def format_value(value: Any) -> str:
    """CSV text of one value: UTC ISO 8601 times ending in Z, true/false, empty for none."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return str(value)


def csv_chunks(rows: Iterable[Row], progress: Progress | None = None) -> Iterator[str]:
    """The log as CSV (header first), a chunk of :data:`CHUNK` rows at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EXPORT_FIELDS)
    texts = rows.csv_values() if isinstance(rows, LogRows) else _formatted(rows)
    while chunk := list(itertools.islice(texts, CHUNK)):
        writer.writerows(chunk)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if progress is not None:
            progress(len(chunk))
    if buffer.tell():  # no rows at all: the header alone
        yield buffer.getvalue()


def _formatted(rows: Iterable[Row]) -> Iterator[list[Any]]:
    """Typed rows as CSV-ready values; only times and flags need more than the csv module
    does itself (it writes None as empty and numbers and text as they are)."""
    fix = [n for n, name in enumerate(EXPORT_FIELDS) if column_kind(name) in (datetime, bool)]
    texts = _text_columns()
    for row in rows:
        out = list(row)
        for n in fix:
            out[n] = format_value(out[n])
        for n in texts:
            out[n] = csv_text(out[n])
        yield out


@functools.cache
def _text_columns() -> tuple[int, ...]:
    """Where the log's text is (the UUID aside): the only cells :func:`csv_text` can change."""
    return tuple(n for n, name in enumerate(EXPORT_FIELDS)
                 if n and column_kind(name) is str)


def _cell(value: Any) -> Any:
    # Excel cannot hold time zones: cells are UTC, as the header says.
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def write_xlsx(rows: Iterable[Row], out: IO[bytes], progress: Progress | None = None) -> None:
    """The log as an XLSX workbook (write-only mode: rows go to disk as they come)."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    left = append_log_sheets(book, rows, "avoided admissions", progress)
    book.save(out)
    if progress is not None and left:
        progress(left)


def append_log_sheets(book: Any, rows: Iterable[Row], first_title: str,
                      progress: Progress | None = None) -> int:
    """The log's rows into as many sheets of a write-only workbook as it needs (a sheet holds
    at most XLSX_MAX_ROWS); progress every CHUNK rows; returns the rows not yet reported."""
    header = [f"{name} (UTC)" if column_kind(name) is datetime else name for name in EXPORT_FIELDS]
    sheet, used, number, done = None, XLSX_MAX_ROWS, 0, 0
    for row in rows:
        if used == XLSX_MAX_ROWS:  # a full sheet: continue on the next one
            number += 1
            sheet = book.create_sheet(f"log {number}" if number > 1 else first_title)
            sheet.append(header)
            used = 1
        assert sheet is not None
        sheet.append([sheet_cell(sheet, _cell(value)) for value in row])
        used += 1
        done += 1
        if progress is not None and done == CHUNK:
            progress(done)
            done = 0
    if sheet is None:
        book.create_sheet(first_title).append(header)
    return done


@functools.cache
def column_kind(name: str) -> type:
    if name == "record_uuid":
        return str
    return next(c.kind for c in LOG_COLUMNS if c.name == name)


# --- FHIR R4 -------------------------------------------------------------------------------


@functools.cache
def _snomed() -> dict[str, tuple[str, str]]:
    """parameter -> (SNOMED code or "", label), from data/news2_snomed.csv."""
    return {row["parameter"]: (row["snomed_code"], row["label"]) for row in
            load_table("news2_snomed")}  # fmt: skip


def _concept(key: str) -> dict[str, Any]:
    code, label = _snomed()[key]
    concept: dict[str, Any] = {"text": label}
    if code:  # no code in the reference: text only, never a guessed code
        concept["coding"] = [{"system": SNOMED, "code": code}]
    return concept


def _ref(kind: str, ident: uuid.UUID | str) -> dict[str, str]:
    return {"reference": f"urn:uuid:{ident}", "type": kind}


def _entry(resource: dict[str, Any]) -> dict[str, Any]:
    return {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}


def _time(value: datetime | None) -> str | None:
    return None if value is None else format_value(value)


def _patient(record: TriageRecord) -> dict[str, Any] | None:
    p = record.patient
    if p is None:
        return None
    resource: dict[str, Any] = {
        "resourceType": "Patient", "id": str(p.id), "name": [{"text": p.name}],
    }  # fmt: skip
    if p.nhs_number:
        resource["identifier"] = [{"system": NHS_NUMBER, "value": p.nhs_number}]
    if p.date_of_birth:
        resource["birthDate"] = p.date_of_birth.isoformat()
    return resource


def _encounter(record: TriageRecord) -> dict[str, Any]:
    start = record.answered_at or record.requested_at
    resource: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": str(record.uuid),
        "status": "finished" if record.status == "signed_off" else "in-progress",
        "class": {"system": ACT_CODE, "code": "VR", "display": "virtual"},
        "type": [_concept("encounter_video")],
    }
    if record.call_id:
        resource["identifier"] = [{"system": "urn:telehub:call-id", "value": record.call_id}]
    if record.patient is not None:
        resource["subject"] = _ref("Patient", record.patient.id)
    period = {k: v for k, v in (("start", _time(start)), ("end", _time(record.ended_at))) if v}
    if period:
        resource["period"] = period
    if record.presenting_problem:
        resource["reasonCode"] = [{"text": record.presenting_problem}]
    return resource


def _observation(record: TriageRecord, key: str, **value: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        # Stable ids: exporting the same version twice gives the same Bundle.
        "id": str(uuid.uuid5(record.uuid, f"{record.version}/{key}")),
        "status": "amended" if record.version > 1 else "final",
        "code": _concept(key),
        "encounter": _ref("Encounter", record.uuid),
        **value,
    }
    if record.patient is not None:
        resource["subject"] = _ref("Patient", record.patient.id)
    when = record.answered_at or record.requested_at or record.signed_off_at
    if when is not None:
        resource["effectiveDateTime"] = _time(when)
    return resource


def fhir_entries(record: TriageRecord, patient: bool = True,
                 media: Sequence[PhotoMedia] = ()) -> list[dict[str, Any]]:
    """The Bundle entries of one record (``patient``: include the Patient resource;
    ``media``: its attached photos)."""
    entries = []
    if patient and (resource := _patient(record)) is not None:
        entries.append(_entry(resource))
    entries.append(_entry(_encounter(record)))
    subject = record.patient.id if record.patient is not None else None
    entries.extend(_entry(media_resource(photo, record.uuid, subject)) for photo in media)
    news2, obs = record.news2, record.observations
    if news2 is not None and obs is not None:
        if news2.complete:  # a partial score is never shown as a total
            entries.append(_entry(_observation(record, "total", valueInteger=news2.total)))
        for name, value in news2.subscores.items():
            if value is None:
                continue
            key = f"spo2_scale_{obs.scale}" if name == "spo2" else name
            entries.append(_entry(_observation(record, key, valueInteger=value)))
        if obs.consciousness is not None:
            entries.append(_entry(_observation(
                record, "acvpu", valueCodeableConcept=_concept(f"acvpu_{obs.consciousness}")
            )))  # fmt: skip
    return entries


def fhir_chunks(items: Iterable[TriageRecord], progress: Progress | None = None,
                photos: PhotoLookup | None = None) -> Iterator[str]:
    """One FHIR R4 ``collection`` Bundle as JSON text, streamed a chunk of records at a time
    (``photos``: where to find the records' attached photos, one look per chunk)."""
    stamp = format_value(datetime.now(UTC))
    yield ('{"resourceType":"Bundle","id":"' + str(uuid.uuid4()) + '","type":"collection",'
           '"timestamp":"' + stamp + '","entry":[')  # fmt: skip
    # Each patient once (fullUrl must be unique in a Bundle): ids only, 16 bytes a patient.
    seen: set[int] = set()
    first, parts = True, []
    records_left = iter(items)
    while chunk := list(itertools.islice(records_left, CHUNK // 5)):
        media = photos([r.uuid for r in chunk]) if photos is not None else {}
        for record in chunk:
            fresh = record.patient is not None and record.patient.id.int not in seen
            if fresh and record.patient is not None:
                seen.add(record.patient.id.int)
            for entry in fhir_entries(record, patient=fresh, media=media.get(record.uuid, ())):
                parts.append(("" if first else ",") + json.dumps(entry, separators=(",", ":")))
                first = False
        yield "".join(parts)
        parts.clear()
        if progress is not None:
            progress(len(chunk))
    yield "]}"


def encode(chunks: Iterable[str]) -> Iterator[bytes]:
    for chunk in chunks:
        yield chunk.encode("utf-8")
