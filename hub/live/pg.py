"""PostgreSQL from the live side's event loop: psycopg 3's asyncio connections.

Why psycopg 3 async and not the hub's SQLAlchemy sessions or asyncpg: the live side's
decisions (a claim) and its wake-ups (LISTEN/NOTIFY) must not wait behind the call-log
writer's thread, LISTEN needs a connection of its own that the event loop reads, and psycopg
3 is already the hub's PostgreSQL driver (one driver, one URL form, one set of TLS and
libpq settings) with ``AsyncConnection.notifies()`` for LISTEN; asyncpg would be a second
driver for the same database.
"""

from __future__ import annotations

import psycopg

# Calls of the live side are short: a statement stuck longer than this is a sick database,
# and the decision is better refused (the client is told to try again) than left hanging.
STATEMENT_TIMEOUT_MS = 5000


def is_postgres(db_url: str) -> bool:
    return db_url.startswith(("postgresql://", "postgresql+psycopg://", "postgres://"))


def libpq_url(db_url: str) -> str:
    """The libpq form of a SQLAlchemy PostgreSQL URL (psycopg takes no ``+driver`` part)."""
    scheme, sep, rest = db_url.partition("://")
    return "postgresql://" + rest if sep and scheme.startswith("postgres") else db_url


async def connect(db_url: str, *, name: str) -> psycopg.AsyncConnection[tuple[object, ...]]:
    """An autocommit connection: every live-side statement is its own decision."""
    return await psycopg.AsyncConnection.connect(
        libpq_url(db_url), autocommit=True, application_name=name[:63],
        options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
    )
