"""Photos in the central store: the tables, the check of an uploaded still, and the repository.

A photo is patient data kept with the record: ``wound_photos`` holds the image, who gave
consent and when, and (once the nurse attaches it) the triage record it belongs to;
``wound_photo_events`` is its audit trail: every upload, attachment and view, by whom and
when (never the image or anything in it). Like hub/central_store.py the repository takes a
Session and never commits (the route's unit of work does).

Who sees a photo (least privilege): the nurse or specialist who took part in its call; any
nurse once it is attached to a record (any nurse may read any record); nobody else, not a
manager (the export carries a reference, not the image), not an administrator, not the site
that took it (it has no need to look again).
"""

from __future__ import annotations

import functools
import hashlib
import io
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, Session, mapped_column

from hub.contract.identity import Principal, StaffRole
from hub.contract.photos import (
    MAX_PHOTO_PIXELS,
    MAX_PHOTO_SIDE,
    MIN_PHOTO_SIDE,
    PhotoConsent,
    PhotoOut,
)
from hub.db import Base, UTCDateTime, utcnow
from hub.models import CallParticipant, central_records
from records.photos import PhotoMedia

__all__ = [
    "BadPhoto",
    "CheckedPhoto",
    "PhotoStore",
    "WoundPhoto",
    "WoundPhotoEvent",
    "check_image",
    "lookup",
    "media_for",
]

_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG"}


class WoundPhoto(Base):
    """One still from a call's camera, as the site sent it, with its consent."""

    __tablename__ = "wound_photos"

    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    request_id: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(16))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    consent: Mapped[str] = mapped_column(String(16))
    consent_by: Mapped[str] = mapped_column(String(40))  # the site's participant id
    consent_by_name: Mapped[str] = mapped_column(String(120))
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime)
    record_uuid: Mapped[UUID | None] = mapped_column(Uuid, index=True)
    attached_by: Mapped[str | None] = mapped_column(String(40))
    attached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WoundPhotoEvent(Base):
    """Who uploaded, attached or viewed which photo, and when. No image, no patient data."""

    __tablename__ = "wound_photo_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    photo_id: Mapped[UUID] = mapped_column(Uuid, index=True)
    actor: Mapped[str] = mapped_column(String(40))  # participant id, e.g. "staff:3"
    actor_name: Mapped[str] = mapped_column(String(120))
    actor_role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))  # upload, attach, view


# --- the check of an upload ---------------------------------------------------------------


class BadPhoto(ValueError):
    """An upload the hub will not keep; ``status`` is the HTTP answer (415 or 422)."""

    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(message)
        self.status, self.field, self.message = status, field, message


@dataclass(frozen=True, slots=True)
class CheckedPhoto:
    content_type: str
    width: int
    height: int
    data: bytes
    sha256: str


def check_image(content_type: str, data: bytes) -> CheckedPhoto:
    """The upload decoded whole (so its size is the picture's, not what a header claims),
    or BadPhoto naming the field: ``content-type`` (415) or ``body`` (422)."""
    from PIL import Image, UnidentifiedImageError

    kind = content_type.split(";", 1)[0].strip().lower()
    if kind not in _FORMATS:
        raise BadPhoto(415, "content-type", "a photo must be image/jpeg or image/png")
    if not data:
        raise BadPhoto(422, "body", "the body is empty")
    try:
        with Image.open(io.BytesIO(data), formats=[_FORMATS[kind]]) as image:
            width, height = image.size
            if max(width, height) > MAX_PHOTO_SIDE or width * height > MAX_PHOTO_PIXELS:
                raise BadPhoto(422, "body", f"the picture is over {MAX_PHOTO_SIDE} pixels a "
                                            f"side or {MAX_PHOTO_PIXELS} pixels in all")
            if min(width, height) < MIN_PHOTO_SIDE:
                raise BadPhoto(422, "body", f"the picture is under {MIN_PHOTO_SIDE} pixels "
                                            "a side")
            image.load()  # decodes every pixel: a truncated or corrupt file fails here
    except BadPhoto:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
            Image.DecompressionBombError):
        raise BadPhoto(422, "body", f"the body is not a whole {_FORMATS[kind]} image") from None
    return CheckedPhoto(kind, width, height, data, hashlib.sha256(data).hexdigest())


# --- the repository -----------------------------------------------------------------------

Refusal = Literal["not_found", "conflict"]


def _out(row: WoundPhoto) -> PhotoOut:
    return PhotoOut(
        photo_id=row.id, call_id=row.call_id, request_id=row.request_id,
        content_type=row.content_type, width=row.width, height=row.height, size=row.size,
        sha256=row.sha256, consent=PhotoConsent(row.consent), consent_by=row.consent_by,
        consent_by_name=row.consent_by_name, taken_at=row.taken_at,
        record_uuid=row.record_uuid, attached_by=row.attached_by, attached_at=row.attached_at,
    )  # fmt: skip


