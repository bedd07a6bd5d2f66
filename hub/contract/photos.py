"""The REST bodies and limits of a photo into the record (issue 17), for the hub and its clients.

The caller's station or page sends the still as the raw body of
``POST /api/v1/calls/{call_id}/photos?request_id=...&consent=given`` with ``Content-Type``
``image/jpeg`` or ``image/png`` (at most :data:`MAX_PHOTO_BYTES`); the hub decodes it to
check it and answers :class:`PhotoOut`. The nurse's desk reads ``GET /photos/{id}/image``
(every read audited), attaches it with ``PUT /photos/{id}/record`` :class:`PhotoAttach`, and
History lists a record's photos with ``GET /records/{uuid}/photos`` -> ``list[PhotoOut]``.
The messages that ask for a photo are in signaling.py (``photo_request`` ...).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from hub.contract.fields import Text

__all__ = [
    "MAX_PHOTO_BYTES",
    "MAX_PHOTO_PIXELS",
    "MAX_PHOTO_SIDE",
    "MIN_PHOTO_SIDE",
    "PHOTO_TYPES",
    "PhotoAttach",
    "PhotoAttached",
    "PhotoConsent",
    "PhotoOut",
    "photo_upload_path",
]

# A 12-megapixel phone or document camera gives a JPEG of 3-6 MB at quality 90; a PNG of a
# 1080p frame about 3 MB. Anything past 8 MiB is refused (413) before it is read whole.
MAX_PHOTO_BYTES = 8 * 1024 * 1024
# Checked from the image's header before it is decoded: a small file can claim a huge
# picture (a "decompression bomb"), and decoding it would take the hub's memory.
MAX_PHOTO_SIDE = 8192
MAX_PHOTO_PIXELS = 40_000_000
MIN_PHOTO_SIDE = 16
PHOTO_TYPES = ("image/jpeg", "image/png")


class PhotoConsent(enum.StrEnum):
    """What the site confirmed before the photo was taken. A decline sends no photo (the
    ``photo_decline`` message), so an upload must say ``given``."""

    GIVEN = "given"  # the care-home worker confirmed the resident (or patient) agreed


def photo_upload_path(call_id: str) -> str:
    return f"/api/v1/calls/{call_id}/photos"


class PhotoOut(BaseModel):
    """One photo as the hub holds it (never its bytes: those are at /photos/{id}/image)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    photo_id: UUID
    call_id: str
    request_id: str
    content_type: str
    width: int
    height: int
    size: int
    sha256: str
    consent: PhotoConsent
    consent_by: str  # who confirmed it: the site's participant id, from its token
    consent_by_name: str
    taken_at: datetime  # when the hub received it
    record_uuid: UUID | None = None
    attached_by: str | None = None
    attached_at: datetime | None = None


class PhotoAttach(BaseModel):
    """The nurse attaches a photo of their call to that call's triage record."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    record_uuid: UUID


class PhotoAttached(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    photo_id: UUID
    record_uuid: UUID
    status: Annotated[Text, Field(max_length=16)]  # "attached" or "unchanged"
