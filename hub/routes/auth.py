"""Sign-in and sign-out: staff by password, sites by credential; who the token belongs to.

(A patient at home signs in with an invitation code: hub/routes/invitations.py.)
"""

from __future__ import annotations

import functools
from datetime import timedelta

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse

from hub import accounts, lifecycle, signin
from hub.config import HubConfig
from hub.contract.identity import Principal
from hub.contract.rest import LoginBody, SiteLoginBody, TokenOut
from hub.routes.deps import (
    BearerDep,
    ConfigDep,
    PrincipalDep,
    SessionDep,
    SignInDep,
    SwitchboardDep,
    UnitOfWorkDep,
)
from hub.signin_limits import Attempt, Route

router = APIRouter(tags=["auth"])


def _ttl(config: HubConfig) -> timedelta:
    return timedelta(seconds=config.token_ttl_s)


@router.post("/api/v1/auth/login", response_model=TokenOut, responses=signin.HASHED)
async def login(body: LoginBody, request: Request, guard: SignInDep) -> TokenOut | JSONResponse:
    """Staff sign-in with user name and password (and the code from an authenticator app
    where the account has a second factor); returns a bearer token for one shift."""
    return await signin.staff_login(guard, body, signin.client_address(request))


@router.post("/api/v1/auth/site-login", responses=signin.LIMITED)
def site_login(body: SiteLoginBody, request: Request, session: SessionDep, config: ConfigDep,
               guard: SignInDep) -> TokenOut:
    """A site station or caller signs in with the credential printed when it was enrolled."""
    reservation = signin.reserve(guard, Attempt(Route.SITE, signin.client_address(request)))
    principal = accounts.authenticate_site(session, body.credential)
    if principal is None:
        guard.limits.failed(reservation, "unknown_credential")
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown or disabled site credential")
    guard.limits.succeeded(reservation)
    issued = accounts.issue_token(session, principal, _ttl(config))
    return TokenOut(token=issued.token, expires_at=issued.expires_at, principal=principal)


@router.post("/api/v1/auth/logout", status_code=204)
def logout(
    unit: UnitOfWorkDep, switchboard: SwitchboardDep, _: PrincipalDep, creds: BearerDep,
) -> None:
    """Revokes the token that made this request and closes the WebSockets it opened."""
    assert creds is not None
    accounts.revoke_token(unit.session, creds.credentials)
    ended = {lifecycle.token_hash(creds.credentials)}
    unit.after_commit(functools.partial(switchboard.disconnect_tokens, ended, "signed out"))


@router.get("/api/v1/me")
def me(principal: PrincipalDep) -> Principal:
    return principal
