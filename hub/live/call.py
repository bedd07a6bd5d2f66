"""A live call on this hub: its request, its legs (caller, desk, specialists), their connections."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from hub.calllog import StoredCall
from hub.contract import signaling as p
from hub.contract.identity import CallRole, Principal, StaffRole
from hub.contract.signaling import ErrorCode
from hub.live.presence import Connection
from hub.live.queue import QueuedCall
from hub.live.refusal import Refusal


@dataclass
class LiveCall:
    request: QueuedCall  # replaced by the queue's copy when the call is requeued
    state: str = "waiting"  # waiting | connected | ended
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
    # On hold since (None: not held), and the seconds of its finished holds (hub/live/hold.py).
    held_since: datetime | None = None
    held_s: float = 0.0

    @property
    def id(self) -> str:
        return self.request.id

    @property
    def site(self) -> Principal:
        return self.request.site

    def caller_participant(self) -> p.Participant:
        return p.Participant(
            participant_id=self.site.participant_id, name=self.site.name, role="caller"
        )

    def participants(self) -> list[p.Participant]:
        out = [self.caller_participant()]
        if self.desk is not None:
            out.append(p.Participant(
                participant_id=self.desk.participant_id, name=self.desk.name, role=CallRole.NURSE
            ))
        out.extend(
            p.Participant(participant_id=pid, name=sp.name, role=CallRole.SPECIALIST)
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

    def role_of(self, pid: str) -> CallRole:
        if pid == self.site.participant_id:
            return CallRole.CALLER
        if self.desk is not None and pid == self.desk.participant_id:
            return CallRole.NURSE
        return CallRole.SPECIALIST

    def tell_all(self, msg: p._Message) -> None:
        """Send ``msg`` to every connected participant."""
        text = msg.to_json()
        for part in self.participants():
            target = self.connection_of(part.participant_id)
            if target is not None:
                target.send_text(text)

    def tell_others(self, pid: str, msg: p._Message) -> None:
        """Send ``msg`` to every connected participant but ``pid``."""
        for part in self.participants():
            if part.participant_id != pid:
                target = self.connection_of(part.participant_id)
                if target is not None:
                    target.send(msg)


def find_call(calls: Mapping[str, LiveCall], call_id: str) -> LiveCall:
    call = calls.get(call_id)
    if call is None:
        raise Refusal(ErrorCode.NOT_FOUND, "no such open call", call_id)
    return call


def restore(sc: StoredCall, now: float) -> LiveCall:
    """A call the log holds as open, taken back after a restart; every leg is lost until it
    reconnects (the grace period starts at ``now``)."""
    site = Principal(kind="site", id=sc.site_id, name=sc.site_name, role=sc.site_kind)
    request = QueuedCall(
        id=sc.id, site=site, request_id=sc.request_id, reason=sc.reason,
        urgency=p.Urgency(sc.urgency),
        intended_action=p.IntendedAction(sc.intended_action) if sc.intended_action else None,
        observations=p.PreCallObservations(**sc.observations) if sc.observations else None,
        patient=p.Patient(**sc.patient) if sc.patient else None,
        soft_signs=tuple(sc.soft_signs),
        news2=(
            p.News2Summary(total=sc.news2_total, band=sc.news2_band or "",
                           complete=bool(sc.news2_complete))
            if sc.news2_total is not None else None
        ),
        requested_at=sc.requested_at, requeued=sc.requeued,
    )
    call = LiveCall(
        request=request, state=sc.state,
        ever_answered=sc.answered_at is not None, answered_at=sc.answered_at,
        caller_lost_at=now, saved_ok=True, held_since=sc.held_since, held_s=sc.held_s,
    )
    call.saved.set()
    if sc.state == "connected":
        for part in sc.participants:
            if part["left_at"] is not None:
                continue
            _kind, _, ident = part["participant_id"].partition(":")
            if part["role"] == CallRole.NURSE:
                call.desk = Principal(kind="staff", id=int(ident), name=part["name"],
                                      role=StaffRole.NURSE)
                call.desk_lost_at = now
            elif part["role"] == CallRole.SPECIALIST:
                pid = part["participant_id"]
                call.specialist_principals[pid] = Principal(
                    kind="staff", id=int(ident), name=part["name"],
                    role=StaffRole.SPECIALIST)
                call.specialists[pid] = None
                call.specialist_lost_at[pid] = now
        if call.desk is None:  # the log lost the desk's row: safest is back to the queue
            call.state = "waiting"
            call.request = dataclasses.replace(request, requeued=True)
    return call
