"""Signing in to the hub, and the password kept (only) in the system keyring.

DESIGN.md: where no keyring backend exists the desk says so and does not remember the
password; a secret is never written to a plain file, and never to a log.

The sign-in goes through :class:`hub.client.HubClient`; what it raises is a
:class:`hub.client.HubError` whose text is the sentence the sign-in form shows (a
:class:`~hub.client.HubRefused` without a status when what was typed cannot be sent).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import httpx
import keyring
import keyring.errors
from keyring.backend import KeyringBackend

from hub.client import (
    HubAddresses,
    HubClient,
    HubError,
    HubFailed,
    HubNeedsSecondFactor,
    HubRefused,
    HubUnreachable,
)
from hub.client import normalise_hub as normalise_hub
from hub.contract.identity import Principal, StaffRole
from hub.contract.rest import EnrolmentOut

SERVICE = "telehub-desk"
# Managers get the dashboard (ui/desk/manager, issue 7) instead of the queue; administrators
# the accounts screen (ui/desk/admin.py).
DESK_ROLES = (StaffRole.NURSE, StaffRole.SPECIALIST, StaffRole.MANAGER, StaffRole.ADMIN)
WRONG_PASSWORD = "Wrong user name or password."
WRONG_CODE = ("That code is not right, or it has been used already: enter the newest code "
              "from your authenticator app, or a recovery code.")


@dataclass(frozen=True)
class SignedIn:
    # The service's hubs (one address, or several on one database), shared by every
    # HubClient of this session so that one hub lost moves them all to the next.
    hubs: HubAddresses
    username: str
    token: str
    principal: Principal

    @property
    def hub_url(self) -> str:
        """The service's stable name (the first address): the keyring's key."""
        return self.hubs.name

    @property
    def ws_url(self) -> str:
        return self.hubs.ws_urls[0]

    @property
    def ws_urls(self) -> list[str]:
        return self.hubs.ws_urls


def sign_in(http: httpx.Client, hub_address: str, username: str, password: str,
            code: str | None = None) -> SignedIn:
    """Sign in at the hub; blocking, so the desk calls it on a worker thread.

    A right password for an account with a second factor raises
    :class:`~hub.client.HubNeedsSecondFactor` (once the role is known to work at this desk):
    the desk asks for the code (or sets one up) and signs in again with ``code``.
    """
    hub = HubAddresses(hub_address)
    if not username.strip() or not password:
        raise HubRefused("Enter your user name and password.")
    if code is not None and not code.strip():
        raise HubRefused("Enter the code from your authenticator app.")
    answer = _asked(http, hub, code is not None,
                    lambda client: client.sign_in(username.strip(), password, code))
    return _signed_in(hub, username, answer.token, answer.principal)


def enrol_second_factor(http: httpx.Client, hub_address: str, username: str,
                        password: str) -> EnrolmentOut:
    """A new authenticator secret for this account (shown as a QR code), pending until a
    code from it is confirmed."""
    hub = HubAddresses(hub_address)
    return _asked(http, hub, False, lambda client: client.enrol_second_factor(username.strip(),
                                                                         password))


def confirm_second_factor(http: httpx.Client, hub_address: str, username: str,
                          password: str, code: str) -> tuple[SignedIn, list[str]]:
    """Confirm the new secret with a code from the app: signed in, and the recovery codes
    to show once."""
    hub = HubAddresses(hub_address)
    if not code.strip():
        raise HubRefused("Enter the code your authenticator app shows.")
    answer = _asked(http, hub, True, lambda client: client.confirm_second_factor(
        username.strip(), password, code.strip()))
    return _signed_in(hub, username, answer.token, answer.principal), answer.recovery_codes


def _signed_in(hub: HubAddresses, username: str, token: str, principal: Principal) -> SignedIn:
    if principal.kind != "staff" or principal.role not in DESK_ROLES:
        # The hub signed the account in; this desk is not where it works.
        raise _not_this_desk(principal.role)
    return SignedIn(hub, username.strip(), token, principal)


def _not_this_desk(role: str) -> HubRefused:
    return HubRefused("This desk is for staff (nurses, specialists, managers and "
                      f"administrators); this account is a {role}.")


def _minutes(seconds: float | None) -> str:
    if seconds is None or seconds <= 90:
        return "a minute"
    return f"{math.ceil(seconds / 60)} minutes"


T = TypeVar("T")


def _asked(http: httpx.Client, hub: HubAddresses, with_code: bool, ask: Callable[[HubClient], T]
           ) -> T:
    """Ask the hub; its refusals in the words the sign-in screens show."""
    try:
        return ask(HubClient(http, hub))
    except HubNeedsSecondFactor as exc:
        if exc.role not in DESK_ROLES:
            raise _not_this_desk(exc.role) from None
        raise
    except HubUnreachable as exc:
        where = (f"the hub at {hub.name}" if len(hub.urls) == 1
                 else "any of the hubs at " + ", ".join(hub.urls))
        raise HubUnreachable(f"Cannot reach {where} ({exc.summary}): check the "
                             "address, and that the hub is running.",
                             summary=exc.summary) from None  # fmt: skip
    except HubRefused as exc:
        if exc.status is None:  # too long to be sent: the hub would refuse it too
            raise HubRefused(f"Check your {exc.summary}.") from None
        if exc.status == 401:
            words = WRONG_CODE if with_code and "code" in str(exc) else WRONG_PASSWORD
            raise HubRefused(words, status=401) from None
        if exc.status == 409:
            raise HubRefused("This account already has an authenticator app. If it is lost, "
                             "ask an administrator to reset it.", status=409) from None
        raise HubRefused(f"The hub refused the sign-in (HTTP {exc.status}).",
                         status=exc.status) from None  # fmt: skip
    except HubError as exc:
        if exc.status == 429:
            raise HubFailed("Too many failed sign-ins for this account or from this computer: "
                            f"try again in {_minutes(exc.retry_after)}.", status=429,
                            retry_after=exc.retry_after) from None  # fmt: skip
        if exc.status == 503:
            raise HubFailed("The hub is busy signing others in: try again in a moment.",
                            status=503, retry_after=exc.retry_after) from None  # fmt: skip
        raise type(exc)(f"The hub could not sign you in ({exc.summary}); try again.",
                        status=exc.status, summary=exc.summary) from None  # fmt: skip


class PasswordVault:
    """The desk's password in the OS keyring (Secret Service, Keychain, Credential Locker).

    ``backend`` is passed in (tests hand in a real SecretService or the fail backend); the
    default is whatever ``keyring`` chose for this machine.
    """

    def __init__(self, backend: KeyringBackend | None = None) -> None:
        self.backend = backend if backend is not None else keyring.get_keyring()

    @property
    def available(self) -> bool:
        from keyring.backends import fail

        name = type(self.backend).__module__
        return not isinstance(self.backend, fail.Keyring) and not name.endswith(".null")

    @property
    def unavailable_reason(self) -> str:
        return ("No system keyring is available on this computer, so the desk cannot "
                "remember your password. Type it each time you sign in.")

    @staticmethod
    def _service(hub_url: str) -> str:
        return f"{SERVICE}:{hub_url}"

    def recall(self, hub_url: str, username: str) -> str | None:
        if not self.available or not username:
            return None
        try:
            return self.backend.get_password(self._service(hub_url), username)
        except keyring.errors.KeyringError:
            return None

    def remember(self, hub_url: str, username: str, password: str) -> bool:
        """True if the keyring now holds it; False (and nothing written anywhere) if not."""
        if not self.available:
            return False
        try:
            self.backend.set_password(self._service(hub_url), username, password)
        except keyring.errors.KeyringError:
            return False
        return True

    def forget(self, hub_url: str, username: str) -> None:
        if not self.available:
            return
        # KeyringError here means nothing was stored: already forgotten.
        with contextlib.suppress(keyring.errors.KeyringError):
            self.backend.delete_password(self._service(hub_url), username)
