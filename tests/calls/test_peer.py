"""PeerLink closing: no ICE socket outlives its link, however the link's offer is cut short."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from calls.media import MediaSource
from calls.peer import LinkClosedError, PeerLink, rtc_configuration
from tests.calls.conftest import udp_sockets as open_udp_sockets
from tests.helpers.fixtures import need


def udp_sockets() -> set[str]:
    if not Path("/proc/self/net/udp").exists():
        need("/proc/self/net/udp (Linux) to count this process's UDP sockets")
    return open_udp_sockets()


@pytest.fixture
async def make_link() -> AsyncIterator[Callable[[], PeerLink]]:
    sources: list[MediaSource] = []

    def make() -> PeerLink:
        media = MediaSource.synthetic()
        sources.append(media)
        return PeerLink("site:1", offerer=True, generation=1,
                        configuration=rtc_configuration([]), media=media,
                        on_change=lambda link: None)

    yield make
    for media in sources:
        await media.close()


async def first_socket_bound(before: set[str], offering: asyncio.Task[str]) -> None:
    """Waits until gathering has bound its first ICE socket (and has not finished)."""
    for _ in range(10_000):
        if udp_sockets() - before:
            break
        await asyncio.sleep(0)
    assert udp_sockets() - before, "gathering never bound a socket"
    if offering.done():
        # One local address only: gathering cannot be caught between two binds here.
        need("two or more non-loopback addresses, to close a link between two ICE binds")


async def test_closed_mid_gathering_leaves_no_socket(
        make_link: Callable[[], PeerLink]) -> None:
    before = udp_sockets()
    link = make_link()
    offering = asyncio.create_task(link.make_offer())
    await first_socket_bound(before, offering)
    await link.close()
    with pytest.raises(LinkClosedError):
        await offering
    assert link.pc.connectionState == "closed"
    assert udp_sockets() == before


async def test_offer_cancelled_mid_gathering_leaves_no_socket(
        make_link: Callable[[], PeerLink]) -> None:
    """The session's monitor is cancelled while it makes an offer: the offer's gathering
    still runs to its end, so closing the link afterwards closes every socket it bound."""
    before = udp_sockets()
    link = make_link()
    offering = asyncio.create_task(link.make_offer())
    await first_socket_bound(before, offering)
    offering.cancel()
    with pytest.raises(asyncio.CancelledError):
        await offering
    await link.close()
    assert udp_sockets() == before


async def test_close_is_not_cut_short_by_a_cancelled_caller(
        make_link: Callable[[], PeerLink]) -> None:
    before = udp_sockets()
    link = make_link()
    await link.make_offer()
    assert udp_sockets() - before
    closing = asyncio.create_task(link.close())
    await asyncio.sleep(0)
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    await link.close()  # a second close waits for the first one's work, not a new one
    assert link.pc.connectionState == "closed"
    assert udp_sockets() == before
    with pytest.raises(LinkClosedError):
        await link.make_offer()
