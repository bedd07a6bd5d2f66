"""Photos from calls (issue 17): the caller's upload, the nurse's view and attachment.

* ``POST /api/v1/calls/{call_id}/photos?request_id=&consent=given`` -- the site of a
  connected call sends the still its nurse asked for: the raw image as the body,
  ``Content-Type: image/jpeg`` or ``image/png``, at most 8 MiB (413), decoded whole to check
  it (415 for another type, 422 naming ``body`` for a file that is not a whole image or too
  big a picture). Kept in the central store with the consent, audited; the nurse in the
  call is told at once (``photo_ready``).
* ``GET /api/v1/photos/{photo_id}`` (its description) and ``GET /api/v1/photos/{id}/image``
  (the bytes; every fetch audited as a view): the nurse or specialist of the call, and any
  nurse once it is attached to a record (404 for anyone else: nothing is learnt).
* ``PUT /api/v1/photos/{photo_id}/record`` :class:`PhotoAttach` -- the nurse of the call
  attaches it to the call's record (the desk's outbox pushes it once the record is stored).
* ``GET /api/v1/records/{record_uuid}/photos`` -- a record's photos (History, the patient's
  context), as the viewer may see them.
"""

from __future__ import annotations

import functools
import logging
from typing import Annotated
from uuid import UUID

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from hub.contract import signaling as p
from hub.contract.fields import Text
from hub.contract.identity import Principal, StaffRole
from hub.contract.photos import (
    MAX_PHOTO_BYTES,
    PHOTO_TYPES,
    PhotoAttach,
    PhotoAttached,
    PhotoConsent,
    PhotoOut,
)
from hub.models import Call, CallParticipant
from hub.photos import BadPhoto, CheckedPhoto, PhotoStore, check_image
from hub.routes.deps import ANY_SITE, SIGNED_IN, SwitchboardDep, UnitOfWorkDep, refusals, require

__all__ = ["UPLOAD_PATH", "router"]

log = logging.getLogger("telehub.hub.photos")

router = APIRouter(prefix="/api/v1", tags=["photos"], responses=refusals(*SIGNED_IN, 422))
# The one route whose body may pass the hub's usual cap (hub/app.py gives BodyLimit this).
UPLOAD_PATH = r"^/api/v1/calls/[^/]+/photos$"
VIEWERS = (StaffRole.NURSE, StaffRole.SPECIALIST)
_IMAGE_BODY = {"requestBody": {"required": True, "content": {
    kind: {"schema": {"type": "string", "format": "binary", "maxLength": MAX_PHOTO_BYTES}}
    for kind in PHOTO_TYPES}}}


def _field_error(field: str, message: str, where: str = "body") -> HTTPException:
    return HTTPException(422, [{"type": "value_error", "loc": [where, field] if where != field
                                else [field], "msg": message}])


def _current_nurse(session: Session, call_id: str) -> int | None:
    """The staff id of the nurse in the call now (the call log's participants)."""
    pid = session.scalar(sa.select(CallParticipant.participant_id).where(
        CallParticipant.call_id == call_id, CallParticipant.role == "nurse",
        CallParticipant.left_at.is_(None)).order_by(CallParticipant.id.desc()).limit(1))
    kind, _, ident = (pid or "").partition(":")
    return int(ident) if kind == "staff" and ident.isdigit() else None


