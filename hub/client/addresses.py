"""A service's hub addresses: the one a client asks now, and each one's WebSocket."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence

from hub.client.errors import HubRefused


def ws_url(hub_url: str) -> str:
    """The hub's signaling WebSocket (ws:// beside http://, wss:// beside https://)."""
    scheme, rest = hub_url.rstrip("/").split("://", 1)
    return ("wss" if scheme == "https" else "ws") + "://" + rest + "/ws"


class HubAddresses:
    """The addresses of one service's hubs (several on one database, docs/cluster.md), and
    the one a client uses now.

    Given as typed (``hub1.example:8470, https://hub2.example`` : commas or spaces between)
    or as a list. :attr:`name`, the first, is the service's stable name (a keyring entry is
    kept under it, whichever hub answers); :attr:`current` moves to the next after a
    connection error and stays there. One object may be shared by all of a program's
    HubClient objects, so one failure moves them all.
    """

    def __init__(self, addresses: str | Sequence[str], *, as_given: bool = False) -> None:
        given = re.split(r"[\s,]+", addresses) if isinstance(addresses, str) else addresses
        urls = ([a.rstrip("/") for a in given] if as_given
                else [normalise_hub(a) for a in given if a.strip()])
        if not urls:
            raise HubRefused("Enter the hub address.", summary="hub address")
        self.urls: tuple[str, ...] = tuple(dict.fromkeys(urls))
        self._at = 0
        self._lock = threading.Lock()

    @classmethod
    def of(cls, addresses: str | Sequence[str] | HubAddresses) -> HubAddresses:
        return addresses if isinstance(addresses, HubAddresses) else cls(addresses)

    @property
    def name(self) -> str:
        return self.urls[0]

    @property
    def current(self) -> str:
        return self.urls[self._at]

    def in_turn(self) -> list[str]:
        """Every address once, the current one first: the order to try them in."""
        at = self._at
        return [*self.urls[at:], *self.urls[:at]]

    def failed(self, url: str) -> None:
        """``url`` could not be reached: the next address becomes current (unless another
        thread has moved on already)."""
        with self._lock:
            if self.urls[self._at] == url:
                self._at = (self._at + 1) % len(self.urls)

    def use(self, url: str) -> None:
        """Make ``url`` current (an http(s) address of the list, or its WebSocket)."""
        for i, candidate in enumerate(self.urls):
            if url in (candidate, ws_url(candidate)):
                with self._lock:
                    self._at = i
                return

    @property
    def ws_urls(self) -> list[str]:
        """The signaling WebSockets, the current hub's first (calls.signaling takes them)."""
        return [ws_url(u) for u in self.in_turn()]

    def __repr__(self) -> str:
        return f"HubAddresses({list(self.urls)!r}, current={self.current!r})"


def normalise_hub(address: str) -> str:
    """``hub.example:8470`` -> ``http://hub.example:8470`` (https is kept when given)."""
    address = address.strip().rstrip("/")
    if not address:
        raise HubRefused("Enter the hub address.", summary="hub address")
    if "://" not in address:
        address = "http://" + address
    if not address.startswith(("http://", "https://")):
        raise HubRefused("The hub address must start with http:// or https://.",
                         summary="hub address")
    return address
