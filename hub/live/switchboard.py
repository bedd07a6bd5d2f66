"""The switchboard: builds the live side of one hub process and routes each message to its part.

The parts (this package): presence (connections, heartbeat), the call queue and its board
(what desks and callers are shown), dispatch (request, claim, end, requeue), escalation
(specialists), the signal relay and the call-log writer. Everything runs on the hub's one
asyncio loop; each part checks the role of the connection that sent a message it handles.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import assert_never

from sqlalchemy.orm import Session, sessionmaker

from hub.config import HubConfig
from hub.contract import signaling as p
from hub.contract.identity import Principal, StaffRole
from hub.contract.signaling import ErrorCode
from hub.live.board import QueueBoard
from hub.live.call import LiveCall
from hub.live.chat import Chat
from hub.live.clinic_ring import ClinicRing
from hub.live.dispatch import Dispatch
from hub.live.escalation import Escalation
from hub.live.glance import Glance, answered_on
from hub.live.handover import HandOvers
from hub.live.hold import Hold
from hub.live.log_writer import CallLogWriter
from hub.live.opening import Opening
from hub.live.photo_requests import PhotoRequests
from hub.live.presence import QUEUE_WATCHERS, Connection, Presence
from hub.live.queue import CallQueue, MemoryCallQueue
from hub.live.refusal import Refusal, require_role
from hub.live.relay import Relay
from hub.live.sessions import SessionCheck, SignIns
from hub.metrics import HubMetrics


class Switchboard:
    """Presence, the call queue and signaling for one hub process."""

    def __init__(
        self, config: HubConfig, sessions: sessionmaker[Session],
        queue: CallQueue | None = None, metrics: HubMetrics | None = None,
    ) -> None:
        self.config = config
        self.sessions = sessions
        self.metrics = metrics
        calls: dict[str, LiveCall] = {}  # the open calls, shared by the parts that act on them
        self.log = CallLogWriter(sessions, metrics.write_timer("calllog") if metrics else None)
        self.presence = Presence(config)
        self.queue: CallQueue = queue if queue is not None else MemoryCallQueue()
        self.opening = Opening(config, sessions, self.presence, self.log.read)
        self.board = QueueBoard(config, self.queue, calls, self.presence, self.opening.is_open)
        self.relay = Relay(config, calls)
        self.escalation = Escalation(calls, self.presence, self.relay, self.log)
        self.chat = Chat(calls, self.presence, self.log)
        self.hold = Hold(calls, self.presence, self.log)
        self.dispatch = Dispatch(config, sessions, calls, self.queue, self.board, self.relay,
                                 self.escalation, self.log, self.hold, metrics)
        self.glance = Glance(calls, self.queue, self.presence, lambda: self.board.hidden)
        self.hand_overs = HandOvers(config.hand_over_ring_s, calls, self.presence, self.relay,
                                    self.board, self.log, self.dispatch.requeue)
        self.clinics = ClinicRing(config.clinic_ring_s, sessions, calls, self.queue, self.board,
                                  self.presence, self.relay, self.log, self.glance.answered)
        self.dispatch.clinics = self.clinics
        self.dispatch.on_answered = self.glance.answered
        self.photos = PhotoRequests(calls)
        self.session_check = SessionCheck(sessions, self.log.read, self.presence,
                                          config.session_check_s, config.db_url)
        self.sign_ins = SignIns(sessions, self.log.read)
        self._tasks: list[asyncio.Task[None]] = []
        self.stopping = False

    async def start(self) -> None:
        await self.opening.reload()
        await self.dispatch.start()
        day = self.glance.day
        self.glance.learn(day, *await self.log.read(answered_on, self.sessions, day))
        self.opening.changed()
        self._tasks.append(asyncio.create_task(self.opening.watch(self._status_changed),
                                               name="hub-opening"))
        self._tasks.append(asyncio.create_task(
            self.presence.heartbeat(self.detach, self._tick), name="hub-heartbeat"))
        self._tasks.append(asyncio.create_task(self.session_check.watch(), name="hub-sessions"))

    async def _tick(self, now: float) -> None:
        await self.dispatch.expire_lost(now)
        self.hand_overs.expire(now)
        self.clinics.expire(now)
        self.glance.tick()

    async def stop(self) -> None:
        self.stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.presence.close_all()
        await self.session_check.close()
        self.log.close()

    # --- connections ----------------------------------------------------------------------

    async def authenticate(self, token: str) -> Principal | None:
        return await self.sign_ins.principal(token)

    def attach(self, conn: Connection) -> None:
        self.presence.add(conn)
        if conn.watches_queue:
            conn.send(self.board.snapshot())
            self.glance.show(conn.send)
            conn.send(self.hold.snapshot())
        if conn.principal.kind == "site":
            conn.send(self.opening.status())
        self.escalation.offer_open(conn)
        self.clinics.offer_open(conn)
        if conn.principal.role is StaffRole.NURSE:
            self._status_changed()

    async def detach(self, conn: Connection) -> None:
        """The connection closed or went silent: start the grace period of its calls."""
        if not self.presence.remove(conn):
            return
        self.dispatch.lost(conn)
        if conn.principal.role is StaffRole.NURSE:
            self._status_changed()
        await conn.drain()

    def _status_changed(self) -> None:
        """Nurses came or went, or the opening changed: sites are told if the hub's status
        did, and waiting callers get their estimates again (none while nobody can answer)."""
        if self.opening.changed():
            self.board.tell_positions()

    async def opening_changed(self) -> None:
        """An administrator set the hub open, closed or suspended (the REST route)."""
        await self.opening.reload()
        self._status_changed()

    # --- what routes use ------------------------------------------------------------------

    def tell_site(self, site_id: int, msg: p._Message) -> int:
        return self.presence.tell_site(site_id, msg)

    def tell_staff(self, staff_id: int, msg: p._Message) -> int:
        return self.presence.tell_staff(staff_id, msg)

    def disconnect(self, kind: str, principal_id: int, reason: str,
                   keep_token: str | None = None) -> int:
        return self.presence.disconnect(kind, principal_id, reason, keep_token)

    def disconnect_tokens(self, token_hashes: set[str], reason: str) -> int:
        return self.presence.disconnect_tokens(token_hashes, reason)

    def ice_servers(self, pid: str) -> list[p.IceServer]:
        return self.relay.ice_servers(pid)

    def snapshot(self) -> p.QueueSnapshot:
        return self.board.snapshot()

    async def queue_snapshot(self) -> p.QueueSnapshot:
        return self.board.snapshot()

    async def hand_over(self) -> None:
        self.stopping = True  # one hub: nothing to pass on, readiness fails from now

    def not_ready(self) -> str | None:
        return "shutting down" if self.stopping else None

    # --- what the metrics read (hub.metrics.LiveView) -------------------------------------

    def live_connections(self) -> list[Connection]:
        return list(self.presence.connections)

    def dispatching(self) -> bool:
        return True  # one hub alone runs its own live side

    # --- messages -------------------------------------------------------------------------

    async def handle(self, conn: Connection, msg: p.ClientMessage) -> None:
        conn.last_seen = time.monotonic()
        await self.session_check.check(conn, msg)
        match msg:
            case p.Pong():
                return
            case p.Ping():
                conn.send(p.Pong(t=msg.t))
            case p.Hello():
                raise Refusal(ErrorCode.WRONG_STATE, "this connection is already signed in")
            case p.QueueSync():
                require_role(conn, *QUEUE_WATCHERS)
                conn.send(self.board.snapshot())
                conn.send(self.hold.snapshot())
            case p.CallRequest():
                await self.dispatch.request(conn, msg)
            case p.CallCancel():
                await self.dispatch.cancel(conn, msg.call_id)
            case p.CallResume():
                await self.dispatch.resume_call(conn, msg.call_id)
            case p.CallClaim():
                await self.dispatch.claim(conn, msg.call_id)
                self.hand_overs.claimed(conn, msg.call_id)
            case p.CallEnd():
                await self.dispatch.end(conn, msg.call_id)
            case p.Offer() | p.Answer() | p.Renegotiate():
                self.relay.relay(conn, msg)
            case p.InviteSpecialist():
                self.escalation.invite(conn, msg)
            case p.InviteCancel():
                self.escalation.cancel(conn, msg.call_id)
            case p.InviteAccept() if self.clinics.ringing(msg.call_id):
                await self.clinics.answer(conn, msg.call_id)
            case p.InviteAccept():
                await self.escalation.accept(conn, msg.call_id)
            case p.InviteDecline() if self.clinics.ringing(msg.call_id):
                self.clinics.decline(conn, msg.call_id)
            case p.InviteDecline():
                self.escalation.decline(conn, msg.call_id)
            case p.HandOver():
                await self.hand_overs.hand_over(conn, msg)
            case p.HandOverAccept():
                await self.hand_overs.accept(conn, msg.call_id)
            case p.HandOverDecline():
                self.hand_overs.decline(conn, msg.call_id)
            case p.PhotoRequest():
                self.photos.ask(conn, msg)
            case p.PhotoDecline():
                self.photos.decline(conn, msg)
            case p.ChatSend():
                await self.chat.send(conn, msg)
            case p.CallHold():
                await self.hold.set(conn, msg)
            case _:  # mypy checks that every client message has a part that owns it
                assert_never(msg)
