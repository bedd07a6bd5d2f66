"""One hub, one record (issue 13): two desks' own stores and outboxes against one real hub,
on SQLite and PostgreSQL. Amend from any desk, conflicts resolved with nothing lost,
authorship from the hub (a forged author replaced, shown in the export), contiguous
versions, drafts kept per nurse, and every record back in seconds after an outage."""

from __future__ import annotations

import csv
import io
import random
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
import sqlalchemy as sa

from hub.client import Backoff, HubClient
from hub.config import HubConfig
from hub.models import (
    CentralRecordCompetitor,
    CentralRecordVersion,
    RecordAuditEvent,
    central_records,
)
from records.hub_versions import HubVersions, Opened, fetch_current
from records.schema import FollowUp, TriageRecord
from records.store import RecordClosed, Store, SyncState
from records.sync import SyncRunner
from tests.helpers.hubserver import HubDatabase, ThreadedHub, free_port
from tests.helpers.waiting import wait_until
from tests.records.builders import make_record

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


class Desk:
    """One nurse's desk: its own local store and outbox, syncing to the hub with her token."""

    def __init__(self, hub_url: str, hubdb: HubDatabase, username: str, folder: Path,
                 *, new_account: bool = True, backoff: Backoff | None = None) -> None:
        self.username = username
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.store = Store.open(f"sqlite:///{folder / f'records-{username}.db'}")
        token = hubdb.staff(username, "nurse").token if new_account else _token(hubdb, username)
        self.http = httpx.Client(timeout=5.0)
        self.hub = HubClient(self.http, hub_url, token)
        self.sync = SyncRunner(self.store, self.hub, batch_size=50, backoff=backoff or Backoff(
            initial=0.05, maximum=0.2, rng=random.Random(1)), idle_interval=0.05,
            probe_interval=0.5)  # fmt: skip

    def sign_off(self, **changes: Any) -> TriageRecord:
        draft = make_record(nurse=self.username, patient=None, outcome="gp_referral",
                            **changes)  # fmt: skip
        with self.store.unit_of_work() as uow:
            uow.records.save_draft(draft, self.username)
            return uow.records.sign_off(draft.uuid, self.username)

    def open(self, record_uuid: UUID) -> Opened:
        """What History's Amend does (ui/desk/recordkeeper.py: RecordKeeper.open_record)."""
        payload = fetch_current(self.hub, record_uuid)
        with self.store.unit_of_work() as uow:
            return HubVersions(uow).open(record_uuid, payload, self.username)

    def amend(self, record: TriageRecord, reason: str, **changes: Any) -> TriageRecord:
        with self.store.unit_of_work() as uow:
            return uow.records.amend(record.model_copy(update=changes), reason, self.username)

    def states(self) -> list[tuple[int, SyncState]]:
        with self.store.unit_of_work() as uow:
            return [(e.version, e.state) for e in uow.outbox.entries()]

    def close(self) -> None:
        self.http.close()
        self.store.close()


def _token(hubdb: HubDatabase, username: str) -> str:
    """Another token for an account that exists (the same nurse at a second desk)."""
    from hub import accounts
    from hub.db import unit_of_work
    from hub.models import Staff

    with unit_of_work(hubdb.sessions) as s:
        staff = s.scalar(sa.select(Staff).where(Staff.username == username))
        assert staff is not None
        return accounts.issue_token(s, accounts.staff_principal(staff), timedelta(hours=1)).token


@pytest.fixture
def desks(hub: ThreadedHub, hubdb: HubDatabase, tmp_path: Path) -> Iterator[tuple[Desk, Desk]]:
    a = Desk(hub.http, hubdb, "ann", tmp_path / "desk-a")
    b = Desk(hub.http, hubdb, "bob", tmp_path / "desk-b")
    yield a, b
    a.close()
    b.close()


def _hub_on(port: int, hubdb: HubDatabase) -> ThreadedHub:
    """A hub on a given port (the desk dials the same address before and after the outage);
    on a thread: a hub process takes seconds to start on this machine. Batches are checked
    on a thread: a fresh hub spawns its checker process on the first batch, seconds of
    start-up under this load that ``telehub-hub serve`` spends at start instead."""
    hub = ThreadedHub(HubConfig(db_url=hubdb.url, record_check_processes=0))
    hub.sock.close()
    hub.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    hub.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    hub.sock.bind(("127.0.0.1", port))
    hub.port = port
    return hub.start()


def versions(hubdb: HubDatabase, record_uuid: UUID) -> list[CentralRecordVersion]:
    with hubdb.sessions() as s:
        v = CentralRecordVersion
        return list(s.scalars(sa.select(v).where(v.record_uuid == record_uuid)
                              .order_by(v.version)))  # fmt: skip


