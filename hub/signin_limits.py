"""Failed sign-ins counted per account and per client address, in the database: locks that
grow, and an audit row for every failure.

Every sign-in route (staff password, site credential, invitation code, and the second factor)
*reserves* an attempt before it checks anything: for an account the reservation counts as a
failure until the check says otherwise, so forty guesses sent at once cannot slip past the
limit while the first are still being checked (an address counts failures only: see
``_IN_FLIGHT``). A wrong secret leaves it counted; once an account (or an address) reaches
its limit it is locked for ``signin_lock_s``, doubled by each further
failure up to ``signin_lock_max_s``, and every attempt meanwhile is refused unchecked, the
right password too. A full sign-in resets the account's count; any other good answer only
takes its reservation back, so a password-only step cannot wipe out wrong codes.

The counters are rows (:class:`hub.models.SignInThrottle`), changed under a row lock, so
several hub processes on one PostgreSQL share them. No secret is ever written: an account
is keyed by a SHA-256 of the name as typed, and the audit names only accounts that exist.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, or_, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from hub.config import HubConfig
from hub.db import unit_of_work, utcnow
from hub.models import SignInEvent, SignInThrottle, Staff

log = logging.getLogger("hub.signin")

# While an attempt at the limit is being checked, others wait this long (its outcome decides).
_HOLD = timedelta(seconds=10)
# The scopes whose attempts count while they are being checked. An account's do, so guesses
# sent at once get no more checks than its limit; an address counts failures only, so a
# burst of good sign-ins from one network is not held up (its parallel guesses are bounded
# by the password slots, and a site credential or invitation code is far beyond guessing).
_IN_FLIGHT = {"account"}


class Route(StrEnum):
    STAFF = "staff"
    SITE = "site"
    INVITATION = "invitation"
    SECOND_FACTOR = "mfa"
    ADMIN = "admin"  # an administrator's change to someone's second factor


class SignInLocked(Exception):
    """Too many failed sign-ins for this account or from this address; try after a while."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"locked for another {retry_after:.0f} s")
        self.retry_after = retry_after

    @property
    def retry_after_s(self) -> int:
        """Whole seconds for a Retry-After header (at least one)."""
        return max(1, math.ceil(self.retry_after))


