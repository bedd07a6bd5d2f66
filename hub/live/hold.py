"""Hold that the hub knows about: the call's nurse holds and resumes it; the caller is told
and sees for how long; every nurse desk sees the held calls; the call log keeps each hold."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from hub.contract import signaling as p
from hub.contract.identity import SiteKind
from hub.contract.signaling import ErrorCode
from hub.db import utcnow
from hub.errors import where
from hub.live.call import LiveCall, find_call
from hub.live.log_writer import CallLogWriter
from hub.live.presence import Connection, Presence
from hub.live.refusal import Refusal

log = logging.getLogger("telehub.hub")


class Hold:
    """``call_hold`` from the call's nurse; ``call_held`` to its participants; ``held_calls``
    to every desk watching the queue."""

    def __init__(self, calls: Mapping[str, LiveCall], presence: Presence,
                 calllog: CallLogWriter) -> None:
        self._calls = calls
        self._presence = presence
        self._log = calllog

    async def set(self, conn: Connection, msg: p.CallHold) -> None:
        call = find_call(self._calls, msg.call_id)
        if call.state != "connected" or call.desk is None or (
                conn.pid != call.desk.participant_id):
            raise Refusal(ErrorCode.NOT_PARTICIPANT, "only the nurse in a call can hold it "
                          "or take it off hold", call.id)
        if msg.held == (call.held_since is not None):
            conn.send(self.told(call))  # already so: said again, nothing changed
            return
        now = utcnow()
        # The live call changes before the write: a second hold message finds it changed.
        if msg.held:
            call.held_since = now
        else:
            assert call.held_since is not None
            call.held_s += (now - call.held_since).total_seconds()
            call.held_since = None
        call.tell_all(self.told(call))
        self.broadcast()
        try:
            if msg.held:
                await self._log.hold(call.id, conn.pid, now)
            else:
                await self._log.resume(call.id, now)
        except Exception as exc:
            log.error("could not write a hold of a call to the log (%s); the call goes on",
                      where(exc))

    def told(self, call: LiveCall) -> p.CallHeld:
        """What a participant is told of the call's hold (also on resuming the call)."""
        by = call.desk.name if call.desk is not None else ""
        return p.CallHeld(call_id=call.id, held=call.held_since is not None, by=by,
                          since=call.held_since, held_s=round(call.held_s))

    def ended(self, call: LiveCall) -> None:
        """The call ended or went back to the queue while held: the hold ends with it (the
        call log closes its open hold in the same write)."""
        if call.held_since is None:
            return
        call.held_s += (utcnow() - call.held_since).total_seconds()
        call.held_since = None
        self.broadcast()

    def snapshot(self) -> p.HeldCalls:
        held = sorted((c for c in self._calls.values()
                       if c.held_since is not None and c.state == "connected"),
                      key=lambda c: c.held_since or utcnow())
        return p.HeldCalls(calls=[
            p.HeldCall(call_id=c.id, site_name=c.site.name, site_kind=SiteKind(c.site.role),
                       urgency=c.request.urgency, reason=c.request.reason,
                       nurse=c.desk.name if c.desk is not None else "",
                       since=c.held_since or utcnow())
            for c in held
        ])

    def broadcast(self) -> None:
        self._presence.to_queue_watchers(self.snapshot().to_json())
