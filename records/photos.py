"""Photos with the record: the desk's copy and its sync, and the FHIR Media of an export.

A photo (issue 17) reaches the central store from the caller's station or page; the desk
fetches it once (a view the hub audits), keeps it here as it arrived (so a desk that goes
offline still shows it), and the nurse attaches it to the call's record. The attachment is
queued like a signed-off record and pushed by :class:`PhotoSync` once the record itself is
in the store (the hub attaches a photo only to a record of the same call), retrying with
the same :class:`~hub.client.Backoff` while the hub is unreachable.

The FHIR export carries each attached photo as a Media resource (:func:`media_resource`)
whose ``encounter`` is the record's Encounter; the image stays behind the hub's audited
route (Attachment.url), never inlined: an export goes to commissioners.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.client import Backoff, HubClient, HubConflict, HubError, HubNotFound, HubRefused
from records.models import AuditEventRow, OutboxRow, WoundPhotoRow
from records.schema import utc_now
from records.store import Store

__all__ = [
    "HeldPhoto",
    "LocalPhotos",
    "PhotoMedia",
    "PhotoSync",
    "PhotoSyncState",
    "media_resource",
]

log = logging.getLogger(__name__)

# FHIR R4 Media.type is bound (extensible) to HL7's media-type code system (image, video,
# audio): a code of the FHIR specification itself, like v3-ActCode's VR, not a clinical one.
MEDIA_TYPE = "http://terminology.hl7.org/CodeSystem/media-type"


class PhotoSyncState(enum.StrEnum):
    PENDING = "pending"  # attached here, not yet in the central store
    SYNCED = "synced"
    FAILED = "failed"  # the hub refused it for good (another record's photo...)


@dataclass(frozen=True, slots=True)
class PhotoMedia:
    """What an export says of one attached photo (never its bytes)."""

    photo_id: UUID
    content_type: str
    width: int
    height: int
    size: int
    sha256: str
    taken_at: datetime
    consent: str


def media_resource(photo: PhotoMedia, encounter: UUID,
                   patient: UUID | None) -> dict[str, Any]:
    """A FHIR R4 Media resource of a photo of the encounter."""
    resource: dict[str, Any] = {
        "resourceType": "Media",
        "id": str(photo.photo_id),
        "identifier": [{"system": "urn:telehub:photo-sha256", "value": photo.sha256}],
        "status": "completed",
        "type": {"coding": [{"system": MEDIA_TYPE, "code": "image", "display": "Image"}]},
        "encounter": {"reference": f"urn:uuid:{encounter}", "type": "Encounter"},
        "createdDateTime": photo.taken_at.isoformat().replace("+00:00", "Z"),
        "width": photo.width,
        "height": photo.height,
        "content": {
            "contentType": photo.content_type,
            # Relative to the hub that exported it; a fetch there is audited.
            "url": f"api/v1/photos/{photo.photo_id}/image",
            "size": photo.size,
            "title": "Photo taken during the video call",
        },
        "note": [{"text": f"Consent to the photo: {photo.consent} (confirmed by the site)"}],
    }
    if patient is not None:
        resource["subject"] = {"reference": f"urn:uuid:{patient}", "type": "Patient"}
    return resource


@dataclass(frozen=True, slots=True)
class HeldPhoto:
    """A photo as the desk holds it (with its bytes)."""

    photo_id: UUID
    call_id: str
    request_id: str
    content_type: str
    width: int
    height: int
    size: int
    sha256: str
    data: bytes
    consent: str
    consent_by_name: str
    taken_at: datetime
    record_uuid: UUID | None
    sync_state: PhotoSyncState | None


def _held(row: WoundPhotoRow) -> HeldPhoto:
    return HeldPhoto(
        photo_id=row.photo_id, call_id=row.call_id, request_id=row.request_id,
        content_type=row.content_type, width=row.width, height=row.height, size=row.size,
        sha256=row.sha256, data=row.data, consent=row.consent,
        consent_by_name=row.consent_by_name, taken_at=row.taken_at,
        record_uuid=row.record_uuid,
        sync_state=PhotoSyncState(row.sync_state) if row.sync_state else None,
    )  # fmt: skip


class LocalPhotos:
    """The desk's photos; takes a Session and never commits (the store's unit of work does).
    Every look at a photo is written to the store's audit log, as a record read is."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def keep(self, photo: HeldPhoto, actor: str) -> None:
        """Keep a photo fetched from the hub (again: nothing changes)."""
        if self._session.get(WoundPhotoRow, photo.photo_id) is not None:
            return
        self._session.add(WoundPhotoRow(
            photo_id=photo.photo_id, call_id=photo.call_id, request_id=photo.request_id,
            content_type=photo.content_type, width=photo.width, height=photo.height,
            size=photo.size, sha256=photo.sha256, data=photo.data, consent=photo.consent,
            consent_by_name=photo.consent_by_name, taken_at=photo.taken_at,
            received_at=utc_now(), attempts=0))
        self._audit(actor, photo.photo_id, None, "received")

    def _audit(self, actor: str, photo_id: UUID, record_uuid: UUID | None, what: str) -> None:
        self._session.add(AuditEventRow(at=utc_now(), actor=actor, action="read",
                                        record_uuid=record_uuid, version=None,
                                        detail=f"photo {photo_id} {what}"))

    def get(self, photo_id: UUID, actor: str) -> HeldPhoto | None:
        """The photo, its look audited; None if the desk does not hold it."""
        row = self._session.get(WoundPhotoRow, photo_id)
        if row is None:
            return None
        self._audit(actor, photo_id, row.record_uuid, "viewed")
        return _held(row)

    def attach(self, photo_id: UUID, record_uuid: UUID, actor: str) -> HeldPhoto:
        """Attach it to the call's record and queue the attachment for sync."""
        row = self._session.get(WoundPhotoRow, photo_id)
        if row is None:
            raise LookupError("the desk holds no such photo")
        if row.record_uuid is not None and row.record_uuid != record_uuid:
            raise ValueError("the photo is attached to another record")
        if row.record_uuid is None:
            row.record_uuid, row.attached_at = record_uuid, utc_now()
            row.sync_state, row.next_attempt_at = PhotoSyncState.PENDING.value, utc_now()
            self._audit(actor, photo_id, record_uuid, "attached")
        self._session.flush()
        return _held(row)

    def of_record(self, record_uuid: UUID) -> list[HeldPhoto]:
        rows = self._session.scalars(sa.select(WoundPhotoRow).where(
            WoundPhotoRow.record_uuid == record_uuid).order_by(WoundPhotoRow.taken_at)).all()
        return [_held(r) for r in rows]

    def due(self, limit: int = 20) -> list[tuple[UUID, UUID]]:
        """(photo, record) attachments to push now: pending, due, and their record already
        synced (the hub attaches only to a record it holds)."""
        w, o = WoundPhotoRow, OutboxRow
        synced = sa.select(o.record_uuid).where(o.state == "synced")
        rows = self._session.execute(
            sa.select(w.photo_id, w.record_uuid)
            .where(w.sync_state == PhotoSyncState.PENDING.value,
                   w.next_attempt_at <= utc_now(), w.record_uuid.in_(synced))
            .order_by(w.attached_at).limit(limit)).all()
        return [(p, r) for p, r in rows if r is not None]

    def mark(self, photo_id: UUID, state: PhotoSyncState, error: str | None = None) -> None:
        row = self._session.get(WoundPhotoRow, photo_id)
        if row is not None:
            row.sync_state, row.last_error = state.value, error

    def postpone(self, photo_ids: Sequence[UUID], delay: timedelta, error: str) -> None:
        for photo_id in photo_ids:
            row = self._session.get(WoundPhotoRow, photo_id)
            if row is not None:
                row.attempts += 1
                row.next_attempt_at = utc_now() + delay
                row.last_error = error[:200]

    def pending(self) -> int:
        return int(self._session.scalar(sa.select(sa.func.count()).select_from(
            WoundPhotoRow).where(WoundPhotoRow.sync_state == PhotoSyncState.PENDING.value))
            or 0)


