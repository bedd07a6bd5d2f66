"""The hub-wide follow-up worklist with two desks (two local stores) against one real hub
(SQLite and PostgreSQL): a claim made at desk A is followed up at desk B, through B's local
store and outbox, and shows as done by that nurse at both; the manager counts what is overdue."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from hub.client import HubClient
from hub.contract.followups import FollowUpState, Worklist
from records.schema import FollowUp, TriageRecord, utc_now
from records.store import Store, SyncState
from records.sync import SyncRunner
from tests.helpers.hubserver import HubDatabase, Seeded, ThreadedHub
from tests.records.builders import signed_off_claim as claimed


def client(hub: ThreadedHub, who: Seeded) -> HubClient:
    return HubClient(httpx.Client(timeout=10.0), hub.http, who.token)


def items(worklist: Worklist, record: TriageRecord) -> dict[str, tuple[FollowUpState, str | None]]:
    return {i.window: (i.state, i.done_by) for i in worklist.items
            if i.record_uuid == record.uuid}


@pytest.mark.slow
def test_a_claim_made_at_desk_a_is_followed_up_at_desk_b_and_shows_done_by_that_nurse(
        hub: ThreadedHub, hubdb: HubDatabase, tmp_path: Path) -> None:
    nina, nora = hubdb.staff("nina", "nurse"), hubdb.staff("nora", "nurse")
    manager = hubdb.staff("max", "manager")
    desk_a, desk_b = (Store.open(f"sqlite:///{tmp_path / name}.db") for name in ("a", "b"))
    hub_a, hub_b, hub_m = client(hub, nina), client(hub, nora), client(hub, manager)
    try:
        # Desk A: one claim whose 72-hour check is due, one long overdue, one not due yet.
        due = claimed(desk_a, "nina", 3.5, admission=True)
        late = claimed(desk_a, "nina", 10, ae_attendance=True)
        fresh = claimed(desk_a, "nina", 1, admission=True)
        claimed(desk_a, "nina", 4)  # no claim: nothing to follow up
        assert SyncRunner(desk_a, hub_a).push_once().settled == 4

        before = hub_b.follow_ups()
        assert items(before, due) == {"72h": (FollowUpState.DUE, None)}
        assert items(before, late) == {"72h": (FollowUpState.OVERDUE, None),
                                       "7d": (FollowUpState.OVERDUE, None)}
        assert items(before, fresh) == {}  # upcoming: counted, not listed
        assert (before.counts.due, before.counts.overdue, before.counts.upcoming,
                before.counts.done) == (1, 2, 3, 0)
        assert hub_m.follow_ups().counts.overdue == 2  # what the manager view shows

        # Desk B never saw the record: it takes the hub's version in and records the check
        # as the next version, committed locally and pushed through its own outbox.
        held = TriageRecord.model_validate_json(hub_b.record_payload(due.uuid))
        check = FollowUp(window="72h", checked_at=utc_now(), checked_by="nora",
                         unplanned_attendance=False, unplanned_admission=False)
        with desk_b.unit_of_work() as uow:
            assert uow.records.adopt(held, "nora")
            followed = uow.records.record_follow_up(due.uuid, check, "nora")
        assert followed.version == 2
        with desk_b.unit_of_work() as uow:
            assert [(e.version, e.state) for e in uow.outbox.entries()] == [
                (1, SyncState.SYNCED), (2, SyncState.PENDING)]  # the adopted one is not pushed
        assert SyncRunner(desk_b, hub_b).push_once().settled == 1

        # Done by Nora, at both desks and for the manager; the 7-day check is still to come.
        for desk in (hub_a, hub_b):
            after = desk.follow_ups()
            assert items(after, due) == {"72h": (FollowUpState.DONE, "Nora")}
            assert after.counts.done == 1 and after.counts.due == 0
        assert hub_m.follow_ups().counts.overdue == 2
        # A withdrawn claim needs no later check: the late one's 7-day check leaves the list.
        held = TriageRecord.model_validate_json(hub_a.record_payload(late.uuid))
        withdrawn = FollowUp(window="72h", checked_at=utc_now(), checked_by="nina",
                             unplanned_attendance=True, unplanned_admission=False)
        with desk_a.unit_of_work() as uow:
            assert not uow.records.adopt(held, "nina")  # desk A holds it already
            uow.records.record_follow_up(late.uuid, withdrawn, "nina")
        assert SyncRunner(desk_a, hub_a).push_once().settled == 1
        final = hub_b.follow_ups()
        assert items(final, late) == {"72h": (FollowUpState.DONE, "Nina")}
        assert [i.result for i in final.items if i.record_uuid == late.uuid] == ["withdrawn"]
        assert hub_m.follow_ups().counts.overdue == 0
        # Nurses and managers only; a bad query is a 422 naming it.
        for who, code in ((hubdb.staff("sam", "specialist"), 403),
                          (hubdb.staff("ada", "admin"), 403), (hubdb.site("Elm"), 403)):
            r = httpx.get(f"{hub.http}/api/v1/follow-ups",
                          headers={"Authorization": f"Bearer {who.token}"})
            assert r.status_code == code and "Test Resident" not in r.text
        bad = httpx.get(f"{hub.http}/api/v1/follow-ups?done_days=91",
                        headers={"Authorization": f"Bearer {nina.token}"})
        assert bad.status_code == 422 and "done_days" in bad.text
    finally:
        for c in (hub_a, hub_b, hub_m):
            c.http.close()
        desk_a.close()
        desk_b.close()

