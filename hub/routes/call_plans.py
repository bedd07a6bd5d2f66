"""The plan agreed on a call (the SBARD decision and when to call again), for the caller.

The nurse's desk writes it with ``PUT /api/v1/calls/{call_id}/plan`` once the plan is agreed
(during the call or after it); the hub pushes it at once (``call_plan``) to every connection
of the site that called, and the caller (the site station, the browser page) can also read
it with ``GET`` (after a reconnect, or to print it again). Who reads it: the site that
called, nurses and managers, and a specialist who took part in the call; not the
administrator (the plan is clinical).
"""

from __future__ import annotations

import functools
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.contract.identity import Principal, StaffRole
from hub.contract.rest import PlanBody, PlanOut
from hub.contract.signaling import CallPlanReady
from hub.db import utcnow
from hub.models import Call, CallParticipant, CallPlan
from hub.routes.deps import (
    ANY_SITE,
    CALL_LOG_READERS,
    SessionDep,
    SwitchboardDep,
    UnitOfWorkDep,
    require,
)

router = APIRouter(tags=["call plans"])
WRITERS = (StaffRole.NURSE, StaffRole.SPECIALIST)


def took_part(session: Session, call_id: str, principal: Principal) -> bool:
    """Whether the principal was ever a participant of the call (the call log says)."""
    return session.scalar(select(CallParticipant.id).where(
        CallParticipant.call_id == call_id,
        CallParticipant.participant_id == principal.participant_id).limit(1)) is not None


def _out(plan: CallPlan) -> PlanOut:
    return PlanOut(call_id=plan.call_id, decision=plan.decision, call_again=plan.call_again,
                   written_by_name=plan.written_by_name, written_at=plan.written_at)


@router.put("/api/v1/calls/{call_id}/plan")
def write_plan(
    call_id: str, body: PlanBody, unit: UnitOfWorkDep, switchboard: SwitchboardDep,
    principal: Annotated[Principal, Depends(require(*WRITERS))],
) -> PlanOut:
    """The nurse or specialist who took part in the call writes (or corrects) its plan."""
    session = unit.session
    call = session.get(Call, call_id)
    if call is None:
        raise HTTPException(404, "no call with that id")
    if not took_part(session, call_id, principal):
        raise HTTPException(403, "only a nurse or specialist who took part in the call may "
                                 "write its plan")
    plan = session.get(CallPlan, call_id) or CallPlan(call_id=call_id)
    plan.decision, plan.call_again = body.decision.strip(), body.call_again
    plan.written_by, plan.written_by_name = principal.participant_id, principal.name
    plan.written_at = utcnow()
    session.add(plan)
    out = _out(plan)
    push = CallPlanReady(call_id=call_id, decision=out.decision, call_again=out.call_again,
                         written_by=out.written_by_name, written_at=out.written_at)
    unit.after_commit(functools.partial(switchboard.tell_site, call.site_id, push))  # durable first
    return out


@router.get("/api/v1/calls/{call_id}/plan")
def read_plan(
    call_id: str, session: SessionDep,
    principal: Annotated[Principal, Depends(require(*ANY_SITE, *CALL_LOG_READERS,
                                                    StaffRole.SPECIALIST))],
) -> PlanOut:
    """The plan of a call: for the site that called, nurses, managers, and a specialist who
    took part in the call."""
    call = session.get(Call, call_id)
    # A site asking about another site's call, or a specialist about a call they were not
    # in, learns nothing, not even that it exists.
    if call is None or (principal.kind == "site" and call.site_id != principal.id) or (
            principal.role is StaffRole.SPECIALIST
            and not took_part(session, call_id, principal)):
        raise HTTPException(404, "no call with that id")
    plan = session.get(CallPlan, call_id)
    if plan is None:
        raise HTTPException(404, "no plan has been written for this call yet")
    return _out(plan)
