"""Clinic calls: a prison's call for its booked clinic rings the booked specialist directly;
unanswered within ``clinic_ring_s`` (or declined, or the specialist not signed in) it falls
back to the nurse queue, and the caller is told (``clinic_fallback``).

The call is in the queue from the start (durable like any other: a shared queue's row), but
hidden from the nurse desks while it rings (``QueueBoard.hidden``); the specialist answers
with ``invite_accept``, which takes it through the queue's one atomic claim, so a late answer
and the fallback's nurse cannot both have it. A ring is not kept over a restart or a change
of dispatching hub: the call is then shown to the nurses at once (nothing is lost by it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import Session, sessionmaker

from hub.contract import signaling as p
from hub.contract.identity import CallRole, StaffRole
from hub.contract.signaling import ErrorCode
from hub.db import unit_of_work, utcnow
from hub.errors import where
from hub.live.board import QueueBoard
from hub.live.call import LiveCall, find_call
from hub.live.log_writer import CallLogWriter
from hub.live.presence import Connection, Presence
from hub.live.queue import CallQueue
from hub.live.refusal import Refusal, require_role
from hub.live.relay import Relay
from hub.models import ClinicBooking

log = logging.getLogger("telehub.hub")


WithdrawReason = Literal["accepted_elsewhere", "cancelled", "call_ended", "not_answered"]
FallbackReason = Literal["not_answered", "declined", "not_signed_in"]


@dataclass
class BookedCall:
    call_id: str
    booking_id: int
    specialist_id: int
    title: str
    deadline: float = 0.0  # while it rings (monotonic)


def _booking_for(sessions: sessionmaker[Session], booking_id: int, site_id: int
                 ) -> tuple[int, str] | None:
    with unit_of_work(sessions) as s:
        booking = s.get(ClinicBooking, booking_id)
        if booking is None or booking.site_id != site_id or booking.cancelled:
            return None
        return booking.specialist_id, booking.title


def _attach(s: Session, booking_id: int, call_id: str) -> None:
    booking = s.get(ClinicBooking, booking_id)
    if booking is not None:
        booking.call_id = call_id


class ClinicRing:
    """The booked clinic calls ringing their specialist on this hub."""

    def __init__(
        self, ring_s: float, sessions: sessionmaker[Session], calls: Mapping[str, LiveCall],
        queue: CallQueue,
        board: QueueBoard, presence: Presence, relay: Relay, log_writer: CallLogWriter,
        on_answered: Callable[[p.Urgency, float], None],
    ) -> None:
        self.ring_s = ring_s
        self._sessions = sessions
        self._calls = calls
        self._queue = queue
        self._board = board
        self._presence = presence
        self._relay = relay
        self._log = log_writer
        self._on_answered = on_answered
        self.booked: dict[str, BookedCall] = {}  # call id -> its booking, while it rings

    def ringing(self, call_id: str) -> bool:
        return call_id in self.booked

    async def check(self, conn: Connection, call: LiveCall, booking_id: int) -> None:
        """A new call names a booking: refused unless it is this site's, and not cancelled;
        held back from the nurses from here on."""
        found = await self._log.read(_booking_for, self._sessions, booking_id,
                                     conn.principal.id)
        if found is None:
            raise Refusal(ErrorCode.INVALID,
                          "clinic_id: not a clinic booked for this site, or cancelled")
        specialist_id, title = found
        self.booked[call.id] = BookedCall(call.id, booking_id, specialist_id, title)
        self._board.hidden.add(call.id)

    def forget(self, call: LiveCall) -> None:
        """The request was refused or not saved after :meth:`check`."""
        self.booked.pop(call.id, None)
        self._board.hidden.discard(call.id)

    async def ring(self, call: LiveCall) -> None:
        """The call is saved: attach it to its booking and ring the specialist."""
        booked = self.booked.get(call.id)
        if booked is None:
            return
        try:
            await self._log.writes.run(_attach, booked.booking_id, call.id)
        except Exception as exc:  # the call goes on; the booking misses its call id
            log.error("could not attach a clinic call to its booking: %s", where(exc))
        desks = self._desks_of(booked.specialist_id)
        if not desks:
            self._fall_back(call, "not_signed_in")
            return
        booked.deadline = time.monotonic() + self.ring_s
        ring = self._ring_message(call, booked)
        for conn in desks:
            conn.send(ring)

    def offer_open(self, conn: Connection) -> None:
        """A specialist just signed in: ring it for its clinic calls already ringing."""
        if conn.principal.role is not StaffRole.SPECIALIST:
            return
        for call_id, booked in self.booked.items():
            call = self._calls.get(call_id)
            if call is not None and booked.deadline and booked.specialist_id == conn.principal.id:
                conn.send(self._ring_message(call, booked))

    def _ring_message(self, call: LiveCall, booked: BookedCall) -> p.ClinicRing:
        left = max(0.0, booked.deadline - time.monotonic())
        return p.ClinicRing(call_id=call.id, booking_id=booked.booking_id,
                            site_name=call.site.name, title=booked.title,
                            reason=call.request.reason, ring_s=round(left, 1))

    def _desks_of(self, staff_id: int) -> list[Connection]:
        return [c for c in self._presence.connections
                if c.principal.kind == "staff" and c.principal.id == staff_id
                and c.principal.role is StaffRole.SPECIALIST and not c.closed]

    async def answer(self, conn: Connection, call_id: str) -> None:
        """``invite_accept`` from the booked specialist: the call is theirs."""
        require_role(conn, StaffRole.SPECIALIST)
        call = find_call(self._calls, call_id)
        booked = self.booked.get(call_id)
        if booked is None or booked.specialist_id != conn.principal.id:
            raise Refusal(ErrorCode.FORBIDDEN, "this clinic call rings another specialist",
                          call_id)
        self.forget(call)  # decided before any await: no fallback from here on
        if call.state != "waiting" or await self._queue.claim(call_id, conn.principal) is None:
            raise Refusal(ErrorCode.ALREADY_CLAIMED, "this call is no longer waiting", call_id)
        pid = conn.pid
        call.state = "connected"
        call.specialist_principals[pid] = conn.principal
        call.specialists[pid] = conn
        conn.calls.add(call.id)
        now = utcnow()
        first = not call.ever_answered
        call.ever_answered = True
        if first:
            call.answered_at = now
        self._withdraw_elsewhere(booked, conn, "accepted_elsewhere")
        if not call.saved.is_set():
            await call.saved.wait()
        if first:
            waited = (now - call.request.requested_at).total_seconds()
            self._on_answered(call.request.urgency, waited)
        conn.send(self._relay.connected(call, pid))
        if call.caller is not None:
            call.caller.send(self._relay.connected(call, call.site.participant_id))
        me = p.Participant(participant_id=pid, name=conn.principal.name,
                           role=CallRole.SPECIALIST)
        try:
            await self._log.answer(call.id, conn.principal.id, me, call.caller_participant(),
                                   now, first)
        except Exception as exc:
            log.error("could not write the answer of a clinic call (%s); it goes on",
                      where(exc))

    def decline(self, conn: Connection, call_id: str) -> None:
        require_role(conn, StaffRole.SPECIALIST)
        call = find_call(self._calls, call_id)
        booked = self.booked.get(call_id)
        if booked is None or booked.specialist_id != conn.principal.id:
            raise Refusal(ErrorCode.FORBIDDEN, "this clinic call rings another specialist",
                          call_id)
        self._withdraw_elsewhere(booked, conn, "cancelled")
        self._fall_back(call, "declined")

    def expire(self, now: float) -> None:
        """Rings past their time fall back to the nurses; ended calls are forgotten."""
        for call_id, booked in list(self.booked.items()):
            call = self._calls.get(call_id)
            if call is None or call.state != "waiting":
                self.booked.pop(call_id, None)
                self._board.hidden.discard(call_id)
                if call is None:
                    self._withdraw_elsewhere(booked, None, "call_ended")
            elif booked.deadline and now >= booked.deadline:
                self._withdraw_elsewhere(booked, None, "not_answered")
                self._fall_back(call, "not_answered")

    def _withdraw_elsewhere(self, booked: BookedCall, keep: Connection | None,
                            reason: WithdrawReason) -> None:
        for conn in self._desks_of(booked.specialist_id):
            if conn is not keep:
                conn.send(p.InviteWithdrawn(call_id=booked.call_id, reason=reason))

    def _fall_back(self, call: LiveCall, why: FallbackReason) -> None:
        self.forget(call)
        self._board.broadcast("added", call)
        self._board.tell_positions(after=call)
        if call.caller is not None:
            pos, wait = self._board.position(call)
            call.caller.send(p.ClinicFallback(call_id=call.id, reason=why, position=pos,
                                              estimated_wait_s=wait))