def audit(hubdb: HubDatabase, action: str) -> list[RecordAuditEvent]:
    with hubdb.sessions() as s:
        e = RecordAuditEvent
        return list(s.scalars(sa.select(e).where(e.action == action).order_by(e.id)))


def test_a_record_made_at_desk_a_is_amended_at_desk_b_and_versions_are_contiguous(
    desks: tuple[Desk, Desk], hubdb: HubDatabase
) -> None:
    a, b = desks
    record = a.sign_off()
    assert a.sync.run_until_idle() == 1
    # Desk B never saw it: it fetches the hub's version into its own store first.
    opened = b.open(record.uuid)
    assert opened.conflict is None and opened.record is not None
    assert opened.record.version == 1 and opened.record.signed_off_by == "ann"
    amended = b.amend(opened.record, "the carer called back", presenting_problem="Fell at 8")
    assert amended.version == 2 and b.sync.run_until_idle() == 1
    assert b.states() == [(2, SyncState.SYNCED)]  # committed locally, then synced
    held = versions(hubdb, record.uuid)
    assert [(v.version, v.author, v.action) for v in held] == [
        (1, "ann", "signed_off"), (2, "bob", "amended")]
    # Back at desk A the next amendment starts from Bob's version, not A's own.
    again = a.open(record.uuid)
    assert again.record is not None and again.record.version == 2
    assert again.record.presenting_problem == "Fell at 8"
    assert a.amend(again.record, "GP rang", outcome="ae_referral").version == 3
    assert a.sync.run_until_idle() == 1
    # Reads of the central store are audited as reads (who fetched which version).
    reads = [(e.actor_name, e.version) for e in audit(hubdb, "read")]
    assert ("Bob", 1) in reads and ("Ann", 2) in reads
    _versions_are_contiguous(a, hubdb)


def test_two_desks_amend_one_version_and_the_conflict_is_resolved_with_no_version_lost(
    desks: tuple[Desk, Desk], hubdb: HubDatabase
) -> None:
    a, b = desks
    record = a.sign_off()
    a.sync.run_until_idle()
    mine_a = a.open(record.uuid).record
    base_b = b.open(record.uuid).record
    assert mine_a is not None and base_b is not None
    a.amend(mine_a, "worse since noon", presenting_problem="Worse since noon")
    # Desk B amends the same version twice before it syncs (offline, say).
    b2 = b.amend(base_b, "carer's account", sbard=base_b.sbard.model_copy(
        update={"background": "Lives with dementia"}))  # fmt: skip
    b.amend(b2, "and the GP's", outcome="ae_referral")
    assert a.sync.run_until_idle() == 1
    assert b.sync.run_until_idle() == 2
    # Both of B's versions are in conflict: the second was built on the first, so storing it
    # after A's version 2 would hide A's. The hub kept both of B's takes aside.
    assert b.states() == [(2, SyncState.CONFLICT), (3, SyncState.CONFLICT)]
    assert [v.version for v in versions(hubdb, record.uuid)] == [1, 2]
    assert [(c.version, c.author) for c in b.hub.competitors(record.uuid)] == [
        (2, "bob"), (3, "bob")]
    with pytest.raises(RecordClosed, match="resolve the conflict"):
        b.amend(b2.model_copy(update={"version": 3}), "again")
    # B opens it: both takes side by side, and writes one that supersedes both.
    opened = b.open(record.uuid)
    assert opened.record is None and opened.conflict is not None and opened.hub_payload
    hub_take, my_take = opened.conflict.hub, opened.conflict.mine
    assert hub_take.presenting_problem == "Worse since noon" and hub_take.signed_off_by == "ann"
    assert my_take.outcome == "ae_referral"
    merged = hub_take.model_copy(update={"sbard": my_take.sbard, "outcome": my_take.outcome})
    with b.store.unit_of_work() as uow:
        resolved = HubVersions(uow).resolve(opened.hub_payload, merged, "merged both takes",
                                            "bob")  # fmt: skip
    assert resolved.version == 3
    assert b.sync.run_until_idle() == 1
    assert b.states() == [(3, SyncState.SYNCED)]
    held = versions(hubdb, record.uuid)
    assert [(v.version, v.author, v.action) for v in held] == [
        (1, "ann", "signed_off"), (2, "ann", "amended"), (3, "bob", "resolved")]
    takes = b.hub.competitors(record.uuid)
    assert held[2].supersedes == [c.id for c in takes]  # both of B's takes, and version 2
    assert [c.resolved_by for c in takes] == [3, 3]
    # Nothing lost: A's version, both of B's takes and the resolution, all on the hub.
    with hubdb.sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(CentralRecordCompetitor)) == 2
    final = TriageRecord.model_validate_json(b.hub.record_payload(record.uuid))
    assert (final.presenting_problem, final.outcome, final.sbard.background) == (
        "Worse since noon", "ae_referral", "Lives with dementia")
    reopened = a.open(record.uuid)
    assert reopened.record is not None and reopened.record.version == 3


