"""The desk's History: the hub's encounters merged with this desk's versions not yet on the hub.

The hub answers a search a keyset page at a time (``HubClient.history``); this desk's own
store adds what the hub cannot know yet (drafts, and signed-off versions waiting to sync, in
conflict or refused), filtered by the same rules (hub/contract/history.py). Where a record is
in both, the newer version wins; a row from this desk that the hub does not hold is marked
(its ``sync``). With the hub out of reach, the desk's own records are all there is, and
:class:`HistoryResult` says so. No Qt: the desk runs :func:`fetch` on a worker thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from uuid import UUID

from hub.client import HubClient, HubError, HubFailed, HubUnreachable
from hub.contract.history import (
    EncounterSummary,
    FollowUpState,
    HistoryPage,
    HistoryQuery,
    words_match,
)
from records import nhs_number
from records.store import RecordSummary, Store, SyncState

__all__ = ["HistoryResult", "HistoryRow", "fetch", "local_matches", "merge"]

_LOCAL_LIMIT = 2_000  # of this desk's own records read for a search (a desk holds few)


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One encounter as the desk's History lists it.

    ``sync`` is where this desk's version stands (None for a record of the hub's that this
    desk never held); ``on_hub`` whether the row is the hub's version (False: only this desk
    holds this version, so no other desk can see it yet).
    """

    uuid: UUID
    version: int
    status: str  # draft, signed_off
    call_at: datetime
    site: str
    setting: str
    patient: str
    nhs_number: str | None
    problem: str
    news2_total: int | None
    news2_band: str | None
    news2_complete: bool | None
    outcome: str | None
    follow_up: FollowUpState | None
    sync: SyncState | None
    on_hub: bool

    @property
    def unsynced(self) -> bool:
        return not self.on_hub


@dataclass(frozen=True, slots=True)
class HistoryResult:
    """A page of History. ``reachable`` False: the hub could not be asked, ``problem`` says
    why in plain words, and the rows are this desk's own records only."""

    query: HistoryQuery
    rows: list[HistoryRow]
    next_cursor: str | None
    reachable: bool
    problem: str | None = None
    local_only: int = 0  # rows only this desk holds (drafts, not yet synced)


def local_matches(row: RecordSummary, query: HistoryQuery) -> bool:
    """Whether one of this desk's records matches ``query``, by the hub's own rules."""
    if query.nhs_number:
        try:
            wanted = nhs_number.normalise(query.nhs_number)
        except ValueError:
            return False
        if row.nhs_number != wanted:
            return False
    if query.site and row.site_id != query.site:
        return False
    if query.outcome and row.outcome != query.outcome:
        return False
    at = row.call_at.astimezone(UTC)
    if query.start is not None and at < datetime.combine(query.start, time(), UTC):
        return False
    if query.end is not None and at >= datetime.combine(query.end + timedelta(days=1),
                                                        time(), UTC):
        return False
    return words_match(query.name, row.patient) and words_match(query.problem, row.problem)


def _from_hub(e: EncounterSummary, mine: RecordSummary | None) -> HistoryRow:
    # This desk's sync state only for the very version it holds.
    sync = mine.sync if mine is not None and mine.version == e.version else None
    return HistoryRow(
        uuid=e.uuid, version=e.version, status="signed_off", call_at=e.occurred_at,
        site=e.site, setting=e.setting, patient=e.patient_name or "", nhs_number=e.nhs_number,
        problem=e.problem, news2_total=e.news2_total, news2_band=e.news2_band,
        news2_complete=e.news2_complete, outcome=e.outcome, follow_up=e.follow_up,
        sync=sync, on_hub=True)


def _from_desk(r: RecordSummary, on_hub: bool = False) -> HistoryRow:
    return HistoryRow(
        uuid=r.uuid, version=r.version, status=r.status, call_at=r.call_at, site=r.site_id,
        setting=r.setting, patient=r.patient, nhs_number=r.nhs_number, problem=r.problem,
        news2_total=r.news2_total, news2_band=r.news2_band, news2_complete=r.news2_complete,
        outcome=r.outcome, follow_up=None, sync=r.sync, on_hub=on_hub)


def _not_on_hub(r: RecordSummary) -> bool:
    """A version the hub cannot have: a draft, or one not (yet) stored there."""
    return r.status == "draft" or r.sync is not SyncState.SYNCED


def merge(page: HistoryPage, mine: Sequence[RecordSummary], first_page: bool
          ) -> list[HistoryRow]:
    """The hub's page with this desk's records: a newer version of this desk's replaces the
    hub's row in place; on the first page, this desk's records the hub does not hold yet
    come first (newest first), since no page of the hub's can bring them. ``mine`` are the
    desk's records matching the same query."""
    by_uuid = {r.uuid: r for r in mine}
    waiting = {r.uuid: r for r in mine if _not_on_hub(r)}
    on_page = {e.uuid for e in page.encounters}
    rows = [_from_desk(r) for r in sorted(waiting.values(), key=lambda r: r.call_at,
                                          reverse=True)
            if r.uuid not in on_page] if first_page else []
    for e in page.encounters:
        local = by_uuid.get(e.uuid)
        if local is None or local.version <= e.version:
            rows.append(_from_hub(e, local))
        elif first_page:
            rows.append(_from_desk(local))  # this desk's newer version, in the hub's place
        # else: this desk's newer version was listed on the first page
    return rows


def _mine(store: Store, query: HistoryQuery) -> list[RecordSummary]:
    with store.unit_of_work() as uow:
        rows = uow.records.search(limit=_LOCAL_LIMIT)
    return [r for r in rows if local_matches(r, query)]


def fetch(hub: HubClient | None, store: Store, query: HistoryQuery) -> HistoryResult:
    """One page of History (blocking: the hub, then this desk's store)."""
    mine = _mine(store, query)
    if hub is None:
        return _offline(query, mine, "this desk has no hub to ask")
    try:
        page = hub.history(query)
    except (HubUnreachable, HubFailed) as exc:
        return _offline(query, mine, str(exc))
    except HubError as exc:  # refused (the session ended, a value the hub will not take)
        return _offline(query, mine, str(exc))
    rows = merge(page, mine, first_page=query.cursor is None)
    return HistoryResult(query, rows, page.next_cursor, True,
                         local_only=sum(1 for r in rows if r.unsynced))


def _offline(query: HistoryQuery, mine: list[RecordSummary], why: str) -> HistoryResult:
    """This desk's own records only (newest call first), one page: all the desk has."""
    ordered = sorted(mine, key=lambda r: r.call_at, reverse=True)
    rows = [_from_desk(r, on_hub=not _not_on_hub(r)) for r in ordered]
    return HistoryResult(query, rows, None, False, why,
                         local_only=sum(1 for r in rows if r.unsynced))
