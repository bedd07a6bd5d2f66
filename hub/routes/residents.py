"""The residents known to the hub over HTTP: a site's own list, and a call's resident for the nurse.

Routes (bodies in hub/contract/residents.py; repository hub/residents.py):

* ``GET /api/v1/residents``: the calling site's residents at their current version.
* ``PUT /api/v1/residents/{resident_id}``: the site writes a resident (a new one, or the next
  version of the one it started from: 409 when that is no longer current).
* ``GET /api/v1/residents/{resident_id}`` and ``/versions``: one resident of the site, and
  every version with who wrote it and when.
* ``GET /api/v1/calls/{call_id}/resident``: the resident a call is about, for a nurse (or a
  specialist who took part in the call): the usual values and the escalation plan.

A site sees and writes only its own residents: another site's is a 404, as if it did not
exist. Managers and the administrator get none (least privilege: docs/security.md).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path

from hub.contract.fields import Text
from hub.contract.identity import Principal, StaffRole
from hub.contract.residents import ResidentOut, ResidentVersionOut, ResidentWrite
from hub.models import Call
from hub.residents import NotTheSites, ResidentConflict, ResidentRegister, StaleVersion
from hub.routes.call_plans import took_part
from hub.routes.deps import ANY_SITE, SIGNED_IN, SessionDep, refusals, require

router = APIRouter(prefix="/api/v1", tags=["residents"], responses=refusals(*SIGNED_IN, 422))

Site = Annotated[Principal, Depends(require(*ANY_SITE))]
CallIdPath = Annotated[Text, Path(max_length=64)]


def _not_found() -> HTTPException:
    return HTTPException(404, "this site has no resident with that id")


@router.get("/residents")
def list_residents(session: SessionDep, site: Site) -> list[ResidentOut]:
    """The calling site's residents, by name."""
    return ResidentRegister(session, site).of_site(site.id)


@router.put("/residents/{resident_id}", responses=refusals(404, 409, 413))
def write_resident(resident_id: uuid.UUID, body: ResidentWrite, session: SessionDep,
                   site: Site) -> ResidentOut:
    """Write a resident of the calling site: new (``base_version`` null) or the next version."""
    try:
        return ResidentRegister(session, site).write(resident_id, site.id, body.base_version,
                                                     body.details)
    except NotTheSites:
        raise _not_found() from None
    except StaleVersion as exc:
        held = "it is not held yet" if exc.held_version is None else (
            f"it is at version {exc.held_version}")
        raise HTTPException(409, f"this resident changed meanwhile ({held}): start from the "
                                 "current version") from None
    except ResidentConflict:
        raise HTTPException(409, "another resident of this site has that NHS number, or a "
                                 "write of this resident got there first") from None


@router.get("/residents/{resident_id}", responses=refusals(404))
def get_resident(resident_id: uuid.UUID, session: SessionDep, site: Site) -> ResidentOut:
    found = ResidentRegister(session, site).get(resident_id, site.id)
    if found is None:
        raise _not_found()
    return found


@router.get("/residents/{resident_id}/versions", responses=refusals(404))
def resident_versions(resident_id: uuid.UUID, session: SessionDep,
                      site: Site) -> list[ResidentVersionOut]:
    """Every version of the site's resident, oldest first, with who wrote it and when."""
    out = ResidentRegister(session, site).versions(resident_id, site.id)
    if not out:
        raise _not_found()
    return out


@router.get("/calls/{call_id}/resident", responses=refusals(404))
def call_resident(
    call_id: CallIdPath, session: SessionDep,
    principal: Annotated[Principal, Depends(require(StaffRole.NURSE, StaffRole.SPECIALIST))],
) -> ResidentOut:
    """The resident the call is about, as their site recorded them (audited as a read)."""
    call = session.get(Call, call_id)
    if call is None or (principal.role is StaffRole.SPECIALIST
                        and not took_part(session, call_id, principal)):
        raise HTTPException(404, "no call with that id")
    found = ResidentRegister(session, principal).for_call(call)
    if found is None:
        raise HTTPException(404, "the calling site has recorded no resident for this call")
    return found
