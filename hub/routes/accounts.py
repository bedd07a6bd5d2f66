"""Accounts: the administrator enrols staff and sites; the call log's readers list sites.

A home site is one patient's Gold Line invitation and is named after the patient, so the
administrator's list leaves them out (nurses manage them: hub/routes/invitations.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException

from hub import accounts
from hub.contract.identity import Principal, SiteKind, StaffRole
from hub.contract.rest import NewSiteBody, NewSiteOut, NewStaffBody
from hub.routes.deps import CALL_LOG_READERS, SIGNED_IN, SessionDep, refusals, require

router = APIRouter(tags=["accounts"], responses=refusals(*SIGNED_IN, 422))


@contextmanager
def _refused_as_http() -> Iterator[None]:
    """An enrolment the accounts refuse: 409 when the name is taken, else 422."""
    try:
        yield
    except accounts.AccountExists as exc:
        raise HTTPException(409, str(exc)) from None
    except accounts.AccountError as exc:
        raise HTTPException(422, str(exc)) from None


@router.get("/api/v1/staff")
def staff_list(
    session: SessionDep, _: Annotated[Principal, Depends(require(StaffRole.ADMIN))]
) -> list[Principal]:
    return accounts.list_staff(session)


@router.post("/api/v1/staff", status_code=201, responses=refusals(409, 413))
def staff_add(
    body: NewStaffBody, session: SessionDep,
    _: Annotated[Principal, Depends(require(StaffRole.ADMIN))],
) -> Principal:
    with _refused_as_http():
        return accounts.add_staff(session, body.username, body.role.value, body.password,
                                  body.display_name)


@router.get("/api/v1/sites")
def site_list(
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(*CALL_LOG_READERS, StaffRole.ADMIN))],
) -> list[Principal]:
    sites = accounts.list_sites(session)
    if principal.role is StaffRole.ADMIN:
        return [s for s in sites if s.role is not SiteKind.HOME]
    return sites


@router.post("/api/v1/sites", status_code=201, responses=refusals(409, 413))
def site_add(
    body: NewSiteBody, session: SessionDep,
    _: Annotated[Principal, Depends(require(StaffRole.ADMIN))],
) -> NewSiteOut:
    with _refused_as_http():
        principal, credential = accounts.add_site(session, body.name, body.kind.value)
    return NewSiteOut(site=principal, credential=credential)
