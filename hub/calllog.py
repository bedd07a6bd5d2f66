"""The durable call log: every call's request, answer, end and participants, in the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, selectinload, sessionmaker

from hub.contract.signaling import ChatMessage, EndReason, Participant
from hub.db import unit_of_work
from hub.models import Call, CallHoldPeriod, CallMessage, CallParticipant, Site
from hub.reporting import rollup


@dataclass(frozen=True)
class StoredCall:
    """A call as read back from the log (plain data; never a live ORM object)."""

    id: str
    site_id: int
    site_name: str
    site_kind: str
    request_id: str
    reason: str
    urgency: str
    intended_action: str | None
    observations: dict[str, Any] | None
    patient: dict[str, Any] | None
    soft_signs: list[str]
    news2_total: int | None
    news2_band: str | None
    news2_complete: bool | None
    state: str
    requeued: bool
    requested_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    ended_by: str | None
    participants: list[dict[str, Any]]
    held_s: float = 0.0  # over its finished holds
    held_since: datetime | None = None  # on hold now, since
    holds: tuple[dict[str, Any], ...] = ()
    messages: tuple[dict[str, Any], ...] = ()


def _stored(call: Call, site: Site) -> StoredCall:
    return StoredCall(
        id=call.id, site_id=call.site_id, site_name=site.name, site_kind=site.kind,
        request_id=call.request_id, reason=call.reason, urgency=call.urgency,
        intended_action=call.intended_action, observations=call.observations,
        patient=call.patient, soft_signs=list(call.soft_signs or []),
        news2_total=call.news2_total, news2_band=call.news2_band,
        news2_complete=call.news2_complete, state=call.state, requeued=call.requeued,
        requested_at=call.requested_at, answered_at=call.answered_at, ended_at=call.ended_at,
        end_reason=call.end_reason, ended_by=call.ended_by,
        participants=[
            {
                "participant_id": p.participant_id, "name": p.name, "role": p.role,
                "joined_at": p.joined_at, "left_at": p.left_at, "left_reason": p.left_reason,
            }
            for p in call.participants
        ],
        held_s=call.held_s or 0.0,
        held_since=next((h.started_at for h in call.holds if h.ended_at is None), None),
        holds=tuple({"started_at": h.started_at, "ended_at": h.ended_at, "held_by": h.held_by}
                    for h in call.holds),
        messages=tuple({"sent_at": m.sent_at, "sender": m.sender, "name": m.name,
                        "role": m.role, "text": m.text} for m in call.messages),
    )


def _close_holds(s: Session, call_id: str, at: datetime) -> None:
    """End the call's open hold at ``at`` and add its seconds to the call's hold time
    (marking the call's day: the report counts hold time)."""
    open_holds = s.scalars(select(CallHoldPeriod).where(
        CallHoldPeriod.call_id == call_id, CallHoldPeriod.ended_at.is_(None))).all()
    if not open_holds:
        return
    call = s.get(Call, call_id)
    for hold in open_holds:
        hold.ended_at = at
        if call is not None:
            call.held_s = (call.held_s or 0.0) + max(0.0, (at - hold.started_at).total_seconds())
    if call is not None:
        rollup.mark_days(s, [rollup.day_of(call.requested_at)])
    s.flush()


class CallLog:
    """Writes and reads the call log.

    The ``record_*`` writers take the session of the caller's transaction (the live side
    groups them with :class:`hub.db.GroupCommit`, in hub/live/log_writer.py); the readers
    open their own. Writers that change a report figure mark the call's day in the same
    transaction (hub/reporting/rollup.py).
    """

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    @staticmethod
    def record_request(s: Session, call: Call) -> None:
        # A shared queue (hub/live/pg_queue.py) wrote the row when it took the call.
        if s.get(Call, call.id) is None:
            s.add(call)
            s.flush()  # so a later write in the same group transaction sees the row
        rollup.mark_days(s, [rollup.day_of(call.requested_at)])

    @staticmethod
    def record_answer(
        s: Session, call_id: str, desk_staff_id: int, desk: Participant, caller: Participant,
        at: datetime, first_answer: bool,
    ) -> bool:
        """Mark the call answered; False if it was not waiting (the claim lost a race), or
        claimed for this desk already (a shared queue's claim writes state and desk)."""
        values: dict[str, Any] = {"state": "connected", "answered_by": desk_staff_id}
        if first_answer:
            values["answered_at"] = at
        claimable = or_(Call.state == "waiting",
                        and_(Call.state == "connected", Call.answered_by == desk_staff_id))
        done = s.execute(
            update(Call).where(Call.id == call_id, claimable).values(**values)
            .returning(Call.requested_at)
        ).all()
        if len(done) != 1:
            return False
        rollup.mark_days(s, [rollup.day_of(done[0][0])])
        for p in (caller, desk) if first_answer else (desk,):
            s.add(CallParticipant(
                call_id=call_id, participant_id=p.participant_id, name=p.name,
                role=p.role, joined_at=at,
            ))
        return True

    @staticmethod
    def record_join(s: Session, call_id: str, p: Participant, at: datetime) -> None:
        s.add(CallParticipant(
            call_id=call_id, participant_id=p.participant_id, name=p.name, role=p.role,
            joined_at=at,
        ))

    @staticmethod
    def record_leave(s: Session, call_id: str, participant_id: str, at: datetime,
                     reason: str) -> None:
        s.execute(
            update(CallParticipant)
            .where(
                CallParticipant.call_id == call_id,
                CallParticipant.participant_id == participant_id,
                CallParticipant.left_at.is_(None),
            )
            .values(left_at=at, left_reason=reason)
        )

    @staticmethod
    def record_chat(s: Session, said: ChatMessage) -> None:
        s.add(CallMessage(call_id=said.call_id, sent_at=said.sent_at, sender=said.sender,
                          name=said.name, role=said.role.value, text=said.text))

    @staticmethod
    def record_hold(s: Session, call_id: str, by: str, at: datetime) -> None:
        s.add(CallHoldPeriod(call_id=call_id, started_at=at, held_by=by))

    @staticmethod
    def record_resume(s: Session, call_id: str, at: datetime) -> None:
        _close_holds(s, call_id, at)

    @staticmethod
    def record_requeue(s: Session, call_id: str, desk_participant_id: str, at: datetime,
                       reason: str = "desk_lost") -> None:
        _close_holds(s, call_id, at)
        requested = s.scalars(
            update(Call).where(Call.id == call_id)
            .values(state="waiting", requeued=True, answered_by=None)
            .returning(Call.requested_at)
        ).all()
        rollup.mark_days(s, [rollup.day_of(at) for at in requested])
        s.execute(
            update(CallParticipant)
            .where(
                CallParticipant.call_id == call_id,
                CallParticipant.participant_id == desk_participant_id,
                CallParticipant.left_at.is_(None),
            )
            .values(left_at=at, left_reason=reason)
        )

    @staticmethod
    def record_end(s: Session, call_id: str, reason: EndReason, by: str | None,
                   at: datetime) -> None:
        _close_holds(s, call_id, at)
        requested = s.scalars(
            update(Call).where(Call.id == call_id)
            .values(state="ended", end_reason=reason.value, ended_by=by, ended_at=at)
            .returning(Call.requested_at)
        ).all()
        rollup.mark_days(s, [rollup.day_of(at) for at in requested])
        s.execute(
            update(CallParticipant)
            .where(CallParticipant.call_id == call_id, CallParticipant.left_at.is_(None))
            .values(left_at=at, left_reason=reason.value)
        )

    def open_calls(self) -> list[StoredCall]:
        """Calls still waiting or connected: what a restarted hub takes back."""
        with unit_of_work(self._sessions) as s:
            rows = s.execute(
                select(Call, Site).join(Site, Site.id == Call.site_id)
                .where(Call.state != "ended").order_by(Call.requested_at)
            ).all()
            return [_stored(c, site) for c, site in rows]

    def ended_requests(self, since: datetime) -> list[tuple[int, str, str]]:
        """(site id, request id, call id) of the calls requested since ``since`` that have
        ended: a request sent again after its call ended is not a new call."""
        with unit_of_work(self._sessions) as s:
            rows = s.execute(
                select(Call.site_id, Call.request_id, Call.id)
                .where(Call.state == "ended", Call.requested_at >= since,
                       Call.request_id.is_not(None))
            ).all()
            return [(int(site), str(request), str(call)) for site, request, call in rows]

    def how_it_ended(self, call_id: str, participant_id: str
                     ) -> tuple[EndReason, str | None] | None:
        """How a call ended (its reason, and who ended it), if ``participant_id`` took part
        in it; None if it has not ended or was never theirs (nothing said of others' calls)."""
        with unit_of_work(self._sessions) as s:
            call = s.get(Call, call_id)
            if call is None or call.state != "ended" or call.end_reason is None:
                return None
            took_part = participant_id == f"site:{call.site_id}" or s.scalar(
                select(CallParticipant.id).where(
                    CallParticipant.call_id == call_id,
                    CallParticipant.participant_id == participant_id).limit(1)) is not None
            return (EndReason(call.end_reason), call.ended_by) if took_part else None

    def get(self, call_id: str) -> StoredCall | None:
        with unit_of_work(self._sessions) as s:
            row = s.execute(
                select(Call, Site).join(Site, Site.id == Call.site_id).where(Call.id == call_id)
            ).first()
            return _stored(row[0], row[1]) if row else None

    def query(
        self, start: datetime | None, end: datetime | None, site_id: int | None,
        state: str | None, limit: int, offset: int,
    ) -> list[StoredCall]:
        with unit_of_work(self._sessions) as s:
            q = select(Call, Site).join(Site, Site.id == Call.site_id)
            if start is not None:
                q = q.where(Call.requested_at >= start)
            if end is not None:
                q = q.where(Call.requested_at < end)
            if site_id is not None:
                q = q.where(Call.site_id == site_id)
            if state is not None:
                q = q.where(Call.state == state)
            q = q.order_by(Call.requested_at.desc(), Call.id).limit(limit).offset(offset)
            # A page's participants, holds and messages in three queries, not three per call.
            q = q.options(selectinload(Call.participants), selectinload(Call.holds),
                          selectinload(Call.messages))
            return [_stored(c, site) for c, site in s.execute(q).all()]

    def recent_durations(self, n: int = 20) -> tuple[list[float], list[float]]:
        """Seconds to answer and to handle, of the last ``n`` answered calls (wait estimates)."""
        with unit_of_work(self._sessions) as s:
            rows = s.execute(
                select(Call.requested_at, Call.answered_at, Call.ended_at)
                .where(Call.answered_at.is_not(None), Call.ended_at.is_not(None))
                .order_by(Call.ended_at.desc()).limit(n)
            ).all()
        answer = [(a - r).total_seconds() for r, a, _e in rows if a is not None]
        handle = [(e - a).total_seconds() for _r, a, e in rows if a is not None and e is not None]
        return answer, handle

    def count(self) -> int:
        with unit_of_work(self._sessions) as s:
            return int(s.scalar(select(func.count()).select_from(Call)) or 0)
