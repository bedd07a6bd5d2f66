"""The CallQueue contract, run against every implementation: in memory, and in PostgreSQL.

An implementation joins by adding a factory to IMPLEMENTATIONS that yields two handles on
one queue: for the in-memory queue the same object twice, for the PostgreSQL queue two
queues (two connections, as two hubs have) on one database. Decisions made through both
handles (claims, removes) must still have exactly one winner. Reads (``waiting``,
``position``) are checked on the handle that made the change, since a shared queue may serve
them from a local view (see hub/live/queue.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from hub.contract.identity import Principal
from hub.contract.signaling import Urgency
from hub.db import unit_of_work
from hub.live.pg_queue import PgCallQueue
from hub.live.queue import CallQueue, MemoryCallQueue, QueuedCall
from hub.models import Site, Staff
from tests.helpers.hubserver import HubDatabase

Handles = tuple[CallQueue, CallQueue]


@asynccontextmanager
async def _memory(request: pytest.FixtureRequest) -> AsyncIterator[Handles]:
    queue = MemoryCallQueue()
    yield queue, queue


@asynccontextmanager
async def _postgresql(request: pytest.FixtureRequest) -> AsyncIterator[Handles]:
    url = request.getfixturevalue("migrated_pg_database")()
    db = HubDatabase(url)  # at head; the calls' site and desks are rows (foreign keys)
    with unit_of_work(db.sessions) as s:
        s.add(Site(id=SITE.id, name=SITE.name, kind=SITE.role, credential_hash="x" * 64,
                   created_at=T0))
        for i in range(1, 20):
            s.add(Staff(id=i, username=f"desk{i}", display_name=f"Desk {i}", role="nurse",
                        password_hash="-", created_at=T0))
    db.dispose()
    a, b = PgCallQueue(url, "queue-a"), PgCallQueue(url, "queue-b")
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


IMPLEMENTATIONS: dict[str, Callable[[pytest.FixtureRequest],
                                    AbstractAsyncContextManager[Handles]]] = {
    "memory": _memory,
    "postgresql": _postgresql,
}


@pytest.fixture(params=["memory", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def handles(request: pytest.FixtureRequest) -> AsyncIterator[Handles]:
    async with IMPLEMENTATIONS[request.param](request) as pair:
        yield pair


@pytest.fixture
def queue(handles: Handles) -> CallQueue:
    return handles[0]


SITE = Principal(kind="site", id=7, name="Łąka House", role="care_home")
NURSE_A = Principal(kind="staff", id=1, name="Nurse A", role="nurse")
NURSE_B = Principal(kind="staff", id=2, name="Nurse B", role="nurse")
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def call(n: int, urgency: Urgency = Urgency.ROUTINE, at_s: float | None = None) -> QueuedCall:
    return QueuedCall(
        id=f"call-{n}", site=SITE, request_id=f"req-{n}", reason=f"reason {n}",
        urgency=urgency, intended_action=None, observations=None, patient=None,
        soft_signs=("new confusion",), news2=None,
        requested_at=T0 + timedelta(seconds=n if at_s is None else at_s),
    )


def ids(queue: CallQueue) -> list[str]:
    return [c.id for c in queue.waiting()]


async def test_waiting_calls_are_in_urgency_then_arrival_order(queue: CallQueue) -> None:
    for c in (call(1), call(2, Urgency.URGENT), call(3), call(4, Urgency.EMERGENCY),
              call(5, Urgency.URGENT)):
        assert await queue.add(c) is True
    assert ids(queue) == ["call-4", "call-2", "call-5", "call-1", "call-3"]
    assert [queue.position(i) for i in ids(queue)] == [1, 2, 3, 4, 5]
    assert queue.position("call-404") is None
    assert queue.waiting()[0] == call(4, Urgency.EMERGENCY)  # plain data, as it was added


async def test_calls_of_one_instant_keep_the_order_they_were_added(queue: CallQueue) -> None:
    for n in (3, 1, 2):
        await queue.add(call(n, at_s=0))
    assert ids(queue) == ["call-3", "call-1", "call-2"]


async def test_adding_a_known_call_again_changes_nothing(queue: CallQueue) -> None:
    await queue.add(call(1))
    await queue.add(call(2))
    assert await queue.add(call(1, Urgency.EMERGENCY)) is False
    assert ids(queue) == ["call-1", "call-2"]
    assert await queue.claim("call-1", NURSE_A) is not None
    assert await queue.add(call(1)) is False  # nor while it is claimed
    assert ids(queue) == ["call-2"]


async def test_a_claim_takes_the_call_out_of_the_queue_once(queue: CallQueue) -> None:
    for n in (1, 2, 3):
        await queue.add(call(n))
    assert await queue.claim("call-2", NURSE_A) == call(2)
    assert ids(queue) == ["call-1", "call-3"]
    assert queue.position("call-2") is None
    assert queue.position("call-3") == 2
    assert await queue.claim("call-2", NURSE_B) is None
    assert await queue.claim("call-404", NURSE_B) is None


async def test_of_two_concurrent_claims_exactly_one_wins(handles: Handles) -> None:
    a, b = handles
    await a.add(call(1))
    won = await asyncio.gather(a.claim("call-1", NURSE_A), b.claim("call-1", NURSE_B))
    assert sorted(w is not None for w in won) == [False, True]
    assert next(w for w in won if w is not None).id == "call-1"
    assert await a.claim("call-1", NURSE_A) is None
    assert await b.claim("call-1", NURSE_B) is None


async def test_every_call_of_a_burst_goes_to_exactly_one_of_many_desks(
    handles: Handles,
) -> None:
    a, b = handles
    for n in range(20):
        await a.add(call(n, Urgency.URGENT if n % 3 else Urgency.ROUTINE))
    desks = [Principal(kind="staff", id=10 + i, name=f"Desk {i}", role="nurse")
             for i in range(8)]
    # Every desk tries every call, the desks spread over both handles.
    attempts = [((a, b)[i % 2], d, f"call-{n}") for n in range(20) for i, d in enumerate(desks)]
    results = await asyncio.gather(*(q.claim(cid, d) for q, d, cid in attempts))
    winners: dict[str, int] = {}
    for (_q, _d, cid), got in zip(attempts, results, strict=True):
        if got is not None:
            assert got.id == cid
            winners[cid] = winners.get(cid, 0) + 1
    assert winners == {f"call-{n}": 1 for n in range(20)}
    assert a.waiting() == []


async def test_a_claim_racing_a_removal_has_one_winner(handles: Handles) -> None:
    a, b = handles
    for n in range(10):
        await a.add(call(n))

    async def race(n: int) -> tuple[QueuedCall | None, bool]:
        claim, remove = a.claim(f"call-{n}", NURSE_A), b.remove(f"call-{n}")
        if n % 2:  # either one asked first
            claimed, removed = await asyncio.gather(claim, remove)
        else:
            removed, claimed = await asyncio.gather(remove, claim)
        return claimed, removed

    for claimed, removed in await asyncio.gather(*(race(n) for n in range(10))):
        assert (claimed is not None) != removed
    assert a.waiting() == []


async def test_a_requeued_call_goes_before_the_others_of_its_urgency(queue: CallQueue) -> None:
    for c in (call(1), call(2, Urgency.URGENT), call(3), call(4, Urgency.URGENT)):
        await queue.add(c)
    assert await queue.claim("call-3", NURSE_A) is not None
    again = await queue.requeue("call-3")
    assert again is not None and again.requeued and again.id == "call-3"
    assert ids(queue) == ["call-2", "call-4", "call-3", "call-1"]
    assert queue.waiting()[2] == again
    # It can be claimed again, and a second requeue puts it back in the same place.
    assert await queue.claim("call-3", NURSE_B) == again
    assert await queue.requeue("call-3") == again
    assert ids(queue) == ["call-2", "call-4", "call-3", "call-1"]


async def test_only_a_claimed_call_can_be_requeued(queue: CallQueue) -> None:
    await queue.add(call(1))
    assert await queue.requeue("call-1") is None  # waiting, not claimed
    assert await queue.requeue("call-404") is None
    assert ids(queue) == ["call-1"]
    assert queue.waiting()[0].requeued is False
    await queue.claim("call-1", NURSE_A)
    await queue.remove("call-1")  # ended while its desk was away
    assert await queue.requeue("call-1") is None
    assert ids(queue) == []


async def test_removal_says_whether_the_call_was_waiting(queue: CallQueue) -> None:
    for n in (1, 2, 3):
        await queue.add(call(n))
    assert await queue.remove("call-2") is True
    assert ids(queue) == ["call-1", "call-3"]
    assert await queue.remove("call-2") is False
    assert await queue.claim("call-2", NURSE_A) is None
    await queue.claim("call-1", NURSE_A)
    assert await queue.remove("call-1") is False  # claimed, not waiting: desks were told
    assert await queue.remove("call-404") is False
    assert ids(queue) == ["call-3"]
    assert queue.position("call-3") == 1


@pytest.mark.postgres
async def test_a_removal_keeps_why_and_by_whom_the_call_ended_in_its_row(
        request: pytest.FixtureRequest) -> None:
    """The queue's row ends with its reason in one statement: a hub killed before the call
    log's own end is written leaves no ended call without a reason."""
    async with _postgresql(request) as (queue, _other):
        assert isinstance(queue, PgCallQueue)
        for n in (1, 2):
            await queue.add(call(n))
        assert await queue.remove("call-1", "abandoned", SITE.participant_id) is True
        await queue.claim("call-2", NURSE_A)
        assert await queue.remove("call-2", "completed", None) is False
        assert await queue.remove("call-2") is False  # again, told nothing: kept as it was
        url = queue._db_url.replace("postgresql+psycopg://", "postgresql://")
        async with await psycopg.AsyncConnection.connect(url) as conn:
            rows = await (await conn.execute(
                "SELECT id, state, end_reason, ended_by, ended_at IS NOT NULL FROM calls "
                "ORDER BY id")).fetchall()
        assert rows == [("call-1", "ended", "abandoned", SITE.participant_id, True),
                        ("call-2", "ended", "completed", None, True)]
