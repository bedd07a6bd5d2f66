"""Call dispatch: a site's request into the queue, the call to exactly one desk, its end or requeue.

Everything here runs on the hub's one asyncio loop. Which desk gets a call is decided by the
queue's atomic claim (hub/live/queue.py); the call log is written in order on its own thread
(hub/live/log_writer.py) before the caller is told its request is safe.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.config import HubConfig
from hub.contract import signaling as p
from hub.contract.identity import CallRole, SiteKind, StaffRole
from hub.contract.signaling import ErrorCode
from hub.db import unit_of_work, utcnow
from hub.errors import where
from hub.live.board import QueueBoard
from hub.live.call import LiveCall, find_call, restore
from hub.live.escalation import Escalation
from hub.live.hold import Hold
from hub.live.log_writer import CallLogWriter
from hub.live.presence import Connection
from hub.live.queue import CallQueue, QueuedCall
from hub.live.refusal import Refusal, require_role
from hub.live.relay import Relay
from hub.metrics import HubMetrics
from hub.models import Call, Invitation

if TYPE_CHECKING:
    from hub.live.clinic_ring import ClinicRing

log = logging.getLogger("telehub.hub")

# Requests whose calls have ended, kept so that one sent again is not a second call: those of
# the last day, read back by a new dispatcher, and at most this many in memory.
ENDED_REQUESTS_KEPT = timedelta(days=1)
ENDED_REQUESTS_LIMIT = 100_000


class Dispatch:
    """The calls of this hub from request to end: taken, claimed, lost and found, requeued."""

    def __init__(
        self, config: HubConfig, sessions: sessionmaker[Session], calls: dict[str, LiveCall],
        queue: CallQueue, board: QueueBoard, relay: Relay, escalation: Escalation,
        calllog: CallLogWriter, hold: Hold, metrics: HubMetrics | None = None,
    ) -> None:
        self.config = config
        self._sessions = sessions
        self.calls = calls
        self.queue = queue
        self.board = board
        self.relay = relay
        self.escalation = escalation
        self.log = calllog
        self.metrics = metrics
        self.hold = hold
        self._requests: dict[tuple[int, str], str] = {}  # (site id, request id) -> call id
        # ... and of calls that have ended: a request sent again after its call ended (its
        # call_queued lost with a hub that died) is refused, never a second call.
        self._ended_requests: OrderedDict[tuple[int, str], str] = OrderedDict()
        # Set by the switchboard: booked clinic calls, and who counts each first answer.
        self.clinics: ClinicRing | None = None
        self.on_answered: Callable[[p.Urgency, float], None] | None = None

    async def start(self) -> None:
        """Take back the calls the log holds as open (after a restart)."""
        stored = await self.log.open_calls()
        since = utcnow() - ENDED_REQUESTS_KEPT
        for site_id, request_id, call_id in await self.log.ended_requests(since):
            self._remember_ended((site_id, request_id), call_id)
        answer, handle = await self.log.recent_durations()
        self.board.estimate.learn(reversed(answer), reversed(handle))
        now = time.monotonic()
        for sc in stored:
            call = restore(sc, now)
            self.calls[call.id] = call
            self._requests[(call.site.id, call.request.request_id)] = call.id
            await self.queue.add(call.request)
            if call.state == "connected" and call.desk is not None:
                await self.queue.claim(call.id, call.desk)
            elif sc.state == "connected":  # no desk in the log: back in the queue, in front
                await self.queue.requeue(call.id)
        if stored:
            log.info("took back %d open calls after a restart", len(stored))

    # --- from the caller ------------------------------------------------------------------

    async def request(self, conn: Connection, msg: p.CallRequest) -> None:
        if conn.principal.kind != "site":
            raise Refusal(ErrorCode.FORBIDDEN, "only a site can request a call")
        key = (conn.principal.id, msg.request_id)
        existing = self._requests.get(key)
        if existing is not None and existing in self.calls:
            if not self.calls[existing].saved.is_set():
                # Sent again while it is being written (its first connection was lost, and
                # the station sent it again on its new one): answered once it is safe, as
                # any retry (a refusal would end the station's call, which then waits with
                # no caller). Held, ended or dropped meanwhile: asked again.
                await self.calls[existing].saved.wait()
                await self.request(conn, msg)
                return
            self._retried(conn, self.calls[existing])
            return
        ended = self._ended_requests.get(key)
        if ended is not None:
            raise Refusal(ErrorCode.WRONG_STATE, "this request was taken already, and its "
                          "call has ended", ended)
        self._admit(conn.principal.id)
        try:
            news2 = score_observations(msg.observations)
        except ValueError as exc:
            raise Refusal(ErrorCode.INVALID, f"observations refused: {exc}") from None
        patient = msg.patient
        if conn.principal.role is SiteKind.HOME:
            # A home caller is one patient, enrolled by a nurse: who the call is about comes
            # from the invitation, not from what the page says.
            enrolled = await self.log.read(self._invited_patient, conn.principal.id)
            if enrolled is not None:
                patient = enrolled
        request = QueuedCall(
            id=str(uuid.uuid4()), site=conn.principal, request_id=msg.request_id,
            reason=msg.reason, urgency=msg.urgency, intended_action=msg.intended_action,
            observations=msg.observations, patient=patient, soft_signs=tuple(msg.soft_signs),
            news2=news2, requested_at=utcnow(),
        )
        call = LiveCall(request=request, caller=conn)
        if msg.clinic_id is not None and self.clinics is not None:
            await self.clinics.check(conn, call, msg.clinic_id)  # rings its specialist first
        row = Call(
            id=call.id, site_id=call.site.id, request_id=request.request_id,
            reason=request.reason, urgency=request.urgency.value,
            intended_action=request.intended_action.value if request.intended_action else None,
            observations=msg.observations.model_dump() if msg.observations else None,
            patient=patient.model_dump(exclude_none=True) if patient else None,
            soft_signs=list(request.soft_signs),
            news2_total=news2.total if news2 else None,
            news2_band=news2.band if news2 else None,
            news2_complete=news2.complete if news2 else None,
            state="waiting", requeued=False, requested_at=request.requested_at,
        )
        # Desks see the call at once (answering fast is the point of the hub); the caller is
        # told it is queued only once its request is durable, so it knows when it may stop
        # retrying. Writes are ordered, so a claim or cancel is stored after the request.
        self.calls[call.id] = call
        self._requests[key] = call.id
        conn.calls.add(call.id)
        try:
            await self.queue.add(request)  # a shared queue writes the row here
        except Exception as exc:
            log.error("the queue could not take a call request: %s", where(exc))
            self.calls.pop(call.id, None)
            self._requests.pop(key, None)
            conn.calls.discard(call.id)
            call.saved.set()
            raise Refusal(ErrorCode.INTERNAL,
                          "the hub could not save this request; send it again") from None
        self.board.broadcast("added", call)
        self.board.tell_positions(after=call)
        try:
            await self.log.request(row)
        except Exception as exc:
            # By type and place only: a database error's text can carry the row (a patient).
            log.error("could not save a call request: %s", where(exc))
            await self._drop_unsaved(call)
            raise Refusal(ErrorCode.INTERNAL,
                          "the hub could not save this request; send it again") from None
        finally:
            call.saved.set()
        call.saved_ok = True
        if call.caller is not None:
            # Sent even if a desk claimed the call while it was being saved: the caller learns
            # its call id here, and the claim's call_connected (waiting on `saved`) follows.
            pos, wait = self.board.position(call) if call.state == "waiting" else (1, 0)
            call.caller.send(p.CallQueued(call_id=call.id, request_id=msg.request_id,
                                          position=pos, estimated_wait_s=wait))
        if self.clinics is not None:
            await self.clinics.ring(call)

    def _retried(self, conn: Connection, call: LiveCall) -> None:
        """A request the hub holds, sent again (after a reconnect, or a second welcome): its
        call_queued may have been lost, so the caller is told its call by its request_id,
        then takes its place as on a resume. call_connected alone (a nurse answered
        meanwhile) names no request: a station could not tell which request it answers."""
        if call.state == "ended":  # ending now (its end is being written)
            raise Refusal(ErrorCode.WRONG_STATE, "this request was taken already, and its "
                          "call has ended", call.id)
        if call.state != "waiting":  # (a waiting call's resume is its call_queued)
            conn.send(p.CallQueued(call_id=call.id, request_id=call.request.request_id,
                                   position=1, estimated_wait_s=0))
        self.resume(conn, call.id)

    def _admit(self, site_id: int) -> None:
        """The one place a new call request is let in: a caller may have only a few calls
        open at once (waiting or in progress), so one site cannot fill the queue."""
        cap = self.config.limits.max_open_calls
        open_calls = sum(1 for c in self.calls.values() if c.site.id == site_id)
        if open_calls >= cap:
            raise Refusal(ErrorCode.TOO_MANY_CALLS,
                          f"this caller already has {open_calls} calls open, the most the "
                          f"hub allows one caller (max_open_calls = {cap}); end one first")

    def _remember_ended(self, key: tuple[int, str], call_id: str) -> None:
        self._ended_requests[key] = call_id
        while len(self._ended_requests) > ENDED_REQUESTS_LIMIT:
            self._ended_requests.popitem(last=False)

    async def _drop_unsaved(self, call: LiveCall) -> None:
        """The request never reached the database: take it back from everyone shown it."""
        self.calls.pop(call.id, None)
        self._requests.pop((call.site.id, call.request.request_id), None)
        if await self.queue.remove(call.id):
            self.board.broadcast("removed", call, reason="not_saved")
            self.board.tell_positions()
        for conn in (call.caller, call.desk_conn):
            if conn is not None:
                conn.calls.discard(call.id)
        call.state = "ended"  # a desk that claimed it meanwhile is refused by claim()

    async def cancel(self, conn: Connection, call_id: str) -> None:
        call = find_call(self.calls, call_id)
        if conn.principal.kind != "site" or call.site.participant_id != conn.pid:
            raise Refusal(ErrorCode.NOT_PARTICIPANT, "only the caller can cancel a call", call_id)
        if call.state == "waiting":
            await self._end(call, p.EndReason.ABANDONED, conn.pid)
        else:
            await self._end(call, p.EndReason.COMPLETED, conn.pid)

    async def resume_call(self, conn: Connection, call_id: str) -> None:
        """``call_resume``. A call that ended while this party was away (moving to another
        hub, or on a dropped line) is told to it as ended, as the others were told."""
        if call_id not in self.calls:
            ended = await self.log.read(self.log.calllog.how_it_ended, call_id, conn.pid)
            if ended is not None and call_id not in self.calls:
                reason, by = ended
                conn.send(p.CallEnded(call_id=call_id, reason=reason, by=by))
                return
        self.resume(conn, call_id)

    def resume(self, conn: Connection, call_id: str) -> None:
        """A participant's new connection takes its place in the call again."""
        call = find_call(self.calls, call_id)
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
                pos, wait = self.board.position(call)
                conn.send(p.CallQueued(call_id=call.id, request_id=call.request.request_id,
                                       position=pos, estimated_wait_s=wait))
                self.board.broadcast("updated", call)
                return
        elif call.desk is not None and pid == call.desk.participant_id:
            call.desk_conn, call.desk_lost_at = conn, None
        else:
            call.specialists[pid] = conn
            call.specialist_lost_at.pop(pid, None)
        conn.send(self.relay.connected(call, pid))
        if call.held_since is not None:
            conn.send(self.hold.told(call))
        me = next(x for x in call.participants() if x.participant_id == pid)
        call.tell_others(pid, p.ParticipantJoined(call_id=call.id, participant=me))

    # --- from the desk --------------------------------------------------------------------

    async def claim(self, conn: Connection, call_id: str) -> None:
        require_role(conn, StaffRole.NURSE)
        call = self.calls.get(call_id)
        if call is None or call.state != "waiting" or (
            self.clinics is not None and self.clinics.ringing(call_id)) or (
            await self.queue.claim(call_id, conn.principal) is None
        ):
            who = call.desk.name if call is not None and call.desk is not None else None
            text = f"this call was already answered by {who}" if who else (
                "this call is no longer waiting")
            raise Refusal(ErrorCode.ALREADY_CLAIMED, text, call_id)
        # The queue gave the call to this desk alone; the live call follows before any await.
        call.state = "connected"
        call.desk, call.desk_conn, call.desk_lost_at = conn.principal, conn, None
        first = not call.ever_answered
        call.ever_answered = True
        conn.calls.add(call.id)
        now = utcnow()
        desk_part = p.Participant(participant_id=conn.pid, name=conn.principal.name,
                                  role=CallRole.NURSE)
        if first:
            call.answered_at = now
        if not call.saved.is_set():
            await call.saved.wait()  # claimed within a millisecond of the request
        if not call.saved_ok:
            raise Refusal(ErrorCode.NOT_FOUND, "this call could not be saved", call_id)
        if first:
            waited = (now - call.request.requested_at).total_seconds()
            self.board.estimate.answered(waited)
            if self.metrics is not None:
                self.metrics.answered(call.request.urgency, waited)
            if self.on_answered is not None:
                self.on_answered(call.request.urgency, waited)
        # Both ends are told before the answer is written to the log: the queue's claim has
        # decided (in PostgreSQL it is already a committed row), the write queue keeps the
        # log in order, and a caller should not wait on a disk flush to see the nurse.
        self.board.broadcast("removed", call, reason="claimed", claimed_by=conn.principal.name)
        conn.send(self.relay.connected(call, conn.pid))
        if call.caller is not None:
            call.caller.send(self.relay.connected(call, call.site.participant_id))
        self.board.tell_positions()
        try:
            stored = await self.log.answer(call.id, conn.principal.id, desk_part,
                                           call.caller_participant(), now, first)
        except Exception as exc:
            log.error("could not write the answer of a call to the log (%s); the call goes "
                      "on", where(exc))
            return
        if not stored:
            log.error("the call log did not hold call %s as waiting when it was answered",
                      call.id)

    async def end(self, conn: Connection, call_id: str) -> None:
        """A participant ends the call (a specialist only leaves it)."""
        call = find_call(self.calls, call_id)
        pid = conn.pid
        if not call.is_participant(pid) or call.state != "connected":
            if pid == call.site.participant_id:
                await self.cancel(conn, call_id)
                return
            raise Refusal(ErrorCode.NOT_PARTICIPANT, "you are not in this call", call_id)
        if pid in call.specialist_principals and call.desk is not None:
            await self.escalation.leave(call, pid, "left")
            return  # (a clinic call's specialist, with no nurse in it, ends it)
        await self._end(call, p.EndReason.COMPLETED, pid)

    # --- lost and found -------------------------------------------------------------------

    def lost(self, conn: Connection) -> None:
        """``conn`` closed or went silent: the grace period of each of its calls starts."""
        now = time.monotonic()
        for call_id in list(conn.calls):
            call = self.calls.get(call_id)
            if call is None or call.state == "ended":
                continue
            gone = p.ParticipantLeft(call_id=call.id, participant_id=conn.pid,
                                     reason="connection_lost")
            if call.caller is conn:
                call.caller, call.caller_lost_at = None, now
                if call.state == "waiting":
                    self.board.broadcast("updated", call)
                else:
                    call.tell_others(conn.pid, gone)
            elif call.desk_conn is conn:
                call.desk_conn, call.desk_lost_at = None, now
                call.tell_others(conn.pid, gone)
            elif call.specialists.get(conn.pid) is conn:
                call.specialists[conn.pid] = None
                call.specialist_lost_at[conn.pid] = now
                call.tell_others(conn.pid, gone)
        conn.calls.clear()

    async def expire_lost(self, now: float) -> None:
        """End, requeue or leave the calls of participants lost longer than the grace."""
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
            await self.escalation.expire(call, now, grace)

    # --- transitions ----------------------------------------------------------------------

    async def _end(self, call: LiveCall, reason: p.EndReason, by: str | None) -> None:
        was_waiting = await self.queue.remove(call.id, reason.value, by)
        call.state = "ended"
        self.hold.ended(call)
        now = utcnow()
        await self.log.end(call.id, reason, by, now)
        if call.invite_open:
            self.escalation.withdraw(call, "call_ended")
        ended = p.CallEnded(call_id=call.id, reason=reason, by=by)
        for conn in {call.caller, call.desk_conn, *call.specialists.values()}:
            if conn is not None:
                conn.send(ended)
                conn.calls.discard(call.id)
        # Two ends of one call can overlap (a hang-up racing the caller-lost sweep, both awaiting
        # above); the first already removed it, and the second must not fail on the missing key.
        self.calls.pop(call.id, None)
        self._requests.pop((call.site.id, call.request.request_id), None)
        self._remember_ended((call.site.id, call.request.request_id), call.id)
        if was_waiting:
            self.board.broadcast("removed", call, reason=reason.value)
            self.board.tell_positions()
        elif reason is p.EndReason.COMPLETED and call.answered_at is not None:
            self.board.estimate.handled((now - call.answered_at).total_seconds())

    async def _requeue(self, call: LiveCall, why: str = "desk_lost") -> bool:
        """The desk did not come back (or handed the call back, ``why`` = handed_over): the
        caller returns to the front of the queue."""
        assert call.desk is not None
        desk_pid = call.desk.participant_id
        # The queue decides first (a shared queue's row is what every hub reads back).
        requeued = await self.queue.requeue(call.id)
        if requeued is None:
            log.error("call %s was not claimed in the queue when its desk left", call.id)
            return False
        await self.log.requeue(call.id, desk_pid, utcnow(), why)
        for pid in list(call.specialist_principals):
            await self.escalation.leave(call, pid, why)
        if call.invite_open:
            self.escalation.withdraw(call, "call_ended")
        call.request = requeued
        call.state = "waiting"
        self.hold.ended(call)
        call.desk = call.desk_conn = None
        call.desk_lost_at = None
        if call.caller is not None:
            pos, wait = self.board.position(call)
            call.caller.send(p.CallRequeued(call_id=call.id, position=pos, estimated_wait_s=wait))
        self.board.broadcast("added", call)
        self.board.tell_positions(after=call)
        return True

    requeue = _requeue  # what a hand-over to the queue uses (hub/live/handover.py)

    def _invited_patient(self, site_id: int) -> p.Patient | None:
        with unit_of_work(self._sessions) as s:
            data = s.scalar(select(Invitation.patient).where(Invitation.site_id == site_id))
        if not data:
            return None
        return p.Patient(**{k: v for k, v in data.items() if k in p.Patient.model_fields})


def score_observations(obs: p.PreCallObservations | None) -> p.News2Summary | None:
    """NEWS2 of the caller's pre-call observations (decision support shown to the nurse)."""
    if obs is None or all(
        v is None for k, v in obs.model_dump().items() if k not in ("scale",)
    ):
        return None
    from records import news2  # the one implementation of the clinical rule

    result = news2.score(news2.Observations(**obs.model_dump()))
    return p.News2Summary(total=result.total, band=result.band, complete=result.complete)
