"""The steps every sign-in route shares, and the answers they give: the attempt reserved
against the limits (429 while locked), the password checked in a bounded slot (503 when
full), and for staff the second factor (401 saying which one is needed).

The routes (hub/routes/auth.py, invitations.py, mfa.py) stay short: each names its attempt
and calls these. What runs here blocks on the database or on argon2, so it runs off the
event loop: database steps on the thread pool, password checks in :class:`HashSlots`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from fastapi import HTTPException, status
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from hub import accounts, mfa
from hub.config import HubConfig
from hub.contract.identity import Principal
from hub.contract.rest import (
    ConfirmEnrolmentBody,
    EnrolledOut,
    EnrolmentBody,
    EnrolmentOut,
    LoginBody,
    SecondFactorNeeded,
    TokenOut,
)
from hub.db import unit_of_work
from hub.hash_slots import HashSlots, HashSlotsFull
from hub.signin_limits import (
    Attempt,
    Reservation,
    Route,
    SignInLimits,
    SignInLocked,
    address_key,
)

log = logging.getLogger("hub.signin")
T = TypeVar("T")

WRONG_PASSWORD = "wrong user name or password"
WRONG_CODE = ("that code is not right, or it has been used already: enter the newest code "
              "from your authenticator app, or a recovery code")

# What the sign-in routes may answer besides 200, for the API document.
LIMITED: dict[int | str, dict[str, Any]] = {
    401: {"description": "Wrong credentials"},
    429: {"description": "Too many failed sign-ins for this account or address; see "
                         "Retry-After"},
}
HASHED: dict[int | str, dict[str, Any]] = {
    **LIMITED,
    401: {"model": SecondFactorNeeded,
          "description": "Wrong credentials, or a second factor is needed"},
    503: {"description": "Too many passwords being checked at once; see Retry-After"},
}


class SignInGuard:
    """One hub process's sign-in limits, password slots and second-factor key."""

    def __init__(self, sessions: sessionmaker[Session], config: HubConfig) -> None:
        self.sessions = sessions
        self.config = config
        self.limits = SignInLimits(sessions, config)
        self.slots = HashSlots(config.password_hash_slots, config.password_hash_queue)
        self.box = mfa.SecretBox(config.secret_key_file)

    @property
    def ttl(self) -> timedelta:
        return timedelta(seconds=self.config.token_ttl_s)

    def close(self) -> None:
        self.slots.close()


def client_address(connection: HTTPConnection) -> str:
    """The address sign-ins are counted by (uvicorn has applied X-Forwarded-For from the
    proxies it trusts: FORWARDED_ALLOW_IPS)."""
    return address_key(connection.client.host if connection.client else None)


def _locked(exc: SignInLocked) -> HTTPException:
    return HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                         f"too many failed sign-ins: try again in {exc.retry_after_s} s",
                         headers={"Retry-After": str(exc.retry_after_s)})  # fmt: skip


def _unauthorised(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail)


def reserve(guard: SignInGuard, attempt: Attempt) -> Reservation:
    """Blocking: reserve an attempt or raise the 429."""
    try:
        return guard.limits.reserve(attempt)
    except SignInLocked as exc:
        raise _locked(exc) from None


async def _off_loop(fn: Callable[..., T], *args: Any) -> T:
    return await run_in_threadpool(fn, *args)


async def _password(guard: SignInGuard, attempt: Attempt, password: str
                    ) -> tuple[Reservation, Principal]:
    """Reserve, then check the password in a slot: the principal, or the 401/429/503."""
    assert attempt.username is not None
    reservation = await _off_loop(reserve, guard, attempt)
    username = attempt.username

    def check() -> Principal | None:
        with unit_of_work(guard.sessions) as session:
            return accounts.authenticate_staff(session, username, password)

    try:
        principal = await guard.slots.run(check)
    except HashSlotsFull:
        await _off_loop(guard.limits.released, reservation)
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "the hub is checking too many sign-ins at once: try again shortly",
                            headers={"Retry-After": str(HashSlotsFull.retry_after_s)}
                            ) from None  # fmt: skip
    except BaseException:
        await _off_loop(guard.limits.released, reservation)
        raise
    if principal is None:
        await _off_loop(guard.limits.failed, reservation, "wrong_password")
        raise _unauthorised(WRONG_PASSWORD)
    return reservation, principal


def _key_trouble(exc: mfa.SecretKeyMismatch) -> HTTPException:
    log.error("second factors cannot be checked: %s", exc)
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                         "the hub cannot check second factors now (its key file); tell the "
                         "hub's administrator")  # fmt: skip


@dataclass(frozen=True)
class _Decided:
    """What the second-factor step decided, once its transaction has committed."""

    outcome: str  # signed_in, code, enrol, or an mfa.Check failure
    token: accounts.IssuedToken | None = None
    recovery_codes: list[str] | None = None
    detail: str | None = None


