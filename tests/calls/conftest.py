"""Fixtures for call-engine tests: a real hub on loopback (SQLite) and enrolled people."""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import pytest

from calls.engine import CallEngine, EngineEvent
from calls.media import VideoSink, read_pattern
from calls.session import CallState, StateChanged
from calls.signaling import Backoff
from hub.contract.identity import CallRole
from tests.helpers.hubserver import HubDatabase, HubStarter, Seeded, ThreadedHub

# Short timings so heartbeat and grace-period tests take seconds, not minutes.
FAST: dict[str, Any] = {"heartbeat_interval": 0.3, "heartbeat_timeout": 1.5,
                        "reconnect_grace": 2.0}


def udp_sockets() -> set[str]:
    """Inodes of this process's open UDP sockets (IPv4 and IPv6), from /proc (empty where
    there is no /proc: the check is then only the garbage collector's)."""
    if not Path("/proc/self/net/udp").exists():
        return set()
    ours = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(Path("/proc/self/fd") / fd)
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


def udp_addresses(inodes: set[str]) -> list[str]:
    """Each socket's local address as /proc shows it (hex address:port), to tell an ICE host
    socket from a TURN allocation or the test's own relay when one is left open."""
    found = []
    for table in ("udp", "udp6"):
        path = Path("/proc/self/net") / table
        if path.exists():
            for line in path.read_text().splitlines()[1:]:
                fields = line.split()
                if fields[9] in inodes:
                    address, port = fields[1].rsplit(":", 1)
                    found.append(f"{table} {address}:{int(port, 16)} (inode {fields[9]})")
    return sorted(found)


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Collects garbage after each test (set up first, so torn down last: after its engines,
    hub and event loop are gone). A socket, transport or peer connection the test left open
    then warns (an error here) in this test's teardown, not in some later test's setup."""
    before = udp_sockets()
    yield
    gc.collect()
    left = udp_sockets() - before
    assert not left, f"UDP sockets left open by this test: {udp_addresses(left)}"


@pytest.fixture
def hubdb(tmp_path: Path) -> Iterator[HubDatabase]:
    db = HubDatabase(f"sqlite:///{tmp_path / 'hub.db'}")
    yield db
    db.dispose()


@pytest.fixture
def start_hub(hubdb: HubDatabase) -> Iterator[Callable[..., ThreadedHub]]:
    starter = HubStarter(hubdb.url, FAST)
    yield starter
    starter.stop_all()


@pytest.fixture
def hub(start_hub: Callable[..., ThreadedHub]) -> ThreadedHub:
    return start_hub()


@dataclass
class People:
    site: Seeded
    nurse: Seeded
    specialist: Seeded
    nurse2: Seeded


@pytest.fixture
def people(hubdb: HubDatabase) -> People:
    return People(
        site=hubdb.site("Beech House", "care_home"),
        nurse=hubdb.staff("nina", "nurse"),
        specialist=hubdb.staff("sam", "specialist"),
        nurse2=hubdb.staff("nora", "nurse"),
    )


async def frame_where(sink: VideoSink, fits: Callable[[av.VideoFrame], bool],
                      within: float = 5.0) -> av.VideoFrame:
    """The next frame the sink receives for which ``fits`` is true (waits at most ``within``)."""
    found: asyncio.Future[av.VideoFrame] = asyncio.get_running_loop().create_future()

    def listen(frame: av.VideoFrame) -> None:
        if not found.done() and fits(frame):
            found.set_result(frame)

    sink.listeners.append(listen)
    try:
        return await asyncio.wait_for(found, within)
    finally:
        sink.listeners.remove(listen)


class EventLog:
    """Every event of one engine, kept in order; ``wait`` awaits one that fits."""

    def __init__(self, engine: CallEngine) -> None:
        self.events: list[EngineEvent] = []
        self._waiters: list[tuple[Callable[[EngineEvent], bool], asyncio.Future[EngineEvent]]]
        self._waiters = []
        engine.listen(self._on)

    def _on(self, event: EngineEvent) -> None:
        self.events.append(event)
        for fits, fut in list(self._waiters):
            if not fut.done() and fits(event):
                fut.set_result(event)

    def mark(self) -> int:
        """A point in the log: ``wait(..., since=mark)`` ignores events before it."""
        return len(self.events)

    async def wait(self, fits: Callable[[EngineEvent], bool], within: float = 10.0,
                   since: int = 0) -> EngineEvent:
        for event in self.events[since:]:
            if fits(event):
                return event
        fut: asyncio.Future[EngineEvent] = asyncio.get_running_loop().create_future()
        entry = (fits, fut)
        self._waiters.append(entry)
        try:
            return await asyncio.wait_for(fut, within)
        finally:
            self._waiters.remove(entry)

    async def state(self, state: CallState, within: float = 10.0, since: int = 0,
                    ) -> StateChanged:
        event = await self.wait(lambda e: isinstance(e, StateChanged) and e.new is state,
                                within, since)
        assert isinstance(event, StateChanged)
        return event


def stamps_of(sink: VideoSink) -> list[int]:
    """Collects the pattern's frame counters of every frame the sink receives from now on."""
    seen: list[int] = []

    def listen(frame: av.VideoFrame) -> None:
        stamp = read_pattern(frame)
        if stamp is not None:
            seen.append(stamp.counter)

    sink.listeners.append(listen)
    return seen


@pytest.fixture
async def engines() -> AsyncIterator[Callable[..., CallEngine]]:
    """Makes engines that are closed (and checked closed) at the end of the test."""
    made: list[CallEngine] = []

    def make(url: str, token: str, role: CallRole, **kw: Any) -> CallEngine:
        kw.setdefault("backoff", Backoff(initial=0.05, maximum=0.5))
        engine = CallEngine(url, token, role, **kw)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        await engine.close()