async def _checked_photo(request: Request) -> CheckedPhoto:
    """The body, its type and its size checked and the image decoded (on a thread) before
    the route opens its transaction."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() not in PHOTO_TYPES:
        raise HTTPException(415, [{"type": "media_type", "loc": ["header", "content-type"],
                                   "msg": "a photo must be image/jpeg or image/png"}])
    data = await request.body()
    if len(data) > MAX_PHOTO_BYTES:  # BodyLimit cuts it off first; this says which field
        raise HTTPException(413, [{"type": "too_large", "loc": ["body"],
                                   "msg": f"a photo is at most {MAX_PHOTO_BYTES} bytes"}])
    try:
        return await run_in_threadpool(check_image, content_type, data)
    except BadPhoto as bad:
        where = ["body"] if bad.field == "body" else ["header", bad.field]
        raise HTTPException(bad.status, [{"type": "image", "loc": where,
                                          "msg": bad.message}]) from None


@router.post("/calls/{call_id}/photos", status_code=201, openapi_extra=_IMAGE_BODY,
             responses=refusals(404, 409, 413, 415))
def upload_photo(
    # The principal first: FastAPI resolves dependencies in this order, and nobody
    # unauthenticated may make the hub read and decode an image (401/403 before 415/413).
    principal: Annotated[Principal, Depends(require(*ANY_SITE))],
    call_id: Annotated[Text, Path(max_length=64)],
    photo: Annotated[CheckedPhoto, Depends(_checked_photo)],
    unit: UnitOfWorkDep,
    switchboard: SwitchboardDep,
    request_id: Annotated[Text, Query(min_length=1, max_length=64)],
    consent: Annotated[PhotoConsent, Query()],
) -> PhotoOut:
    """The caller of a connected call sends the still its nurse asked for, with the consent
    it confirmed (body: the image)."""
    session = unit.session
    call = session.get(Call, call_id)
    # Another site's call, or none: the same answer, so nothing is learnt.
    if call is None or call.site_id != principal.id:
        raise HTTPException(404, "no call with that id")
    if call.state != "connected":
        raise HTTPException(409, "photos are taken during the call only")
    out = PhotoStore(session, principal).add(call_id, call.site_id, request_id, photo, consent)
    log.info("photo %s of call %s kept (%dx%d, %d bytes)", out.photo_id, call_id, out.width,
             out.height, out.size)
    nurse = _current_nurse(session, call_id)
    if nurse is not None:
        ready = p.PhotoReady(call_id=call_id, request_id=request_id, photo_id=str(out.photo_id),
                             content_type=out.content_type, width=out.width, height=out.height,
                             size=out.size)
        unit.after_commit(functools.partial(switchboard.tell_staff, nurse, ready))
    return out


Viewer = Annotated[Principal, Depends(require(*VIEWERS))]


@router.get("/photos/{photo_id}", responses=refusals(404))
def describe_photo(photo_id: UUID, unit: UnitOfWorkDep, principal: Viewer) -> PhotoOut:
    """A photo's description (size, consent, record), for those who may see it."""
    out = PhotoStore(unit.session, principal).get(photo_id)
    if out is None:
        raise HTTPException(404, "no photo with that id")
    return out


@router.get("/photos/{photo_id}/image", response_class=Response, responses={
    **refusals(404), 200: {"content": {kind: {} for kind in PHOTO_TYPES}}})
def photo_image(photo_id: UUID, unit: UnitOfWorkDep, principal: Viewer) -> Response:
    """The photo itself; every fetch is audited (who viewed which photo when)."""
    found = PhotoStore(unit.session, principal).image(photo_id)
    if found is None:
        raise HTTPException(404, "no photo with that id")
    out, data = found
    return Response(data, media_type=out.content_type)


@router.put("/photos/{photo_id}/record", responses=refusals(404, 409))
def attach_photo(photo_id: UUID, body: PhotoAttach, unit: UnitOfWorkDep,
                 principal: Annotated[Principal, Depends(require(StaffRole.NURSE))]
                 ) -> PhotoAttached:
    """The nurse of the call attaches its photo to the call's triage record."""
    _, status = PhotoStore(unit.session, principal).attach(photo_id, body.record_uuid)
    if status == "not_found":
        raise HTTPException(404, "no photo with that id")
    if status == "no_record":
        raise HTTPException(409, "the store holds no such record yet: push the record first")
    if status == "wrong_call":
        raise _field_error("record_uuid", "the record is of another call")
    if status == "conflict":
        raise HTTPException(409, "the photo is attached to another record")
    return PhotoAttached(photo_id=photo_id, record_uuid=body.record_uuid, status=status)


@router.get("/records/{record_uuid}/photos")
def record_photos(record_uuid: UUID, unit: UnitOfWorkDep, principal: Viewer) -> list[PhotoOut]:
    """The photos attached to a record, as this principal may see them."""
    return PhotoStore(unit.session, principal).of_record(record_uuid)
