"""Fixtures for hub tests: a migrated database and a real hub on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from tests.helpers.hubserver import HubDatabase, HubStarter, ThreadedHub
from tests.helpers.wsclient import HubClient


@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    yield
    while HubClient.opened:
        await HubClient.opened.pop().close()


@pytest.fixture
def hubdb(db_url: str) -> Iterator[HubDatabase]:
    db = HubDatabase(db_url)
    yield db
    db.dispose()


# Short timings so tests of heartbeats and grace periods take a second, not a minute.
FAST = {"heartbeat_interval": 0.5, "heartbeat_timeout": 3.0, "reconnect_grace": 1.5}


@pytest.fixture
def start_hub(hubdb: HubDatabase) -> Iterator[Callable[..., ThreadedHub]]:
    starter = HubStarter(hubdb.url, FAST)
    yield starter
    starter.stop_all()


@pytest.fixture
def hub(start_hub: Callable[..., ThreadedHub]) -> ThreadedHub:
    return start_hub()
