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
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.orm import Session, sessionmaker

from hub import lifecycle
from hub.contract import signaling as p
from hub.contract.signaling import ErrorCode
from hub.db import unit_of_work
from hub.live.presence import SESSION_ENDED, Connection, Presence
from hub.live.refusal import Refusal

log = logging.getLogger("telehub.hub")

ENDED = "session ended: sign in again"
# Messages that change nothing and show nothing: they need no check.
INERT = (p.Ping, p.Pong, p.Hello)

Reader = Callable[[Callable[[], set[str]]], Awaitable[set[str]]]


class SessionCheck:
    """Which open connections' sessions are still good, asked of the database in batches."""

    def __init__(self, sessions: sessionmaker[Session], read: Reader, presence: Presence,
                 interval_s: float) -> None:
        self.sessions, self._read, self.presence = sessions, read, presence
        self.interval_s = interval_s
        self._next: tuple[set[str], asyncio.Future[set[str]]] | None = None
        self._one_at_a_time = asyncio.Lock()
        self._flushing: set[asyncio.Task[None]] = set()

    async def _query(self, hashes: set[str]) -> set[str]:
        def read() -> set[str]:
            with unit_of_work(self.sessions) as s:
                return lifecycle.live_tokens(s, hashes)

        return await self._read(read)

    async def live(self, token_hash: str) -> bool:
        """Is this token still good (not revoked or expired, its account active)?"""
        if self._next is None:
            batch: tuple[set[str], asyncio.Future[set[str]]] = (
                set(), asyncio.get_running_loop().create_future())
            self._next = batch
            task = asyncio.create_task(self._flush(batch), name="hub-session-check")
            self._flushing.add(task)
            task.add_done_callback(self._flushing.discard)
        hashes, answer = self._next
        hashes.add(token_hash)
        return token_hash in await asyncio.shield(answer)

    async def _flush(self, batch: tuple[set[str], asyncio.Future[set[str]]]) -> None:
        hashes, answer = batch
        async with self._one_at_a_time:  # the batch fills while the one before is queried
            if self._next is batch:
                self._next = None  # what is asked from now on goes in the next batch
            try:
                answer.set_result(await self._query(hashes))
            except Exception as exc:
                answer.set_exception(exc)

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
        """Close, every ``interval_s``, the connections whose session has ended."""
        while True:
            await asyncio.sleep(self.interval_s)
            hashes = {c.token_hash for c in self.presence.connections}
            if not hashes:
                continue
            try:
                ended = hashes - await self._query(hashes)
            except Exception:
                log.exception("checking the open sessions failed; will try again")
                continue
            if ended:
                self.presence.disconnect_tokens(ended, ENDED)
