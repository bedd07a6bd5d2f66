"""telehub-desk: the program's entry point (arguments, Qt application, theme, the window)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

_STARTED = time.perf_counter()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="telehub-desk", description=__doc__)
    parser.add_argument("--hub", action="append",
                        help="hub address, e.g. hub.example.nhs.uk:8470; several hubs of one "
                             "service: repeat it or separate them by commas (default: "
                             "$TELEHUB_HUB)")
    parser.add_argument("--user", default=os.environ.get("TELEHUB_USER", ""),
                        help="your user name on the hub")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="where the local record store lives (default: %(default)s)")
    parser.add_argument("--media", choices=("devices", "synthetic"), default="devices",
                        help="camera and microphone, or the test pattern and tone")
    parser.add_argument("--camera", default=None, help="camera device (FFmpeg name)")
    parser.add_argument("--microphone", default=None, help="microphone (FFmpeg name)")
    parser.add_argument("--ready-and-quit", action="store_true",
                        help="print the start-up time once the window is usable, then quit "
                             "(for bench/desk_ui.py)")
    args = parser.parse_args(argv)
    # What the sign-in screen's address field shows (it takes several, commas between).
    args.hub = ", ".join(args.hub) if args.hub else os.environ.get("TELEHUB_HUB", "")
    return args


def make_parts(args: argparse.Namespace) -> object:
    """The real collaborators: the system keyring, httpx, an SQLite store per user."""
    import httpx
    from PySide6.QtWidgets import QWidget

    from calls.engine import CallEngine, EngineEvent
    from hub.client import HubClient
    from records.data_home import data_home
    from records.store import Store
    from ui.desk.auth import PasswordVault, SignedIn
    from ui.desk.media import media_factory
    from ui.desk.window import DeskParts
    from ui.desk.work import Workers

    data_dir: Path = args.data_dir or data_home("desk")
    http = httpx.Client(timeout=10)

    def open_store(signed: SignedIn) -> Store:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        return Store.open(f"sqlite:///{data_dir / f'records-{signed.username}.db'}")

    def make_engine(signed: SignedIn, emit: Callable[[EngineEvent], None]) -> CallEngine:
        role = signed.principal.call_role
        assert role is not None  # the window makes no engine for a manager
        return CallEngine(signed.ws_urls, signed.token, role, emit,
                          media=media_factory(args.media, args.camera, args.microphone))

    def open_manager(signed: SignedIn, workers: Workers) -> QWidget:
        # Imported when a manager signs in: QtCharts is no part of a nurse's start-up.
        from ui.desk.manager.view import manager_view

        return manager_view(http, signed, workers)

    def make_sync(signed: SignedIn) -> tuple[HubClient, httpx.Client]:
        http = httpx.Client(timeout=15)
        return HubClient(http, signed.hubs, signed.token), http

    return DeskParts(PasswordVault(), http, open_store, make_engine, make_sync,
                     open_manager=open_manager)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    # Fractional scale factors as the screen asks (150% stays 150%, not rounded to 200%).
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
        Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    app = QApplication(sys.argv[:1])
    app.setApplicationName("telehub-desk")
    app.setDesktopFileName("telehub-desk")
    from ui import theme
    from ui.desk.window import DeskParts, DeskWindow

    theme.apply(app)
    parts = make_parts(args)
    assert isinstance(parts, DeskParts)
    window = DeskWindow(parts, args.hub, args.user)
    window.show()
    window.signin.focus_first_empty()

    def ready() -> None:
        # The first turn of the event loop after show: the window is painted and takes input.
        print(f"desk usable after {(time.perf_counter() - _STARTED) * 1000:.0f} ms",
              flush=True)
        if args.ready_and_quit:
            window.close()
            app.quit()

    QTimer.singleShot(0, ready)
    code = app.exec()
    window.shutdown()
    parts.http.close()
    return code


if __name__ == "__main__":
    raise SystemExit(main())
