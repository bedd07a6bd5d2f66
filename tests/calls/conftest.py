"""Fixtures for call-engine tests: a real hub on loopback (SQLite) and enrolled people."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import pytest

from calls.media import VideoSink
from hub.config import HubConfig
from tests.helpers.hubserver import HubDatabase, Seeded, ThreadedHub

# Short timings so heartbeat and grace-period tests take seconds, not minutes.
FAST: dict[str, Any] = {"heartbeat_interval": 0.3, "heartbeat_timeout": 1.5,
                        "reconnect_grace": 2.0}


@pytest.fixture
def hubdb(tmp_path: Path) -> Iterator[HubDatabase]:
    db = HubDatabase(f"sqlite:///{tmp_path / 'hub.db'}")
    yield db
    db.dispose()


@pytest.fixture
def start_hub(hubdb: HubDatabase) -> Iterator[Callable[..., ThreadedHub]]:
    started: list[ThreadedHub] = []

    def start(**overrides: Any) -> ThreadedHub:
        hub = ThreadedHub(HubConfig(db_url=hubdb.url, **{**FAST, **overrides})).start()
        started.append(hub)
        return hub

    yield start
    for hub in started:
        hub.stop()


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
