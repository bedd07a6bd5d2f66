"""SignalingClient against a real hub on loopback: sign-in, heartbeats, reconnect and resume."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import TypeVar

import pytest
from websockets.asyncio.server import ServerConnection, serve

from calls.signaling import (
    AuthenticationError,
    Backoff,
    Closed,
    Connected,
    Disconnected,
    NotConnectedError,
    Received,
    SignalingClient,
    SignalingEvent,
)
from hub.config import HubConfig
from hub.contract import signaling as p
from hub.contract.identity import Principal
from tests.helpers.fixtures import FAST, People
from tests.helpers.hubserver import HubDatabase, ThreadedHub, free_port
from tests.helpers.waiting import holds_for_async

E = TypeVar("E")
FAST_BACKOFF = Backoff(initial=0.05, maximum=0.5)


async def next_of(queue: asyncio.Queue[SignalingEvent], kind: type[E]) -> E:
    """The next event of ``kind``, skipping others (within 5 s)."""
    async with asyncio.timeout(5.0):
        while True:
            event = await queue.get()
            if isinstance(event, kind):
                return event
            if isinstance(event, Received) and isinstance(event.message, kind):
                return event.message


@pytest.fixture
async def clients() -> AsyncIterator[list[SignalingClient]]:
    made: list[SignalingClient] = []
    yield made
    for c in made:
        await c.close()


async def test_signs_in_and_answers_pings(hub: ThreadedHub, people: People,
                                          clients: list[SignalingClient]) -> None:
    events: asyncio.Queue[SignalingEvent] = asyncio.Queue()
    client = SignalingClient(hub.ws, people.nurse.token, events, backoff=FAST_BACKOFF)
    clients.append(client)
    welcome = await client.start()
    assert welcome.principal.participant_id == people.nurse.principal.participant_id
    assert client.participant_id == f"staff:{people.nurse.principal.id}"
    connected = await next_of(events, Connected)
    assert not connected.reconnect
    await next_of(events, p.QueueSnapshot)
    # The hub pings every 0.3 s and drops a connection silent for 1.5 s: still signed in
    # after two timeouts' worth means pongs went back.
    await holds_for_async(lambda: client.connections == 1, 3.2,
                          "one connection, kept alive by pongs")
    while not events.empty():
        assert not isinstance(events.get_nowait(), Disconnected)


async def test_bad_token_is_refused_without_retrying(hub: ThreadedHub,
                                                     clients: list[SignalingClient]) -> None:
    events: asyncio.Queue[SignalingEvent] = asyncio.Queue()
    client = SignalingClient(hub.ws, "not-a-token", events, backoff=FAST_BACKOFF)
    clients.append(client)
    with pytest.raises(AuthenticationError, match="refused"):
        await client.start()
    closed = await next_of(events, Closed)
    assert isinstance(closed.error, AuthenticationError)
    with pytest.raises(NotConnectedError):
        await client.send(p.QueueSync())


async def test_reconnects_and_resumes_held_call(hub: ThreadedHub, people: People,
                                                clients: list[SignalingClient]) -> None:
    events: asyncio.Queue[SignalingEvent] = asyncio.Queue()
    client = SignalingClient(hub.ws, people.site.token, events, backoff=FAST_BACKOFF)
    clients.append(client)
    await client.start()
    await client.send(p.CallRequest(request_id="r1", reason="fall, hip pain"))
    queued = await next_of(events, p.CallQueued)
    client.hold(queued.call_id)
    await client.drop()
    lost = await next_of(events, Disconnected)
    assert lost.retry_in <= FAST_BACKOFF.maximum
    again = await next_of(events, Connected)
    assert again.reconnect
    resumed = await next_of(events, p.CallQueued)  # the hub's answer to our call_resume
    assert resumed.call_id == queued.call_id and resumed.position == 1
    assert client.connections == 2


async def test_given_several_hub_addresses_it_moves_to_the_next_after_each_loss(
        hub: ThreadedHub, people: People, clients: list[SignalingClient]) -> None:
    dead = f"ws://127.0.0.1:{free_port()}/ws"  # nothing listens there
    events: asyncio.Queue[SignalingEvent] = asyncio.Queue()
    client = SignalingClient([dead, hub.ws], people.site.token, events, backoff=FAST_BACKOFF)
    clients.append(client)
    await client.start()  # refused at the first address, signed in at the second
    assert client.url == hub.ws and client.connections == 1
    await client.send(p.CallRequest(request_id="r1", reason="fall, hip pain"))
    queued = await next_of(events, p.CallQueued)
    client.hold(queued.call_id)
    await client.drop()  # lost at the second: the first again (refused), then the second
    again = await next_of(events, Connected)
    assert again.reconnect and client.url == hub.ws
    assert (await next_of(events, p.CallQueued)).call_id == queued.call_id
    with pytest.raises(ValueError, match="at least one hub address"):
        SignalingClient([], people.site.token, events)


async def test_silent_hub_is_declared_dead_and_redialled(
        clients: list[SignalingClient]) -> None:
    """A hub that welcomes and then says nothing (a half-open path): the client gives up on
    the connection after the announced heartbeat timeout and dials again."""
    accepted = 0

    async def silent(ws: ServerConnection) -> None:
        nonlocal accepted
        await ws.recv()  # hello
        accepted += 1
        principal = Principal(kind="site", id=1, name="x", role="care_home")
        await ws.send(p.Welcome(principal=principal, heartbeat_interval=0.1,
                                heartbeat_timeout=0.4).to_json())
        await ws.wait_closed()

    async with serve(silent, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        events: asyncio.Queue[SignalingEvent] = asyncio.Queue()
        client = SignalingClient(f"ws://127.0.0.1:{port}", "t", events, backoff=FAST_BACKOFF)
        clients.append(client)
        await client.start()
        lost = await next_of(events, Disconnected)
        assert "no word from the hub" in lost.reason
        assert (await next_of(events, Connected)).reconnect
        await client.close()
    assert accepted >= 2


async def test_keeps_dialling_until_the_hub_comes_up(
        hubdb: HubDatabase, people: People, clients: list[SignalingClient]) -> None:
    # Bound but not yet listening: every dial is refused until the hub starts.
    hub = ThreadedHub(HubConfig(db_url=hubdb.url, **FAST))
    try:
        events: asyncio.Queue[SignalingEvent] = asyncio.Queue()
        client = SignalingClient(hub.ws, people.nurse.token, events, backoff=FAST_BACKOFF)
        clients.append(client)
        starting = asyncio.create_task(client.start())
        await next_of(events, Disconnected)
        await next_of(events, Disconnected)
        assert not starting.done()
        await asyncio.to_thread(hub.start)
        welcome = await asyncio.wait_for(starting, 5)
        assert welcome.principal.participant_id == people.nurse.principal.participant_id
    finally:
        await clients.pop().close()
        hub.stop()


async def test_a_client_with_something_to_send_cuts_its_back_off_short(
        hub: ThreadedHub, people: People, clients: list[SignalingClient]) -> None:
    """A station waiting out a long back-off (a hub died: its sites come back spread out)
    connects at once when told it has something to send; with nothing, it keeps waiting."""
    events: asyncio.Queue[SignalingEvent] = asyncio.Queue()
    slow = Backoff(initial=30.0, maximum=30.0, jitter=0)
    client = SignalingClient(hub.ws, people.site.token, events, backoff=slow)
    clients.append(client)
    await client.start()
    client.hurry()  # while connected: nothing to cut short, and nothing kept for later
    await client.drop()
    lost = await next_of(events, Disconnected)
    assert lost.retry_in == 30.0
    await holds_for_async(lambda: client.connections == 1 and not client.connected, 0.5,
                          "no reconnect before the back-off ends")
    client.hurry()
    again = await next_of(events, Connected)
    assert again.reconnect and client.connections == 2
    # The hurry was used up: the next loss waits out its back-off again.
    await client.drop()
    assert (await next_of(events, Disconnected)).retry_in == 30.0
    await holds_for_async(lambda: not client.connected, 0.5, "the back-off is waited out")


async def test_a_client_holding_a_call_comes_back_within_the_busy_spread(
        hub: ThreadedHub, people: People, clients: list[SignalingClient]) -> None:
    """A back-off's two spreads, as the client applies them (hub.client.site_backoff): a site
    holding a call (a caller waiting keeps its place) adds at most the busy spread to its
    first retry; once it holds none, the whole spread."""

    class Halfway(random.Random):
        def random(self) -> float:
            return 0.5

    events: asyncio.Queue[SignalingEvent] = asyncio.Queue()
    client = SignalingClient(hub.ws, people.site.token, events, backoff=Backoff(
        initial=0.05, maximum=0.05, jitter=0, spread=30.0, busy_spread=0.2, rng=Halfway()))
    clients.append(client)
    await client.start()
    await client.send(p.CallRequest(request_id="r1", reason="fall, hip pain"))
    client.hold((await next_of(events, p.CallQueued)).call_id)
    await client.drop()
    assert (await next_of(events, Disconnected)).retry_in == pytest.approx(0.15)
    await next_of(events, Connected)
    client.release(client.held_calls[0])
    await client.drop()
    assert (await next_of(events, Disconnected)).retry_in == pytest.approx(15.05)
