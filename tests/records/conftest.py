"""Fixtures for the records tests: a migrated local store and a typical triage record."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from records.store import Store


@pytest.fixture
def pg_url(fresh_pg_database: Callable[[], str]) -> str:
    """An empty PostgreSQL database (tests/conftest.py skips, or fails in CI, without one)."""
    return fresh_pg_database()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    local = Store.open(f"sqlite:///{tmp_path / 'desk.db'}")
    yield local
    local.close()
