"""Fixtures for call-engine tests: engines closed after each test, and no UDP socket left open
(the hub and the people enrolled in it: tests/helpers/fixtures.py)."""

from __future__ import annotations

import gc
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from calls.engine import CallEngine
from hub.client import Backoff
from hub.contract.identity import CallRole


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
    gc.freeze()  # what is left outlives the test: later collections need not walk it
    left = udp_sockets() - before
    assert not left, f"UDP sockets left open by this test: {udp_addresses(left)}"


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