def test_a_forged_author_is_replaced_in_the_export_and_drafts_follow_their_nurse(
    desks: tuple[Desk, Desk], hub: ThreadedHub, hubdb: HubDatabase, tmp_path: Path
) -> None:
    a, b = desks
    forged = make_record(
        nurse="matron", status="signed_off", outcome="advice_managed_in_place",
        intended_action="ae", signed_off_at=T0, signed_off_by="dr-somebody-else",
        avoided={"ae_attendance": True, "confirmed_by": "matron", "confirmed_at": T0},
        patient=None)  # fmt: skip
    stored = a.hub.put_record(forged.uuid, 1, forged.model_dump_json())
    assert stored.status == "stored"
    held = TriageRecord.model_validate_json(a.hub.record_payload(forged.uuid))
    assert (held.signed_off_by, held.nurse, held.avoided.confirmed_by) == ("ann", "ann", "ann")
    [v1] = b.hub.record_versions(forged.uuid)
    assert (v1.author, v1.author_name, v1.action) == ("ann", "Ann", "signed_off")
    assert v1.replaced == ["signed_off_by", "nurse", "avoided.confirmed_by"]
    # The same forged push again is a retry: the stamped version is held already.
    assert a.hub.put_record(forged.uuid, 1, forged.model_dump_json()).status == "unchanged"
    # Bob records the 72-hour follow-up claiming it was Ann's: the claim stays Ann's (carried
    # unchanged), the follow-up and the amendment are Bob's, the nurse who took the call Ann.
    opened = b.open(forged.uuid)
    assert opened.record is not None
    check = FollowUp(window="72h", checked_at=T0 + timedelta(hours=72), checked_by="ann",
                     unplanned_attendance=False, unplanned_admission=False)
    with b.store.unit_of_work() as uow:
        uow.records.record_follow_up(forged.uuid, check, "ann-pretending")
    assert b.sync.run_until_idle() == 1
    v2 = TriageRecord.model_validate_json(b.hub.record_payload(forged.uuid))
    assert (v2.signed_off_by, v2.nurse, v2.avoided.confirmed_by, v2.follow_ups[0].checked_by
            ) == ("bob", "ann", "ann", "bob")  # fmt: skip
    forgeries = [e.detail for e in audit(hubdb, "reattributed")]
    assert forgeries == ["signed_off_by,nurse,avoided.confirmed_by",
                         "signed_off_by,follow_ups.checked_by"]
    manager = hubdb.staff("meg", "manager").token
    with httpx.Client(base_url=hub.http, headers={"Authorization": f"Bearer {manager}"}) as m:
        answer = m.get("/api/v1/records:export", params={"from": "2025-01-01", "to": "2025-12-31"})
    [row] = list(csv.DictReader(io.StringIO(answer.text)))
    assert (row["signed_off_by"], row["nurse"], row["avoided_confirmed_by"]) == ("bob", "ann",
                                                                                "ann")
    assert "dr-somebody-else" not in answer.text and "matron" not in answer.text
    _drafts_are_kept_on_the_hub_for_their_nurse(a, b, hub, hubdb, tmp_path)


def _versions_are_contiguous(a: Desk, hubdb: HubDatabase) -> None:
    """A version far ahead is refused, naming the field, and blocks nothing."""
    record = a.sign_off()
    a.sync.run_until_idle()
    http = a.hub.http
    headers = {**a.hub._headers, "Content-Type": "application/json"}
    url = f"{a.hub.url}/api/v1/records/{record.uuid}"
    body = record.model_dump_json().replace('"version":1,', '"version":4611686018427387904,')
    far = http.put(url, content=body.replace('"amendment_reason":null', '"amendment_reason":"x"'),
                   headers=headers)  # 2**62: past any integer column, refused by the schema
    assert far.status_code == 422 and far.json()["detail"][0]["loc"][-1] == "version"
    # Within the columns' range but not the next version: a gap, refused, naming the field.
    ahead = record.model_copy(update={"version": 2**31 - 1, "amendment_reason": "mine now"})
    refused = http.put(url, content=ahead.model_dump_json(), headers=headers)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "version"]
    assert refused.json()["detail"][0]["type"] == "version_gap"
    assert "2147483647" not in refused.text  # the value is not echoed
    batch = http.post(f"{a.hub.url}/api/v1/records:batch", headers=headers,
                      content='{"records":[' + ahead.model_dump_json() + "]}")
    assert batch.status_code == 422
    assert batch.json()["detail"][0]["loc"] == ["body", "records", 0, "version"]
    # The real next version is taken as if nothing had happened.
    opened = a.open(record.uuid)
    assert opened.record is not None
    a.amend(opened.record, "more history")
    assert a.sync.run_until_idle() == 1 and a.states()[-1] == (2, SyncState.SYNCED)
    assert [v.version for v in versions(hubdb, record.uuid)] == [1, 2]


