"""Fixtures for hub tests: the hub on both databases, with its own timings, and the
WebSocket test clients closed after each test (the hubs themselves: tests/helpers/fixtures)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.helpers.wsclient import HubClient


@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    yield
    while HubClient.opened:
        await HubClient.opened.pop().close()


@pytest.fixture
def hub_db_url(db_url: str) -> str:
    """Every hub test runs on SQLite and on a real PostgreSQL database."""
    return db_url


@pytest.fixture
def hub_timings() -> dict[str, Any]:
    """Short timings so tests of heartbeats and grace periods take a second, not a minute."""
    return {"heartbeat_interval": 0.5, "heartbeat_timeout": 3.0, "reconnect_grace": 1.5}
