"""Run inside a D-Bus session with gnome-keyring (see test_keyring.py): the desk's keyring path
with the real Secret Service. Prints one JSON line of findings."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path

from tests.helpers.waiting import WaitTimeout, wait_until


def main() -> None:
    mode, hub, user, password, data = sys.argv[1:6]
    import httpx

    from ui.desk.auth import PasswordVault, sign_in

    vault = PasswordVault()
    out: dict[str, object] = {"backend": type(vault.backend).__module__,
                              "available": vault.available}
    if mode == "remember":
        with httpx.Client(timeout=10) as http:
            signed = sign_in(http, hub, user, password)
        out["kept"] = vault.remember(signed.hub_url, user, password)
    elif mode == "recall":
        # The real window: given the hub and user, it fills the password from the keyring.
        from PySide6.QtWidgets import QApplication

        from tests.ui.conftest import desk_parts
        from ui.desk.window import DeskWindow

        app = QApplication([])
        window = DeskWindow(desk_parts(Path(data), vault=vault), hub, user)
        window.show()
        def pump(seconds: float) -> None:
            app.processEvents()
            time.sleep(seconds)

        # The test reads what happened from the findings: a timeout is "not filled".
        with contextlib.suppress(WaitTimeout):
            wait_until(window.signin.password.text, 10, "the desk to fill in the password",
                       interval=0.01, pause=pump)
        out["filled"] = window.signin.password.text() == password
        out["note"] = window.signin.keyring_note.text()
        window.shutdown()
    elif mode == "forget":
        vault.forget(hub, user)
        out["after_forget"] = vault.recall(hub, user)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
