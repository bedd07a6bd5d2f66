"""The hub's central store of triage records: the server side of records/sync.py, reads, exports.

Routes (all under ``/api/v1``; bodies and answers as in the records/sync.py contract)

* ``PUT /records/{uuid}`` and ``POST /records:batch``: idempotent upsert of signed-off
  versions. Every version is kept as pushed, never overwritten; a newer held version, or the
  same version with other content, is a 409 / ``"conflict"``. A batch is one transaction.
  The decision is atomic per record: concurrent pushes of one record are decided one at a
  time (``CentralStore._lock_latest``), so a lower version never lands after a higher one.
* ``GET /records/{uuid}`` (latest, or ``?version=N``), ``GET /records/{uuid}/versions``.
* ``GET /records?site_id=&from=&to=&nhs_number=&limit=&offset=``: latest versions by site,
  date range (UTC days, both ends included, on the time the call was requested) and patient.
* ``GET /records:export?from=&to=&format=csv|xlsx|fhir``: the avoided-admission log, streamed.

Who may do what (hub roles; sites are refused everything with 403):

==========  =====  ====  =====  ======
role        write  read  query  export
==========  =====  ====  =====  ======
nurse       yes    yes   yes    no
specialist  yes    yes   no     no
manager     no     yes   yes    yes
admin       no     no    no     no
==========  =====  ====  =====  ======

Nurse and specialist desks push the records they sign off. Nurses query (a resident's earlier
calls); specialists read the record they were called into. The administrator runs the service
and enrols accounts; that needs no clinical data, so admin gets none (least privilege).

Audit (table ``record_audit_events``): every write (one row per record pushed, with its
answer), every read (one row per record version returned, queries included) and every export
(one row with its date range, format, row count and the time it was taken; the versions are
immutable, so the exported set can be rebuilt from that). Refused requests change nothing,
audit included. Logs and audit details hold identifiers and counts, never patient data.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal, cast
from uuid import UUID

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from hub.contract.identity import Principal, StaffRole
from hub.contract.rest import (
    MAX_PAGE,
    BatchItemResult,
    BatchResponse,
    PutConflict,
    PutResponse,
    RecordExportFormat,
    VersionOut,
)
from hub.db import insert_many, utcnow
from hub.models import CentralRecordVersion, RecordAuditEvent, central_records
from hub.record_checks import Checked, Invalid, check_record, checked
from hub.routes.deps import EngineDep, RecordCheckerDep, SessionDep, require
from records import export, nhs_number, rollup
from records.schema import TriageRecord

__all__ = ["CentralStore", "router"]

log = logging.getLogger("telehub.hub.records")

WRITERS = (StaffRole.NURSE.value, StaffRole.SPECIALIST.value)
READERS = (StaffRole.NURSE.value, StaffRole.SPECIALIST.value, StaffRole.MANAGER.value)
QUERIERS = (StaffRole.NURSE.value, StaffRole.MANAGER.value)
EXPORTERS = (StaffRole.MANAGER.value,)
_WRITE_RETRIES = 5  # a push that loses a race to a concurrent one decides again (_write)

# Core tables for executemany inserts (no ORM or per-row parameter machinery).
_AUDIT = cast(sa.Table, RecordAuditEvent.__table__)
_VERSIONS = cast(sa.Table, CentralRecordVersion.__table__)

Status = Literal["stored", "unchanged", "conflict"]
AuditRow = tuple[UUID | None, int | None, str | None]


@dataclass(frozen=True, slots=True)
class Applied:
    uuid: UUID
    version: int
    status: Status
    held_version: int | None


class LostRace(Exception):
    """The held state changed under a decision; the transaction is rolled back and redone."""


class CentralStore:
    """The store's repository: takes a Session, never commits (the route's unit of work does)."""

    def __init__(self, session: Session, principal: Principal) -> None:
        self._session = session
        self._principal = principal

    def audit(self, action: str, rows: Sequence[AuditRow]) -> None:
        """Add audit events (record UUID, version, detail); details hold no patient data."""
        if not rows:
            return
        now = utcnow()
        p = self._principal
        insert_many(
            self._session.connection(), _AUDIT,
            [{"at": now, "actor": p.participant_id, "actor_name": p.name[:120],
              "actor_role": p.role, "action": action, "record_uuid": u, "version": v,
              "detail": d} for u, v, d in rows],
        )  # fmt: skip

    def _lock_latest(self, uuids: Sequence[UUID]) -> dict[UUID, int]:
        """The held latest version of each record, locked until this transaction ends.

        The decision (store or conflict) and the write must be one atomic step, or two
        versions pushed at once could both be stored, the lower one last. PostgreSQL: the
        latest rows are locked (``FOR UPDATE``, in UUID order so two batches cannot deadlock
        on them); a record not yet held has no row to lock, and there the primary key makes a
        concurrent first insert fail, which :func:`_write` answers by deciding again. SQLite:
        pysqlite would start its transaction only at the first write, after this read, so
        the write lock is taken first (``BEGIN IMMEDIATE``; other writers wait their turn).
        """
        conn = self._session.connection()
        sqlite = conn.dialect.name == "sqlite"
        if sqlite and not conn.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        t = central_records
        query = sa.select(t.c.uuid, t.c.version).where(t.c.uuid.in_(sorted(set(uuids))))
        if not sqlite:
            query = query.order_by(t.c.uuid).with_for_update()
        return {u: int(n) for u, n in self._session.execute(query)}

    def apply(self, records: Sequence[TriageRecord]) -> list[Applied]:
        """Store each signed-off record in order, in this transaction (see apply_checked)."""
        return self.apply_checked([checked(r) for r in records])

    def apply_checked(self, records: Sequence[Checked]) -> list[Applied]:
        """Store each checked version in order, in this transaction: stored, unchanged or
        conflict."""
        newest = self._lock_latest([r.uuid for r in records])
        keys = [(r.uuid, r.version) for r in records if r.uuid in newest]
        held: dict[tuple[UUID, int], str] = {}
        if keys:
            v = CentralRecordVersion
            for u, n, payload in self._session.execute(
                sa.select(v.record_uuid, v.version, v.payload).where(
                    sa.tuple_(v.record_uuid, v.version).in_(keys)
                )
            ):
                held[(u, n)] = payload
        known = set(newest)
        # Taken after the lock: versions' stored_at follows the order they were decided in.
        now, by = utcnow(), self._principal.participant_id
        versions: list[dict[str, Any]] = []
        heads: dict[UUID, Checked] = {}
        results: list[Applied] = []
        for record in records:
            key = (record.uuid, record.version)
            payload = record.payload
            top = newest.get(record.uuid)
            if key in held:
                state: Status = "unchanged" if held[key] == payload else "conflict"
            elif top is not None and top > record.version:
                state = "conflict"
            else:
                state = "stored"
                held[key] = payload
                newest[record.uuid] = record.version
                heads[record.uuid] = record
                versions.append({"record_uuid": record.uuid, "version": record.version,
                                 "payload": payload, "stored_at": now, "stored_by": by})
            results.append(Applied(record.uuid, record.version, state,
                                   newest[record.uuid] if state == "conflict" else None))
        if versions:
            insert_many(self._session.connection(), _VERSIONS, versions)
        inserts = [r.log for u, r in heads.items() if u not in known]
        updates = [r.log for u, r in heads.items() if u in known]
        # The report's roll-ups: mark the days these change (reads the held rows: first).
        rollup.mark_records(self._session, inserts, updates)
        if inserts:
            insert_many(self._session.connection(), central_records, inserts)
        if updates:
            t = central_records
            columns = [c.name for c in t.c if c.name != "uuid"]
            moved = self._session.execute(
                sa.update(t)
                # Never move the latest row back; under the lock every row should match.
                .where(t.c.uuid == sa.bindparam("b_uuid"),
                       t.c.version < sa.bindparam("b_version"))
                .values({name: sa.bindparam(f"b_{name}") for name in columns}),
                [{f"b_{k}": v for k, v in row.items()} for row in updates],
            )
            if moved.rowcount != len(updates):  # type: ignore[attr-defined]
                raise LostRace("a newer version landed between the decision and the write")
        self.audit("write", [(r.uuid, r.version, r.status) for r in results])
        return results

    def get(self, record_uuid: UUID, version: int | None) -> str | None:
        """The version's payload (latest when ``version`` is None), audited as a read."""
        v = CentralRecordVersion
        if version is None:
            version = self._session.scalar(
                sa.select(central_records.c.version).where(central_records.c.uuid == record_uuid)
            )
            if version is None:
                return None
        payload = self._session.scalar(
            sa.select(v.payload).where(v.record_uuid == record_uuid, v.version == version)
        )
        if payload is not None:
            self.audit("read", [(record_uuid, version, None)])
        return payload

    def versions(self, record_uuid: UUID) -> list[VersionOut]:
        v = CentralRecordVersion
        rows = self._session.execute(
            sa.select(v.version, v.payload, v.stored_at, v.stored_by)
            .where(v.record_uuid == record_uuid)
            .order_by(v.version)
        ).all()
        out = []
        for number, payload, stored_at, stored_by in rows:
            record = json.loads(payload)
            out.append(VersionOut(
                version=number, stored_at=stored_at, stored_by=stored_by,
                signed_off_at=record.get("signed_off_at"),
                signed_off_by=record.get("signed_off_by"),
                amendment_reason=record.get("amendment_reason"),
            ))  # fmt: skip
        self.audit("read", [(record_uuid, o.version, "versions") for o in out])
        return out

    def query(
        self,
        *,
        site_id: str | None,
        start: date | None,
        end: date | None,
        nhs: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[str], bool]:
        """Latest versions matching the filters, oldest call first; and whether more follow."""
        t, v = central_records, CentralRecordVersion
        query = (
            sa.select(t.c.uuid, t.c.version, v.payload)
            .join(v, sa.and_(v.record_uuid == t.c.uuid, v.version == t.c.version))
            .where(*export.date_filter(t, start, end))
            .order_by(t.c.occurred_at, t.c.uuid)
            .limit(limit + 1)
            .offset(offset)
        )
        if site_id is not None:
            query = query.where(t.c.site_id == site_id)
        if nhs is not None:
            query = query.where(t.c.nhs_number == nhs)
        rows = self._session.execute(query).all()
        more = len(rows) > limit
        rows = rows[:limit]
        self.audit("read", [(u, n, "query") for u, n, _ in rows])
        return [payload for _, _, payload in rows], more


