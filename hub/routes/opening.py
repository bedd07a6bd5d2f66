"""The hub's opening over REST: an administrator sets it open, closed or suspended (for a
clinic service's hours, an incident); callers are told at once (``hub_status``)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends

from hub.contract.identity import Principal, StaffRole
from hub.contract.rest import OpeningBody, OpeningOut
from hub.contract.signaling import HubState
from hub.db import unit_of_work
from hub.live.opening import read_opening, set_opening
from hub.routes.deps import (
    ANY_STAFF,
    SIGNED_IN,
    ConfigDep,
    SessionsDep,
    SwitchboardDep,
    refusals,
    require,
)

router = APIRouter(tags=["hub"], responses=refusals(*SIGNED_IN, 422))


def _read(sessions: SessionsDep, config: ConfigDep) -> OpeningOut:
    with unit_of_work(sessions) as s:
        state, at, by = read_opening(s)
    return OpeningOut(state=state.value, changed_at=at, changed_by=by,
                      advice=config.closed_advice, phone=config.closed_phone or None)


@router.get("/api/v1/hub/opening")
async def opening(
    sessions: SessionsDep, config: ConfigDep,
    _: Annotated[Principal, Depends(require(*ANY_STAFF))],
) -> OpeningOut:
    """Whether the hub is set open, closed or suspended, and what callers are told when no
    nurse can answer."""
    return await asyncio.to_thread(_read, sessions, config)


@router.put("/api/v1/hub/opening")
async def set_hub_opening(
    body: OpeningBody, sessions: SessionsDep, config: ConfigDep, switchboard: SwitchboardDep,
    principal: Annotated[Principal, Depends(require(StaffRole.ADMIN))],
) -> OpeningOut:
    """Set the hub open, closed or suspended (administrators). Every caller connected now is
    told at once; calls keep their place in the queue (a nurse may still answer them)."""
    def write() -> None:
        with unit_of_work(sessions) as s:
            set_opening(s, HubState(body.state), principal.participant_id)

    await asyncio.to_thread(write)
    await switchboard.opening_changed()
    return await asyncio.to_thread(_read, sessions, config)
