"""The real program's start-up under an X server: the credential from the Secret Service."""

from __future__ import annotations

import ctypes.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.fixtures import SHOTS, need
from tests.helpers.hubserver import HubDatabase, ThreadedHub

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.slow


@pytest.fixture
def xserver() -> Iterator[str]:
    if shutil.which("Xvfb") is None:
        need("Xvfb is not installed (apt-get install xvfb)")
    for lib, package in (("xcb-cursor", "libxcb-cursor0"), ("xcb-icccm", "libxcb-icccm4"),
                         ("xcb-keysyms", "libxcb-keysyms1")):
        if ctypes.util.find_library(lib) is None:
            need(f"Qt's xcb plugin needs {package} (apt-get install {package})")
    read, write = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x800x24",
                             "-nolisten", "tcp"], pass_fds=(write,),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as pipe:
        display = pipe.readline().strip()
    try:
        yield f":{display}"
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_station_signs_in_with_the_keyrings_credential_and_shows_its_window(
    hub: ThreadedHub, hubdb: HubDatabase, xserver: str, tmp_path: Path,
) -> None:
    for tool in ("dbus-run-session", "gnome-keyring-daemon"):
        if shutil.which(tool) is None:
            need(f"{tool} is not installed (apt-get install dbus gnome-keyring)")
    site = hubdb.site("Rosewood Care Home")
    assert site.credential is not None
    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    shot = SHOTS / "station-home-xvfb.png"
    script = ("echo -n session-unlock | gnome-keyring-daemon --unlock --components=secrets "
              ">/dev/null\n\"$@\"\n")
    # The keyring daemon's sockets too are this test's own (another may run beside it).
    (home / "run").mkdir(mode=0o700)
    env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / "data"),
           "XDG_CONFIG_HOME": str(home / "config"), "XDG_RUNTIME_DIR": str(home / "run"),
           "QT_QPA_PLATFORM": "xcb", "DISPLAY": xserver, "PYTHONPATH": str(ROOT)}
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    done = subprocess.run(
        ["dbus-run-session", "--", "bash", "-c", script, "probe", sys.executable, "-m",
         "tests.ui.station.program_probe", hub.http, site.credential, str(data), str(shot)],
        capture_output=True, text=True, timeout=90, env=env, cwd=ROOT)
    lines = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
    assert len(lines) == 1, done.stdout + done.stderr
    found = lines[0]
    assert found["backend"] == "keyring.backends.SecretService"
    assert found == {**found, "available": True, "kept": True, "connected": True,
                     "saved": True, "platform": "xcb"}
    # The credential is in the keyring only: in no file the station wrote, in no output.
    assert site.credential not in done.stderr
    written = [p for p in data.rglob("*") if p.is_file()]
    assert written and all(site.credential.encode() not in p.read_bytes() for p in written)
