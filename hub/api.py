"""The hub's REST routes: sign-in, accounts, the queue, the call log and ICE servers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status

from hub import accounts
from hub.calllog import CallLog, StoredCall
from hub.config import HubConfig
from hub.contract import signaling as p
from hub.contract.identity import Principal, StaffRole
from hub.contract.rest import (
    CallOut,
    Health,
    LoginBody,
    NewSiteBody,
    NewSiteOut,
    NewStaffBody,
    ParticipantOut,
    SiteLoginBody,
    TokenOut,
)
from hub.routes.deps import (
    ANY_SITE,
    ANY_STAFF,
    CALL_LOG_READERS,
    BearerDep,
    ConfigDep,
    PrincipalDep,
    SessionDep,
    SessionsDep,
    SwitchboardDep,
    require,
)

router = APIRouter()


def _call_out(c: StoredCall) -> CallOut:
    return CallOut(**{k: getattr(c, k) for k in CallOut.model_fields if k != "participants"},
                   participants=[ParticipantOut(**x) for x in c.participants])


# --- routes -------------------------------------------------------------------------------


@router.get("/health", tags=["service"])
def health() -> Health:
    """Liveness for load balancers and the desk's "hub reachable" indicator; no token needed."""
    return Health()


def _ttl(config: HubConfig) -> timedelta:
    return timedelta(seconds=config.token_ttl_s)


@router.post("/api/v1/auth/login", tags=["auth"])
def login(body: LoginBody, session: SessionDep, config: ConfigDep) -> TokenOut:
    """Staff sign-in with user name and password; returns a bearer token for one shift."""
    principal = accounts.authenticate_staff(session, body.username, body.password)
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong user name or password")
    issued = accounts.issue_token(session, principal, _ttl(config))
    return TokenOut(token=issued.token, expires_at=issued.expires_at, principal=principal)


@router.post("/api/v1/auth/site-login", tags=["auth"])
def site_login(body: SiteLoginBody, session: SessionDep, config: ConfigDep) -> TokenOut:
    """A site station or caller signs in with the credential printed when it was enrolled."""
    principal = accounts.authenticate_site(session, body.credential)
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown or disabled site credential")
    issued = accounts.issue_token(session, principal, _ttl(config))
    return TokenOut(token=issued.token, expires_at=issued.expires_at, principal=principal)


@router.post("/api/v1/auth/logout", tags=["auth"], status_code=204)
def logout(
    session: SessionDep, _: PrincipalDep, creds: BearerDep,
) -> None:
    """Revokes the token that made this request."""
    assert creds is not None
    accounts.revoke_token(session, creds.credentials)


@router.get("/api/v1/me", tags=["auth"])
def me(principal: PrincipalDep) -> Principal:
    return principal


@router.get("/api/v1/ice-servers", tags=["calls"])
def ice_servers(
    switchboard: SwitchboardDep,
    principal: Annotated[Principal, Depends(require(*ANY_STAFF, *ANY_SITE))],
) -> list[p.IceServer]:
    """STUN/TURN servers for this principal, with short-lived TURN credentials."""
    return switchboard.ice_servers(principal.participant_id)


@router.get("/api/v1/queue", tags=["calls"])
def queue(
    switchboard: SwitchboardDep,
    _: Annotated[Principal, Depends(require(StaffRole.NURSE.value, StaffRole.MANAGER.value,
                                            StaffRole.ADMIN.value))],
) -> p.QueueSnapshot:
    """The waiting calls, in the order they will be answered."""
    return switchboard.snapshot()


@router.get("/api/v1/calls", tags=["call log"])
def calls(
    sessions: SessionsDep,
    _: Annotated[Principal, Depends(require(*CALL_LOG_READERS))],
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
    site_id: int | None = None,
    state: Literal["waiting", "connected", "ended"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[CallOut]:
    """The call log, newest first: requested, answered and ended times, who took part, why
    it ended."""
    for t in (start, end):
        if t is not None and t.tzinfo is None:
            raise HTTPException(422, "give times with a zone, e.g. 2026-11-23T00:00:00Z")
    log = CallLog(sessions)
    return [_call_out(c) for c in log.query(start, end, site_id, state, limit, offset)]


@router.get("/api/v1/calls/{call_id}", tags=["call log"])
def call(
    call_id: str, sessions: SessionsDep,
    _: Annotated[Principal, Depends(require(*CALL_LOG_READERS))],
) -> CallOut:
    found = CallLog(sessions).get(call_id)
    if found is None:
        raise HTTPException(404, "no call with that id")
    return _call_out(found)


@router.get("/api/v1/staff", tags=["accounts"])
def staff_list(
    session: SessionDep, _: Annotated[Principal, Depends(require(StaffRole.ADMIN.value))]
) -> list[Principal]:
    return accounts.list_staff(session)


@router.post("/api/v1/staff", tags=["accounts"], status_code=201)
def staff_add(
    body: NewStaffBody, session: SessionDep,
    _: Annotated[Principal, Depends(require(StaffRole.ADMIN.value))],
) -> Principal:
    try:
        return accounts.add_staff(session, body.username, body.role.value, body.password,
                                  body.display_name)
    except accounts.AccountError as exc:
        raise HTTPException(409 if "exists" in str(exc) else 422, str(exc)) from None


@router.get("/api/v1/sites", tags=["accounts"])
def site_list(
    session: SessionDep,
    _: Annotated[Principal, Depends(require(*CALL_LOG_READERS))],
) -> list[Principal]:
    return accounts.list_sites(session)


@router.post("/api/v1/sites", tags=["accounts"], status_code=201)
def site_add(
    body: NewSiteBody, session: SessionDep,
    _: Annotated[Principal, Depends(require(StaffRole.ADMIN.value))],
) -> NewSiteOut:
    try:
        principal, credential = accounts.add_site(session, body.name, body.kind.value)
    except accounts.AccountError as exc:
        raise HTTPException(409 if "exists" in str(exc) else 422, str(exc)) from None
    return NewSiteOut(site=principal, credential=credential)
