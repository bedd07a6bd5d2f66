"""Sign-in and sign-out: staff by password, sites by credential; who the token belongs to.

(A patient at home signs in with an invitation code: hub/routes/invitations.py.)
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, HTTPException, status

from hub import accounts
from hub.config import HubConfig
from hub.contract.identity import Principal
from hub.contract.rest import LoginBody, SiteLoginBody, TokenOut
from hub.routes.deps import BearerDep, ConfigDep, PrincipalDep, SessionDep, refusals

router = APIRouter(tags=["auth"])


def _ttl(config: HubConfig) -> timedelta:
    return timedelta(seconds=config.token_ttl_s)


@router.post("/api/v1/auth/login", responses=refusals(401, 413, 422))
def login(body: LoginBody, session: SessionDep, config: ConfigDep) -> TokenOut:
    """Staff sign-in with user name and password; returns a bearer token for one shift."""
    principal = accounts.authenticate_staff(session, body.username, body.password)
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong user name or password")
    issued = accounts.issue_token(session, principal, _ttl(config))
    return TokenOut(token=issued.token, expires_at=issued.expires_at, principal=principal)


@router.post("/api/v1/auth/site-login", responses=refusals(401, 413, 422))
def site_login(body: SiteLoginBody, session: SessionDep, config: ConfigDep) -> TokenOut:
    """A site station or caller signs in with the credential printed when it was enrolled."""
    principal = accounts.authenticate_site(session, body.credential)
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown or disabled site credential")
    issued = accounts.issue_token(session, principal, _ttl(config))
    return TokenOut(token=issued.token, expires_at=issued.expires_at, principal=principal)


@router.post("/api/v1/auth/logout", status_code=204, responses=refusals(401))
def logout(
    session: SessionDep, _: PrincipalDep, creds: BearerDep,
) -> None:
    """Revokes the token that made this request."""
    assert creds is not None
    accounts.revoke_token(session, creds.credentials)


@router.get("/api/v1/me", responses=refusals(401))
def me(principal: PrincipalDep) -> Principal:
    return principal
