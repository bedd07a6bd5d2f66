"""The accounts' lifecycle: disable and re-enable staff, reset or change a password, rotate a
site's credential, retire a site; revoking an account's tokens; the audit trail of it all.

Each change revokes the account's bearer tokens in the same transaction, so REST refuses
them from the commit on; the caller (a route, or the switchboard's session check for changes
made elsewhere) then closes the account's open WebSockets. Every change is written to
``account_events``: who did what to whom, never a password, a credential or a token.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
import secrets
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hub import accounts, password_policy
from hub.contract.identity import Principal, StaffRole
from hub.contract.rest import AccountAction, AccountEventOut, SiteOut, StaffOut
from hub.db import utcnow
from hub.models import AccountEvent, AuthToken, Site, Staff

log = logging.getLogger("telehub.audit")

__all__ = [
    "Actor",
    "NoSuchAccount",
    "NotAllowed",
    "WrongPassword",
    "change_password",
    "disable_staff",
    "enable_staff",
    "events",
    "live_tokens",
    "reset_password",
    "retire_site",
    "revoke_tokens",
    "rotate_site_credential",
    "site_accounts",
    "staff_accounts",
    "token_hash",
]


class NoSuchAccount(accounts.AccountError):
    """No staff member or site with that id or name (404)."""


class NotAllowed(accounts.AccountError):
    """A change the guards refuse: yourself, the last administrator, a retired site (409)."""


class WrongPassword(accounts.AccountError):
    """The current password given to change it is not the account's (403)."""


@dataclass(frozen=True)
class Actor:
    """Who makes a change: a signed-in administrator (``staff:3``) or the CLI's user."""

    id: str
    name: str
    staff_id: int | None = None

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        return cls(principal.participant_id, principal.name,
                   principal.id if principal.kind == "staff" else None)

    @classmethod
    def cli(cls) -> Actor:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no entry in the password database (a container)
            user = "unknown"
        return cls(f"cli:{user}"[:40], f"telehub-hub on the server ({user})"[:120])


def token_hash(token: str) -> str:
    """What ``auth_tokens`` keys a token by (only its SHA-256 is ever stored)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _audit(session: Session, actor: Actor, action: AccountAction, subject: str,
           subject_name: str) -> None:
    session.add(AccountEvent(at=utcnow(), actor=actor.id, actor_name=actor.name[:120],
                             action=action, subject=subject, subject_name=subject_name[:120]))
    log.info("account %s: %s by %s", action, subject, actor.id)  # ids only, no names


def revoke_tokens(session: Session, kind: str, principal_id: int,
                  keep: str | None = None) -> int:
    """Revoke every live token of one account (but ``keep``, a token hash); how many."""
    query = (update(AuthToken)
             .where(AuthToken.principal_kind == kind, AuthToken.principal_id == principal_id,
                    AuthToken.revoked.is_(False)))  # fmt: skip
    if keep is not None:
        query = query.where(AuthToken.token_hash != keep)
    return int(session.execute(query.values(revoked=True)).rowcount)  # type: ignore[attr-defined]


def live_tokens(session: Session, hashes: Collection[str]) -> set[str]:
    """Of ``hashes``, those still good: not revoked or expired, their account active (a
    retired site is inactive too). One query, for the switchboard's session check; the same
    rule as a sign-in's (``accounts.resolve_token_hashes``)."""
    return set(accounts.resolve_token_hashes(session, set(hashes)))


# --- listing --------------------------------------------------------------------------------


def _staff_out(staff: Staff) -> StaffOut:
    return StaffOut(id=staff.id, username=staff.username, name=staff.display_name,
                    role=StaffRole(staff.role), active=staff.active)


def _site_out(site: Site) -> SiteOut:
    return SiteOut.model_validate({"id": site.id, "name": site.name, "kind": site.kind,
                                   "active": site.active, "retired_at": site.retired_at})


def staff_accounts(session: Session) -> list[StaffOut]:
    return [_staff_out(s) for s in session.scalars(select(Staff).order_by(Staff.id))]


def site_accounts(session: Session) -> list[SiteOut]:
    return [_site_out(s) for s in session.scalars(select(Site).order_by(Site.id))]


def events(session: Session, limit: int = 200) -> list[AccountEventOut]:
    rows = session.scalars(select(AccountEvent).order_by(AccountEvent.id.desc()).limit(limit))
    return [AccountEventOut.model_validate(row, from_attributes=True) for row in rows]


def staff_by_username(session: Session, username: str) -> Staff:
    staff = session.scalar(select(Staff).where(Staff.username == username))
    if staff is None:
        raise NoSuchAccount(f"no member of staff has the user name {username!r}")
    return staff


