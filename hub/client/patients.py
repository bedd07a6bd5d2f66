"""The hub-wide history, a call's context, the follow-up worklist and the residents (issue 13)."""

from __future__ import annotations

from uuid import UUID

from pydantic import TypeAdapter

from hub.client.core import _JSON, HubCore
from hub.client.errors import HubNotFound
from hub.contract.followups import Worklist, WorklistQuery
from hub.contract.history import ContextQuery, HistoryPage, HistoryQuery, PatientContext
from hub.contract.residents import ResidentOut, ResidentVersionOut, ResidentWrite

_HISTORY = TypeAdapter(HistoryPage)
_CONTEXT = TypeAdapter(PatientContext)
_WORKLIST = TypeAdapter(Worklist)
_RESIDENT = TypeAdapter(ResidentOut)
_RESIDENTS = TypeAdapter(list[ResidentOut])
_RESIDENT_VERSIONS = TypeAdapter(list[ResidentVersionOut])


class History(HubCore):
    """The hub-wide history and the context of a call (hub/contract/history.py)."""

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


class Residents(HubCore):
    """The follow-up worklist and the residents known to the hub (issue 13)."""

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