class PhotoStore:
    """The photos of the central store for one principal; every view and write audited."""

    def __init__(self, session: Session, principal: Principal) -> None:
        self._session = session
        self._principal = principal

    def _audit(self, photo_id: UUID, action: str) -> None:
        p = self._principal
        self._session.add(WoundPhotoEvent(
            at=utcnow(), photo_id=photo_id, actor=p.participant_id, actor_name=p.name[:120],
            actor_role=str(p.role), action=action))

    def _took_part(self, call_id: str) -> bool:
        return self._session.scalar(sa.select(CallParticipant.id).where(
            CallParticipant.call_id == call_id,
            CallParticipant.participant_id == self._principal.participant_id).limit(1)
        ) is not None

    def _visible(self, row: WoundPhoto) -> bool:
        """Least privilege (the module's docstring); the route has checked the role."""
        role = self._principal.role
        if role is StaffRole.NURSE and row.record_uuid is not None:
            return True
        if role in (StaffRole.NURSE, StaffRole.SPECIALIST):
            return self._took_part(row.call_id)
        return False

    def add(self, call_id: str, site_id: int, request_id: str, photo: CheckedPhoto,
            consent: PhotoConsent) -> PhotoOut:
        p = self._principal
        row = WoundPhoto(
            id=uuid.uuid4(), call_id=call_id, site_id=site_id, request_id=request_id,
            content_type=photo.content_type, width=photo.width, height=photo.height,
            size=len(photo.data), sha256=photo.sha256, data=photo.data, consent=consent.value,
            consent_by=p.participant_id, consent_by_name=p.name[:120], taken_at=utcnow())
        self._session.add(row)
        self._audit(row.id, "upload")
        self._session.flush()
        return _out(row)

    def image(self, photo_id: UUID) -> tuple[PhotoOut, bytes] | None:
        """The photo and its bytes, audited as a view; None if there is none this principal
        may see (it learns nothing, not even that one exists)."""
        row = self._session.get(WoundPhoto, photo_id)
        if row is None or not self._visible(row):
            return None
        self._audit(photo_id, "view")
        return _out(row), row.data

    def get(self, photo_id: UUID) -> PhotoOut | None:
        row = self._session.get(WoundPhoto, photo_id)
        return _out(row) if row is not None and self._visible(row) else None

    def attach(self, photo_id: UUID, record_uuid: UUID) -> tuple[PhotoOut | None, str]:
        """Attach the photo to its call's record: ``attached``, ``unchanged`` (a retry), or
        a refusal: ``not_found`` (no such photo for this nurse), ``no_record`` (the record
        is not in the store yet: the desk pushes the record first), ``wrong_call`` (the
        record is another call's), ``conflict`` (already attached to another record)."""
        row = self._session.get(WoundPhoto, photo_id)
        if row is None or not self._took_part(row.call_id):
            return None, "not_found"
        t = central_records
        record_call = self._session.execute(
            sa.select(t.c.call_id).where(t.c.uuid == record_uuid)).first()
        if record_call is None:
            return _out(row), "no_record"
        if record_call[0] != row.call_id:
            return _out(row), "wrong_call"
        if row.record_uuid is not None:
            return _out(row), "unchanged" if row.record_uuid == record_uuid else "conflict"
        row.record_uuid, row.attached_by = record_uuid, self._principal.participant_id
        row.attached_at = utcnow()
        self._audit(photo_id, "attach")
        self._session.flush()
        return _out(row), "attached"

    def of_record(self, record_uuid: UUID) -> list[PhotoOut]:
        """The photos attached to a record (their descriptions, not their bytes)."""
        rows = self._session.scalars(sa.select(WoundPhoto).where(
            WoundPhoto.record_uuid == record_uuid).order_by(WoundPhoto.taken_at)).all()
        return [_out(r) for r in rows if self._visible(r)]

    def events(self, photo_id: UUID) -> list[tuple[str, str, datetime]]:
        """(actor, action, at) of every event of one photo, oldest first (for audits)."""
        e = WoundPhotoEvent
        return [(a, b, c) for a, b, c in self._session.execute(
            sa.select(e.actor, e.action, e.at).where(e.photo_id == photo_id).order_by(e.id))]


_PHOTOS = WoundPhoto.__table__


def lookup(conn: sa.Connection) -> Callable[[Sequence[UUID]], Mapping[UUID, list[PhotoMedia]]]:
    """What the FHIR export asks for each chunk of records (records.export.PhotoLookup)."""
    return functools.partial(media_for, conn)


def media_for(conn: sa.Connection, record_uuids: Sequence[UUID]) -> Mapping[UUID,
                                                                            list[PhotoMedia]]:
    """The attached photos of these records, for the FHIR export's Media resources: what
    they are and where they are, never their bytes (an export goes to commissioners; the
    image stays behind the audited route)."""
    if not record_uuids:
        return {}
    t: Any = _PHOTOS
    out: dict[UUID, list[PhotoMedia]] = {}
    for row in conn.execute(
        sa.select(t.c.id, t.c.record_uuid, t.c.content_type, t.c.width, t.c.height, t.c.size,
                  t.c.sha256, t.c.taken_at, t.c.consent)
        .where(t.c.record_uuid.in_(list(record_uuids)))
        .order_by(t.c.taken_at)
    ):
        out.setdefault(row.record_uuid, []).append(PhotoMedia(
            photo_id=row.id, content_type=row.content_type, width=row.width,
            height=row.height, size=row.size, sha256=row.sha256, taken_at=row.taken_at,
            consent=row.consent))
    return out