def site_by_name(session: Session, name: str) -> Site:
    site = session.scalar(select(Site).where(Site.name == name.strip()))
    if site is None:
        raise NoSuchAccount("no site has that name")
    return site


def _staff(session: Session, staff_id: int) -> Staff:
    staff = session.get(Staff, staff_id)
    if staff is None:
        raise NoSuchAccount("no member of staff has that id")
    return staff


def _site(session: Session, site_id: int) -> Site:
    site = session.get(Site, site_id)
    if site is None:
        raise NoSuchAccount("no site has that id")
    return site


# --- staff ----------------------------------------------------------------------------------


def disable_staff(session: Session, actor: Actor, staff_id: int) -> StaffOut:
    """Lock a member of staff out: sign-in refused, tokens revoked (the caller closes their
    WebSockets). Not yourself, and never the last active administrator."""
    staff = _staff(session, staff_id)
    if actor.staff_id == staff.id:
        raise NotAllowed("you cannot disable your own account; ask another administrator")
    if staff.role == StaffRole.ADMIN and staff.active:
        # Locked, so two administrators disabling each other at once cannot both succeed
        # (PostgreSQL; SQLite runs one writer at a time anyway).
        admins = session.scalars(select(Staff.id).where(
            Staff.role == StaffRole.ADMIN.value, Staff.active.is_(True)).with_for_update())
        if set(admins) <= {staff.id}:
            raise NotAllowed("this is the last active administrator; enable or enrol "
                             "another first")
    if staff.active:
        staff.active = False
        _audit(session, actor, "disable", f"staff:{staff.id}", staff.username)
    revoke_tokens(session, "staff", staff.id)
    return _staff_out(staff)


def enable_staff(session: Session, actor: Actor, staff_id: int) -> StaffOut:
    """Let a disabled member of staff sign in again (their old tokens stay revoked)."""
    staff = _staff(session, staff_id)
    if not staff.active:
        staff.active = True
        _audit(session, actor, "enable", f"staff:{staff.id}", staff.username)
    return _staff_out(staff)


def reset_password(session: Session, actor: Actor, staff_id: int, password: str) -> StaffOut:
    """An administrator sets someone else's password; all their sessions end."""
    staff = _staff(session, staff_id)
    if actor.staff_id == staff.id:
        raise NotAllowed("change your own password with your current one (Change password)")
    password_policy.check(password, staff.username, staff.display_name)
    staff.password_hash = accounts.hash_password(password)
    revoke_tokens(session, "staff", staff.id)
    _audit(session, actor, "reset_password", f"staff:{staff.id}", staff.username)
    return _staff_out(staff)


def change_password(session: Session, principal: Principal, current: str, new: str,
                    keep_token: str | None) -> None:
    """The signed-in member of staff changes their own password; their other sessions end
    (``keep_token``, the hash of the token asking, stays good)."""
    staff = _staff(session, principal.id)
    if not accounts.verify_password(staff.password_hash, current):
        raise WrongPassword("current_password: that is not your current password")
    password_policy.check(new, staff.username, staff.display_name, field="new_password")
    if accounts.verify_password(staff.password_hash, new):
        raise password_policy.PasswordRefused("new_password", "unchanged",
                                              "it is the same as the current one")
    staff.password_hash = accounts.hash_password(new)
    revoke_tokens(session, "staff", staff.id, keep=keep_token)
    _audit(session, Actor.of(principal), "change_password", f"staff:{staff.id}",
           staff.username)


# --- sites ----------------------------------------------------------------------------------


def rotate_site_credential(session: Session, actor: Actor, site_id: int) -> tuple[Principal, str]:
    """A new credential for a site (the way back for a site that lost its own): the old one
    and every token signed in with it stop at once. Returns it, shown this once."""
    site = _site(session, site_id)
    if site.retired_at is not None:
        raise NotAllowed("this site is retired; enrol a new site under another name")
    credential = accounts.SITE_CREDENTIAL_PREFIX + secrets.token_urlsafe(32)
    site.credential_hash = token_hash(credential)
    revoke_tokens(session, "site", site.id)
    _audit(session, actor, "rotate_credential", f"site:{site.id}", site.name)
    return accounts.site_principal(site), credential


def retire_site(session: Session, actor: Actor, site_id: int) -> SiteOut:
    """Close a site for good: it never signs in again; its calls stay in the log."""
    site = _site(session, site_id)
    if site.retired_at is None:
        site.retired_at = utcnow()
        site.active = False
        _audit(session, actor, "retire", f"site:{site.id}", site.name)
    revoke_tokens(session, "site", site.id)
    return _site_out(site)


def audit_enrolment(session: Session, actor: Actor, principals: Iterable[Principal]) -> None:
    """Enrolments are in the same trail as the other changes."""
    for principal in principals:
        _audit(session, actor, "enrol", principal.participant_id, principal.name)
