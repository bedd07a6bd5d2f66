"""The site station for the AT-SPI tests (tests/helpers/atspi.py): the real program's
assembly (``open_station``) against a hub the test runs, with synthetic media, on the
harness's X server and accessibility bus. Arguments: the hub's address, the site's
credential and a data folder. Commands say which page shows and take screenshots; the call
itself is driven by real keys and by the nurse's desk in the test."""

from __future__ import annotations

import sys
from typing import Any

import keyring.backend

from tests.helpers.atspi_program import program_args, serve
from ui.station.app import open_station, parse_args
from ui.station.credential import CredentialVault


class GivenKeyring(keyring.backend.KeyringBackend):
    """The site credential, as the keyring would give it (the program's own keyring test
    is tests/ui/station/test_program.py)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self, credential: str) -> None:
        super().__init__()
        self.credential = credential

    def get_password(self, service: str, username: str) -> str | None:
        return self.credential

    def set_password(self, service: str, username: str, password: str) -> None:
        self.credential = password

    def delete_password(self, service: str, username: str) -> None:
        pass


def main() -> int:
    _app, (hub, credential, data) = program_args()
    station = open_station(parse_args(["--hub", hub, "--media", "synthetic", "--data-dir",
                                       data]), CredentialVault(GivenKeyring(credential)))
    assert not isinstance(station, str), station
    window = station.window
    window.resize(1280, 800)
    station.bridge.start()

    def page(_: dict[str, Any]) -> dict[str, Any]:
        current = window.pages.currentWidget()
        return {"page": type(current).__name__, "connected": window.connected,
                "call_id": window.call_id}

    try:
        return serve(window, {"page": page})
    finally:
        station.close()


if __name__ == "__main__":
    sys.exit(main())
