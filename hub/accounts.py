"""Staff and site accounts: password hashing, site credentials and expiring bearer tokens."""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub import password_policy
from hub.contract.identity import Principal, SiteKind, StaffRole
from hub.db import utcnow
from hub.models import AuthToken, Site, Staff

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


@functools.cache
def _dummy_hash() -> str:
    """Verifying against this keeps a login for an unknown user as slow as one for a known
    user. Made at first use, not at import: a hash costs a good part of a second, and every
    hub process and CLI call imports this module, most never signing anyone in."""
    return _hasher.hash("telehub-no-such-user")

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
SITE_CREDENTIAL_PREFIX = "ths_"


class AccountError(ValueError):
    """A request about accounts that cannot be carried out (said in plain words)."""


class AccountExists(AccountError):
    """The name asked for is already another account's."""


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime
    principal: Principal


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def staff_principal(staff: Staff) -> Principal:
    return Principal(kind="staff", id=staff.id, name=staff.display_name, role=staff.role)


def site_principal(site: Site) -> Principal:
    return Principal(kind="site", id=site.id, name=site.name, role=site.kind)


def add_staff(
    session: Session, username: str, role: str, password: str, display_name: str | None = None
) -> Principal:
    if not USERNAME_RE.match(username):
        raise AccountError(
            "a user name is 2-64 characters: lower-case letters, digits, '.', '_' or '-'"
        )
    try:
        role = StaffRole(role).value
    except ValueError:
        raise AccountError(f"role must be one of {', '.join(r.value for r in StaffRole)}") from None
    password_policy.check(password, username, display_name)  # PasswordRefused: 422
    staff = Staff(
        username=username,
        display_name=display_name or username,
        role=role,
        password_hash=_hasher.hash(password),
        active=True,
        created_at=utcnow(),
    )
    _add_new(session, staff, f"a member of staff called {username!r} already exists")
    return staff_principal(staff)


def _add_new(session: Session, account: Staff | Site, taken: str) -> None:
    session.add(account)
    try:
        session.flush()
    except IntegrityError:
        raise AccountExists(taken) from None


def add_site(session: Session, name: str, kind: str) -> tuple[Principal, str]:
    """Enrol a site; returns it and its credential, which is shown this once and never again."""
    name = name.strip()
    if not 1 <= len(name) <= 120:
        raise AccountError("a site name is 1-120 characters")
    try:
        kind = SiteKind(kind).value
    except ValueError:
        raise AccountError(f"kind must be one of {', '.join(k.value for k in SiteKind)}") from None
    credential = SITE_CREDENTIAL_PREFIX + secrets.token_urlsafe(32)
    site = Site(
        name=name, kind=kind, credential_hash=_sha256(credential), active=True,
        created_at=utcnow(),
    )
    _add_new(session, site, f"a site called {name!r} already exists")
    return site_principal(site), credential


def authenticate_staff(session: Session, username: str, password: str) -> Principal | None:
    staff = session.scalar(select(Staff).where(Staff.username == username))
    try:
        if staff is None or not staff.active:
            _hasher.verify(_dummy_hash(), password)
            return None
        _hasher.verify(staff.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if _hasher.check_needs_rehash(staff.password_hash):
        staff.password_hash = _hasher.hash(password)
    return staff_principal(staff)


def authenticate_site(session: Session, credential: str) -> Principal | None:
    if not credential.startswith(SITE_CREDENTIAL_PREFIX):
        return None
    site = session.scalar(select(Site).where(Site.credential_hash == _sha256(credential)))
    if site is None or not site.active:
        return None
    # The lookup was by hash; compare again in constant time for good measure.
    if not hmac.compare_digest(site.credential_hash, _sha256(credential)):
        return None
    return site_principal(site)


def issue_token(session: Session, principal: Principal, ttl: timedelta) -> IssuedToken:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        AuthToken(
            token_hash=_sha256(token),
            principal_kind=principal.kind,
            principal_id=principal.id,
            issued_at=now,
            expires_at=now + ttl,
            revoked=False,
        )
    )
    return IssuedToken(token=token, expires_at=now + ttl, principal=principal)


def resolve_token(session: Session, token: str) -> Principal | None:
    """The principal a live token belongs to, or None (unknown, expired, revoked, disabled)."""
    token_hash = _sha256(token)
    return resolve_token_hashes(session, {token_hash}).get(token_hash)


def live_token_select(match: ColumnElement[bool], now: Any) -> Select[Any]:
    """The rule of a live token, as one statement: ``match`` picks the tokens (by hash), and
    each row is one that is not revoked, not expired at ``now``, of an active account, with
    who it belongs to. Sign-ins and the session checks both ask it."""
    statement: Select[Any] = (  # eight columns; the callers unpack them
        select(AuthToken.token_hash, AuthToken.principal_kind, Staff.id,  # type: ignore[assignment]
               Staff.display_name, Staff.role, Site.id, Site.name, Site.kind)
        .outerjoin(Staff, (AuthToken.principal_kind == "staff")
                   & (Staff.id == AuthToken.principal_id))
        .outerjoin(Site, (AuthToken.principal_kind == "site")
                   & (Site.id == AuthToken.principal_id))
        .where(match, AuthToken.revoked.is_(False), AuthToken.expires_at > now,
               Staff.active.is_(True) | Site.active.is_(True))
    )  # fmt: skip
    return statement


def resolve_token_hashes(session: Session, hashes: set[str]) -> dict[str, Principal]:
    """:func:`resolve_token` for many tokens (by their hashes) in one query: a storm of
    sign-ins, when a hub's clients move to another, costs a query per batch."""
    if not hashes:
        return {}
    return principals_of(session.execute(
        live_token_select(AuthToken.token_hash.in_(sorted(hashes)), utcnow())))


def principals_of(rows: Iterable[Sequence[Any]]) -> dict[str, Principal]:
    """Who each token is, by its hash, from the rows of :func:`live_token_select`."""
    found: dict[str, Principal] = {}
    for token_hash, kind, staff_id, staff_name, role, site_id, site_name, site_kind in rows:
        if kind == "staff":
            found[token_hash] = Principal(kind="staff", id=staff_id, name=staff_name, role=role)
        else:
            found[token_hash] = Principal(kind="site", id=site_id, name=site_name,
                                          role=site_kind)
    return found


def revoke_token(session: Session, token: str) -> None:
    session.execute(
        update(AuthToken).where(AuthToken.token_hash == _sha256(token)).values(revoked=True)
    )


def list_staff(session: Session) -> list[Principal]:
    return [staff_principal(s) for s in session.scalars(select(Staff).order_by(Staff.id))]


def list_sites(session: Session) -> list[Principal]:
    return [site_principal(s) for s in session.scalars(select(Site).order_by(Site.id))]


# --- used by the lifecycle (hub/lifecycle.py) -------------------------------------------------


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return bool(_hasher.verify(password_hash, password))
    except (VerificationError, InvalidHashError):
        return False
