"""Presence: the live WebSocket connections of this hub, who they are, and the heartbeat.

A connection only knows its socket, its principal and which calls it is in; what a lost
connection means for those calls is the dispatch's business (``on_silent`` below).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from hub.config import HubConfig
from hub.contract import signaling as p
from hub.contract.identity import Principal, StaffRole
from hub.errors import where

log = logging.getLogger("telehub.hub")

OUTBOX_LIMIT = 1000  # frames waiting for one slow client before it is cut off
# Bytes waiting for one slow client before it is cut off: a desk that sends queue_sync and
# never reads would otherwise have the hub keep a snapshot per request (each up to a few
# hundred KB with a long queue). Room for at least one frame of the largest the hub sends.
OUTBOX_BYTES = 2 * p.MAX_SERVER_FRAME_BYTES
# The close code of a connection whose session ended: its token was revoked (signed out,
# password changed or reset, credential rotated) or its account disabled or retired.
SESSION_ENDED = 4403
QUEUE_WATCHERS = (StaffRole.NURSE, StaffRole.MANAGER)
PING_SLOTS = 20  # the heartbeat interval's pings are spread over this many slots
_NURSE = StaffRole.NURSE
_SPECIALIST = StaffRole.SPECIALIST
_slots = itertools.count()
K = TypeVar("K")


class Socket(Protocol):
    async def send_text(self, data: str) -> None: ...
    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


class Connection:
    """One authenticated WebSocket. Frames go out through a bounded outbox and a writer task,
    so a slow or dead client never holds up a broadcast to everyone else."""

    def __init__(self, socket: Socket, principal: Principal, token_hash: str = "") -> None:
        self.socket = socket
        self.principal = principal
        self.token_hash = token_hash  # of the token its hello carried (SHA-256, as stored)
        self.id = os.urandom(6).hex()  # as random as uuid4's first 12 digits, at less cost
        self.ping_slot = next(_slots) % PING_SLOTS
        self.last_seen = time.monotonic()
        self.calls: set[str] = set()
        self.closed = False
        # Its socket is on another hub's gateway, which runs its heartbeat (docs/cluster.md).
        self.relayed = False
        self._close_args: tuple[int, str] = (1000, "")
        self._outbox: asyncio.Queue[str | None] = asyncio.Queue(OUTBOX_LIMIT)
        self._outbox_bytes = 0  # what the outbox holds, in characters of JSON text
        self._writer = asyncio.create_task(self._write(), name=f"ws-writer-{self.id}")

    @property
    def pid(self) -> str:
        return self.principal.participant_id

    @property
    def watches_queue(self) -> bool:
        """Nurse and manager desks are shown the queue and every change to it."""
        return self.principal.kind == "staff" and self.principal.role in QUEUE_WATCHERS

    def send(self, message: p._Message) -> None:
        self.send_text(message.to_json())

    def send_text(self, text: str) -> None:
        if self.closed:
            return
        if self._outbox_bytes + len(text) > OUTBOX_BYTES or self._outbox.full():
            log.warning("connection %s fell %d frames (%d bytes) behind; closing it", self.id,
                        self._outbox.qsize(), self._outbox_bytes)
            self.close(4008, "too far behind", drop_backlog=True)
            return
        self._outbox_bytes += len(text)
        self._outbox.put_nowait(text)

    def close(self, code: int = 1000, reason: str = "", drop_backlog: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        self._close_args = (code, reason)
        if drop_backlog or self._outbox.full():
            # A client this far behind gets the close, not the backlog.
            while not self._outbox.empty():
                self._outbox.get_nowait()
            self._outbox_bytes = 0
        self._outbox.put_nowait(None)

    async def _write(self) -> None:
        try:
            while (text := await self._outbox.get()) is not None:
                self._outbox_bytes -= len(text)
                await self.socket.send_text(text)
        except Exception:  # the peer went away mid-send: the reader notices and cleans up
            self.closed = True
            return
        code, reason = self._close_args
        with contextlib.suppress(Exception):
            await self.socket.close(code, reason)

    def forget(self) -> None:
        """Stop sending, without a word to the peer (a relayed connection a new dispatcher
        will take over, docs/cluster.md)."""
        self.closed = True
        self._writer.cancel()

    async def drain(self) -> None:
        """Wait until the writer has sent what was queued and closed (used on disconnect)."""
        self.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self._writer), 2.0)
        self._writer.cancel()


class Presence:
    """Who is connected to this hub process right now."""

    def __init__(self, config: HubConfig) -> None:
        self.config = config
        self.connections: set[Connection] = set()  # change it only with join and remove
        # Kept as connections come and go, so what every call event asks (are nurses in?
        # who watches the queue?) costs nothing with 3,000 sites connected.
        self._by_principal: dict[tuple[str, int], set[Connection]] = {}
        self._watchers: set[Connection] = set()
        self._nurses: dict[int, set[Connection]] = {}
        self._specialists: set[Connection] = set()

    def join(self, conn: Connection) -> None:
        """Count ``conn`` in, without a welcome (a gateway's socket: the dispatcher welcomes)."""
        if conn in self.connections:
            return
        self.connections.add(conn)
        who = conn.principal
        self._by_principal.setdefault((who.kind, who.id), set()).add(conn)
        if conn.watches_queue:
            self._watchers.add(conn)
        if who.kind == "staff" and who.role == _NURSE:
            self._nurses.setdefault(who.id, set()).add(conn)
        elif who.kind == "staff" and who.role == _SPECIALIST:
            self._specialists.add(conn)

    def add(self, conn: Connection) -> None:
        self.join(conn)
        conn.send(p.Welcome(
            principal=conn.principal,
            heartbeat_interval=self.config.heartbeat_interval,
            heartbeat_timeout=self.config.heartbeat_timeout,
        ))

    def remove(self, conn: Connection) -> bool:
        """Forget ``conn``; False if it was already gone (detach runs once per connection)."""
        if conn not in self.connections:
            return False
        self.connections.discard(conn)
        who = conn.principal
        _forget(self._by_principal, (who.kind, who.id), conn)
        if who.kind == "staff" and who.role == _NURSE:
            _forget(self._nurses, who.id, conn)
        self._watchers.discard(conn)
        self._specialists.discard(conn)
        return True

    def of(self, kind: str, principal_id: int) -> list[Connection]:
        """The live connections of one account (a nurse may have two desks open)."""
        return list(self._by_principal.get((kind, principal_id), ()))

    def to_queue_watchers(self, text: str) -> None:
        for conn in self._watchers:
            conn.send_text(text)

    def specialists(self) -> list[Connection]:
        return list(self._specialists)

    def nurse_ids(self) -> set[int]:
        """Staff ids of the nurses signed in (one nurse may have several desks open)."""
        return set(self._nurses)

    def nurses(self) -> dict[int, Principal]:
        """The nurses signed in, by staff id."""
        return {i: next(iter(conns)).principal for i, conns in self._nurses.items()}

    def tell_site(self, site_id: int, msg: p._Message) -> int:
        """Send ``msg`` to every live connection of one site; returns how many got it."""
        return self._tell(self.of("site", site_id), msg)

    def tell_staff(self, staff_id: int, msg: p._Message) -> int:
        """Send ``msg`` to every live connection of one member of staff (a nurse with two
        desks open gets it on both); returns how many got it."""
        return self._tell(self.of("staff", staff_id), msg)

    @staticmethod
    def _tell(conns: list[Connection], msg: p._Message) -> int:
        text = msg.to_json()
        for conn in conns:
            conn.send_text(text)
        return len(conns)

    def disconnect(self, kind: str, principal_id: int, reason: str,
                   keep_token: str | None = None) -> int:
        """Close every live connection of one account (its access was revoked) but those
        signed in with ``keep_token`` (a token hash); its calls then follow the usual grace
        period, and a reconnect is refused at ``hello``."""
        closing = [c for c in self.of(kind, principal_id)
                   if keep_token is None or c.token_hash != keep_token]
        for conn in closing:
            conn.close(SESSION_ENDED, reason)
        return len(closing)

    def disconnect_tokens(self, token_hashes: set[str], reason: str) -> int:
        """Close every live connection signed in with one of ``token_hashes``."""
        closing = [c for c in self.connections if c.token_hash in token_hashes]
        for conn in closing:
            conn.close(SESSION_ENDED, reason)
        return len(closing)

    async def close_all(self) -> None:
        # 1012, service restart: connect again (to this hub once it is back, or another).
        for conn in list(self.connections):
            conn.close(1012, "hub restarting: connect again")
            await conn.drain()

    async def heartbeat(
        self,
        on_silent: Callable[[Connection], Awaitable[None]],
        on_tick: Callable[[float], Awaitable[None]],
    ) -> None:
        """Ping everyone, close the silent (then ``on_silent``), and ``on_tick`` every tick."""
        # Check often (at most a second apart) so a dead peer is noticed within
        # heartbeat_timeout plus one tick, but ping each connection only every
        # heartbeat_interval. The pings are spread over the interval in PING_SLOTS slots
        # (by connection), so 3,000 sites are not pinged, and do not answer, in one burst
        # that holds up a call request behind it.
        cfg = self.config
        tick = min(1.0, cfg.heartbeat_interval / 2, cfg.reconnect_grace / 4)
        slot_s = cfg.heartbeat_interval / PING_SLOTS
        step = min(tick, slot_s)
        loop_started = time.monotonic()
        last_tick, slot = 0.0, -1
        while True:
            await asyncio.sleep(step)
            now = time.monotonic()
            current = int((now - loop_started) / slot_s)
            due = {n % PING_SLOTS for n in range(max(slot + 1, current - PING_SLOTS + 1),
                                                current + 1)}
            slot = current
            ping = p.Ping(t=time.time()).to_json() if due else None
            for conn in list(self.connections):
                if conn.relayed:
                    continue
                if now - conn.last_seen > cfg.heartbeat_timeout:
                    log.info("connection %s silent for %.1f s: dead", conn.id,
                             now - conn.last_seen)
                    conn.close(4408, "heartbeat timeout")
                    await on_silent(conn)
                elif ping is not None and conn.ping_slot in due:
                    conn.send_text(ping)
            if now - last_tick < tick:
                continue
            last_tick = now
            try:
                await on_tick(now)
            except Exception as exc:
                log.error("expiring lost participants failed (%s); will try again", where(exc))


def _forget(index: dict[K, set[Connection]], key: K, conn: Connection) -> None:
    held = index.get(key)
    if held is not None:
        held.discard(conn)
        if not held:
            del index[key]
