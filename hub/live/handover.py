"""Hand-over: the nurse in a call passes it, with a note and the draft record, to a free nurse
(who answers the ring) or back to the front of the queue (for whoever answers it next).

The caller does nothing: it is told the old nurse left (``participant_left``, reason
``handed_over``) and the new one joined (``participant_joined``), and the new nurse's desk
offers to it as any answering desk does (the higher-ranked end offers, calls/session.py).
A hand-over offered is decided before any await, so the offered nurse accepting and the
offer lapsing cannot both win. The offer is not kept over a restart or a change of the
dispatching hub: the call stays with its nurse, who hands it over again.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from hub.contract import signaling as p
from hub.contract.identity import CallRole, Principal, StaffRole
from hub.contract.signaling import ErrorCode
from hub.db import utcnow
from hub.live.board import QueueBoard
from hub.live.call import LiveCall, find_call
from hub.live.log_writer import CallLogWriter
from hub.live.presence import Connection, Presence
from hub.live.refusal import Refusal, require_role
from hub.live.relay import Relay
from records.schema import TriageRecord


@dataclass
class OfferedHandOver:
    """A hand-over waiting for the named nurse to answer."""

    call_id: str
    from_pid: str
    to: Principal
    message: p.HandOverOffer
    deadline: float


@dataclass(frozen=True)
class QueuedHandOver:
    """What a call handed back to the queue carries to the nurse who answers it next."""

    from_name: str
    note: str | None
    record: TriageRecord | None


class HandOvers:
    """The hand-overs of this hub's calls: offered to a nurse, or waiting in the queue."""

    def __init__(
        self, ring_s: float, calls: Mapping[str, LiveCall], presence: Presence, relay: Relay,
        board: QueueBoard, log: CallLogWriter,
        requeue: Callable[[LiveCall, str], Awaitable[bool]],
    ) -> None:
        self.ring_s = ring_s
        self._calls = calls
        self._presence = presence
        self._relay = relay
        self._board = board
        self._log = log
        self._requeue = requeue  # Dispatch's: the queue decides, the log and caller follow
        self.offered: dict[str, OfferedHandOver] = {}
        self.queued: dict[str, QueuedHandOver] = {}

    def busy_nurses(self) -> set[int]:
        """Nurses with a hand-over ringing at their desk (not free for another)."""
        return {o.to.id for o in self.offered.values()}

    # --- from the nurse handing over ------------------------------------------------------

    async def hand_over(self, conn: Connection, msg: p.HandOver) -> None:
        require_role(conn, StaffRole.NURSE)
        call = find_call(self._calls, msg.call_id)
        if call.state != "connected" or call.desk is None or call.desk.participant_id != conn.pid:
            raise Refusal(ErrorCode.NOT_PARTICIPANT,
                          "only the nurse in a connected call can hand it over", msg.call_id)
        if call.id in self.offered:
            raise Refusal(ErrorCode.WRONG_STATE, "this call's hand-over is already ringing",
                          msg.call_id)
        record = msg.record
        if record is not None:
            if record.call_id not in (None, call.id):
                raise Refusal(ErrorCode.INVALID, "record.call_id: is not this call",
                              msg.call_id)
            # Who wrote the draft is the sender, whatever the body says.
            record = record.model_copy(update={"nurse": conn.principal.name,
                                               "call_id": call.id})
        if msg.to is None:
            await self._to_queue(call, conn, msg.note, record)
            return
        target = self._free_nurse(msg.to, conn)
        entry = self._board.entry(call.request, 1)
        offer = p.HandOverOffer(call_id=call.id, entry=entry, from_name=conn.principal.name,
                                note=msg.note, record=record, ring_s=self.ring_s)
        self.offered[call.id] = OfferedHandOver(call.id, conn.pid, target, offer,
                                                time.monotonic() + self.ring_s)
        for each in self._desks_of(target.id):
            each.send(offer)

    def _free_nurse(self, to: str, me: Connection) -> Principal:
        kind, _, ident = to.partition(":")
        if kind != "staff" or not ident.isdigit() or to == me.pid:
            raise Refusal(ErrorCode.INVALID, "to: must be another nurse's participant id "
                          "(staff:<id>), or left out for the queue")
        desks = self._desks_of(int(ident))
        if not desks:
            raise Refusal(ErrorCode.NOT_FOUND, "to: that nurse is not signed in")
        staff_id = int(ident)
        in_call = {c.desk.id for c in self._calls.values()
                   if c.state == "connected" and c.desk is not None}
        if staff_id in in_call or staff_id in self.busy_nurses():
            raise Refusal(ErrorCode.WRONG_STATE, "to: that nurse is not free")
        return desks[0].principal

    def _desks_of(self, staff_id: int) -> list[Connection]:
        return [c for c in self._presence.connections
                if c.principal.kind == "staff" and c.principal.id == staff_id
                and c.principal.role is StaffRole.NURSE and not c.closed]

    async def _to_queue(self, call: LiveCall, conn: Connection, note: str | None,
                        record: TriageRecord | None) -> None:
        self.queued[call.id] = QueuedHandOver(conn.principal.name, note, record)
        # Told before the queue's update, so its desk has left the call when the call
        # appears in its queue (and rings there like any other).
        conn.calls.discard(call.id)
        conn.send(p.HandOverStatus(call_id=call.id, outcome="queued"))
        # The caller hears why before it hears it is waiting again (not a lost nurse).
        call.tell_others(conn.pid, p.ParticipantLeft(call_id=call.id, participant_id=conn.pid,
                                                     reason="handed_over"))
        if not await self._requeue(call, "handed_over"):  # logged: a bug, not a refusal
            self.queued.pop(call.id, None)

    # --- from the nurse offered it --------------------------------------------------------

    async def accept(self, conn: Connection, call_id: str) -> None:
        require_role(conn, StaffRole.NURSE)
        offer = self.offered.get(call_id)
        if offer is None or offer.to.id != conn.principal.id:
            raise Refusal(ErrorCode.WRONG_STATE, "no hand-over of this call is offered to you",
                          call_id)
        call = self._calls.get(call_id)
        old_conn = call.desk_conn if call is not None else None
        if (call is None or call.state != "connected" or call.desk is None
                or call.desk.participant_id != offer.from_pid or old_conn is None):
            self._withdraw(offer)
            raise Refusal(ErrorCode.WRONG_STATE, "this hand-over was withdrawn", call_id)
        # Decided here, before any await: the call is this desk's from now on.
        del self.offered[call_id]
        old_pid = offer.from_pid
        call.desk, call.desk_conn, call.desk_lost_at = conn.principal, conn, None
        old_conn.calls.discard(call.id)
        conn.calls.add(call.id)
        for other in self._desks_of(conn.principal.id):
            if other is not conn:
                other.send(p.HandOverStatus(call_id=call.id, outcome="withdrawn"))
        me = p.Participant(participant_id=conn.pid, name=conn.principal.name,
                           role=CallRole.NURSE)
        old_conn.send(p.HandOverStatus(call_id=call.id, outcome="accepted",
                                       by=conn.principal.name))
        conn.send(self._relay.connected(call, conn.pid))
        call.tell_others(conn.pid, p.ParticipantLeft(call_id=call.id, participant_id=old_pid,
                                                     reason="handed_over"))
        call.tell_others(conn.pid, p.ParticipantJoined(call_id=call.id, participant=me))
        now = utcnow()
        await self._log.leave(call.id, old_pid, now, "handed_over")
        await self._log.join(call.id, me, now)

    def decline(self, conn: Connection, call_id: str) -> None:
        require_role(conn, StaffRole.NURSE)
        offer = self.offered.get(call_id)
        if offer is None or offer.to.id != conn.principal.id:
            raise Refusal(ErrorCode.WRONG_STATE, "no hand-over of this call is offered to you",
                          call_id)
        self._answer_back(offer, "declined", conn.principal.name)

    # --- the rest -------------------------------------------------------------------------

    def claimed(self, conn: Connection, call_id: str) -> None:
        """A nurse answered a call from the queue: what was handed back with it is theirs."""
        queued = self.queued.pop(call_id, None)
        call = self._calls.get(call_id)
        if queued is None or call is None or call.desk_conn is not conn:
            return
        conn.send(p.HandOverOffer(call_id=call_id, entry=self._board.entry(call.request, 1),
                                  from_name=queued.from_name, note=queued.note,
                                  record=queued.record))

    def expire(self, now: float) -> None:
        """Offers not answered in time go back to the nurse who made them; offers whose call
        ended or whose nurse left are withdrawn."""
        for offer in list(self.offered.values()):
            call = self._calls.get(offer.call_id)
            if (call is None or call.state != "connected" or call.desk is None
                    or call.desk.participant_id != offer.from_pid):
                self._withdraw(offer)
            elif now >= offer.deadline:
                self._answer_back(offer, "not_answered", offer.to.name)
        for call_id in [c for c in self.queued if c not in self._calls]:
            del self.queued[call_id]  # ended while waiting

    def _answer_back(self, offer: OfferedHandOver, outcome: p.HandOverOutcome, by: str
                     ) -> None:
        self._withdraw(offer)
        call = self._calls.get(offer.call_id)
        if call is not None and call.desk_conn is not None:
            call.desk_conn.send(p.HandOverStatus(call_id=offer.call_id, outcome=outcome,
                                                 by=by))

    def _withdraw(self, offer: OfferedHandOver) -> None:
        self.offered.pop(offer.call_id, None)
        for each in self._desks_of(offer.to.id):
            each.send(p.HandOverStatus(call_id=offer.call_id, outcome="withdrawn"))
