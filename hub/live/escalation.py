"""Escalation: a nurse invites a specialist into a connected call; the first to accept joins.

An invitation goes to every signed-in specialist (and to one who signs in while it is open);
accepting is decided before any await, so two specialists accepting at once cannot both
join. Specialists leave on their own, when the call ends, or when their grace period runs out.
"""

from __future__ import annotations

from collections.abc import Mapping

from hub.contract import signaling as p
from hub.contract.identity import CallRole, SiteKind, StaffRole
from hub.contract.signaling import ErrorCode
from hub.db import utcnow
from hub.live.call import LiveCall, find_call
from hub.live.log_writer import CallLogWriter
from hub.live.presence import Connection, Presence
from hub.live.refusal import Refusal, require_role
from hub.live.relay import Relay


class Escalation:
    def __init__(
        self, calls: Mapping[str, LiveCall], presence: Presence, relay: Relay,
        log: CallLogWriter,
    ) -> None:
        self._calls = calls
        self._presence = presence
        self._relay = relay
        self._log = log

    def offer_open(self, conn: Connection) -> None:
        """A specialist just signed in: show it every invitation still open."""
        if conn.principal.role is StaffRole.SPECIALIST:
            for call in self._calls.values():
                if call.invite_open:
                    conn.send(self._invite_message(call))

    def invite(self, conn: Connection, msg: p.InviteSpecialist) -> None:
        call = find_call(self._calls, msg.call_id)
        if call.state != "connected" or call.desk is None or call.desk.participant_id != conn.pid:
            raise Refusal(ErrorCode.NOT_PARTICIPANT,
                          "only the nurse in a connected call can invite a specialist",
                          msg.call_id)
        specialists = self._presence.specialists()
        if not specialists:
            raise Refusal(ErrorCode.NO_SPECIALIST, "no specialist is signed in right now",
                          msg.call_id)
        call.invite_open, call.invite_note = True, msg.note
        invite = self._invite_message(call)
        for s in specialists:
            s.send(invite)

    def cancel(self, conn: Connection, call_id: str) -> None:
        call = find_call(self._calls, call_id)
        if call.desk is None or call.desk.participant_id != conn.pid:
            raise Refusal(ErrorCode.NOT_PARTICIPANT, "only the inviting nurse can cancel",
                          call_id)
        if not call.invite_open:
            raise Refusal(ErrorCode.WRONG_STATE, "there is no open invitation", call_id)
        self.withdraw(call, "cancelled")

    async def accept(self, conn: Connection, call_id: str) -> None:
        require_role(conn, StaffRole.SPECIALIST)
        call = find_call(self._calls, call_id)
        if not call.invite_open or call.state != "connected":
            raise Refusal(ErrorCode.ALREADY_CLAIMED,
                          "this invitation was taken or withdrawn", call_id)
        call.invite_open = False  # first acceptance wins, decided before any await
        pid = conn.pid
        call.specialist_principals[pid] = conn.principal
        call.specialists[pid] = conn
        conn.calls.add(call.id)
        me = p.Participant(participant_id=pid, name=conn.principal.name, role=CallRole.SPECIALIST)
        await self._log.join(call.id, me, utcnow())
        for other in self._presence.specialists():
            if other is not conn:
                other.send(p.InviteWithdrawn(call_id=call.id, reason="accepted_elsewhere"))
        conn.send(self._relay.connected(call, pid))
        call.tell_others(pid, p.ParticipantJoined(call_id=call.id, participant=me))

    def decline(self, conn: Connection, call_id: str) -> None:
        require_role(conn, StaffRole.SPECIALIST)
        call = find_call(self._calls, call_id)
        if not call.invite_open:
            raise Refusal(ErrorCode.WRONG_STATE, "there is no open invitation", call_id)
        if call.desk_conn is not None:
            call.desk_conn.send(p.InviteDeclined(call_id=call.id, by=conn.principal.name))

    def withdraw(self, call: LiveCall, reason: str) -> None:
        call.invite_open = False
        msg = p.InviteWithdrawn(call_id=call.id, reason=reason)
        for s in self._presence.specialists():
            s.send(msg)

    async def leave(self, call: LiveCall, pid: str, reason: str) -> None:
        """Specialist ``pid`` is out of the call (left, desk lost, grace expired)."""
        conn = call.specialists.pop(pid, None)
        call.specialist_principals.pop(pid, None)
        call.specialist_lost_at.pop(pid, None)
        if conn is not None:
            conn.calls.discard(call.id)
            # ``by`` is the specialist when it left; none when the hub ended its part (the
            # nurse's desk lost, the call handed back to the queue, its own grace run out).
            conn.send(p.CallEnded(call_id=call.id, reason=p.EndReason.COMPLETED,
                                  by=pid if reason == "left" else None))
        await self._log.leave(call.id, pid, utcnow(), reason)
        call.tell_others(pid, p.ParticipantLeft(call_id=call.id, participant_id=pid,
                                                reason=reason))

    async def expire(self, call: LiveCall, now: float, grace: float) -> None:
        """Specialists of ``call`` lost for longer than ``grace`` seconds leave it."""
        for pid, lost in list(call.specialist_lost_at.items()):
            if call.specialists.get(pid) is None and now - lost > grace:
                await self.leave(call, pid, "grace_expired")

    @staticmethod
    def _invite_message(call: LiveCall) -> p.SpecialistInvite:
        return p.SpecialistInvite(
            call_id=call.id, site_name=call.site.name, site_kind=SiteKind(call.site.role),
            reason=call.request.reason, invited_by=call.desk.name if call.desk else "",
            note=call.invite_note,
        )
