"""Accounts: the administrator enrols, disables and re-enables staff, resets passwords,
rotates site credentials and retires sites; anyone on staff changes their own password; the
call log's readers list sites.

Every change ends the account's sessions at once: its tokens are revoked in the request's
transaction, and once that has committed its open WebSockets are closed (code 4403).

A home site is one patient's Gold Line invitation and is named after the patient, so the
administrator's list of sites leaves them out (nurses manage them: hub/routes/invitations.py).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from hub import accounts, lifecycle, password_policy
from hub.contract.identity import Principal, SiteKind, StaffRole
from hub.contract.rest import (
    AccountEventOut,
    ChangePasswordBody,
    NewSiteBody,
    NewSiteOut,
    NewStaffBody,
    ResetPasswordBody,
    SiteOut,
    StaffOut,
)
from hub.routes.deps import (
    ANY_STAFF,
    CALL_LOG_READERS,
    BearerDep,
    SessionDep,
    SwitchboardDep,
    UnitOfWorkDep,
    require,
)

router = APIRouter(tags=["accounts"])
AdminDep = Annotated[Principal, Depends(require(StaffRole.ADMIN))]
AccountId = Annotated[int, Path(ge=1, le=2**31 - 1)]  # an integer column on every database
Responses = dict[int | str, dict[str, Any]]
_REFUSALS: Responses = {
    401: {"description": "no token, or it is unknown, expired or revoked"},
    403: {"description": "this needs the admin role"},
}
_NOT_FOUND: Responses = {404: {"description": "no account with that id"}}
_GUARDED: Responses = {409: {
    "description": "refused by a guard: yourself, the last administrator, or a retired site"}}
_POLICY: Responses = {422: {
    "description": "the password breaks the policy: the detail names the field and the rule "
                   "(never the password)"}}


@contextmanager
def _refused_as_http() -> Iterator[None]:
    """What the accounts refuse, as HTTP: 404 no such account, 409 a name taken or a guard,
    403 a wrong current password, 422 anything else (a password the policy refuses)."""
    try:
        yield
    except lifecycle.NoSuchAccount as exc:
        raise HTTPException(404, str(exc)) from None
    except (accounts.AccountExists, lifecycle.NotAllowed) as exc:
        raise HTTPException(409, str(exc)) from None
    except lifecycle.WrongPassword as exc:
        raise HTTPException(403, str(exc)) from None
    except (accounts.AccountError, password_policy.PasswordRefused) as exc:
        raise HTTPException(422, str(exc)) from None


def _end_sessions(unit: UnitOfWorkDep, switchboard: SwitchboardDep, kind: str,
                  principal_id: int, keep_token: str | None = None) -> None:
    """Close the account's WebSockets once its tokens' revocation is durable."""
    unit.after_commit(functools.partial(switchboard.disconnect, kind, principal_id,
                                        "session ended: sign in again", keep_token))


# --- staff ------------------------------------------------------------------------------


@router.get("/api/v1/staff", responses=_REFUSALS)
def staff_list(session: SessionDep, _: AdminDep) -> list[StaffOut]:
    return lifecycle.staff_accounts(session)


@router.post("/api/v1/staff", status_code=201,
             responses={**_REFUSALS, 409: {"description": "the user name is taken"}, **_POLICY})
def staff_add(body: NewStaffBody, session: SessionDep, admin: AdminDep) -> Principal:
    with _refused_as_http():
        principal = accounts.add_staff(session, body.username, body.role.value, body.password,
                                       body.display_name)
    lifecycle.audit_enrolment(session, lifecycle.Actor.of(admin), [principal])
    return principal


@router.post("/api/v1/staff/{staff_id}/disable",
             responses={**_REFUSALS, **_NOT_FOUND, **_GUARDED})
def staff_disable(staff_id: AccountId, unit: UnitOfWorkDep, switchboard: SwitchboardDep,
                  admin: AdminDep) -> StaffOut:
    """Lock a member of staff out at once: sign-in refused, every token revoked, every open
    connection closed. Not your own account, and not the last active administrator."""
    with _refused_as_http():
        out = lifecycle.disable_staff(unit.session, lifecycle.Actor.of(admin), staff_id)
    _end_sessions(unit, switchboard, "staff", staff_id)
    return out


@router.post("/api/v1/staff/{staff_id}/enable", responses={**_REFUSALS, **_NOT_FOUND})
def staff_enable(staff_id: AccountId, session: SessionDep, admin: AdminDep) -> StaffOut:
    """Let a disabled member of staff sign in again."""
    with _refused_as_http():
        return lifecycle.enable_staff(session, lifecycle.Actor.of(admin), staff_id)


@router.post("/api/v1/staff/{staff_id}/password",
             responses={**_REFUSALS, **_NOT_FOUND, **_GUARDED, **_POLICY})
def staff_reset_password(staff_id: AccountId, body: ResetPasswordBody, unit: UnitOfWorkDep,
                         switchboard: SwitchboardDep, admin: AdminDep) -> StaffOut:
    """Set a new password for someone else (they forgot theirs); their sessions end."""
    with _refused_as_http():
        out = lifecycle.reset_password(unit.session, lifecycle.Actor.of(admin), staff_id,
                                       body.password)
    _end_sessions(unit, switchboard, "staff", staff_id)
    return out


@router.post("/api/v1/me/password", status_code=204,
             responses={401: _REFUSALS[401],
                        403: {"description": "this needs a staff account, or the current "
                                             "password is wrong"}, **_POLICY})  # fmt: skip
def me_change_password(body: ChangePasswordBody, unit: UnitOfWorkDep,
                       switchboard: SwitchboardDep, creds: BearerDep,
                       me: Annotated[Principal, Depends(require(*ANY_STAFF))]) -> None:
    """Change your own password; your other sessions end, this one goes on."""
    assert creds is not None  # require() has resolved it
    keep = lifecycle.token_hash(creds.credentials)
    with _refused_as_http():
        lifecycle.change_password(unit.session, me, body.current_password, body.new_password,
                                  keep_token=keep)
    _end_sessions(unit, switchboard, "staff", me.id, keep_token=keep)


# --- sites ------------------------------------------------------------------------------


@router.get("/api/v1/sites")
def site_list(
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(*CALL_LOG_READERS, StaffRole.ADMIN))],
) -> list[Principal]:
    sites = accounts.list_sites(session)
    if principal.role is StaffRole.ADMIN:
        return [s for s in sites if s.role is not SiteKind.HOME]
    return sites


@router.get("/api/v1/site-accounts", responses=_REFUSALS)
def site_accounts(session: SessionDep, _: AdminDep) -> list[SiteOut]:
    """Every site with its state (active, retired), for the administrator."""
    return lifecycle.site_accounts(session)


@router.post("/api/v1/sites", status_code=201,
             responses={**_REFUSALS, 409: {"description": "the name is taken"}})
def site_add(body: NewSiteBody, session: SessionDep, admin: AdminDep) -> NewSiteOut:
    with _refused_as_http():
        principal, credential = accounts.add_site(session, body.name, body.kind.value)
    lifecycle.audit_enrolment(session, lifecycle.Actor.of(admin), [principal])
    return NewSiteOut(site=principal, credential=credential)


@router.post("/api/v1/sites/{site_id}/credential",
             responses={**_REFUSALS, **_NOT_FOUND, **_GUARDED})
def site_rotate_credential(site_id: AccountId, unit: UnitOfWorkDep, switchboard: SwitchboardDep,
                           admin: AdminDep) -> NewSiteOut:
    """A new credential for the site, shown in this answer only; the old one, every token
    signed in with it and the site's open connections stop at once."""
    with _refused_as_http():
        principal, credential = lifecycle.rotate_site_credential(
            unit.session, lifecycle.Actor.of(admin), site_id)
    _end_sessions(unit, switchboard, "site", site_id)
    return NewSiteOut(site=principal, credential=credential)


@router.post("/api/v1/sites/{site_id}/retire", responses={**_REFUSALS, **_NOT_FOUND})
def site_retire(site_id: AccountId, unit: UnitOfWorkDep, switchboard: SwitchboardDep,
                admin: AdminDep) -> SiteOut:
    """Close the site for good: it never signs in again; its calls stay in the log."""
    with _refused_as_http():
        out = lifecycle.retire_site(unit.session, lifecycle.Actor.of(admin), site_id)
    _end_sessions(unit, switchboard, "site", site_id)
    return out


# --- the audit trail ----------------------------------------------------------------------


@router.get("/api/v1/account-events", responses=_REFUSALS)
def account_events(session: SessionDep, _: AdminDep,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[AccountEventOut]:
    """The latest changes to accounts, newest first: who did what to whom."""
    return lifecycle.events(session, limit)