router = APIRouter(prefix="/api/v1", tags=["records"])


def _lost_race(exc: Exception) -> bool:
    """A concurrent write got there first (or PostgreSQL broke a deadlock): decide again."""
    if isinstance(exc, IntegrityError | LostRace):
        return True
    return isinstance(exc, OperationalError) and getattr(exc.orig, "sqlstate", None) in (
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
    )


def _write(session: Session, principal: Principal, records: Sequence[Checked]) -> list[Applied]:
    """Store checked versions in the request's transaction, deciding again on a lost race."""
    store = CentralStore(session, principal)
    if session.get_bind().dialect.name == "sqlite":
        # BEGIN IMMEDIATE (CentralStore._lock_latest): writers take turns, none loses a race.
        return store.apply_checked(records)
    for attempt in range(_WRITE_RETRIES):
        try:
            # Each attempt in a savepoint: a lost race rolls back that attempt only.
            with session.begin_nested():
                return store.apply_checked(records)
        except Exception as exc:
            # E.g. another request stored the first version of a new record between our read
            # and our insert; the rolled-back retry sees it and answers unchanged/conflict.
            if not _lost_race(exc) or attempt == _WRITE_RETRIES - 1:
                raise
            log.info("records write by %s lost a race; deciding again",
                     principal.participant_id)  # fmt: skip
    raise AssertionError("unreachable")


