"""The live side of the hub: who is connected, the call queue, claims, escalation and relaying.

Everything here runs on the hub's one asyncio loop. A state change (a claim, a cancel) is
decided synchronously between two awaits, so two desks claiming at once cannot both win;
the database is written on a single worker thread, in order, before anyone is told.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub import accounts, turn
from hub.calllog import CallLog, StoredCall
from hub.config import HubConfig
from hub.contract import signaling as p
from hub.contract.identity import CallRole, Principal, SiteKind, StaffRole
from hub.contract.signaling import ErrorCode
from hub.db import GroupCommit, unit_of_work, utcnow
from hub.models import Call, Invitation

log = logging.getLogger("telehub.hub")

T = TypeVar("T")
OUTBOX_LIMIT = 1000  # frames waiting for one slow client before it is cut off
QUEUE_WATCHERS = {StaffRole.NURSE, StaffRole.MANAGER}


class Refusal(Exception):
    """A client message that cannot be carried out; becomes an ``error`` to that client only."""

    def __init__(self, code: ErrorCode, message: str, call_id: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.call_id = code, message, call_id


class Socket(Protocol):
    async def send_text(self, data: str) -> None: ...
    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


class Connection:
    """One authenticated WebSocket. Frames go out through a bounded outbox and a writer task,
    so a slow or dead client never holds up a broadcast to everyone else."""

    def __init__(self, socket: Socket, principal: Principal) -> None:
        self.socket = socket
        self.principal = principal
        self.id = uuid.uuid4().hex[:12]
        self.last_seen = time.monotonic()
        self.calls: set[str] = set()
        self.closed = False
        self._close_args: tuple[int, str] = (1000, "")
        self._outbox: asyncio.Queue[str | None] = asyncio.Queue(OUTBOX_LIMIT)
        self._writer = asyncio.create_task(self._write(), name=f"ws-writer-{self.id}")

    @property
    def pid(self) -> str:
        return self.principal.participant_id

    def send(self, message: p._Message) -> None:
        self.send_text(message.to_json())

    def send_text(self, text: str) -> None:
        if self.closed:
            return
        try:
            self._outbox.put_nowait(text)
        except asyncio.QueueFull:
            log.warning("connection %s fell %d frames behind; closing it", self.id, OUTBOX_LIMIT)
            self.close(4008, "too far behind")

    def close(self, code: int = 1000, reason: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        self._close_args = (code, reason)
        if self._outbox.full():  # a client this far behind gets the close, not the backlog
            while not self._outbox.empty():
                self._outbox.get_nowait()
        self._outbox.put_nowait(None)

    async def _write(self) -> None:
        try:
            while (text := await self._outbox.get()) is not None:
                await self.socket.send_text(text)
        except Exception:  # the peer went away mid-send: the reader notices and cleans up
            self.closed = True
            return
        code, reason = self._close_args
        with contextlib.suppress(Exception):
            await self.socket.close(code, reason)

    async def drain(self) -> None:
        """Wait until the writer has sent what was queued and closed (used on disconnect)."""
        self.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self._writer), 2.0)
        self._writer.cancel()


@dataclass
class LiveCall:
    id: str
    site: Principal
    request_id: str
    reason: str
    urgency: p.Urgency
    intended_action: p.IntendedAction | None
    observations: p.PreCallObservations | None
    patient: p.Patient | None
    soft_signs: list[str]
    news2: p.News2Summary | None
    requested_at: datetime
    state: str = "waiting"  # waiting | connected | ended
    requeued: bool = False
    ever_answered: bool = False
    answered_at: datetime | None = None
    # Set once the request is in the database (saved_ok tells whether that worked); calls
    # taken back after a restart were saved long ago.
    saved: asyncio.Event = field(default_factory=asyncio.Event)
    saved_ok: bool = False
    caller: Connection | None = None
    caller_lost_at: float | None = None
    desk: Principal | None = None
    desk_conn: Connection | None = None
    desk_lost_at: float | None = None
    specialists: dict[str, Connection | None] = field(default_factory=dict)
    specialist_principals: dict[str, Principal] = field(default_factory=dict)
    specialist_lost_at: dict[str, float] = field(default_factory=dict)
    invite_open: bool = False
    invite_note: str | None = None

    def sort_key(self) -> tuple[int, int, datetime]:
        # Urgency first; within one urgency a call whose desk was lost goes to the front.
        return (self.urgency.rank, 0 if self.requeued else 1, self.requested_at)

    def caller_participant(self) -> p.Participant:
        return p.Participant(
            participant_id=self.site.participant_id, name=self.site.name, role="caller"
        )

    def participants(self) -> list[p.Participant]:
        out = [self.caller_participant()]
        if self.desk is not None:
            out.append(p.Participant(
                participant_id=self.desk.participant_id, name=self.desk.name, role="nurse"
            ))
        out.extend(
            p.Participant(participant_id=pid, name=sp.name, role="specialist")
            for pid, sp in self.specialist_principals.items()
        )
        return out

    def connection_of(self, pid: str) -> Connection | None:
        if pid == self.site.participant_id:
            return self.caller
        if self.desk is not None and pid == self.desk.participant_id:
            return self.desk_conn
        return self.specialists.get(pid)

    def is_participant(self, pid: str) -> bool:
        return (
            pid == self.site.participant_id
            or (self.desk is not None and pid == self.desk.participant_id)
            or pid in self.specialist_principals
        )


class Switchboard:
    """Presence, the CallQueue and signaling for one hub process."""

    def __init__(self, config: HubConfig, sessions: sessionmaker[Session]) -> None:
        self.config = config
        self.sessions = sessions
        self.calllog = CallLog(sessions)
        self.connections: set[Connection] = set()
        self.calls: dict[str, LiveCall] = {}
        self.waiting: list[LiveCall] = []
        self.seq = 0
        self._requests: dict[tuple[int, str], str] = {}
        self._answer_s: deque[float] = deque(maxlen=20)
        self._handle_s: deque[float] = deque(maxlen=20)
        # Reads on one thread, writes grouped on another: database work never blocks the
        # loop, writes stay in order, and a burst of calls shares one durable commit.
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-db")
        self.writes = GroupCommit(sessions)
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        stored = await self.db(self.calllog.open_calls)
        answer, handle = await self.db(self.calllog.recent_durations)
        self._answer_s.extend(reversed(answer))
        self._handle_s.extend(reversed(handle))
        now = time.monotonic()
        for sc in stored:
            call = self._restore(sc, now)
            self.calls[call.id] = call
            self._requests[(call.site.id, call.request_id)] = call.id
            if call.state == "waiting":
                self.waiting.append(call)
        self.waiting.sort(key=LiveCall.sort_key)
        if stored:
            log.info("took back %d open calls after a restart", len(stored))
        self._tasks.append(asyncio.create_task(self._heartbeat(), name="hub-heartbeat"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for conn in list(self.connections):
            conn.close(1001, "hub shutting down")
            await conn.drain()
        self._db.shutdown(wait=True)
        self.writes.close()

    def _restore(self, sc: StoredCall, now: float) -> LiveCall:
        site = Principal(kind="site", id=sc.site_id, name=sc.site_name, role=sc.site_kind)
        call = LiveCall(
            id=sc.id, site=site, request_id=sc.request_id, reason=sc.reason,
            urgency=p.Urgency(sc.urgency),
            intended_action=p.IntendedAction(sc.intended_action) if sc.intended_action else None,
            observations=p.PreCallObservations(**sc.observations) if sc.observations else None,
            patient=p.Patient(**sc.patient) if sc.patient else None,
            soft_signs=sc.soft_signs,
            news2=(
                p.News2Summary(total=sc.news2_total, band=sc.news2_band or "",
                               complete=bool(sc.news2_complete))
                if sc.news2_total is not None else None
            ),
            requested_at=sc.requested_at, state=sc.state, requeued=sc.requeued,
            ever_answered=sc.answered_at is not None, answered_at=sc.answered_at,
            caller_lost_at=now, saved_ok=True,
        )
        call.saved.set()
        if sc.state == "connected":
            for part in sc.participants:
                if part["left_at"] is not None:
                    continue
                _kind, _, ident = part["participant_id"].partition(":")
                if part["role"] == CallRole.NURSE:
                    call.desk = Principal(kind="staff", id=int(ident), name=part["name"],
                                          role=StaffRole.NURSE.value)
                    call.desk_lost_at = now
                elif part["role"] == CallRole.SPECIALIST:
                    pid = part["participant_id"]
                    call.specialist_principals[pid] = Principal(
                        kind="staff", id=int(ident), name=part["name"],
                        role=StaffRole.SPECIALIST.value)
                    call.specialists[pid] = None
                    call.specialist_lost_at[pid] = now
            if call.desk is None:  # the log lost the desk's row: safest is back to the queue
                call.state, call.requeued = "waiting", True
        return call

    async def db(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._db, fn, *args)

    # --- connections ----------------------------------------------------------------------

    async def authenticate(self, token: str) -> Principal | None:
        def resolve() -> Principal | None:
            with unit_of_work(self.sessions) as s:
                return accounts.resolve_token(s, token)

        return await self.db(resolve)

    def _invited_patient(self, site_id: int) -> p.Patient | None:
        with unit_of_work(self.sessions) as s:
            data = s.scalar(select(Invitation.patient).where(Invitation.site_id == site_id))
        if not data:
            return None
        return p.Patient(**{k: v for k, v in data.items() if k in p.Patient.model_fields})

    def attach(self, conn: Connection) -> None:
        self.connections.add(conn)
        conn.send(p.Welcome(
            principal=conn.principal,
            heartbeat_interval=self.config.heartbeat_interval,
            heartbeat_timeout=self.config.heartbeat_timeout,
        ))
        if self._watches_queue(conn):
            conn.send(self.snapshot())
        if conn.principal.role is StaffRole.SPECIALIST:
            for call in self.calls.values():
                if call.invite_open:
                    conn.send(self._invite_message(call))

    async def detach(self, conn: Connection) -> None:
        """The connection closed or went silent: start the grace period of its calls."""
        if conn not in self.connections:
            return
        self.connections.discard(conn)
        now = time.monotonic()
        for call_id in list(conn.calls):
            call = self.calls.get(call_id)
            if call is None or call.state == "ended":
                continue
            if call.caller is conn:
                call.caller, call.caller_lost_at = None, now
                if call.state == "waiting":
                    self._broadcast_update("updated", call)
                else:
                    self._tell_others(call, conn.pid, p.ParticipantLeft(
                        call_id=call.id, participant_id=conn.pid, reason="connection_lost"))
            elif call.desk_conn is conn:
                call.desk_conn, call.desk_lost_at = None, now
                self._tell_others(call, conn.pid, p.ParticipantLeft(
                    call_id=call.id, participant_id=conn.pid, reason="connection_lost"))
            elif call.specialists.get(conn.pid) is conn:
                call.specialists[conn.pid] = None
                call.specialist_lost_at[conn.pid] = now
                self._tell_others(call, conn.pid, p.ParticipantLeft(
                    call_id=call.id, participant_id=conn.pid, reason="connection_lost"))
        conn.calls.clear()
        await conn.drain()

    def tell_site(self, site_id: int, msg: p._Message) -> int:
        """Send ``msg`` to every live connection of one site; returns how many got it."""
        text = msg.to_json()
        conns = [c for c in self.connections
                 if c.principal.kind == "site" and c.principal.id == site_id]
        for conn in conns:
            conn.send_text(text)
        return len(conns)

    def disconnect(self, kind: str, principal_id: int, reason: str) -> int:
        """Close every live connection of one account (its access was revoked); its calls
        then follow the usual grace period, and a reconnect is refused at ``hello``."""
        closing = [c for c in self.connections
                   if c.principal.kind == kind and c.principal.id == principal_id]
        for conn in closing:
            conn.close(4403, reason)
        return len(closing)

    async def _heartbeat(self) -> None:
        # Check often (at most a second apart) so a dead peer is noticed within
        # heartbeat_timeout plus one tick, but ping only every heartbeat_interval.
        cfg = self.config
        tick = min(1.0, cfg.heartbeat_interval / 2, cfg.reconnect_grace / 4)
        last_ping = 0.0
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            ping = p.Ping(t=time.time()).to_json() if now - last_ping >= cfg.heartbeat_interval \
                else None
            if ping is not None:
                last_ping = now
            for conn in list(self.connections):
                if now - conn.last_seen > cfg.heartbeat_timeout:
                    log.info("connection %s silent for %.1f s: dead", conn.id,
                             now - conn.last_seen)
                    conn.close(4408, "heartbeat timeout")
                    await self.detach(conn)
                elif ping is not None:
                    conn.send_text(ping)
            try:
                await self._expire_lost(now)
            except Exception:
                log.exception("expiring lost participants failed; will try again")

    async def _expire_lost(self, now: float) -> None:
        grace = self.config.reconnect_grace
        for call in list(self.calls.values()):
            if call.state == "ended":
                continue
            if call.caller is None and call.caller_lost_at and now - call.caller_lost_at > grace:
                await self._end(call, p.EndReason.CALLER_LOST, None)
                continue
            if (call.state == "connected" and call.desk_conn is None and call.desk_lost_at
                    and now - call.desk_lost_at > grace):
                await self._requeue(call)
            for pid, lost in list(call.specialist_lost_at.items()):
                if call.specialists.get(pid) is None and now - lost > grace:
                    await self._specialist_leaves(call, pid, "grace_expired")

    # --- messages -------------------------------------------------------------------------

    async def handle(self, conn: Connection, msg: p.ClientMessage) -> None:
        conn.last_seen = time.monotonic()
        match msg:
            case p.Pong():
                return
            case p.Ping():
                conn.send(p.Pong(t=msg.t))
            case p.Hello():
                raise Refusal(ErrorCode.WRONG_STATE, "this connection is already signed in")
            case p.QueueSync():
                self._require_role(conn, *QUEUE_WATCHERS)
                conn.send(self.snapshot())
            case p.CallRequest():
                await self._on_request(conn, msg)
            case p.CallCancel():
                await self._on_cancel(conn, msg.call_id)
            case p.CallResume():
                self._on_resume(conn, msg.call_id)
            case p.CallClaim():
                await self._on_claim(conn, msg.call_id)
            case p.CallEnd():
                await self._on_end(conn, msg.call_id)
            case p.Offer() | p.Answer() | p.Renegotiate():
                self._on_relay(conn, msg)
            case p.InviteSpecialist():
                self._on_invite(conn, msg)
            case p.InviteCancel():
                self._on_invite_cancel(conn, msg.call_id)
            case p.InviteAccept():
                await self._on_invite_accept(conn, msg.call_id)
            case p.InviteDecline():
                self._on_invite_decline(conn, msg.call_id)

    def _require_role(self, conn: Connection, *roles: StaffRole) -> None:
        if conn.principal.role not in roles:
            raise Refusal(ErrorCode.FORBIDDEN, f"only {' or '.join(roles)} connections may do this")

    def _call(self, call_id: str) -> LiveCall:
        call = self.calls.get(call_id)
        if call is None:
            raise Refusal(ErrorCode.NOT_FOUND, "no such open call", call_id)
        return call

    async def _on_request(self, conn: Connection, msg: p.CallRequest) -> None:
        if conn.principal.kind != "site":
            raise Refusal(ErrorCode.FORBIDDEN, "only a site can request a call")
        key = (conn.principal.id, msg.request_id)
        existing = self._requests.get(key)
        if existing is not None and existing in self.calls:
            if not self.calls[existing].saved.is_set():
                raise Refusal(ErrorCode.WRONG_STATE, "this request is already being queued")
            # A retry of a request we already hold (e.g. sent again after a reconnect).
            self._on_resume(conn, existing)
            return
        try:
            news2 = score_observations(msg.observations)
        except ValueError as exc:
            raise Refusal(ErrorCode.INVALID, f"observations refused: {exc}") from None
        patient = msg.patient
        if conn.principal.role is SiteKind.HOME:
            # A home caller is one patient, enrolled by a nurse: who the call is about comes
            # from the invitation, not from what the page says.
            enrolled = await self.db(self._invited_patient, conn.principal.id)
            if enrolled is not None:
                patient = enrolled
        call = LiveCall(
            id=str(uuid.uuid4()), site=conn.principal, request_id=msg.request_id,
            reason=msg.reason, urgency=msg.urgency, intended_action=msg.intended_action,
            observations=msg.observations, patient=patient, soft_signs=list(msg.soft_signs),
            news2=news2, requested_at=utcnow(), caller=conn,
        )
        row = Call(
            id=call.id, site_id=call.site.id, request_id=call.request_id, reason=call.reason,
            urgency=call.urgency.value,
            intended_action=call.intended_action.value if call.intended_action else None,
            observations=msg.observations.model_dump() if msg.observations else None,
            patient=patient.model_dump(exclude_none=True) if patient else None,
            soft_signs=call.soft_signs,
            news2_total=news2.total if news2 else None,
            news2_band=news2.band if news2 else None,
            news2_complete=news2.complete if news2 else None,
            state="waiting", requeued=False, requested_at=call.requested_at,
        )
        # Desks see the call at once (answering fast is the point of the hub); the caller is
        # told it is queued only once its request is durable, so it knows when it may stop
        # retrying. Writes are ordered, so a claim or cancel is stored after the request.
        self.calls[call.id] = call
        self._requests[key] = call.id
        conn.calls.add(call.id)
        self._insert_waiting(call)
        self._broadcast_update("added", call)
        self._tell_positions(after=call)
        try:
            await self.writes.run(CallLog.record_request, row)
        except Exception:
            log.exception("could not save a call request")
            self._drop_unsaved(call)
            raise Refusal(ErrorCode.INTERNAL,
                          "the hub could not save this request; send it again") from None
        finally:
            call.saved.set()
        call.saved_ok = True
        if call.caller is not None:
            # Sent even if a desk claimed the call while it was being saved: the caller learns
            # its call id here, and the claim's call_connected (waiting on `saved`) follows.
            pos, wait = self._position(call) if call.state == "waiting" else (1, 0)
            call.caller.send(p.CallQueued(call_id=call.id, request_id=msg.request_id,
                                          position=pos, estimated_wait_s=wait))

    def _drop_unsaved(self, call: LiveCall) -> None:
        """The request never reached the database: take it back from everyone shown it."""
        self.calls.pop(call.id, None)
        self._requests.pop((call.site.id, call.request_id), None)
        if call in self.waiting:
            self.waiting.remove(call)
            self._broadcast_update("removed", call, reason="not_saved")
            self._tell_positions()
        for conn in (call.caller, call.desk_conn):
            if conn is not None:
                conn.calls.discard(call.id)
        call.state = "ended"  # a desk that claimed it meanwhile is refused by _on_claim

    async def _on_cancel(self, conn: Connection, call_id: str) -> None:
        call = self._call(call_id)
        if conn.principal.kind != "site" or call.site.participant_id != conn.pid:
            raise Refusal(ErrorCode.NOT_PARTICIPANT, "only the caller can cancel a call", call_id)
        if call.state == "waiting":
            await self._end(call, p.EndReason.ABANDONED, conn.pid)
        else:
            await self._end(call, p.EndReason.COMPLETED, conn.pid)

    def _on_resume(self, conn: Connection, call_id: str) -> None:
        call = self._call(call_id)
        pid = conn.pid
        if not call.is_participant(pid):
            raise Refusal(ErrorCode.NOT_PARTICIPANT, "you are not part of this call", call_id)
        old = call.connection_of(pid)
        if old is not None and old is not conn:
            old.calls.discard(call.id)  # a newer connection of the same party takes over
        conn.calls.add(call.id)
        if pid == call.site.participant_id:
            call.caller, call.caller_lost_at = conn, None
            if call.state == "waiting":
                pos, wait = self._position(call)
                conn.send(p.CallQueued(call_id=call.id, request_id=call.request_id,
                                       position=pos, estimated_wait_s=wait))
                self._broadcast_update("updated", call)
                return
        elif call.desk is not None and pid == call.desk.participant_id:
            call.desk_conn, call.desk_lost_at = conn, None
        else:
            call.specialists[pid] = conn
            call.specialist_lost_at.pop(pid, None)
        conn.send(self._connected_message(call, pid))
        me = next(x for x in call.participants() if x.participant_id == pid)
        self._tell_others(call, pid, p.ParticipantJoined(call_id=call.id, participant=me))

    async def _on_claim(self, conn: Connection, call_id: str) -> None:
        self._require_role(conn, StaffRole.NURSE)
        call = self.calls.get(call_id)
        if call is None or call.state != "waiting":
            who = call.desk.name if call is not None and call.desk is not None else None
            text = f"this call was already answered by {who}" if who else (
                "this call is no longer waiting")
            raise Refusal(ErrorCode.ALREADY_CLAIMED, text, call_id)
        # Decided here, with no await since the check above: exactly one claim wins.
        call.state = "connected"
        call.desk, call.desk_conn, call.desk_lost_at = conn.principal, conn, None
        first = not call.ever_answered
        call.ever_answered = True
        self.waiting.remove(call)
        conn.calls.add(call.id)
        now = utcnow()
        desk_part = p.Participant(participant_id=conn.pid, name=conn.principal.name, role="nurse")
        if first:
            call.answered_at = now
        if not call.saved.is_set():
            await call.saved.wait()  # claimed within a millisecond of the request
        if not call.saved_ok:
            raise Refusal(ErrorCode.NOT_FOUND, "this call could not be saved", call_id)
        if first:
            self._answer_s.append((now - call.requested_at).total_seconds())
        # Both ends are told before the answer is written: this process is the one authority
        # on claims (one hub process per database), the write queue keeps the log in order,
        # and a caller should not wait on a disk flush to see the nurse.
        self._broadcast_update("removed", call, reason="claimed", claimed_by=conn.principal.name)
        conn.send(self._connected_message(call, conn.pid))
        if call.caller is not None:
            call.caller.send(self._connected_message(call, call.site.participant_id))
        self._tell_positions()
        try:
            stored = await self.writes.run(CallLog.record_answer, call.id, conn.principal.id,
                                           desk_part, call.caller_participant(), now, first)
        except Exception:
            log.exception("could not write the answer of a call to the log; the call goes on")
            return
        if not stored:
            log.error("the call log did not hold call %s as waiting when it was answered",
                      call.id)

    async def _on_end(self, conn: Connection, call_id: str) -> None:
        call = self._call(call_id)
        pid = conn.pid
        if not call.is_participant(pid) or call.state != "connected":
            if pid == call.site.participant_id:
                await self._on_cancel(conn, call_id)
                return
            raise Refusal(ErrorCode.NOT_PARTICIPANT, "you are not in this call", call_id)
        if pid in call.specialist_principals:
            await self._specialist_leaves(call, pid, "left")
            return
        await self._end(call, p.EndReason.COMPLETED, pid)

    def _on_relay(self, conn: Connection, msg: p.Offer | p.Answer | p.Renegotiate) -> None:
        call = self._call(msg.call_id)
        if call.state != "connected" or not call.is_participant(conn.pid):
            raise Refusal(ErrorCode.NOT_PARTICIPANT,
                          "signaling is only between the participants of a connected call",
                          msg.call_id)
        if msg.to == conn.pid or not call.is_participant(msg.to):
            raise Refusal(ErrorCode.NOT_PARTICIPANT, f"{msg.to!r} is not in this call",
                          msg.call_id)
        target = call.connection_of(msg.to)
        if target is None:
            raise Refusal(ErrorCode.WRONG_STATE, f"{msg.to} is not connected right now",
                          msg.call_id)
        target.send(msg.model_copy(update={"sender": conn.pid}))

    def _on_invite(self, conn: Connection, msg: p.InviteSpecialist) -> None:
        call = self._call(msg.call_id)
        if call.state != "connected" or call.desk is None or call.desk.participant_id != conn.pid:
            raise Refusal(ErrorCode.NOT_PARTICIPANT,
                          "only the nurse in a connected call can invite a specialist",
                          msg.call_id)
        specialists = self._specialist_connections()
        if not specialists:
            raise Refusal(ErrorCode.NO_SPECIALIST, "no specialist is signed in right now",
                          msg.call_id)
        call.invite_open, call.invite_note = True, msg.note
        invite = self._invite_message(call)
        for s in specialists:
            s.send(invite)

    def _on_invite_cancel(self, conn: Connection, call_id: str) -> None:
        call = self._call(call_id)
        if call.desk is None or call.desk.participant_id != conn.pid:
            raise Refusal(ErrorCode.NOT_PARTICIPANT, "only the inviting nurse can cancel",
                          call_id)
        if not call.invite_open:
            raise Refusal(ErrorCode.WRONG_STATE, "there is no open invitation", call_id)
        self._withdraw_invite(call, "cancelled")

    async def _on_invite_accept(self, conn: Connection, call_id: str) -> None:
        self._require_role(conn, StaffRole.SPECIALIST)
        call = self._call(call_id)
        if not call.invite_open or call.state != "connected":
            raise Refusal(ErrorCode.ALREADY_CLAIMED,
                          "this invitation was taken or withdrawn", call_id)
        call.invite_open = False  # first acceptance wins, decided before any await
        pid = conn.pid
        call.specialist_principals[pid] = conn.principal
        call.specialists[pid] = conn
        conn.calls.add(call.id)
        me = p.Participant(participant_id=pid, name=conn.principal.name, role="specialist")
        await self.writes.run(CallLog.record_join, call.id, me, utcnow())
        for other in self._specialist_connections():
            if other is not conn:
                other.send(p.InviteWithdrawn(call_id=call.id, reason="accepted_elsewhere"))
        conn.send(self._connected_message(call, pid))
        self._tell_others(call, pid, p.ParticipantJoined(call_id=call.id, participant=me))

    def _on_invite_decline(self, conn: Connection, call_id: str) -> None:
        self._require_role(conn, StaffRole.SPECIALIST)
        call = self._call(call_id)
        if not call.invite_open:
            raise Refusal(ErrorCode.WRONG_STATE, "there is no open invitation", call_id)
        if call.desk_conn is not None:
            call.desk_conn.send(p.InviteDeclined(call_id=call.id, by=conn.principal.name))

    # --- transitions ----------------------------------------------------------------------

    async def _end(self, call: LiveCall, reason: p.EndReason, by: str | None) -> None:
        was_waiting = call.state == "waiting"
        call.state = "ended"
        if was_waiting:
            self.waiting.remove(call)
        now = utcnow()
        await self.writes.run(CallLog.record_end, call.id, reason, by, now)
        if call.invite_open:
            self._withdraw_invite(call, "call_ended")
        ended = p.CallEnded(call_id=call.id, reason=reason, by=by)
        for conn in {call.caller, call.desk_conn, *call.specialists.values()}:
            if conn is not None:
                conn.send(ended)
                conn.calls.discard(call.id)
        del self.calls[call.id]
        self._requests.pop((call.site.id, call.request_id), None)
        if was_waiting:
            self._broadcast_update("removed", call, reason=reason.value)
            self._tell_positions()
        elif reason is p.EndReason.COMPLETED and call.answered_at is not None:
            self._handle_s.append((now - call.answered_at).total_seconds())

    async def _requeue(self, call: LiveCall) -> None:
        """The desk did not come back: the caller returns to the front of the queue."""
        assert call.desk is not None
        desk_pid = call.desk.participant_id
        await self.writes.run(CallLog.record_requeue, call.id, desk_pid, utcnow())
        for pid in list(call.specialist_principals):
            await self._specialist_leaves(call, pid, "desk_lost")
        if call.invite_open:
            self._withdraw_invite(call, "call_ended")
        call.state, call.requeued = "waiting", True
        call.desk = call.desk_conn = None
        call.desk_lost_at = None
        self._insert_waiting(call)
        if call.caller is not None:
            pos, wait = self._position(call)
            call.caller.send(p.CallRequeued(call_id=call.id, position=pos, estimated_wait_s=wait))
        self._broadcast_update("added", call)
        self._tell_positions(after=call)

    async def _specialist_leaves(self, call: LiveCall, pid: str, reason: str) -> None:
        conn = call.specialists.pop(pid, None)
        call.specialist_principals.pop(pid, None)
        call.specialist_lost_at.pop(pid, None)
        if conn is not None:
            conn.calls.discard(call.id)
            conn.send(p.CallEnded(call_id=call.id, reason=p.EndReason.COMPLETED, by=pid))
        await self.writes.run(CallLog.record_leave, call.id, pid, utcnow(), reason)
        self._tell_others(call, pid, p.ParticipantLeft(call_id=call.id, participant_id=pid,
                                                      reason=reason))

    def _withdraw_invite(self, call: LiveCall, reason: str) -> None:
        call.invite_open = False
        msg = p.InviteWithdrawn(call_id=call.id, reason=reason)
        for s in self._specialist_connections():
            s.send(msg)

    # --- the queue ------------------------------------------------------------------------

    def _insert_waiting(self, call: LiveCall) -> None:
        key = call.sort_key()
        i = len(self.waiting)
        while i > 0 and self.waiting[i - 1].sort_key() > key:
            i -= 1
        self.waiting.insert(i, call)

    def _free_desks(self) -> tuple[int, int]:
        nurses = {c.principal.id for c in self.connections if c.principal.role is StaffRole.NURSE}
        busy = {c.desk.id for c in self.calls.values()
                if c.state == "connected" and c.desk is not None}
        return len(nurses), len(nurses - busy)

    def _position(
        self, call: LiveCall, pos: int | None = None, desks: tuple[int, int] | None = None
    ) -> tuple[int, int]:
        """Position (1 = next) and an estimated wait in seconds.

        With a free nurse for everyone ahead, the wait is the recent time to answer; beyond
        that, each round of calls ahead takes one recent handling time per signed-in nurse.
        """
        pos = pos if pos is not None else self.waiting.index(call) + 1
        online, free = desks if desks is not None else self._free_desks()
        answer = _mean(self._answer_s, self.config.default_answer_s)
        handle = _mean(self._handle_s, self.config.default_handle_s)
        if pos <= free:
            wait = answer
        else:
            rounds = math.ceil((pos - free) / max(online, 1))
            wait = answer + rounds * handle
        return pos, round(wait)

    def _tell_positions(self, after: LiveCall | None = None) -> None:
        start = self.waiting.index(after) + 1 if after is not None else 0
        desks = self._free_desks()  # once for every caller told, not once each
        for i, call in enumerate(self.waiting[start:], start=start + 1):
            if call.caller is not None and call.saved_ok:
                pos, wait = self._position(call, i, desks)
                call.caller.send(p.QueuePosition(call_id=call.id, position=pos,
                                                 estimated_wait_s=wait))

    def entry(self, call: LiveCall) -> p.QueueEntry:
        return p.QueueEntry(
            call_id=call.id, site_id=call.site.id, site_name=call.site.name,
            site_kind=SiteKind(call.site.role), urgency=call.urgency, reason=call.reason,
            intended_action=call.intended_action, requested_at=call.requested_at,
            position=self.waiting.index(call) + 1, requeued=call.requeued,
            caller_connected=call.caller is not None, news2=call.news2,
            observations=call.observations, patient=call.patient, soft_signs=call.soft_signs,
        )

    def snapshot(self) -> p.QueueSnapshot:
        return p.QueueSnapshot(seq=self.seq, entries=[self.entry(c) for c in self.waiting])

    def _broadcast_update(
        self, op: str, call: LiveCall, reason: str | None = None, claimed_by: str | None = None
    ) -> None:
        self.seq += 1
        update = p.QueueUpdate(
            seq=self.seq, op=op, call_id=call.id,
            entry=self.entry(call) if op != "removed" else None,
            reason=reason, claimed_by=claimed_by,
        )
        text = update.to_json()  # serialised once for every desk
        for conn in self.connections:
            if self._watches_queue(conn):
                conn.send_text(text)

    # --- helpers --------------------------------------------------------------------------

    @staticmethod
    def _watches_queue(conn: Connection) -> bool:
        return conn.principal.kind == "staff" and conn.principal.role in QUEUE_WATCHERS

    def _specialist_connections(self) -> list[Connection]:
        return [c for c in self.connections if c.principal.role is StaffRole.SPECIALIST]

    def _tell_others(self, call: LiveCall, pid: str, msg: p._Message) -> None:
        for part in call.participants():
            if part.participant_id != pid:
                target = call.connection_of(part.participant_id)
                if target is not None:
                    target.send(msg)

    def _invite_message(self, call: LiveCall) -> p.SpecialistInvite:
        return p.SpecialistInvite(
            call_id=call.id, site_name=call.site.name, site_kind=SiteKind(call.site.role),
            reason=call.reason, invited_by=call.desk.name if call.desk else "",
            note=call.invite_note,
        )

    def ice_servers(self, pid: str) -> list[p.IceServer]:
        c = self.config
        return turn.ice_servers(c.stun_urls, c.turn_urls, c.turn_secret, pid, c.turn_ttl_s)

    def _connected_message(self, call: LiveCall, pid: str) -> p.CallConnected:
        return p.CallConnected(call_id=call.id, you=pid, participants=call.participants(),
                               ice_servers=self.ice_servers(pid))


def _mean(values: deque[float], default: float) -> float:
    return sum(values) / len(values) if values else default


def score_observations(obs: p.PreCallObservations | None) -> p.News2Summary | None:
    """NEWS2 of the caller's pre-call observations (decision support shown to the nurse)."""
    if obs is None or all(
        v is None for k, v in obs.model_dump().items() if k not in ("scale",)
    ):
        return None
    from records import news2  # the one implementation of the clinical rule

    result = news2.score(news2.Observations(**obs.model_dump()))
    return p.News2Summary(total=result.total, band=result.band, complete=result.complete)
