"""The password and the keyring: remembered by a real Secret Service (gnome-keyring in a
private D-Bus session), and plainly not remembered where no backend exists. Never in a file."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from keyring.backends import fail

from tests.helpers.fixtures import People, need
from tests.helpers.hubserver import PASSWORD, ThreadedHub
from tests.ui.conftest import signed_in
from ui.desk.auth import PasswordVault

ROOT = Path(__file__).resolve().parents[2]


def _files_containing(root: Path, secret: bytes) -> list[str]:
    return [str(f) for f in root.rglob("*") if f.is_file() and secret in f.read_bytes()]


def test_without_a_keyring_the_desk_says_so_and_remembers_nothing(
        qtbot: Any, hub: ThreadedHub, people: People, desk_factory: Any, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    desk = desk_factory(vault=PasswordVault(fail.Keyring()))
    view = desk.signin
    assert not view.remember.isEnabled() and not view.remember.isChecked()
    assert "No system keyring is available" in view.keyring_note.text()
    assert "cannot remember your password" in view.keyring_note.text()
    signed_in(qtbot, desk, hub, "nina")
    assert "password not remembered" in desk.statusBar().currentMessage()
    assert view.password.text() == ""  # not kept in the widget either
    assert PasswordVault(fail.Keyring()).remember(hub.http, "nina", PASSWORD) is False
    assert _files_containing(tmp_path, PASSWORD.encode()) == []
    assert PASSWORD not in caplog.text


def test_a_wrong_password_is_said_plainly(qtbot: Any, hub: ThreadedHub, people: People,
                                          desk_factory: Any) -> None:
    desk = desk_factory()
    desk.signin.hub.setText(hub.http)
    desk.signin.user.setText("nina")
    desk.signin.password.setText("not it")
    desk.signin.on_submit()
    qtbot.waitUntil(lambda: desk.signin.error.text() != "", timeout=10_000)
    assert desk.signin.error.text() == "Wrong user name or password."
    assert desk.signin.button.isEnabled()
    assert desk.bridge is None


def test_the_secret_service_remembers_the_password_and_the_desk_fills_it_in(
        hub: ThreadedHub, people: People, tmp_path: Path,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    for tool in ("dbus-run-session", "gnome-keyring-daemon"):
        if shutil.which(tool) is None:
            need(f"{tool} is not installed (apt-get install dbus gnome-keyring)")
    home = tmp_path / "home"
    home.mkdir()
    probe = [sys.executable, "-m", "tests.ui.keyring_probe"]
    args = [hub.http, "nina", PASSWORD, str(tmp_path / "data")]
    (tmp_path / "data").mkdir()
    script = (
        "echo -n session-unlock | gnome-keyring-daemon --unlock --components=secrets "
        ">/dev/null\n"
        'for mode in remember recall forget; do "$@" $mode ' + " ".join(
            f"'{a}'" for a in args) + "; done\n")
    # The keyring daemon's sockets too are this test's own (another may run beside it),
    # outside tmp_path: the daemon removes them as it ends, perhaps while the scan below runs.
    run = tmp_path_factory.mktemp("keyring-run")  # made 0700, as the daemon wants
    env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / "data"),
           "XDG_CONFIG_HOME": str(home / "config"), "XDG_RUNTIME_DIR": str(run),
           "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    done = subprocess.run(["dbus-run-session", "--", "bash", "-c", script, "probe", *probe],
                          capture_output=True, text=True, timeout=90, env=env, cwd=ROOT)
    lines = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
    assert len(lines) == 3, done.stdout + done.stderr
    remember, recall, forget = lines
    assert remember["backend"] == "keyring.backends.SecretService"
    assert remember == {**remember, "available": True, "kept": True}
    assert recall["filled"] is True
    assert "from the system keyring" in recall["note"]
    assert forget["after_forget"] is None
    assert PASSWORD not in done.stderr
    assert _files_containing(tmp_path, PASSWORD.encode()) == []
