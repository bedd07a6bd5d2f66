"""Run inside a D-Bus session with gnome-keyring and an X server (see test_program.py): the
real ``telehub-site`` start-up with the Secret Service. Prints one JSON line of findings."""

from __future__ import annotations

import contextlib
import json
import sys
import time

from PySide6.QtWidgets import QApplication

from tests.helpers.waiting import WaitTimeout, wait_until
from ui.station.app import open_station, parse_args
from ui.station.credential import CredentialVault


def main() -> None:
    hub, credential, data, shot = sys.argv[1:5]
    vault = CredentialVault()
    out: dict[str, object] = {"backend": type(vault.backend).__module__,
                              "available": vault.available,
                              "kept": vault.save(hub.rstrip("/"), credential)}
    app = QApplication([])
    station = open_station(parse_args(["--hub", hub, "--media", "synthetic",
                                       "--data-dir", data]), vault)
    assert not isinstance(station, str), station
    station.window.resize(1280, 800)
    station.window.show()
    station.bridge.start()

    def pump(seconds: float) -> None:
        app.processEvents()
        time.sleep(seconds)

    # The test reads what happened from the findings: a timeout is "not connected".
    with contextlib.suppress(WaitTimeout):
        wait_until(lambda: station.window.connected, 15, "the station to connect", pause=pump)
    for _ in range(20):  # let the window manager-less X server finish painting
        app.processEvents()
        time.sleep(0.02)
    out["connected"] = station.window.connected
    out["platform"] = app.platformName()
    screen = app.primaryScreen()
    out["saved"] = screen.grabWindow(0).save(shot)
    station.window.close()
    station.close()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
