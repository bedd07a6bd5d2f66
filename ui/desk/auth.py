"""Signing in to the hub, and the password kept (only) in the system keyring.

DESIGN.md: where no keyring backend exists the desk says so and does not remember the
password; a secret is never written to a plain file, and never to a log.

The sign-in goes through :class:`hub.client.HubClient`; what it raises is a
:class:`hub.client.HubError` whose text is the sentence the sign-in form shows (a
:class:`~hub.client.HubRefused` without a status when what was typed cannot be sent).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import httpx
import keyring
import keyring.errors
from keyring.backend import KeyringBackend

from hub.client import HubClient, HubError, HubRefused, HubUnreachable
from hub.client import ws_url as _ws_url
from hub.contract.identity import Principal, StaffRole

SERVICE = "telehub-desk"
# Managers get the dashboard (ui/desk/manager, issue 7) instead of the queue; administrators
# the accounts screen (ui/desk/admin.py).
DESK_ROLES = (StaffRole.NURSE, StaffRole.SPECIALIST, StaffRole.MANAGER, StaffRole.ADMIN)


@dataclass(frozen=True)
class SignedIn:
    hub_url: str  # http(s)://host:port
    username: str
    token: str
    principal: Principal

    @property
    def ws_url(self) -> str:
        return _ws_url(self.hub_url)


def normalise_hub(address: str) -> str:
    """``hub.example:8470`` -> ``http://hub.example:8470`` (https is kept when given)."""
    address = address.strip().rstrip("/")
    if not address:
        raise HubRefused("Enter the hub address.")
    if "://" not in address:
        address = "http://" + address
    if not address.startswith(("http://", "https://")):
        raise HubRefused("The hub address must start with http:// or https://.")
    return address


def sign_in(http: httpx.Client, hub_address: str, username: str, password: str) -> SignedIn:
    """Sign in at the hub; blocking, so the desk calls it on a worker thread."""
    hub = normalise_hub(hub_address)
    if not username.strip() or not password:
        raise HubRefused("Enter your user name and password.")
    try:
        answer = HubClient(http, hub).sign_in(username.strip(), password)
    except HubUnreachable as exc:
        raise HubUnreachable(f"Cannot reach the hub at {hub} ({exc.summary}): check the "
                             "address, and that the hub is running.",
                             summary=exc.summary) from None  # fmt: skip
    except HubRefused as exc:
        if exc.status is None:  # too long to be sent: the hub would refuse it too
            raise HubRefused(f"Check your {exc.summary}.") from None
        if exc.status == 401:
            raise HubRefused("Wrong user name or password.", status=401) from None
        raise HubRefused(f"The hub refused the sign-in (HTTP {exc.status}).",
                         status=exc.status) from None  # fmt: skip
    except HubError as exc:
        raise type(exc)(f"The hub could not sign you in ({exc.summary}); try again.",
                        status=exc.status, summary=exc.summary) from None  # fmt: skip
    principal = answer.principal
    if principal.kind != "staff" or principal.role not in DESK_ROLES:
        # The hub signed the account in; this desk is not where it works.
        raise HubRefused("This desk is for staff (nurses, specialists, managers and "
                         f"administrators); this account is a {principal.role}.")
    return SignedIn(hub, username.strip(), answer.token, principal)


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
