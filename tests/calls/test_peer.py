"""PeerLink closing: no ICE socket outlives its link, however the link's offer is cut short."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from calls.media import MediaSource
from calls.peer import LinkClosedError, PeerLink, rtc_configuration
from tests.conftest import need


def udp_sockets() -> set[str]:
    """Inodes of this process's open UDP sockets (IPv4 and IPv6), from /proc."""
    if not Path("/proc/self/net/udp").exists():
        need("/proc/self/net/udp (Linux) to count this process's UDP sockets")
    ours = set()
    for fd in os.listdir("/proc/self/fd"):
        with_target = Path("/proc/self/fd") / fd
        try:
            target = os.readlink(with_target)
        except OSError:  # closed meanwhile (listdir's own fd)
            continue
        if target.startswith("socket:["):
            ours.add(target[8:-1])
    udp = set()
    for table in ("udp", "udp6"):
        path = Path("/proc/self/net") / table
        if path.exists():
            for line in path.read_text().splitlines()[1:]:
                udp.add(line.split()[9])
    return ours & udp


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