def _refusal(exc: Invalid, principal: Principal) -> HTTPException:
    log.info("records write by %s refused: HTTP %d", principal.participant_id, exc.status_code)
    return HTTPException(exc.status_code, exc.detail)


Writer = Annotated[Principal, Depends(require(*WRITERS))]


async def _checked_record(record_uuid: UUID, request: Request, principal: Writer) -> Checked:
    """A PUT body, checked on a thread (one record: quicker than a checker process)."""
    try:
        return await run_in_threadpool(check_record, await request.body(), record_uuid)
    except Invalid as exc:
        raise _refusal(exc, principal) from None


async def _checked_batch(request: Request, checker: RecordCheckerDep,
                         principal: Writer) -> list[Checked]:  # fmt: skip
    """A batch body, checked in a checker process: the switchboard keeps the interpreter."""
    try:
        return await checker.check_batch(await request.body())
    except Invalid as exc:
        raise _refusal(exc, principal) from None


@router.put("/records/{record_uuid}", status_code=201, responses={
    200: {"description": "already held with identical content"},
    409: {"description": "a newer version is held, or this version with other content"},
    422: {"description": "invalid record, or the path and body UUIDs differ"},
})  # fmt: skip
def put_record(
    record: Annotated[Checked, Depends(_checked_record)],
    session: SessionDep,
    principal: Writer,
) -> Response:
    """Store one signed-off version (body: a TriageRecord); idempotent by (uuid, version)."""
    [applied] = _write(session, principal, [record])
    if applied.status == "conflict":
        conflict = PutConflict(
            uuid=applied.uuid, version=applied.version, held_version=applied.held_version,
            detail="the store holds a newer version, or this version with other content",
        )  # fmt: skip
        # A conflict stores nothing, but its audit event is kept: the transaction commits.
        return Response(conflict.model_dump_json(), status_code=409,
                        media_type="application/json")
    code = 201 if applied.status == "stored" else 200
    stored = PutResponse(uuid=applied.uuid, version=applied.version,
                         status="stored" if applied.status == "stored" else "unchanged")
    return Response(stored.model_dump_json(), status_code=code, media_type="application/json")


