"""Mail between hubs through PostgreSQL (hub/live/exchange.py): in order, and nothing lost
when a notification is (a hub's listening connection cut off while mail is posted)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import psycopg
import pytest

from hub.live.exchange import Exchange, Mail
from hub.live.pg import libpq_url
from tests.helpers.waiting import wait_until_async

pytestmark = pytest.mark.postgres


@pytest.fixture
async def two_hubs(migrated_pg_database: Callable[[], str]
                   ) -> AsyncIterator[tuple[Exchange, Exchange, list[Mail], str]]:
    url = migrated_pg_database()
    got: list[Mail] = []

    async def receive(mail: Mail) -> None:
        got.append(mail)

    async def ignore(mail: Mail) -> None:
        return None

    a, b = Exchange(url, lease_s=0.2), Exchange(url, lease_s=0.2)
    await a.start(ignore)
    await b.start(receive)
    try:
        yield a, b, got, url
    finally:
        await a.close()
        await b.close()


async def test_mail_arrives_in_order_and_a_missed_notification_loses_nothing(
    two_hubs: tuple[Exchange, Exchange, list[Mail], str],
) -> None:
    a, b, got, url = two_hubs
    await wait_until_async(lambda: b.listening, 5, "b to listen")
    for n in range(300):
        a.post(b.box, {"k": "send", "n": n, "t": "x" * (n % 7) * 2000})  # some past 8 kB
    await a.flushed()
    await wait_until_async(lambda: len(got) == 300, 5, "b to take its box")
    assert [m["n"] for m in got] == list(range(300))

    # b's listening connection is cut off; what is posted meanwhile is read all the same
    async with await psycopg.AsyncConnection.connect(libpq_url(url), autocommit=True) as admin:
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE application_name = %s", (f"telehub-listen-{b.hub_id}",))
    await wait_until_async(lambda: not b.listening, 5, "b to notice")
    for n in range(300, 320):
        a.post(b.box, {"k": "send", "n": n})
    await a.flushed()
    await wait_until_async(lambda: len(got) == 320, 5, "b to take what it was not told of")
    assert [m["n"] for m in got[300:]] == list(range(300, 320))
    await wait_until_async(lambda: b.listening, 5, "b to listen again")


async def test_a_hub_that_stops_renewing_its_lease_is_dead_to_the_others(
    two_hubs: tuple[Exchange, Exchange, list[Mail], str],
) -> None:
    a, b, _got, _url = two_hubs
    assert sorted(await a.live_hubs()) == sorted([a.hub_id, b.hub_id])
    assert await a.dead_hubs(5.0) == []
    for task in b._tasks:  # b hangs: no more lease renewals (its sockets stay open)
        task.cancel()
    await asyncio.sleep(0.6)
    assert await a.dead_hubs(0.5) == [b.hub_id]
    assert await a.live_hubs() == [a.hub_id]