class PhotoSync:
    """Pushes the desk's attachments to the central store (run on the desk's sync thread,
    after the records: an attachment waits for its record)."""

    def __init__(self, store: Store, hub: HubClient, backoff: Backoff | None = None) -> None:
        self._store, self._hub = store, hub
        self._backoff = backoff or Backoff(initial=1.0, maximum=300.0)
        self.failures = 0

    def push_once(self) -> int:
        """One round; returns how many attachments settled (synced or failed)."""
        with self._store.unit_of_work() as uow:
            due = LocalPhotos(uow.session).due()
        settled = 0
        for n, (photo_id, record_uuid) in enumerate(due):
            try:
                self._hub.attach_photo(photo_id, record_uuid)
                state, error = PhotoSyncState.SYNCED, None
            except (HubNotFound, HubConflict, HubRefused) as exc:
                if exc.status in (401, 403) or exc.status is None:
                    self._postpone(due[n:], exc.summary)  # not now: the token lapsed
                    return settled
                state, error = PhotoSyncState.FAILED, exc.summary
                log.warning("photo %s refused by the store: %s", photo_id, exc.summary)
            except HubError as exc:
                self._postpone(due[n:], exc.summary)
                return settled
            self.failures = 0
            with self._store.unit_of_work() as uow:
                LocalPhotos(uow.session).mark(photo_id, state, error)
            settled += 1
        return settled

    def _postpone(self, left: Sequence[tuple[UUID, UUID]], error: str) -> None:
        self.failures += 1
        delay = timedelta(seconds=self._backoff.delay(self.failures - 1))
        with self._store.unit_of_work() as uow:
            LocalPhotos(uow.session).postpone([p for p, _ in left], delay, error)
        log.info("photo attachments wait (%s): %d", error, len(left))
