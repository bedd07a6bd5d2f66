"""The hub's REST API as its clients see it: one HubClient, its errors, and one Backoff.

Every program that talks to the hub over HTTP (the desk, the station, the manager view, the
sync runner, ``telehub-export``) does it through :class:`HubClient`. Like hub/contract, this
package imports nothing of the hub's service code (no FastAPI, SQLAlchemy or hub.models): the
bodies it sends and returns are the contract's (hub/contract/rest.py).

Its errors (errors.py) come in one small family under :class:`HubError`, named after what
went wrong, and never hold a token, a password or patient data.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import httpx
from pydantic import TypeAdapter

from hub.client.accounts import Accounts
from hub.client.addresses import HubAddresses, normalise_hub, ws_url
from hub.client.backoff import SITE_RECONNECT_SPREAD_S, Backoff, site_backoff
from hub.client.clinics import Clinics, Invitations
from hub.client.core import _JSON, _REPORT_TIMEOUT, _body
from hub.client.errors import (
    HubConflict,
    HubError,
    HubFailed,
    HubNeedsSecondFactor,
    HubNotFound,
    HubRefused,
    HubUnreachable,
)
from hub.client.reports import Download, Reports
from hub.client.signin import SignIn
from hub.contract.followups import Worklist, WorklistQuery
from hub.contract.history import ContextQuery, HistoryPage, HistoryQuery, PatientContext
from hub.contract.photos import (
    PhotoAttach,
    PhotoAttached,
    PhotoConsent,
    PhotoOut,
    photo_upload_path,
)
from hub.contract.records_authority import (
    AuthoredVersionOut,
    CompetitorOut,
    DraftOut,
    DraftPage,
    ResolutionOut,
)
from hub.contract.residents import ResidentOut, ResidentVersionOut, ResidentWrite
from hub.contract.rest import BatchItemResult, BatchResponse

__all__ = [
    "SITE_RECONNECT_SPREAD_S",
    "Backoff",
    "Download",
    "HubAddresses",
    "HubClient",
    "HubConflict",
    "HubError",
    "HubFailed",
    "HubNeedsSecondFactor",
    "HubNotFound",
    "HubRefused",
    "HubUnreachable",
    "normalise_hub",
    "site_backoff",
    "ws_url",
]

_BATCH = TypeAdapter(BatchResponse)
_AUTHORED = TypeAdapter(list[AuthoredVersionOut])
_COMPETITORS = TypeAdapter(list[CompetitorOut])
_RESOLUTION = TypeAdapter(ResolutionOut)
_DRAFT = TypeAdapter(DraftOut)
_DRAFTS = TypeAdapter(DraftPage)
_PHOTO = TypeAdapter(PhotoOut)
_PHOTOS = TypeAdapter(list[PhotoOut])
_ATTACHED = TypeAdapter(PhotoAttached)
_HISTORY = TypeAdapter(HistoryPage)
_CONTEXT = TypeAdapter(PatientContext)
_WORKLIST = TypeAdapter(Worklist)
_RESIDENT = TypeAdapter(ResidentOut)
_RESIDENTS = TypeAdapter(list[ResidentOut])
_RESIDENT_VERSIONS = TypeAdapter(list[ResidentVersionOut])


class HubClient(SignIn, Clinics, Invitations, Accounts, Reports):
    """One hub's REST API, blocking: run it off the UI thread.

    ``http`` is passed in (tests hand in one built on ``httpx.MockTransport``); its owner
    closes it. ``token`` is the bearer token sent with every request once known; the
    sign-in methods set it, with :attr:`principal`, from the hub's answer.
    """

    # --- the hub-wide history and the context of a call (hub/contract/history.py) ----------

    def history(self, query: HistoryQuery) -> HistoryPage:
        """One page of the hub's encounters matching ``query`` (newest first); the next page
        is ``query`` with ``cursor`` set to this page's ``next_cursor``."""
        r = self._send("GET", "/api/v1/history", "search the history", params=query.params())
        return self._parse(_HISTORY, r, "the history")

    def context(self, call_id: str) -> PatientContext:
        """The patient's and the site's recent encounters for a call that is waiting or that
        this nurse took part in (any other: :class:`HubNotFound`)."""
        r = self._send("GET", "/api/v1/context", "give the call's context",
                       params=ContextQuery(call_id=call_id).params())
        return self._parse(_CONTEXT, r, "the call's context")

    # --- the central store: records/sync.py pushes the SyncOutbox with these ---------------

    def put_record(self, record_uuid: UUID, version: int, payload: str) -> BatchItemResult:
        """PUT one signed-off version; ``payload`` is its TriageRecord JSON, sent as it is.

        The store's decision comes back as a result, a conflict (409) included: that is an
        answer about this record, not trouble with the hub.
        """
        r = self._send("PUT", f"/api/v1/records/{record_uuid}", "store the record",
                       ok=(200, 201, 409), content=payload.encode(), headers=_JSON)
        if r.status_code == 409:
            return BatchItemResult(uuid=record_uuid, version=version, status="conflict",
                                   held_version=_held_version(r))  # fmt: skip
        return BatchItemResult(uuid=record_uuid, version=version,
                               status="stored" if r.status_code == 201 else "unchanged")

    def put_records(self, payloads: Sequence[str]) -> BatchResponse:
        """POST a batch (TriageRecord JSONs, 1 to MAX_BATCH), one result per record in order.

        A batch refused as a whole (422 for any invalid record, 413 when too many) raises
        :class:`HubRefused`; the sync runner then sends its records one by one.
        """
        # The payloads are already JSON: splice them rather than parse and re-serialise.
        body = ('{"records":[' + ",".join(payloads) + "]}").encode()
        r = self._send("POST", "/api/v1/records:batch", "store the records", content=body,
                       headers=_JSON)
        return self._parse(_BATCH, r, "a batch of records")

    # --- photos of a call (issue 17; bodies in hub/contract/photos.py) --------------------

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
    # --- the record's authority (issue 13): bodies in hub/contract/records_authority.py -----

    def record_payload(self, record_uuid: UUID, version: int | None = None) -> str:
        """The held version's TriageRecord JSON exactly as the hub serves it (latest when
        ``version`` is None); a desk adopts it as it is. 404: :class:`HubNotFound`."""
        params = None if version is None else {"version": str(version)}
        r = self._send("GET", f"/api/v1/records/{record_uuid}", "read the record",
                       params=params)
        return r.text

    def record_versions(self, record_uuid: UUID) -> list[AuthoredVersionOut]:
        """Every held version of the record, oldest first, with who wrote it as the hub saw."""
        r = self._send("GET", f"/api/v1/records/{record_uuid}/versions", "list the versions")
        return self._parse(_AUTHORED, r, "the record's versions")

    def competitors(self, record_uuid: UUID) -> list[CompetitorOut]:
        """The takes of the record's versions the hub did not take, oldest first."""
        r = self._send("GET", f"/api/v1/records/{record_uuid}/competitors",
                       "list the competing versions")
        return self._parse(_COMPETITORS, r, "the competing versions")

    def put_resolution(self, record_uuid: UUID, supersedes_version: int,
                       competing: Sequence[str], resolved: str) -> ResolutionOut:
        """POST a resolution: ``resolved`` (TriageRecord JSON of version
        ``supersedes_version + 1``) supersedes the held version and ``competing`` (this
        desk's own takes, JSON, sent as they are). A 409 comes back as a result."""
        body = ('{"supersedes_version":' + str(int(supersedes_version)) + ',"competing":['
                + ",".join(competing) + '],"resolved":' + resolved + "}").encode()
        r = self._send("POST", f"/api/v1/records/{record_uuid}/resolution",
                       "store the resolution", ok=(200, 201, 409), content=body,
                       headers=_JSON)
        return self._parse(_RESOLUTION, r, "a resolution")

    def put_draft(self, record_uuid: UUID, payload: str) -> DraftOut:
        """PUT this principal's draft (TriageRecord JSON, status draft) to be kept on the hub."""
        r = self._send("PUT", f"/api/v1/drafts/{record_uuid}", "keep the draft",
                       content=payload.encode(), headers=_JSON)
        return self._parse(_DRAFT, r, "a draft")

    def delete_draft(self, record_uuid: UUID) -> None:
        """Forget this principal's draft on the hub (gone already: no error)."""
        self._send("DELETE", f"/api/v1/drafts/{record_uuid}", "forget the draft", ok=(204,))

    def drafts(self) -> DraftPage:
        """This principal's own drafts kept on the hub, most recently changed first."""
        r = self._send("GET", "/api/v1/drafts", "list the drafts")
        return self._parse(_DRAFTS, r, "the drafts")

    # --- the follow-up worklist and the residents known to the hub (issue 13) -------------

    def follow_ups(self, query: WorklistQuery | None = None) -> Worklist:
        """The hub-wide follow-up worklist: due, overdue and done checks (nurse, manager)."""
        r = self._send("GET", "/api/v1/follow-ups", "list the follow-ups",
                       params=(query or WorklistQuery()).params())
        return self._parse(_WORKLIST, r, "the follow-up worklist")

    def residents(self) -> list[ResidentOut]:
        """The signed-in site's residents at their current versions."""
        r = self._send("GET", "/api/v1/residents", "list the residents")
        return self._parse(_RESIDENTS, r, "the residents")

    def put_resident(self, resident_id: UUID, write: ResidentWrite) -> ResidentOut:
        """Write a resident of the signed-in site; 409 (:class:`HubConflict`) when it is no
        longer at ``write.base_version``."""
        r = self._send("PUT", f"/api/v1/residents/{resident_id}", "save the resident",
                       content=write.model_dump_json().encode(), headers=_JSON)
        return self._parse(_RESIDENT, r, "the resident")

    def resident_versions(self, resident_id: UUID) -> list[ResidentVersionOut]:
        r = self._send("GET", f"/api/v1/residents/{resident_id}/versions",
                       "list the resident's versions")
        return self._parse(_RESIDENT_VERSIONS, r, "the resident's versions")

    def call_resident(self, call_id: str) -> ResidentOut | None:
        """The resident a call is about as their site recorded them; None if none is known."""
        try:
            r = self._send("GET", f"/api/v1/calls/{call_id}/resident", "give the resident")
        except HubNotFound:
            return None
        return self._parse(_RESIDENT, r, "the resident")


def _held_version(response: httpx.Response) -> int | None:
    try:
        held = response.json().get("held_version")
    except (ValueError, AttributeError):
        return None
    return held if isinstance(held, int) else None