async def staff_login(guard: SignInGuard, body: LoginBody, address: str
                      ) -> TokenOut | JSONResponse:
    """``POST /auth/login``: password, then the second factor where one is needed."""
    attempt = Attempt(Route.STAFF, address, body.username)
    reservation, principal = await _password(guard, attempt, body.password)
    code = body.code

    def second_factor() -> _Decided:
        with unit_of_work(guard.sessions) as session:
            has = mfa.enrolled(session, principal.id)
            if not has and not mfa.required(guard.config, principal.role):
                return _Decided("signed_in", accounts.issue_token(session, principal, guard.ttl))
            if not has:
                return _Decided("enrol")
            if code is None:
                return _Decided("code")
            checked = mfa.check(session, guard.box, principal.id, code)
            if checked is mfa.Check.TOTP:
                return _Decided("signed_in", accounts.issue_token(session, principal, guard.ttl))
            if checked is mfa.Check.RECOVERY:
                left = mfa.recovery_codes_left(session, principal.id)
                return _Decided(checked.value, accounts.issue_token(session, principal,
                                                                    guard.ttl),
                                detail=f"{left} recovery codes left")  # fmt: skip
            return _Decided(checked.value)

    decided = await _decide(guard, reservation, second_factor)
    if decided.token is not None:
        await _off_loop(guard.limits.succeeded, reservation)
        if decided.outcome == mfa.Check.RECOVERY:
            await _off_loop(guard.limits.record, attempt, decided.outcome, body.username,
                            decided.detail)
        return TokenOut(token=decided.token.token, expires_at=decided.token.expires_at,
                        principal=principal)
    if decided.outcome in ("code", "enrol"):
        await _off_loop(guard.limits.released, reservation)
        needed = SecondFactorNeeded(
            detail=("enter the code from your authenticator app" if decided.outcome == "code"
                    else "this account needs a second factor: set up an authenticator app"),
            second_factor=decided.outcome, role=principal.role)
        return JSONResponse(needed.model_dump(mode="json"), status.HTTP_401_UNAUTHORIZED)
    await _off_loop(guard.limits.failed, reservation, decided.outcome, body.username)
    raise _unauthorised(WRONG_CODE)


async def _decide(guard: SignInGuard, reservation: Reservation,
                  step: Callable[[], _Decided]) -> _Decided:
    try:
        return await _off_loop(step)
    except mfa.SecretKeyMismatch as exc:
        await _off_loop(guard.limits.released, reservation)
        raise _key_trouble(exc) from None
    except BaseException:
        await _off_loop(guard.limits.released, reservation)
        raise


async def begin_enrolment(guard: SignInGuard, body: EnrolmentBody, address: str
                          ) -> EnrolmentOut:
    """``POST /auth/second-factor/enrolment``: a new secret for the account whose password
    this is, pending until confirmed. Refused (409) if it has a confirmed one."""
    attempt = Attempt(Route.SECOND_FACTOR, address, body.username)
    reservation, principal = await _password(guard, attempt, body.password)

    def begin() -> mfa.Enrolment:
        with unit_of_work(guard.sessions) as session:
            return mfa.begin_enrolment(session, guard.box, principal.id, body.username.strip(),
                                       guard.config.mfa_issuer)

    try:
        enrolment = await _off_loop(begin)
    except mfa.AlreadyEnrolled as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except mfa.SecretKeyMismatch as exc:
        raise _key_trouble(exc) from None
    finally:
        await _off_loop(guard.limits.released, reservation)
    await _off_loop(guard.limits.record, attempt, "enrolment_started", body.username)
    return EnrolmentOut(secret=enrolment.secret, uri=enrolment.uri, digits=mfa.DIGITS,
                        period_s=mfa.PERIOD)


async def confirm_enrolment(guard: SignInGuard, body: ConfirmEnrolmentBody, address: str
                            ) -> EnrolledOut:
    """``POST /auth/second-factor/confirmation``: a code from the pending secret confirms
    it; the answer is a token and the recovery codes, shown this once."""
    attempt = Attempt(Route.SECOND_FACTOR, address, body.username)
    reservation, principal = await _password(guard, attempt, body.password)

    def confirm() -> _Decided:
        with unit_of_work(guard.sessions) as session:
            codes = mfa.confirm_enrolment(session, guard.box, principal.id, body.code)
            if codes is None:
                return _Decided(mfa.Check.WRONG.value)
            return _Decided("enrolled", accounts.issue_token(session, principal, guard.ttl),
                            recovery_codes=codes)

    decided = await _decide(guard, reservation, confirm)
    if decided.token is None or decided.recovery_codes is None:
        await _off_loop(guard.limits.failed, reservation, decided.outcome, body.username)
        raise _unauthorised(WRONG_CODE)
    await _off_loop(guard.limits.succeeded, reservation)
    await _off_loop(guard.limits.record, attempt, "enrolled", body.username)
    return EnrolledOut(token=decided.token.token, expires_at=decided.token.expires_at,
                       principal=principal, recovery_codes=decided.recovery_codes)
