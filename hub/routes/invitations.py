"""Per-patient invitations to call the hub from the browser page: issue, list, revoke, sign in.

A nurse issues an invitation for one patient at home (not the administrator: an invitation
names the patient, with their NHS number; see docs/security.md). The hub makes a
site of kind ``home`` for it, with a credential nobody is ever shown, and hands out a code
once: typed on the page, or carried in a link (``/call#code=...``, in the fragment so it never
reaches a server log). Signing in with the code gives a short-lived token for that site, so
the browser page joins the queue exactly as a site station does. Revoking the invitation
disables the site: the code and every token it issued stop working at once.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import accounts, codes, signin
from hub.codes import normalise_code
from hub.contract import signaling as p
from hub.contract.fields import RowId
from hub.contract.identity import Principal, SiteKind, StaffRole
from hub.contract.residents import ResidentDetails
from hub.contract.rest import (
    HomeTokenOut,
    InvitationLoginBody,
    InvitationOut,
    InvitedPatient,
    IssuedInvitationOut,
    NewInvitationBody,
)
from hub.db import utcnow
from hub.models import Invitation, Site
from hub.residents import ResidentRegister
from hub.routes.deps import (
    SIGNED_IN,
    ConfigDep,
    SessionDep,
    SignInDep,
    SwitchboardDep,
    UnitOfWorkDep,
    refusals,
    require,
)
from hub.signin_limits import Attempt, Route

router = APIRouter(tags=["invitations"])

# 12 characters of hub/codes.py's alphabet carry 60 bits, far beyond online guessing (and
# sign-ins are limited: hub/signin_limits.py), and still fit on a printed card.
CODE_LENGTH = 12
HOME_TOKEN_TTL = timedelta(hours=4)  # a home caller signs in again from the link
ISSUERS = (StaffRole.NURSE,)


def new_code() -> str:
    return codes.new_code(CODE_LENGTH)


def _hash(code: str) -> str:
    return hashlib.sha256(normalise_code(code).encode()).hexdigest()


def _out(inv: Invitation, site: Site) -> InvitationOut:
    return InvitationOut(
        id=inv.id, site=accounts.site_principal(site),
        patient=InvitedPatient.model_validate(inv.patient), issued_at=inv.issued_at,
        expires_at=inv.expires_at, revoked=inv.revoked_at is not None,
        last_used_at=inv.last_used_at,
    )


# --- routes -------------------------------------------------------------------------------


@router.post("/api/v1/invitations", status_code=201,
             responses=refusals(*SIGNED_IN, 413, 422))
def issue(
    body: NewInvitationBody, session: SessionDep,
    principal: Annotated[Principal, Depends(require(*ISSUERS))],
) -> IssuedInvitationOut:
    """Invite one patient to call from home; the code is shown in this answer only."""
    patient = body.patient  # its NHS number checked and normalised by the contract
    now = utcnow()
    # Each invitation is its own caller in the queue, so revoking one stops only that one.
    site = Site(
        name=f"Gold Line: {patient.name} #{secrets.token_hex(3)}", kind=SiteKind.HOME.value,
        credential_hash=hashlib.sha256(secrets.token_bytes(32)).hexdigest(), active=True,
        created_at=now,
    )
    session.add(site)
    session.flush()
    code = new_code()
    inv = Invitation(
        code_hash=_hash(code), site_id=site.id, patient=patient.model_dump(exclude_none=True),
        issued_by=principal.id, issued_at=now, expires_at=now + timedelta(days=body.valid_days),
    )
    session.add(inv)
    session.flush()
    # The patient is their home site's one resident, so a nurse on their call sees what the
    # hub knows of them (hub/residents.py); the issuing nurse wrote its first version.
    ResidentRegister(session, principal).write(uuid.uuid4(), site.id, None, ResidentDetails(
        name=patient.name, nhs_number=patient.nhs_number,
        date_of_birth=patient.date_of_birth))
    return IssuedInvitationOut(**_out(inv, site).model_dump(), code=code,
                               link=f"/call#code={code}")


@router.get("/api/v1/invitations", responses=refusals(*SIGNED_IN))
def list_invitations(
    session: SessionDep, _: Annotated[Principal, Depends(require(*ISSUERS))],
) -> list[InvitationOut]:
    """Every invitation, newest first (without codes: the hub does not have them)."""
    rows = session.execute(
        select(Invitation, Site).join(Site, Site.id == Invitation.site_id)
        .order_by(Invitation.id.desc())
    ).all()
    return [_out(inv, site) for inv, site in rows]


@router.delete("/api/v1/invitations/{invitation_id}", status_code=204,
               responses=refusals(*SIGNED_IN, 404, 422))
def revoke(
    invitation_id: RowId, unit: UnitOfWorkDep, switchboard: SwitchboardDep,
    _: Annotated[Principal, Depends(require(*ISSUERS))],
) -> None:
    """Revoke an invitation: its code, every token signed in with it and every open
    connection of the patient's page stop at once."""
    inv = unit.session.get(Invitation, invitation_id)
    if inv is None:
        raise HTTPException(404, "no invitation with that id")
    if inv.revoked_at is None:
        inv.revoked_at = utcnow()
    site = unit.session.get(Site, inv.site_id)
    assert site is not None
    site.active = False
    # Once the revocation is durable, so the page's reconnect is refused.
    unit.after_commit(functools.partial(switchboard.disconnect, "site", site.id,
                                        "access revoked"))  # fmt: skip


def _live(session: Session, code: str) -> tuple[Invitation, Site] | None:
    if len(normalise_code(code)) != CODE_LENGTH + CODE_LENGTH // 4 - 1:
        return None
    inv = session.scalar(select(Invitation).where(Invitation.code_hash == _hash(code)))
    if inv is None or inv.revoked_at is not None or inv.expires_at <= utcnow():
        return None
    site = session.get(Site, inv.site_id)
    if site is None or not site.active:
        return None
    return inv, site


@router.post("/api/v1/auth/invitation-login", tags=["auth"],
             responses={**refusals(413, 422), **signin.LIMITED})
def invitation_login(
    body: InvitationLoginBody, request: Request, session: SessionDep, config: ConfigDep,
    guard: SignInDep,
) -> HomeTokenOut:
    """The browser page signs in with an invitation code; no other credential is needed."""
    reservation = signin.reserve(guard, Attempt(Route.INVITATION,
                                                signin.client_address(request)))
    found = _live(session, body.code)
    if found is None:
        guard.limits.failed(reservation, "unknown_code")
        raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                            "this invitation code is not valid: it may have been mistyped, "
                            "have expired or been withdrawn")
    guard.limits.succeeded(reservation)
    inv, site = found
    now = utcnow()
    ttl = min(HOME_TOKEN_TTL, timedelta(seconds=config.token_ttl_s), inv.expires_at - now)
    principal = accounts.site_principal(site)
    issued = accounts.issue_token(session, principal, ttl)
    inv.last_used_at = now
    patient = InvitedPatient.model_validate(inv.patient)
    return HomeTokenOut(token=issued.token, expires_at=issued.expires_at, principal=principal,
                        patient=p.Patient(**patient.model_dump(exclude_none=True)))
