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


async def connect(db_url: str, *, name: str, durable: bool = True
                  ) -> psycopg.AsyncConnection[tuple[object, ...]]:
    """An autocommit connection: every live-side statement is its own decision.

    ``durable=False`` (the mail between hubs and the leases) commits without waiting for the
    write-ahead log to reach the disk: a frame on its way is worth nothing after a crash of
    the database (every hub's clients reconnect then anyway), and waiting for the disk on
    every relayed frame would put an fsync into every cross-hub message. Claims and the call
    log stay durable: they are what a new dispatcher reads back."""
    options = f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"
    if not durable:
        options += " -c synchronous_commit=off"
    return await psycopg.AsyncConnection.connect(
        libpq_url(db_url), autocommit=True, application_name=name[:63], options=options,
    )
