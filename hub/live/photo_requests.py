"""Photo requests in a live call (issue 17): the nurse asks the caller for a still, the site
declines (no consent) or sends it over REST (hub/routes/photos.py, which tells the nurse).

Only the nurse of the call asks, only its caller declines; a request the caller did not
answer is forgotten once the call has ended. The photo's own upload is checked against the call
log (the site and the call), so a hub of several, where REST lands on any hub, needs no more
than this.
"""

from __future__ import annotations

from collections.abc import Mapping

from hub.contract import signaling as p
from hub.contract.identity import StaffRole
from hub.contract.signaling import ErrorCode
from hub.live.call import LiveCall, find_call
from hub.live.presence import Connection
from hub.live.refusal import Refusal

# A nurse asks again when a photo came out blurred; more than this open at once is a loop.
MAX_OPEN_PER_CALL = 10


class PhotoRequests:
    def __init__(self, calls: Mapping[str, LiveCall]) -> None:
        self._calls = calls
        self._open: dict[str, set[str]] = {}  # call id -> request ids not yet answered

    def ask(self, conn: Connection, msg: p.PhotoRequest) -> None:
        call = find_call(self._calls, msg.call_id)
        if (conn.principal.role is not StaffRole.NURSE or call.desk is None
                or call.desk.participant_id != conn.pid):
            raise Refusal(ErrorCode.NOT_PARTICIPANT, "only the nurse in the call may ask for "
                          "a photo", msg.call_id)
        if call.state != "connected" or call.caller is None:
            raise Refusal(ErrorCode.WRONG_STATE, "the caller is not connected right now",
                          msg.call_id)
        for ended in [c for c in self._open if c not in self._calls]:
            del self._open[ended]
        waiting = self._open.setdefault(call.id, set())
        if msg.request_id not in waiting and len(waiting) >= MAX_OPEN_PER_CALL:
            raise Refusal(ErrorCode.WRONG_STATE, "too many photo requests are unanswered",
                          msg.call_id)
        waiting.add(msg.request_id)
        call.caller.send(p.PhotoRequested(call_id=call.id, request_id=msg.request_id,
                                          by=conn.principal.name))

    def decline(self, conn: Connection, msg: p.PhotoDecline) -> None:
        call = find_call(self._calls, msg.call_id)
        if conn.pid != call.site.participant_id:
            raise Refusal(ErrorCode.NOT_PARTICIPANT, "only the caller may decline a photo",
                          msg.call_id)
        waiting = self._open.get(call.id, set())
        if msg.request_id not in waiting:
            raise Refusal(ErrorCode.NOT_FOUND, "no such photo request is open", msg.call_id)
        waiting.discard(msg.request_id)
        if call.desk_conn is not None:
            call.desk_conn.send(p.PhotoDeclined(call_id=call.id, request_id=msg.request_id))
