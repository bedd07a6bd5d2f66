"""The hub-wide follow-up worklist over HTTP: ``GET /api/v1/follow-ups`` (hub/followups.py).

Nurses see what is due, overdue and done across the hub, whoever made the claim, and record
a check from any desk as a new version of the record (through their outbox: there is no
write here). Managers read it for the count of overdue checks. Body: hub/contract/followups.py.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from hub.contract.followups import Worklist
from hub.contract.identity import Principal, StaffRole
from hub.followups import worklist
from hub.routes.deps import SIGNED_IN, SessionDep, refusals, require

router = APIRouter(prefix="/api/v1", tags=["records"], responses=refusals(*SIGNED_IN, 422))

READERS = (StaffRole.NURSE, StaffRole.MANAGER)


@router.get("/follow-ups")
def follow_ups(
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(*READERS))],
    done_days: Annotated[int, Query(ge=0, le=90)] = 14,
) -> Worklist:
    """Every claim's checks: due and overdue ones (most overdue first), then those done in the
    last ``done_days`` with who did them; the counts include checks not due yet."""
    return worklist(session, principal, done_days)
