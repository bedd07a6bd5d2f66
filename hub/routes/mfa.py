"""The second factor over REST: enrol an authenticator app (with the password, before the
first full sign-in), confirm it with a code, and an administrator's reset (hub/mfa.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request

from hub import mfa, signin
from hub.contract.identity import Principal, StaffRole
from hub.contract.rest import ConfirmEnrolmentBody, EnrolledOut, EnrolmentBody, EnrolmentOut
from hub.db import utcnow
from hub.models import Staff
from hub.routes.deps import SignInDep, UnitOfWorkDep, require
from hub.signin_limits import Attempt, Route, audit

router = APIRouter(tags=["auth"])


@router.post("/api/v1/auth/second-factor/enrolment", status_code=201,
             responses={**signin.HASHED, 409: {"description": "Already has a second factor"}})
async def enrol(body: EnrolmentBody, request: Request, guard: SignInDep) -> EnrolmentOut:
    """A new TOTP secret for the account whose user name and password these are, to scan
    into an authenticator app; it counts once a code from it is confirmed."""
    return await signin.begin_enrolment(guard, body, signin.client_address(request))


@router.post("/api/v1/auth/second-factor/confirmation", responses=signin.HASHED)
async def confirm(body: ConfirmEnrolmentBody, request: Request, guard: SignInDep
                  ) -> EnrolledOut:
    """Confirm the pending secret with a code from the app: signed in, with recovery codes."""
    return await signin.confirm_enrolment(guard, body, signin.client_address(request))


@router.delete("/api/v1/staff/{staff_id}/second-factor", status_code=204,
               responses={404: {"description": "No such member of staff"}})
def reset(staff_id: Annotated[int, Path(ge=1, le=2**31 - 1)], request: Request, unit: UnitOfWorkDep,
          admin: Annotated[Principal, Depends(require(StaffRole.ADMIN))]) -> None:
    """Remove a member of staff's second factor and recovery codes (a lost phone); where
    their role needs one, they enrol a new one at their next sign-in."""
    staff = unit.session.get(Staff, staff_id)
    if staff is None:
        raise HTTPException(404, "no member of staff with that id")
    had = mfa.reset(unit.session, staff_id)
    audit(unit.session, Attempt(Route.ADMIN, signin.client_address(request)),
          "second_factor_reset", staff.username,
          f"by {admin.name}" + ("" if had else " (there was none)"), utcnow())