def address_key(host: str | None) -> str:
    """The client address as counted: IPv4 as it is, IPv6 by its /64 (one subscriber's
    network, which an attacker can fill with addresses of its own)."""
    try:
        ip = ipaddress.ip_address(host or "")
    except ValueError:
        return (host or "unknown")[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def account_key(username: str) -> str:
    return hashlib.sha256(("staff:" + username.strip().casefold()).encode()).hexdigest()


@dataclass(frozen=True)
class Attempt:
    """One sign-in: which route, from which address, for which account (staff only: a site
    credential or an invitation code names no account until it is right)."""

    route: Route
    address: str
    username: str | None = None

    @property
    def keys(self) -> list[tuple[str, str]]:
        keys = [("account", account_key(self.username))] if self.username is not None else []
        return [*keys, ("address", self.address)]


@dataclass(frozen=True)
class Reservation:
    attempt: Attempt
    at: datetime


class SignInLimits:
    """The counters and the audit, on the hub's database (blocking: call off the loop)."""

    def __init__(self, sessions: sessionmaker[Session], config: HubConfig) -> None:
        self._sessions = sessions
        self._limit = {"account": config.signin_account_failures,
                       "address": config.signin_address_failures}
        self._window = timedelta(seconds=config.signin_window_s)
        self._lock = timedelta(seconds=config.signin_lock_s)
        self._lock_max = timedelta(seconds=config.signin_lock_max_s)

    # --- the three steps of every attempt --------------------------------------------------

    def reserve(self, attempt: Attempt) -> Reservation:
        """Count the attempt, or raise :class:`SignInLocked` (nothing is then checked)."""
        now = utcnow()
        with unit_of_work(self._sessions) as session:
            rows = self._rows(session, attempt.keys, now)
            locked = [row for row in rows if row.locked_until is not None
                      and row.locked_until > now]  # fmt: skip
            if locked:
                for row in locked:
                    row.refused += 1
                until = max(row.locked_until for row in locked if row.locked_until)
                retry = (until - now).total_seconds()
            else:
                for row in rows:
                    if row.locked_until is not None:  # a lock (or a hold) that has passed
                        row.locked_until = None
                    elif row.last_attempt_at + self._window <= now:
                        row.failures = 0  # failures long ago are forgotten
                    row.last_attempt_at = now
                    if row.scope in _IN_FLIGHT:
                        row.failures += 1
                        if row.failures >= self._limit[row.scope]:
                            row.locked_until = now + _HOLD  # the others wait for this one
                return Reservation(attempt, now)
        raise SignInLocked(retry)

    def failed(self, reservation: Reservation, outcome: str, account: str | None = None,
               detail: str | None = None) -> None:
        """The secret was wrong: the attempt stays counted, may lock, and is audited.
        ``account`` names the account when it is known to exist (a site, a user name)."""
        now = utcnow()
        attempt = reservation.attempt
        with unit_of_work(self._sessions) as session:
            if account is None and attempt.username is not None:
                account = self._known_staff(session, attempt.username)
            audit(session, attempt, outcome, account, detail, now)
            # Rows nobody has tried for longer than a lock can last are forgotten, so names
            # sprayed by an attacker do not pile up (an index probe when there are none).
            session.execute(delete(SignInThrottle).where(
                SignInThrottle.last_attempt_at < now - self._window - self._lock_max,
                or_(SignInThrottle.locked_until.is_(None), SignInThrottle.locked_until < now)))
            for row in self._rows(session, attempt.keys, now):
                row.last_attempt_at = now
                if row.scope not in _IN_FLIGHT:
                    row.failures += 1
                over = row.failures - self._limit[row.scope]
                if over >= 0:
                    lock = min(self._lock_max, self._lock * 2 ** min(over, 30))
                    row.locked_until = now + lock
                    audit(session, attempt, "locked", account,
                          f"{row.scope} locked for {lock.total_seconds():.0f} s after "
                          f"{row.failures} failures", now)  # fmt: skip

    def succeeded(self, reservation: Reservation) -> None:
        """Signed in: the account's count starts again; the address's reservation is taken
        back (its earlier failures stay)."""
        self._settle(reservation, reset_account=True)

    def released(self, reservation: Reservation) -> None:
        """Neither right nor wrong (a code is still needed, the hub was busy): the
        reservation is taken back and every earlier failure stays counted."""
        self._settle(reservation, reset_account=False)

    def record(self, attempt: Attempt, outcome: str, account: str | None = None,
               detail: str | None = None) -> None:
        """An audit row for something that changes no count (a factor enrolled, reset)."""
        with unit_of_work(self._sessions) as session:
            audit(session, attempt, outcome, account, detail, utcnow(), logging.INFO)

    # --- what an administrator can do (the CLI) ----------------------------------------------

    def unlock(self, username: str | None = None, address: str | None = None) -> int:
        """Forget the failures of an account and/or an address; returns the rows cleared."""
        keys = ([("account", account_key(username))] if username else []) + (
            [("address", address_key(address))] if address else [])
        if not keys:
            return 0
        with unit_of_work(self._sessions) as session:
            done = session.execute(delete(SignInThrottle).where(
                tuple_(SignInThrottle.scope, SignInThrottle.key).in_(keys)))
            return int(getattr(done, "rowcount", 0) or 0)

    # --- rows --------------------------------------------------------------------------------

    def _settle(self, reservation: Reservation, reset_account: bool) -> None:
        now = utcnow()
        hold = reservation.at + _HOLD
        with unit_of_work(self._sessions) as session:
            for row in self._rows(session, reservation.attempt.keys, now):
                if row.scope not in _IN_FLIGHT:
                    continue  # an address counts failures only
                if reset_account:
                    row.failures = 0
                    row.locked_until = None
                    continue
                row.failures = max(0, row.failures - 1)
                if row.locked_until == hold:
                    row.locked_until = None  # this attempt's hold: it is decided

    def _rows(self, session: Session, keys: Sequence[tuple[str, str]], now: datetime
              ) -> list[SignInThrottle]:
        """The rows of ``keys``, made if missing, locked for this transaction (in one order,
        so two hubs locking the same pair cannot deadlock)."""
        insert = (postgresql.insert(SignInThrottle)
                  if session.get_bind().dialect.name == "postgresql"
                  else sqlite.insert(SignInThrottle))  # fmt: skip
        session.execute(
            insert.values([{"scope": scope, "key": key, "failures": 0, "last_attempt_at": now,
                            "locked_until": None, "refused": 0} for scope, key in keys])
            .on_conflict_do_nothing())
        return list(session.scalars(
            select(SignInThrottle)
            .where(tuple_(SignInThrottle.scope, SignInThrottle.key).in_(list(keys)))
            .order_by(SignInThrottle.scope, SignInThrottle.key)
            .with_for_update()
            .execution_options(populate_existing=True)))

    @staticmethod
    def _known_staff(session: Session, username: str) -> str | None:
        name = username.strip()
        return name if session.scalar(select(Staff.id).where(Staff.username == name)) else None


def audit(session: Session, attempt: Attempt, outcome: str, account: str | None,
          detail: str | None, now: datetime, level: int = logging.WARNING) -> None:
    """One audit row (and a log line) in ``session``'s transaction: never a secret."""
    session.add(SignInEvent(at=now, route=attempt.route.value, account=account,
                            address=attempt.address, outcome=outcome, detail=detail))
    log.log(level, "sign-in %s: route=%s account=%s address=%s%s", outcome,
            attempt.route.value, account or "-", attempt.address,
            f" ({detail})" if detail else "")