@router.post("/records:batch", response_model=BatchResponse,
             responses={413: {"description": "too many records"}})  # fmt: skip
def put_batch(
    records: Annotated[list[Checked], Depends(_checked_batch)],
    session: SessionDep,
    principal: Writer,
) -> Response:
    """Store up to 500 signed-off versions in order, in one transaction."""
    applied = _write(session, principal, records)
    # Serialised here: FastAPI would validate the 500 results against the model once more.
    answer = BatchResponse(results=[
        BatchItemResult(uuid=a.uuid, version=a.version, status=a.status,
                        held_version=a.held_version) for a in applied
    ]).model_dump_json()  # fmt: skip
    return Response(answer, media_type="application/json")


def _not_found(record_uuid: UUID) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"the store holds no record {record_uuid}")


@router.get("/records/{record_uuid}")
def get_record(
    record_uuid: UUID,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(*READERS))],
    version: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """The record's latest version, or ``?version=N``, as a TriageRecord."""
    payload = CentralStore(session, principal).get(record_uuid, version)
    if payload is None:
        raise _not_found(record_uuid)
    return Response(payload, media_type="application/json")


@router.get("/records/{record_uuid}/versions")
def get_versions(
    record_uuid: UUID,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(*READERS))],
) -> list[VersionOut]:
    """Every version the store holds, oldest first (who signed it off, and why amended)."""
    out = CentralStore(session, principal).versions(record_uuid)
    if not out:
        raise _not_found(record_uuid)
    return out


def _nhs(value: str | None) -> str | None:
    if value is None:
        return None
    if not nhs_number.is_valid(value):
        raise HTTPException(422, [{"type": "nhs_number", "loc": ["query", "nhs_number"],
                                   "msg": "not a valid NHS number"}])
    return nhs_number.normalise(value)


@router.get("/records")
def query_records(
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(*QUERIERS))],
    site_id: Annotated[str | None, Query(max_length=200)] = None,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
    nhs_number: Annotated[str | None, Query(max_length=16)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """Latest versions by site, date range (UTC days, inclusive) and patient, a page at a time.

    Answer: a :class:`~hub.contract.rest.RecordPage`.
    """
    if start is not None and end is not None and end < start:
        raise HTTPException(422, "'to' is before 'from'")
    nhs = _nhs(nhs_number)
    payloads, more = CentralStore(session, principal).query(
        site_id=site_id, start=start, end=end, nhs=nhs, limit=limit, offset=offset
    )
    # The payloads are stored JSON already; splice them rather than parse and re-serialise.
    body = ('{"records":[' + ",".join(payloads) + '],"next_offset":'
            + (str(offset + limit) if more else "null") + "}")  # fmt: skip
    return Response(body, media_type="application/json")


_MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "fhir": "application/fhir+json",
}


@router.get("/records:export")
def export_records(
    session: SessionDep,
    engine: EngineDep,
    principal: Annotated[Principal, Depends(require(*EXPORTERS))],
    start: Annotated[date, Query(alias="from")],
    end: Annotated[date, Query(alias="to")],
    format: RecordExportFormat = "csv",
) -> StreamingResponse:
    """The avoided-admission log for calls requested between two UTC days, streamed.

    The count comes from the same database snapshot as the rows; ``X-Record-Count`` gives it.
    """
    if end < start:
        raise HTTPException(422, "'to' is before 'from'")
    conn = export.snapshot(engine)
    try:
        count = export.count(conn, start, end)
        # Committed with the request, before the first byte of the file leaves.
        CentralStore(session, principal).audit(
            "export", [(None, None, f"from={start} to={end} format={format} "
                                    f"records={count} as_of={utcnow().isoformat()}")],
        )  # fmt: skip
    except BaseException:
        conn.close()
        raise

    def chunks() -> Iterator[bytes]:
        try:
            if format == "xlsx":
                # A zip file is written whole; spool it to disk, then stream it.
                with tempfile.TemporaryFile() as spool:
                    export.write_xlsx(export.log_rows(conn, start, end), spool)
                    spool.seek(0)
                    while block := spool.read(1 << 16):
                        yield block
            elif format == "fhir":
                yield from export.encode(export.fhir_chunks(export.records(conn, start, end)))
            else:
                yield from export.encode(export.csv_chunks(export.log_rows(conn, start, end)))
        finally:
            conn.close()

    ext = {"csv": "csv", "xlsx": "xlsx", "fhir": "json"}[format]
    return StreamingResponse(chunks(), media_type=_MEDIA[format], headers={
        "X-Record-Count": str(count),
        "Content-Disposition": f'attachment; filename="avoided-admissions-{start}-{end}.{ext}"',
    })  # fmt: skip
