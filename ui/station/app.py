"""``telehub-site``: the site station's program (sign in with the keyring's credential, run)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from PySide6.QtWidgets import QApplication, QInputDialog, QLineEdit, QMessageBox

from hub.client import HubAddresses, HubClient, HubError, HubRefused
from records.data_home import data_home, private_folder
from records.store import Store
from ui.station.bridge import StationBridge
from ui.station.credential import CredentialVault
from ui.station.media import CameraChoice, Switches, list_cameras, media_factory
from ui.station.page import sentence
from ui.station.residents import ResidentList
from ui.station.window import StationWindow


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="telehub-site", description=__doc__)
    parser.add_argument("--hub", action="append",
                        help="the hub's address; several hubs of one service: repeat it or "
                             "separate them by commas (default: $TELEHUB_HUB, else "
                             "http://127.0.0.1:8470)")
    parser.add_argument("--media", choices=("devices", "synthetic"), default="devices",
                        help="the camera and microphone, or a test pattern and tone")
    parser.add_argument("--camera", help="camera device (default: the system's first)")
    parser.add_argument("--microphone", help="microphone device (default: the system's)")
    parser.add_argument("--data-dir", type=Path, help="where the residents list is kept")
    parser.add_argument("--enrol", action="store_true",
                        help="ask for the site credential again and store it in the keyring")
    parser.add_argument("--windowed", action="store_true", help="not full screen")
    args = parser.parse_args(argv)
    args.hub = args.hub or [os.environ.get("TELEHUB_HUB") or "http://127.0.0.1:8470"]
    return args


def sign_in(hub: HubClient, vault: CredentialVault, ask_again: bool) -> str | None:
    """Signs the station in; asks for the credential when the keyring has none (or it is
    refused) and stores it there. Returns a plain problem, or None when signed in."""
    # Kept under the service's first address, whichever of its hubs answers.
    credential = None if ask_again else vault.load(hub.name)
    for _ in range(3):
        if credential is None:
            text, ok = QInputDialog.getText(
                None, "Enrol this station",
                "Paste the site credential the hub's administrator gave you\n"
                "(it starts with ths_). It is kept in this computer's keyring.",
                QLineEdit.EchoMode.Password)
            if not ok:
                return "the station needs its site credential to call the hub"
            credential = text.strip()
        try:
            hub.sign_in_site(credential)
        except HubRefused as exc:
            if exc.status != 401:
                return f"the hub refused to sign in ({exc.summary})"
            QMessageBox.warning(None, "telehub", "The hub does not accept this station's "
                                "credential; ask the hub's administrator for a new one "
                                "(it replaces the old) and paste it here.")  # fmt: skip
            credential = None
            continue
        except HubError as exc:
            return str(exc)
        if vault.load(hub.name) != credential and not vault.save(hub.name, credential):
            QMessageBox.information(
                None, "telehub", "This computer has no keyring, so the credential cannot be "
                "remembered safely: the station will ask for it each time it starts.")
        return None
    return "the site credential was refused three times"


@dataclass
class Station:
    """The running parts of the program, closed in order by :meth:`close`."""

    hub: HubClient
    bridge: StationBridge
    store: Store
    window: StationWindow

    def close(self) -> None:
        self.bridge.close()
        self.store.close()
        self.hub.http.close()


def open_station(args: argparse.Namespace, vault: CredentialVault) -> Station | str:
    """Signs in and builds the window (not shown yet); a plain problem when it cannot."""
    try:
        hubs = HubAddresses(",".join(args.hub))
    except HubRefused as exc:
        return str(exc).rstrip(".")
    hub = HubClient(httpx.Client(timeout=10.0), hubs)
    problem = sign_in(hub, vault, args.enrol)
    if problem is not None:
        hub.http.close()
        return problem
    assert hub.principal is not None and hub.token is not None
    data = args.data_dir or data_home("station")
    private_folder(data)  # 0700: the residents list is clinical
    store = Store.open(f"sqlite:///{data / 'station.db'}")
    cameras = list_cameras(args.media)
    choice = CameraChoice(data / "station.ini")
    switches = Switches(camera=choice.pick(cameras) if not args.camera else None)
    bridge = StationBridge(hub.ws_urls, hub.token,
                           media_factory(args.media, switches, args.camera, args.microphone),
                           switches)
    window = StationWindow(hub, bridge, ResidentList(store, f"site:{hub.principal.id}"),
                           cameras=cameras, choice=choice)
    return Station(hub, bridge, store, window)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    app = QApplication(sys.argv[:1])
    app.setApplicationName("telehub-site")
    station = open_station(args, CredentialVault())
    if isinstance(station, str):
        QMessageBox.critical(None, "telehub", sentence(station) + ".")
        return 1
    if args.windowed:
        station.window.resize(1280, 800)
        station.window.show()
    else:
        station.window.showFullScreen()
    station.bridge.start()
    try:
        return app.exec()
    finally:
        station.close()