def _drafts_are_kept_on_the_hub_for_their_nurse(a: Desk, b: Desk, hub: ThreadedHub,
                                                hubdb: HubDatabase, tmp_path: Path) -> None:
    """A draft typed at desk A is seen at the nurse's other desk, and by nobody else."""
    draft = make_record(nurse="ann", patient=None, presenting_problem="Short of breath")
    with a.store.unit_of_work() as uow:
        uow.records.save_draft(draft, "ann")
        uow.records.save_draft(draft.model_copy(update={"presenting_problem": "Breathless"}),
                               "ann")  # fmt: skip
    # Pushed once the draft has settled (DRAFT_SETTLE), coalesced: two saves, one push.
    wait_until(lambda: a.sync.push_drafts().settled == 1, 10, "the draft to be pushed")
    assert a.sync.push_drafts().settled == 0
    # Ann signs in at another desk: her draft is there; Bob's desk sees none of it.
    other = Desk(hub.http, hubdb, "ann", tmp_path / "desk-c", new_account=False)
    try:
        [kept] = other.hub.drafts().drafts
        assert kept.presenting_problem == "Breathless"
        assert b.hub.drafts().drafts == []
        with other.store.unit_of_work() as uow:
            assert HubVersions(uow).take_drafts([kept.model_dump_json()], "ann") == 1
            [row] = uow.records.search("breathless", status="draft")
        assert row.uuid == draft.uuid
        # Signed off there, the hub's copy of the draft is gone.
        with other.store.unit_of_work() as uow:
            uow.records.save_draft(kept.model_copy(update={"outcome": "gp_referral"}), "ann")
            uow.records.sign_off(draft.uuid, "ann")
        assert other.sync.run_until_idle() == 1
        assert other.hub.drafts().drafts == []
        # A late push of the old draft from desk A is answered "closed", not kept.
        assert a.hub.put_draft(draft.uuid, draft.model_dump_json()).status == "closed"
        assert a.hub.drafts().drafts == []
    finally:
        other.close()


@pytest.mark.slow
def test_records_signed_off_during_an_outage_reach_the_hub_seconds_after_it_is_back(
    hubdb: HubDatabase, tmp_path: Path
) -> None:
    """Each failed push postpones its records by a back-off that grows to minutes; when the
    hub answers again (a health check every probe_interval asks), every record waiting goes
    at once. Before issue 13, 9 of 10 records waited up to 217 s here."""
    port = free_port()
    hub = _hub_on(port, hubdb)
    desk = Desk(hub.http, hubdb, "ann", tmp_path / "desk",
                backoff=Backoff(initial=30.0, maximum=300.0, rng=random.Random(5)))
    desk.sync.probe_interval = 0.5
    stop = threading.Event()
    thread = threading.Thread(target=desk.sync.run, args=(stop,), name="desk-sync")

    def synced() -> int:
        return sum(state is SyncState.SYNCED for _, state in desk.states())

    try:
        thread.start()
        desk.sign_off(call_id="before")
        wait_until(lambda: synced() == 1, 15, "the first record to sync")
        hub.stop()
        with desk.store.unit_of_work() as uow:  # ten sign-offs while the hub is away
            for n in range(10):
                draft = make_record(nurse="ann", patient=None, outcome="gp_referral",
                                    call_id=f"during-{n}")  # fmt: skip
                uow.records.save_draft(draft, "ann")
                uow.records.sign_off(draft.uuid, "ann")

        def postponed() -> bool:
            with desk.store.unit_of_work() as uow:
                waiting = [e.next_attempt_at for e in uow.outbox.entries(SyncState.PENDING)]
            # Pushed, refused by the network, and put off by 15 s or more (initial 30 s).
            return len(waiting) == 10 and min(waiting) > datetime.now(UTC) + timedelta(
                seconds=10)

        wait_until(postponed, 15, "the ten records to be pushed and put off")
        assert desk.sync.failures >= 1
        hub = _hub_on(port, hubdb)
        back = time.monotonic()
        wait_until(lambda: synced() == 11, 10, "every record to sync once the hub is back")
        took = time.monotonic() - back
        assert took < 5, took
    finally:
        stop.set()
        thread.join(15)
        hub.stop()
        desk.close()
    with hubdb.sessions() as s:  # each stored once, nothing lost
        held = sorted(s.scalars(sa.select(central_records.c.call_id)))
    assert held == sorted(["before", *(f"during-{n}" for n in range(10))])
