"""The central store of triage records over HTTP: the server side of records/sync.py, reads,
queries and the export of the avoided-admission log (store: hub/central_store.py).

Routes (all under ``/api/v1``; bodies in hub/contract/rest.py)

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
calls); a specialist reads only the records of calls they took part in (any other is a 404,
as if it did not exist: ``CentralStore._readable``). The administrator runs the service
and enrols accounts; that needs no clinical data, so admin gets none (least privilege).

Every write, read and export is audited (hub/central_store.py); a refused request changes
nothing, audit included.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from hub import photos
from hub.central_store import CentralStore, write
from hub.contract.fields import Count, Day, RowId, Text
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
from hub.db import utcnow
from hub.record_checks import Checked, Invalid, check_record
from hub.routes.deps import SIGNED_IN, EngineDep, RecordCheckerDep, SessionDep, refusals, require
from records import export, nhs_number

__all__ = ["router"]

log = logging.getLogger("telehub.hub.records")

WRITERS = (StaffRole.NURSE, StaffRole.SPECIALIST)
READERS = (StaffRole.NURSE, StaffRole.SPECIALIST, StaffRole.MANAGER)
QUERIERS = (StaffRole.NURSE, StaffRole.MANAGER)
EXPORTERS = (StaffRole.MANAGER,)

router = APIRouter(prefix="/api/v1", tags=["records"], responses=refusals(*SIGNED_IN, 422))


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
    **refusals(413, 422),
    200: {"description": "already held with identical content", "model": PutResponse},
    201: {"description": "stored", "model": PutResponse},
    409: {"description": "a newer version is held, or this version with other content",
          "model": PutConflict},
})  # fmt: skip
def put_record(
    record: Annotated[Checked, Depends(_checked_record)],
    session: SessionDep,
    principal: Writer,
) -> Response:
    """Store one signed-off version (body: a TriageRecord); idempotent by (uuid, version)."""
    [applied] = write(session, principal, [record])
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


@router.post("/records:batch", response_model=BatchResponse, responses=refusals(413))
def put_batch(
    records: Annotated[list[Checked], Depends(_checked_batch)],
    session: SessionDep,
    principal: Writer,
) -> Response:
    """Store up to 500 signed-off versions in order, in one transaction."""
    applied = write(session, principal, records)
    # Serialised here: FastAPI would validate the 500 results against the model once more.
    answer = BatchResponse(results=[
        BatchItemResult(uuid=a.uuid, version=a.version, status=a.status,
                        held_version=a.held_version) for a in applied
    ]).model_dump_json()  # fmt: skip
    return Response(answer, media_type="application/json")


def _not_found(record_uuid: UUID) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"the store holds no record {record_uuid}")


@router.get("/records/{record_uuid}", responses=refusals(404))
def get_record(
    record_uuid: UUID,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(*READERS))],
    version: RowId | None = None,
) -> Response:
    """The record's latest version, or ``?version=N``, as a TriageRecord."""
    payload = CentralStore(session, principal).get(record_uuid, version)
    if payload is None:
        raise _not_found(record_uuid)
    return Response(payload, media_type="application/json")


@router.get("/records/{record_uuid}/versions", responses=refusals(404))
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
    site_id: Annotated[Text | None, Query(max_length=200)] = None,
    start: Annotated[Day | None, Query(alias="from")] = None,
    end: Annotated[Day | None, Query(alias="to")] = None,
    nhs_number: Annotated[Text | None, Query(max_length=16)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Count = 0,
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


@router.get("/records:export", response_class=StreamingResponse, responses={
    200: {"content": {media: {} for media in ("text/csv", "application/fhir+json",
                                             "application/vnd.openxmlformats-officedocument."
                                             "spreadsheetml.sheet")}}})  # fmt: skip
def export_records(
    session: SessionDep,
    engine: EngineDep,
    principal: Annotated[Principal, Depends(require(*EXPORTERS))],
    start: Annotated[Day, Query(alias="from")],
    end: Annotated[Day, Query(alias="to")],
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
                yield from export.encode(export.fhir_chunks(
                    export.records(conn, start, end), photos=photos.lookup(conn)))
            else:
                yield from export.encode(export.csv_chunks(export.log_rows(conn, start, end)))
        finally:
            conn.close()

    ext = {"csv": "csv", "xlsx": "xlsx", "fhir": "json"}[format]
    return StreamingResponse(chunks(), media_type=_MEDIA[format], headers={
        "X-Record-Count": str(count),
        "Content-Disposition": f'attachment; filename="avoided-admissions-{start}-{end}.{ext}"',
    })  # fmt: skip
