"""The sync client and SyncOutbox against a real HTTP central store on loopback."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

import httpx
import pytest
import sqlalchemy as sa

from hub.client import Backoff, HubClient, HubFailed
from hub.contract.rest import BatchResponse
from records.models import OutboxRow
from records.store import Store, SyncState
from records.sync import SyncRunner
from tests.helpers.waiting import wait_until
from tests.records.builders import make_record
from tests.records.central_store import TOKEN, CentralStoreDouble


@pytest.fixture
def central() -> Iterator[CentralStoreDouble]:
    double = CentralStoreDouble()
    yield double
    double.stop()


def runner_for(store: Store, central: CentralStoreDouble, token: str = TOKEN) -> SyncRunner:
    http = httpx.Client(timeout=2.0)
    return SyncRunner(
        store,
        HubClient(http, central.url, token),
        batch_size=50,
        backoff=Backoff(initial=0.05, maximum=0.2, rng=random.Random(1)),
        idle_interval=0.02,
    )


def sign_off_records(store: Store, count: int) -> list[UUID]:
    uuids = []
    with store.unit_of_work() as uow:
        for n in range(count):
            draft = make_record(call_id=f"call-{n}", patient=None, outcome="gp_referral")
            uow.records.save_draft(draft, "nurse-ann")
            uow.records.sign_off(draft.uuid, "nurse-ann")
            uuids.append(draft.uuid)
    return uuids


def states(store: Store) -> dict[SyncState, int]:
    with store.unit_of_work() as uow:
        return uow.outbox.counts()


def test_one_record_is_put_and_marked_synced(store: Store, central: CentralStoreDouble) -> None:
    [record_uuid] = sign_off_records(store, 1)
    assert runner_for(store, central).run_until_idle() == 1
    with store.unit_of_work() as uow:
        assert uow.outbox.state(record_uuid) is SyncState.SYNCED
        signed = uow.records.get(record_uuid, "x")
    assert central.held[(record_uuid, 1)] == signed
    assert central.requests == {"PUT": 1}


def test_a_backlog_goes_in_batches(store: Store, central: CentralStoreDouble) -> None:
    uuids = sign_off_records(store, 120)
    assert runner_for(store, central).run_until_idle() == 120
    assert set(central.held) == {(u, 1) for u in uuids}
    assert central.requests == {"POST": 3}  # 50 + 50 + 20
    assert states(store)[SyncState.SYNCED] == 120


def test_a_push_repeated_after_a_crash_is_stored_once(
    store: Store, central: CentralStoreDouble
) -> None:
    uuids = sign_off_records(store, 3)
    runner_for(store, central).run_until_idle()
    # As if the desk died after the store answered but before it marked the entries synced.
    with store.engine.begin() as connection:
        connection.execute(sa.update(OutboxRow).values(state="pending"))
    assert runner_for(store, central).run_until_idle() == 3
    assert states(store)[SyncState.SYNCED] == 3
    assert len(central.held) == 3 and set(central.held) == {(u, 1) for u in uuids}


def test_a_newer_version_in_the_store_is_a_conflict_never_overwritten(
    store: Store, central: CentralStoreDouble
) -> None:
    [record_uuid] = sign_off_records(store, 1)
    with store.unit_of_work() as uow:
        mine = uow.records.get(record_uuid, "x")
    theirs = mine.model_copy(
        update={"version": 2, "amendment_reason": "edited elsewhere", "outcome": "ae_referral"}
    )
    central.held[(record_uuid, 2)] = theirs
    runner_for(store, central).run_until_idle()
    with store.unit_of_work() as uow:
        assert uow.outbox.state(record_uuid) is SyncState.CONFLICT
        [entry] = uow.outbox.entries()
        assert entry.held_version == 2
        assert uow.records.get(record_uuid, "x") == mine  # local copy untouched
    assert central.held == {(record_uuid, 2): theirs}  # store untouched


def test_same_version_with_different_content_is_a_conflict(
    store: Store, central: CentralStoreDouble
) -> None:
    [record_uuid] = sign_off_records(store, 1)
    with store.unit_of_work() as uow:
        mine = uow.records.get(record_uuid, "x")
    central.held[(record_uuid, 1)] = mine.model_copy(update={"presenting_problem": "other"})
    runner_for(store, central).run_until_idle()
    with store.unit_of_work() as uow:
        assert uow.outbox.state(record_uuid) is SyncState.CONFLICT


def test_a_refused_record_fails_alone_and_the_rest_of_its_batch_syncs(
    store: Store, central: CentralStoreDouble, caplog: pytest.LogCaptureFixture
) -> None:
    uuids = sign_off_records(store, 5)
    bad = uuids[2]
    central.refuse.add(bad)
    runner_for(store, central).run_until_idle()
    with store.unit_of_work() as uow:
        assert uow.outbox.state(bad) is SyncState.FAILED
        failed = uow.outbox.entries(SyncState.FAILED)
        assert [e.last_error for e in failed] == ["HTTP 422 (value_error)"]
        assert all(uow.outbox.state(u) is SyncState.SYNCED for u in uuids if u != bad)
    assert "9000000009" not in caplog.text


@pytest.mark.parametrize("status", [500, 503, 429, 401])
def test_unavailable_store_postpones_without_failing(
    store: Store, central: CentralStoreDouble, status: int
) -> None:
    sign_off_records(store, 1)
    central.fail_with = status
    runner = runner_for(store, central)
    pushed_at = datetime.now(UTC)
    result = runner.push_once()
    assert result.unavailable and result.settled == 0
    with store.unit_of_work() as uow:
        [entry] = uow.outbox.entries()
        assert entry.state is SyncState.PENDING and entry.attempts == 1
        # Backing off: not due at the moment of the push (the back-off here is 50 ms, so
        # "now" would be a race on a loaded machine), due once it has passed.
        assert uow.outbox.due(10, now=pushed_at) == []
        assert entry.next_attempt_at is not None and entry.next_attempt_at > pushed_at
    assert runner.retry_after > 0


def test_wrong_token_never_marks_records_failed(store: Store, central: CentralStoreDouble) -> None:
    sign_off_records(store, 2)
    runner = runner_for(store, central, token="stolen")
    assert runner.push_once().unavailable
    assert states(store)[SyncState.PENDING] == 2


def test_a_later_version_waits_for_an_earlier_one(store: Store) -> None:
    [record_uuid] = sign_off_records(store, 1)
    with store.unit_of_work() as uow:
        v1 = uow.records.get(record_uuid, "x")
        uow.records.amend(v1.model_copy(update={"specialist": "dr-dee"}), "added", "nurse-ann")
    with store.unit_of_work() as uow:
        first = uow.outbox.entries()[0]
        uow.outbox.postpone([first.id], timedelta(minutes=5), "HTTP 503")
    with store.unit_of_work() as uow:
        assert uow.outbox.due(10) == []
        assert uow.outbox.state(record_uuid) is SyncState.PENDING


def test_consecutive_failures_back_off_exponentially(
    store: Store, central: CentralStoreDouble
) -> None:
    """The runner's n-th unreachable round in a row waits the Backoff's n-th delay
    (tests/hub/test_client.py tests the Backoff itself)."""
    sign_off_records(store, 1)
    central.fail_with = 503
    runner = runner_for(store, central)
    runner._backoff = Backoff(initial=1.0, maximum=8.0, jitter=0)
    waits = []
    for _ in range(5):
        with store.engine.begin() as connection:  # due again at once
            connection.execute(sa.update(OutboxRow).values(next_attempt_at=OutboxRow.created_at))
        assert runner.push_once().unavailable
        waits.append(runner.retry_after)
    assert waits == [1.0, 2.0, 4.0, 8.0, 8.0] and runner.failures == 5
    central.fail_with = None
    with store.engine.begin() as connection:
        connection.execute(sa.update(OutboxRow).values(next_attempt_at=OutboxRow.created_at))
    assert runner.push_once().settled == 1 and runner.failures == 0


def test_store_down_for_a_while_is_caught_up_when_it_returns(
    store: Store, central: CentralStoreDouble
) -> None:
    central.stop()
    runner = runner_for(store, central)
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,))
    thread.start()
    try:
        uuids = sign_off_records(store, 40)
        # One failed round, then health checks (issue 13: not a push per back-off) until
        # the store answers again.
        wait_until(lambda: runner.failures >= 1 and runner.away_checks >= 2, 10,
                   "a failed round and health checks while the store is down")
        assert states(store)[SyncState.PENDING] == 40
        central.start()
        wait_until(lambda: states(store)[SyncState.SYNCED] == 40, 10,
                   lambda: f"all 40 records synced once the store is back: {states(store)}")
    finally:
        stop.set()
        thread.join(5)
    assert states(store)[SyncState.SYNCED] == 40
    assert set(central.held) == {(u, 1) for u in uuids}


class FailingAfter(HubClient):
    """A real client that finds the store gone from its ``n``-th batch on (as if it died)."""

    def __init__(self, http: httpx.Client, url: str, n: int) -> None:
        super().__init__(http, url, TOKEN)
        self.batches = 0
        self._n = n

    def put_records(self, payloads: Sequence[str]) -> BatchResponse:
        self.batches += 1
        if self.batches >= self._n:
            raise HubFailed("the hub failed", status=503)
        return super().put_records(payloads)


def test_one_round_in_flight_stops_at_the_first_unreachable_round_and_keeps_the_rest(
    store: Store, central: CentralStoreDouble
) -> None:
    uuids = sign_off_records(store, 120)
    with store.unit_of_work() as uow:  # a second version, due in a later round than its first
        first = uow.records.get(uuids[0], "x")
        uow.records.amend(first.model_copy(update={"specialist": "dr-dee"}), "joined", "nurse-ann")
    with httpx.Client(timeout=2.0) as http:
        client = FailingAfter(http, central.url, 2)
        runner = SyncRunner(store, client, batch_size=50, in_flight=1,
                            backoff=Backoff(initial=60.0, maximum=60.0))  # fmt: skip
        result = runner.drain()
        # Round 1 synced and recorded; round 2 postponed; round 3, read ahead, never sent.
        assert result.settled == 50 and result.unavailable and client.batches == 2
        assert states(store) == {SyncState.SYNCED: 50, SyncState.PENDING: 71,
                                 SyncState.CONFLICT: 0, SyncState.FAILED: 0}  # fmt: skip
        assert set(central.held) == {(u, 1) for u in uuids[:50]}
        with store.unit_of_work() as uow:
            postponed = [e for e in uow.outbox.entries(SyncState.PENDING) if e.attempts]
            assert len(postponed) == 50 and {e.last_error for e in postponed} == {"HTTP 503"}
        # Back again: the round never sent is due at once; the postponed one after its wait.
        back = SyncRunner(store, HubClient(http, central.url, TOKEN), batch_size=50)
        assert back.drain().settled == 21
        assert (uuids[0], 2) in central.held and states(store)[SyncState.PENDING] == 50
        with store.unit_of_work() as uow:
            uow.session.execute(sa.update(OutboxRow).values(next_attempt_at=OutboxRow.created_at))
        assert back.run_until_idle() == 50
    assert states(store)[SyncState.SYNCED] == 121
    assert set(central.held) == {(u, 1) for u in uuids} | {(uuids[0], 2)}


def test_two_rounds_in_flight_when_the_store_goes_record_every_answer(
    store: Store, central: CentralStoreDouble
) -> None:
    """Rounds 2 and 3 are on the wire together when the store goes: both are postponed,
    round 1's answers are kept, and the amended record's second version (held back while
    its first was in flight) goes once the store is back."""
    uuids = sign_off_records(store, 120)
    with store.unit_of_work() as uow:
        first = uow.records.get(uuids[0], "x")
        uow.records.amend(first.model_copy(update={"specialist": "dr-dee"}), "joined", "nurse-ann")
    with httpx.Client(timeout=2.0) as http:
        client = FailingAfter(http, central.url, 2)
        runner = SyncRunner(store, client, batch_size=50,
                            backoff=Backoff(initial=60.0, maximum=60.0))  # fmt: skip
        result = runner.drain()
        assert result.settled == 50 and result.unavailable and client.batches == 3
        assert set(central.held) == {(u, 1) for u in uuids[:50]}
        with store.unit_of_work() as uow:
            pending = uow.outbox.entries(SyncState.PENDING)
        postponed = [e for e in pending if e.attempts]
        assert len(pending) == 71 and len(postponed) == 70
        assert {e.last_error for e in postponed} == {"HTTP 503"}
        assert [(e.record_uuid, e.version) for e in pending if not e.attempts] == [(uuids[0], 2)]
        back = SyncRunner(store, HubClient(http, central.url, TOKEN), batch_size=50)
        assert back.drain().settled == 1 and (uuids[0], 2) in central.held
        with store.unit_of_work() as uow:
            uow.session.execute(sa.update(OutboxRow).values(next_attempt_at=OutboxRow.created_at))
        assert back.run_until_idle() == 70
    assert states(store)[SyncState.SYNCED] == 121 and not central.overlapping


def test_two_rounds_in_flight_never_carry_one_record_at_once(
    store: Store, central: CentralStoreDouble
) -> None:
    """Every record amended twice, the versions spread over many rounds: with two rounds
    on the wire at once (the store is slow), no record is ever in both, so every version
    arrives after the one before it and none is refused as a conflict."""
    uuids = sign_off_records(store, 60)
    rng = random.Random(7)
    for reason in ("first look", "second look"):
        with store.unit_of_work() as uow:
            for u in rng.sample(uuids, len(uuids)):
                latest = uow.records.get(u, "x")
                uow.records.amend(latest.model_copy(update={"presenting_problem": reason}),
                                  reason, "nurse-ann")  # fmt: skip
    central.delay = 0.05
    runner = runner_for(store, central)
    runner._batch_size = 25  # 180 versions: rounds of 25, cut short where a record is busy
    assert runner.run_until_idle() == 180
    assert central.most_at_once == 2 and not central.overlapping
    assert states(store) == {SyncState.SYNCED: 180, SyncState.PENDING: 0,
                             SyncState.CONFLICT: 0, SyncState.FAILED: 0}  # fmt: skip
    assert set(central.held) == {(u, v) for u in uuids for v in (1, 2, 3)}
