"""The central store's records: the sync runner's pushes, and the record's authority (issue 13)."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import httpx
from pydantic import TypeAdapter

from hub.client.core import _JSON, HubCore
from hub.contract.records_authority import (
    AuthoredVersionOut,
    CompetitorOut,
    DraftOut,
    DraftPage,
    ResolutionOut,
)
from hub.contract.rest import BatchItemResult, BatchResponse

_BATCH = TypeAdapter(BatchResponse)
_AUTHORED = TypeAdapter(list[AuthoredVersionOut])
_COMPETITORS = TypeAdapter(list[CompetitorOut])
_RESOLUTION = TypeAdapter(ResolutionOut)
_DRAFT = TypeAdapter(DraftOut)
_DRAFTS = TypeAdapter(DraftPage)


class CentralStore(HubCore):
    """The central store: records/sync.py pushes the SyncOutbox with these."""

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


class RecordAuthority(HubCore):
    """The record's authority (issue 13): bodies in hub/contract/records_authority.py."""

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


def _held_version(response: httpx.Response) -> int | None:
    try:
        held = response.json().get("held_version")
    except (ValueError, AttributeError):
        return None
    return held if isinstance(held, int) else None
