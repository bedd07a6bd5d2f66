"""One hub of several on one PostgreSQL database: its gateway, and the dispatch when it leads.

Every hub serves its own sockets through its ``Gateway``; the hub holding PostgreSQL's
advisory lock ``telehub-dispatch`` also runs the live side, a ``Switchboard`` on the shared
``PgCallQueue``, for every hub's connections (``RelayedConnections``). The others wait on
the lock; PostgreSQL frees it the moment the holder's session ends (a killed hub), and the
next holder reloads the open calls from the rows and has every gateway attach its sockets
again: each client is welcomed again and resumes its calls, and only the dead hub's own
clients reconnect (docs/cluster.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import psycopg
from sqlalchemy.orm import Session, sessionmaker

from hub import turn
from hub.config import HubConfig
from hub.contract import signaling as p
from hub.contract.identity import Principal
from hub.live.exchange import DISPATCH, Exchange
from hub.live.gateway import RECONNECT, Gateway
from hub.live.pg import connect
from hub.live.pg_queue import PgCallQueue
from hub.live.presence import Connection
from hub.live.relayed import RelayedConnections
from hub.live.switchboard import Switchboard
from hub.metrics import HubMetrics

log = logging.getLogger("telehub.hub")

# pg_advisory_lock takes a bigint; this one is the hub's own ("tele" in ASCII, then 1).
DISPATCH_LOCK = 0x74656C6501
# pg_locks shows a bigint advisory key as two halves.
_LOCK_HALVES = (DISPATCH_LOCK >> 32, DISPATCH_LOCK & 0xFFFFFFFF)
LOCK_CHECK_S = 1.0
HAND_OVER_WAIT_S = 5.0


class ClusterNode:
    """The live side of one hub of several (the routes' ``LiveFront``)."""

    def __init__(self, config: HubConfig, sessions: sessionmaker[Session],
                 metrics: HubMetrics | None = None) -> None:
        self.config = config
        self.sessions = sessions
        self.metrics = metrics
        self.exchange = Exchange(config.db_url, lease_s=config.heartbeat_interval)
        self.gateway = Gateway(config, sessions, self.exchange)
        self.switchboard: Switchboard | None = None  # while this hub dispatches
        self._relayed: RelayedConnections | None = None
        self._queue: PgCallQueue | None = None
        self._lock_conn: psycopg.AsyncConnection[Any] | None = None
        self._leading: asyncio.Task[None] | None = None
        self.draining = False

    @property
    def hub_id(self) -> str:
        return self.exchange.hub_id

    async def start(self) -> None:
        await self.exchange.start(self.gateway.on_mail, take=self.gateway.take)
        self.gateway.start()
        # The first hub on a database dispatches before it serves its first client.
        lock = await connect(self.config.db_url, name=f"telehub-lock-{self.hub_id}")
        if (await (await lock.execute("SELECT pg_try_advisory_lock(%s)", (DISPATCH_LOCK,)))
                .fetchone() or (False,))[0]:
            self._lock_conn = lock
            await self._take_over()
        else:
            await lock.close()
        self._leading = asyncio.create_task(self._lead(), name="hub-dispatch-lock")
        log.info("hub %s started; it dispatches when it holds the lock", self.hub_id)

    async def hand_over(self) -> None:
        """SIGTERM, before the sockets close: take no new clients, stop dispatching, and wait
        (a few seconds at most) for another hub to take the dispatch, so this hub's clients
        move once, to a hub that dispatches."""
        self.draining = self.gateway.draining = True
        if self.switchboard is None:
            return
        self._stop_leading()
        others = [h for h in await self.exchange.live_hubs() if h != self.hub_id]
        await self._step_down(tell_clients=not others)
        if not others:  # the last hub: its clients wait for the next one to start
            return
        # The next dispatcher calls every gateway's sockets in again; this one, draining,
        # closes its own instead, so its clients move once, to a hub that stays.
        for _ in range(int(HAND_OVER_WAIT_S / LOCK_CHECK_S * 4)):
            if await self._dispatcher_present():
                return
            await asyncio.sleep(LOCK_CHECK_S / 4)

    async def stop(self) -> None:
        """Drain: the sockets move, the last messages and writes go out, then the lock."""
        self.draining = True
        await self.gateway.stop()
        await self.exchange.flushed()
        self._stop_leading()
        if self._leading is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._leading
        await self._step_down()
        await self.exchange.close()

    def _stop_leading(self) -> None:
        if self._leading is not None:
            self._leading.cancel()

    # --- dispatching ----------------------------------------------------------------------

    async def _lead(self) -> None:
        """Wait for the lock, dispatch while holding it, wait again if it is lost."""
        watchdog = asyncio.create_task(self._watch_dispatcher(), name="hub-dispatch-watch")
        try:
            await self._hold_lock()
        finally:
            watchdog.cancel()

    async def _hold_lock(self) -> None:
        while True:
            try:
                if self._lock_conn is None:
                    lock = await connect(self.config.db_url,
                                         name=f"telehub-lock-{self.hub_id}")
                    self._lock_conn = lock
                    await self._wait_for_lock(lock)
                    await self._take_over()
                while True:  # a dispatcher cut off from the database must stop at once
                    await asyncio.sleep(LOCK_CHECK_S)
                    await self._lock_conn.execute("SELECT 1")
                    await self._expire_dead_hubs()
            except psycopg.Error as exc:
                log.warning("hub %s: the dispatch lock's connection failed (%s)",
                            self.hub_id, type(exc).__name__)
            await self._step_down()
            await asyncio.sleep(0.5)

    @staticmethod
    async def _wait_for_lock(lock: psycopg.AsyncConnection[Any]) -> None:
        """Wait on the same connection while another hub dispatches: each wait ends at the
        statement timeout (so a connection gone dead is noticed) and starts again, without a
        warning or a new connection every few seconds on every standby hub."""
        while True:
            try:
                await lock.execute("SELECT pg_advisory_lock(%s)", (DISPATCH_LOCK,))
                return
            except psycopg.errors.QueryCanceled:
                continue

    async def _take_over(self) -> None:
        log.info("hub %s dispatches from now on", self.hub_id)
        self._queue = PgCallQueue(self.config.db_url, name=f"telehub-queue-{self.hub_id}")
        await self._queue.load()
        self.switchboard = Switchboard(self.config, self.sessions, queue=self._queue,
                                       metrics=self.metrics)
        await self.switchboard.start()  # the open calls, every leg lost until it is back
        self._relayed = RelayedConnections(self.switchboard, self.exchange)
        # What gateways posted that the last dispatcher did not read is read here (a claim,
        # a cancel sent at the moment it died), but not mail from hubs that have no lease:
        # their sockets are gone, and nothing would ever count them lost.
        await self.exchange.execute(
            "DELETE FROM hub_mail WHERE box = %s AND (body::jsonb ->> 'h') NOT IN "
            "(SELECT id FROM hub_nodes)", (DISPATCH,))
        await self.exchange.open_box(DISPATCH, self._relayed.on_mail, take=self._relayed.take)
        # Every gateway attaches its sockets to this dispatcher again: each client is
        # welcomed again and resumes its calls; only a dead hub's own clients reconnect.
        for hub_id in await self.exchange.live_hubs():
            self.exchange.post(f"hub-{hub_id}", {"k": "again"})

    async def _watch_dispatcher(self) -> None:
        """A gateway with no dispatcher for a heartbeat timeout sends its clients away: what
        they say goes nowhere (they come back when a hub dispatches again)."""
        missing_since: float | None = None
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(LOCK_CHECK_S)
            try:
                present = self.switchboard is not None or await self._dispatcher_present()
            except psycopg.Error:
                present = False
            if present:
                missing_since = None
            elif missing_since is None:
                missing_since = loop.time()
            elif loop.time() - missing_since > self.config.heartbeat_timeout:
                log.warning("hub %s: no hub dispatches; its clients are sent away", self.hub_id)
                await self.gateway.on_mail({"k": "reset"})
                missing_since = None

    async def _dispatcher_present(self) -> bool:
        rows = await self.exchange.execute(
            "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid = %s AND objid = %s AND objsubid = 1", _LOCK_HALVES)
        return bool(rows)

    async def _step_down(self, *, tell_clients: bool = True) -> None:
        await self.exchange.close_box(DISPATCH)
        if self._relayed is not None:
            await self._relayed.stop(tell_clients=tell_clients)
            self._relayed = None
        if self.switchboard is not None:
            await self.switchboard.stop()  # the call log's writes finish here
            self.switchboard = None
        if self._queue is not None:
            await self._queue.close()
            self._queue = None
        if self._lock_conn is not None:
            with contextlib.suppress(Exception):
                await self._lock_conn.close()  # frees the lock for the next hub
            self._lock_conn = None

    async def _expire_dead_hubs(self) -> None:
        relayed = self._relayed
        if relayed is None:
            return
        for hub_id in await self.exchange.dead_hubs(self.config.heartbeat_timeout):
            lost = relayed.lose_hub(hub_id)
            log.warning("hub %s stopped renewing its lease: its %d connections are lost",
                        hub_id, lost)

    # --- LiveFront ------------------------------------------------------------------------

    async def authenticate(self, token: str) -> Principal | None:
        return await self.gateway.authenticate(token)

    def attach(self, conn: Connection) -> None:
        self.gateway.attach(conn)
        if self.draining:  # it came while this hub hands over: to another hub, please
            conn.close(RECONNECT, "hub restarting: connect to another")

    async def handle(self, conn: Connection, msg: p.ClientMessage) -> None:
        await self.gateway.handle(conn, msg)

    async def detach(self, conn: Connection) -> None:
        await self.gateway.detach(conn)

    def tell_site(self, site_id: int, msg: p._Message) -> None:
        self.gateway.tell_site(site_id, msg)

    def tell_staff(self, staff_id: int, msg: p._Message) -> None:
        self.gateway.tell_staff(staff_id, msg)

    def disconnect(self, kind: str, principal_id: int, reason: str,
                   keep_token: str | None = None) -> None:
        self.gateway.disconnect(kind, principal_id, reason, keep_token)

    def disconnect_tokens(self, token_hashes: set[str], reason: str) -> None:
        self.gateway.disconnect_tokens(token_hashes, reason)

    def ice_servers(self, pid: str) -> list[p.IceServer]:
        c = self.config
        return turn.ice_servers(c.stun_urls, c.turn_urls, c.turn_secret, pid, c.turn_ttl_s)

    async def opening_changed(self) -> None:
        if self.switchboard is not None:
            await self.switchboard.opening_changed()
        else:
            self.gateway.opening_changed()

    async def queue_snapshot(self) -> p.QueueSnapshot:
        if self.switchboard is not None:
            return self.switchboard.snapshot()
        return p.QueueSnapshot.model_validate_json(await self.gateway.ask("snapshot"))

    # --- what the metrics read (hub.metrics.LiveView) -------------------------------------

    def live_connections(self) -> list[Connection]:
        return list(self.gateway.presence.connections)  # this hub's own sockets

    def dispatching(self) -> bool:
        return self.switchboard is not None

    def not_ready(self) -> str | None:
        if self.draining:
            return "draining"
        if not self.exchange.listening:
            return "not listening to the database"
        return None
