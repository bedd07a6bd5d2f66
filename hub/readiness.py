"""Readiness: whether a load balancer should send this hub new connections (its database
answers and it is not draining), for ``GET /ready``."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy import Engine

log = logging.getLogger("telehub.hub")


class ReadyState(StrEnum):
    READY = "ready"
    DRAINING = "draining"  # SIGTERM: this hub is sending its clients to the others
    DATABASE_UNREACHABLE = "database_unreachable"


# What the live side's not_ready() says when the hub is on its way out (hub/live/front.py).
DRAINING_REASONS = ("draining", "shutting down")


class Readiness:
    """One probe of the database at a time, on a thread of its own with a time limit.

    Why a thread and a limit: a database host that drops packets makes a connect hang for
    the kernel's TCP timeout (minutes); the load balancer must hear "not ready" within its
    check's timeout, and the hub's event loop must never wait on it. Why one at a time: a
    hung probe is joined by the next checks rather than piling threads up behind it.
    """

    def __init__(self, engine: Engine, timeout_s: float = 2.0) -> None:
        self._engine = engine
        self._timeout_s = timeout_s
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-ready")
        self._probe: asyncio.Future[None] | None = None
        self._reachable = True  # what the last finished probe found, for the log's changes

    async def check(self, live_refusal: str | None) -> ReadyState:
        """The state, given why the live side would refuse new clients (its ``not_ready``:
        draining or shutting down, or cut off from the database), or None if it would not."""
        if live_refusal in DRAINING_REASONS:
            return ReadyState.DRAINING
        if live_refusal is not None:
            return ReadyState.DATABASE_UNREACHABLE
        if self._probe is None or self._probe.done():
            loop = asyncio.get_running_loop()
            self._probe = asyncio.ensure_future(
                loop.run_in_executor(self._thread, self._select_one))
        try:
            await asyncio.wait_for(asyncio.shield(self._probe), self._timeout_s)
        except Exception as exc:
            self._note(False, exc)
            return ReadyState.DATABASE_UNREACHABLE
        self._note(True, None)
        return ReadyState.READY

    def _select_one(self) -> None:
        with self._engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def _note(self, reachable: bool, exc: BaseException | None) -> None:
        """Log when reachability changes (not every check: the balancer asks every second).
        The exception's type only: its text may hold the database URL."""
        if reachable != self._reachable:
            self._reachable = reachable
            if reachable:
                log.info("the database answers again: ready")
            else:
                log.warning("the database did not answer (%s): not ready",
                            type(exc).__name__ if exc else "?")

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)
