"""Photos of a call (issue 17): the caller's upload, the nurse's view, one attached to a record."""

from __future__ import annotations

from uuid import UUID

from pydantic import TypeAdapter

from hub.client.core import _REPORT_TIMEOUT, HubCore, _body
from hub.contract.photos import (
    PhotoAttach,
    PhotoAttached,
    PhotoConsent,
    PhotoOut,
    photo_upload_path,
)

_PHOTO = TypeAdapter(PhotoOut)
_PHOTOS = TypeAdapter(list[PhotoOut])
_ATTACHED = TypeAdapter(PhotoAttached)


class Photos(HubCore):
    """Photos of a call (issue 17; bodies in hub/contract/photos.py)."""

    def upload_photo(self, call_id: str, request_id: str, content_type: str, data: bytes,
                     consent: PhotoConsent = PhotoConsent.GIVEN) -> PhotoOut:
        """The caller sends the still the nurse asked for, with the consent it confirmed."""
        r = self._send("POST", photo_upload_path(call_id), "keep the photo", ok=(201,),
                       params={"request_id": request_id, "consent": consent.value},
                       content=data, headers={"Content-Type": content_type},
                       timeout=_REPORT_TIMEOUT)
        return self._parse(_PHOTO, r, "the photo kept")

    def photo_image(self, photo_id: UUID) -> tuple[str, bytes]:
        """The photo's media type and bytes (the hub audits every fetch as a view)."""
        r = self._send("GET", f"/api/v1/photos/{photo_id}/image", "show the photo",
                       timeout=_REPORT_TIMEOUT)
        return r.headers.get("Content-Type", ""), r.content

    def photo(self, photo_id: UUID) -> PhotoOut:
        r = self._send("GET", f"/api/v1/photos/{photo_id}", "describe the photo")
        return self._parse(_PHOTO, r, "the photo")

    def attach_photo(self, photo_id: UUID, record_uuid: UUID) -> PhotoAttached:
        """Attach a photo of the nurse's call to that call's record (the record first:
        HubNotFound until the store holds it; HubConflict if attached to another)."""
        r = self._send("PUT", f"/api/v1/photos/{photo_id}/record", "attach the photo",
                       json=_body(PhotoAttach, "attach the photo", record_uuid=record_uuid))
        return self._parse(_ATTACHED, r, "the photo attached")

    def record_photos(self, record_uuid: UUID) -> list[PhotoOut]:
        """The photos attached to a record (descriptions only)."""
        r = self._send("GET", f"/api/v1/records/{record_uuid}/photos", "list the photos")
        return self._parse(_PHOTOS, r, "the record's photos")
