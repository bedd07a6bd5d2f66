"""Sessions that end where this process does not see it: every message that acts is checked
against the tokens' and accounts' state in the database, and every open connection is checked
every ``session_check_s``; a connection whose session has ended is closed with 4403.

A sign-out or an account change made through this hub closes its connections at once (the
routes call :meth:`hub.live.Switchboard.disconnect`); this is for the rest: the CLI, another
hub on the same database, an edit straight in the database. Checks asked for while a query
runs share the next one, so a burst of messages costs a query or two, not one each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from sqlalchemy import bindparam, func
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, sessionmaker

from hub import accounts, lifecycle
from hub.contract import signaling as p
from hub.contract.identity import Principal
from hub.contract.signaling import ErrorCode
from hub.db import unit_of_work
from hub.errors import where
from hub.live.batching import Batched
from hub.live.pg import connect, is_postgres
from hub.live.presence import SESSION_ENDED, Connection, Presence
from hub.live.refusal import Refusal
from hub.models import AuthToken

log = logging.getLogger("telehub.hub")

ENDED = "session ended: sign in again"
# Messages that change nothing and show nothing: they need no check.
INERT = (p.Ping, p.Pong, p.Hello)
SWEEP_SLICE = 100  # tokens per query of the periodic check

Reader = Callable[[Callable[[], set[str]]], Awaitable[set[str]]]


class SignIns:
    """Whose token a hello carries, looked up in batches: a storm of sign-ins (a dead hub's
    clients arriving at once) costs a query per burst. ``run`` runs the lookup off the loop
    (the dispatcher's database thread, or a worker thread on a gateway).

    On PostgreSQL (``db_url``) the lookup is asked from the event loop instead, on a
    connection of its own, the statement compiled once: in a storm the batches are small
    (a query or so per sign-in), and the ORM's execution path and a thread hop for each
    cost more of the hub's CPU than the rest of a sign-in's lookup."""

    def __init__(self, sessions: sessionmaker[Session],
                 run: Callable[[Callable[[], dict[str, Principal]]],
                               Awaitable[dict[str, Principal]]], db_url: str = "") -> None:
        self._sessions, self._run = sessions, run
        self._tokens: Batched[str, Principal] = Batched(self._resolve)
        self._pg = _PgTokens(db_url, "telehub-sign-ins") if is_postgres(db_url) else None

    async def principal(self, token: str) -> Principal | None:
        return await self._tokens.get(lifecycle.token_hash(token))

    async def _resolve(self, hashes: set[str]) -> dict[str, Principal]:
        if self._pg is not None:
            return accounts.principals_of(await self._pg.rows(hashes))

        def resolve() -> dict[str, Principal]:
            with unit_of_work(self._sessions) as s:
                return accounts.resolve_token_hashes(s, hashes)

        return await self._run(resolve)

    async def close(self) -> None:
        if self._pg is not None:
            await self._pg.close()


class SessionCheck:
    """Which open connections' sessions are still good, asked of the database in batches."""

    def __init__(self, sessions: sessionmaker[Session], read: Reader, presence: Presence,
                 interval_s: float, db_url: str = "") -> None:
        self.sessions, self._read, self.presence = sessions, read, presence
        self.interval_s = interval_s
        self._batched: Batched[str, bool] = Batched(self._live_of)
        # On PostgreSQL the check is asked from the event loop (psycopg's asyncio side), not
        # the database thread: every call request waits for it, and the hop to a thread
        # shared with the other reads doubled the time until the desks saw the call.
        self._pg = _PgTokens(db_url, "telehub-session-check") if is_postgres(db_url) else None

    async def _query(self, hashes: set[str]) -> set[str]:
        if self._pg is not None:
            return await self._pg.live(hashes)

        def read() -> set[str]:
            with unit_of_work(self.sessions) as s:
                return lifecycle.live_tokens(s, hashes)

        return await self._read(read)

    async def close(self) -> None:
        if self._pg is not None:
            await self._pg.close()

    async def _live_of(self, hashes: set[str]) -> dict[str, bool]:
        return dict.fromkeys(await self._query(hashes), True)

    async def live(self, token_hash: str) -> bool:
        """Is this token still good (not revoked or expired, its account active)?"""
        return bool(await self._batched.get(token_hash))

    async def check(self, conn: Connection, msg: p.ClientMessage) -> None:
        """Refuse ``msg`` (and close its connection) if its session has ended."""
        if isinstance(msg, INERT) or await self.live(conn.token_hash):
            return
        refusal = Refusal(ErrorCode.UNAUTHORIZED, "your session has ended (signed out, "
                          "password changed or access withdrawn): sign in again")
        # Sent before the close: a closed connection sends nothing more.
        conn.send(p.Error(code=refusal.code, message=refusal.message, ref=msg.type,
                          request_id=getattr(msg, "request_id", None)))
        conn.close(SESSION_ENDED, ENDED)
        raise refusal

    async def watch(self) -> None:
        """Close, every ``interval_s``, the connections whose session has ended. The open
        sessions are asked about SWEEP_SLICE at a time: one query over 3,000 sites' tokens
        would hold the hub (its database thread and the interpreter) for tens of ms at once,
        and every call request behind it."""
        while True:
            await asyncio.sleep(self.interval_s)
            hashes = sorted({c.token_hash for c in self.presence.connections})
            for start in range(0, len(hashes), SWEEP_SLICE):
                part = set(hashes[start:start + SWEEP_SLICE])
                try:
                    ended = part - await self._query(part)
                except Exception as exc:
                    log.error("checking the open sessions failed; will try again: %s",
                              where(exc))
                    break
                if ended:
                    self.presence.disconnect_tokens(ended, ENDED)


class _PgTokens:
    """The live-token rule (``accounts.live_token_select``), compiled once for psycopg and
    asked on a connection of its own (named ``name``)."""

    def __init__(self, db_url: str, name: str) -> None:
        self.db_url, self.name = db_url, name
        compiled = accounts.live_token_select(
            AuthToken.token_hash == func.any(bindparam("hashes")), func.now(),
        ).compile(dialect=postgresql.psycopg.dialect())  # type: ignore[no-untyped-call]
        self.sql, self.defaults = str(compiled), dict(compiled.params)
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()

    async def live(self, hashes: set[str]) -> set[str]:
        return {str(row[0]) for row in await self.rows(hashes)}

    async def rows(self, hashes: set[str]) -> list[tuple[Any, ...]]:
        """The live tokens of ``hashes``, each with who it belongs to (the select's eight
        columns, as ``accounts.principals_of`` takes them)."""
        params = {**self.defaults, "hashes": sorted(hashes)}
        async with self._lock:
            kept = self._conn is not None and not self._conn.closed
            try:
                return await self._ask(params)
            except psycopg.OperationalError:
                lost = kept and self._conn is not None and self._conn.broken
                await self.close()
                if not lost:  # the database is away, or the query timed out
                    raise
            # The connection kept from before had been cut meanwhile (the database restarted,
            # an administrator ended it): asked once more on a new one, as the engine's
            # pre-ping does for the sessions.
            try:
                return await self._ask(params)
            except psycopg.OperationalError:
                await self.close()
                raise

    async def _ask(self, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        if self._conn is None or self._conn.closed:
            self._conn = await connect(self.db_url, name=self.name)
        cur = await self._conn.execute(self.sql, params)
        return await cur.fetchall()

    async def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None
