"""The live side over REST: ICE servers, the queue as it stands, and the call log."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from hub.calllog import CallLog, StoredCall
from hub.contract import signaling as p
from hub.contract.fields import Count, Moment, RowId, Text
from hub.contract.identity import Principal
from hub.contract.rest import CallOut, ParticipantOut
from hub.live.presence import QUEUE_WATCHERS
from hub.routes.deps import (
    CALL_LOG_READERS,
    CALLERS,
    SIGNED_IN,
    SessionsDep,
    SwitchboardDep,
    refusals,
    require,
)

router = APIRouter(responses=refusals(*SIGNED_IN, 422))
CallIdPath = Annotated[Text, Path(max_length=64)]


def _call_out(c: StoredCall) -> CallOut:
    return CallOut(**{k: getattr(c, k) for k in CallOut.model_fields if k != "participants"},
                   participants=[ParticipantOut(**x) for x in c.participants])


# A server without a username or credential leaves them out, as call_connected does.
@router.get("/api/v1/ice-servers", tags=["calls"], response_model_exclude_none=True)
def ice_servers(
    switchboard: SwitchboardDep,
    principal: Annotated[Principal, Depends(require(*CALLERS))],
) -> list[p.IceServer]:
    """STUN/TURN servers for this principal, with short-lived TURN credentials (for those
    who take part in calls: a TURN credential relays media through the hub's server)."""
    return switchboard.ice_servers(principal.participant_id)


@router.get("/api/v1/queue", tags=["calls"])
async def queue(
    switchboard: SwitchboardDep,
    _: Annotated[Principal, Depends(require(*QUEUE_WATCHERS))],
) -> p.QueueSnapshot:
    """The waiting calls, in the order they will be answered."""
    try:
        return await switchboard.queue_snapshot()
    except TimeoutError:  # a hub of several whose dispatching hub did not answer in time
        raise HTTPException(503, "the hub's live queue did not answer; try again") from None


@router.get("/api/v1/calls", tags=["call log"])
def calls(
    sessions: SessionsDep,
    _: Annotated[Principal, Depends(require(*CALL_LOG_READERS))],
    start: Annotated[Moment | None, Query(alias="from")] = None,
    end: Annotated[Moment | None, Query(alias="to")] = None,
    site_id: RowId | None = None,
    state: Literal["waiting", "connected", "ended"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Count = 0,
) -> list[CallOut]:
    """The call log, newest first: requested, answered and ended times, who took part, why
    it ended."""
    for t in (start, end):
        if t is not None and t.tzinfo is None:
            raise HTTPException(422, "give times with a zone, e.g. 2026-11-23T00:00:00Z")
    log = CallLog(sessions)
    return [_call_out(c) for c in log.query(start, end, site_id, state, limit, offset)]


@router.get("/api/v1/calls/{call_id}", tags=["call log"], responses=refusals(404))
def call(
    call_id: CallIdPath, sessions: SessionsDep,
    _: Annotated[Principal, Depends(require(*CALL_LOG_READERS))],
) -> CallOut:
    found = CallLog(sessions).get(call_id)
    if found is None:
        raise HTTPException(404, "no call with that id")
    return _call_out(found)
