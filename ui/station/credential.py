"""The site credential in the OS keyring: never in a file, never in a log."""

from __future__ import annotations

import contextlib

import keyring
import keyring.backends.fail
import keyring.errors
from keyring.backend import KeyringBackend

SERVICE = "telehub-site"


class CredentialVault:
    """Keeps one credential per hub address. Without a usable keyring backend it keeps
    nothing: the station then asks for the credential each time it starts, and says why."""

    def __init__(self, backend: KeyringBackend | None = None) -> None:
        self.backend = backend or keyring.get_keyring()
        self.available = self._usable(self.backend)

    @staticmethod
    def _usable(backend: KeyringBackend) -> bool:
        # keyring's "fail" backend (priority 0) is what it picks when there is no real one.
        return not isinstance(backend, keyring.backends.fail.Keyring) and \
            float(getattr(backend, "priority", 1)) > 0

    def load(self, hub_url: str) -> str | None:
        if not self.available:
            return None
        try:
            value: str | None = self.backend.get_password(SERVICE, hub_url)
        except keyring.errors.KeyringError:
            return None
        return value

    def save(self, hub_url: str, credential: str) -> bool:
        """True when stored; False when no keyring can hold it (nothing is written)."""
        if not self.available:
            return False
        try:
            self.backend.set_password(SERVICE, hub_url, credential)
        except keyring.errors.KeyringError:
            return False
        return True

    def forget(self, hub_url: str) -> None:
        if self.available:
            with contextlib.suppress(keyring.errors.KeyringError):
                self.backend.delete_password(SERVICE, hub_url)
