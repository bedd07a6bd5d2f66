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
* Issue 13 (bodies in hub/contract/records_authority.py): ``GET /records/{uuid}/competitors``,
  ``POST /records/{uuid}/resolution``, ``PUT``/``DELETE /drafts/{uuid}``, ``GET /drafts``.
  Versions are contiguous (a gap is 422 ``version_gap`` on ``version``); who wrote a version
  is the authenticated principal, stamped over the body's attribution (hub/authorship.py).

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

import json
import logging
import tempfile
from collections.abc import Iterator
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from hub.central_drafts import CentralDrafts, TooManyDrafts
from hub.central_store import CentralStore, NotHeld, VersionGap, resolve, write
from hub.contract.fields import Count, Day, RowId, Text
from hub.contract.identity import Principal, StaffRole
from hub.contract.records_authority import (
    MAX_DRAFTS,
    AuthoredVersionOut,
    CompetitorOut,
    DraftOut,
    DraftPage,
    ResolutionBody,
    ResolutionOut,
)
from hub.contract.rest import (
    MAX_PAGE,
    BatchItemResult,
    BatchResponse,
    PutConflict,
    PutResponse,
    RecordExportFormat,
)
from hub.db import utcnow
from hub.record_checks import Checked, Invalid, check_record, checked
from hub.routes.deps import SIGNED_IN, EngineDep, RecordCheckerDep, SessionDep, refusals, require
from records import export, nhs_number
from records.schema import TriageRecord

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
    try:
        [applied] = write(session, principal, [record])
    except VersionGap as gap:
        raise _gap(gap, ["body", "version"], principal) from None
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
    try:
        applied = write(session, principal, records)
    except VersionGap as gap:
        raise _gap(gap, ["body", "records", gap.position, "version"], principal) from None
    # Serialised here: FastAPI would validate the 500 results against the model once more.
    answer = BatchResponse(results=[
        BatchItemResult(uuid=a.uuid, version=a.version, status=a.status,
                        held_version=a.held_version) for a in applied
    ]).model_dump_json()  # fmt: skip
    return Response(answer, media_type="application/json")


def _gap(gap: VersionGap, loc: list[str | int], principal: Principal) -> HTTPException:
    """422 for a version that is not the next one (issue 13): versions are contiguous, so a
    version far ahead can never block the real next one. The value is not echoed."""
    log.info("records write by %s refused: a version gap", principal.participant_id)
    return HTTPException(422, [{"type": "version_gap", "loc": loc,
                                "msg": f"a version follows the held one: expected {gap.expected}"}])


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
) -> list[AuthoredVersionOut]:
    """Every version the store holds, oldest first (who signed it off, and why amended),
    with who wrote it as the hub saw them."""
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


# --- the record's authority (issue 13): competing takes, resolutions, drafts ----------------


@router.get("/records/{record_uuid}/competitors", responses=refusals(404))
def get_competitors(
    record_uuid: UUID,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(*READERS))],
) -> list[CompetitorOut]:
    """The takes of the record's versions the store did not take, oldest first (kept aside
    until a resolution supersedes them); audited as reads."""
    store = CentralStore(session, principal)
    if store.get_payload(record_uuid, 1) is None:
        raise _not_found(record_uuid)
    return store.competitors(record_uuid)


def _resolution(body: bytes, record_uuid: UUID) -> tuple[int, list[Checked], Checked]:
    """A resolution body, checked: every take and the resolution are this record's,
    signed off, and the resolution is the version after the one it supersedes."""
    try:
        parsed = ResolutionBody.model_validate_json(body)
    except ValidationError as exc:
        raise Invalid(422, json.loads(exc.json(include_input=False, include_url=False))) from None
    wrong = [["body", "competing", n, "uuid"] for n, r in enumerate(parsed.competing)
             if r.uuid != record_uuid]
    if parsed.resolved.uuid != record_uuid:
        wrong.append(["body", "resolved", "uuid"])
    if wrong:
        raise Invalid(422, [{"type": "uuid_mismatch", "loc": loc,
                             "msg": "not the path's record"} for loc in wrong])
    if parsed.resolved.version != parsed.supersedes_version + 1:
        raise Invalid(422, [{"type": "version_gap", "loc": ["body", "resolved", "version"],
                             "msg": "a resolution is the version after the one it supersedes"}])
    try:
        return (parsed.supersedes_version, [checked(r) for r in parsed.competing],
                checked(parsed.resolved))
    except Invalid as exc:
        raise Invalid(422, [{**e, "loc": ["body", "resolved", "status"]} for e in exc.detail]
                      ) from None


@router.post("/records/{record_uuid}/resolution", status_code=201, responses={
    **refusals(404, 413),
    200: {"description": "already held with identical content", "model": ResolutionOut},
    201: {"description": "stored, superseding both", "model": ResolutionOut},
    409: {"description": "the held version moved on; the takes are kept",
          "model": ResolutionOut},
})  # fmt: skip
async def post_resolution(
    record_uuid: UUID, request: Request, session: SessionDep, principal: Writer,
) -> Response:
    """Store a version that supersedes the held one and this desk's competing takes."""
    try:
        version, competing, resolved = await run_in_threadpool(
            _resolution, await request.body(), record_uuid)
    except Invalid as exc:
        raise _refusal(exc, principal) from None

    def decide() -> tuple[int, ResolutionOut]:
        try:
            applied, ids = resolve(session, principal, record_uuid, version, competing,
                                   resolved)
        except NotHeld:
            raise _not_found(record_uuid) from None
        except VersionGap as gap:
            raise _gap(gap, ["body", "resolved", "version"], principal) from None
        code = {"stored": 201, "unchanged": 200, "conflict": 409}[applied.status]
        return code, ResolutionOut(uuid=record_uuid, version=applied.version,
                                   status=applied.status, held_version=applied.held_version,
                                   competitors=ids)

    code, out = await run_in_threadpool(decide)
    return Response(out.model_dump_json(), status_code=code, media_type="application/json")


@router.put("/drafts/{record_uuid}", responses=refusals(413))
def put_draft(
    record_uuid: UUID, draft: TriageRecord, session: SessionDep, principal: Writer,
) -> DraftOut:
    """Keep this principal's unsigned draft on the hub (replacing the one kept before)."""
    if draft.uuid != record_uuid:
        raise HTTPException(422, [{"type": "uuid_mismatch", "loc": ["body", "uuid"],
                                   "msg": "the body's uuid differs from the path's"}])
    if draft.status != "draft":
        raise HTTPException(422, [{"type": "signed_off_record", "loc": ["body", "status"],
                                   "msg": "only drafts are kept here"}])
    try:
        kept = CentralDrafts(session, principal).keep(draft)
    except TooManyDrafts:
        raise HTTPException(422, [{"type": "too_many_drafts", "loc": ["body"],
                                   "msg": f"at most {MAX_DRAFTS} drafts are kept"}]) from None
    return DraftOut(uuid=record_uuid, status="kept" if kept else "closed")


@router.delete("/drafts/{record_uuid}", status_code=204)
def delete_draft(record_uuid: UUID, session: SessionDep, principal: Writer) -> Response:
    """Forget this principal's draft (it is gone already: 204 all the same)."""
    CentralDrafts(session, principal).forget(record_uuid)
    return Response(status_code=204)


@router.get("/drafts", response_model=DraftPage)
def get_drafts(session: SessionDep, principal: Writer) -> Response:
    """This principal's own drafts, most recently changed first (a :class:`DraftPage`)."""
    payloads = CentralDrafts(session, principal).mine()
    return Response('{"drafts":[' + ",".join(payloads) + "]}", media_type="application/json")
