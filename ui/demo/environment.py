"""What the demo checks about this computer before it starts: display, keyring, camera.

Each check answers None (fine) or one line saying what is missing and what the demo does
instead, so a newcomer never meets a Qt abort or a traceback for an ordinary gap.
"""

from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys

# Opening a QApplication in a child process: when the platform plugin cannot load, Qt aborts
# the process, so the demo must not find out in its own.
_PROBE = "import sys\nfrom PySide6.QtWidgets import QApplication\nQApplication(sys.argv[:1])\n"


def display_problem() -> str | None:
    """Why Qt cannot open a window here, or None when it can."""
    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        return "QT_QPA_PLATFORM is offscreen"
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        return "no display (DISPLAY and WAYLAND_DISPLAY are not set)"
    try:
        done = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                              timeout=30)
    except subprocess.TimeoutExpired:
        return "the display did not answer within 30 s"
    if done.returncode == 0:
        return None
    text = done.stderr
    where = os.environ.get("WAYLAND_DISPLAY") or os.environ.get("DISPLAY") or "the display"
    if "could not connect to display" in text:
        return (f"cannot connect to the display {where} (is its X server running? over ssh "
                "use ssh -X, or unset DISPLAY)")
    # Qt mentions libxcb-cursor0 whenever xcb fails to load; it is the cause only when absent.
    if "xcb-cursor" in text and ctypes.util.find_library("xcb-cursor") is None:
        return ("Qt cannot use the display: it needs libxcb-cursor0 "
                "(sudo apt-get install libxcb-cursor0)")
    detail = next((ln.strip() for ln in text.splitlines() if "Could not" in ln
                   or "cannot" in ln.lower()), "")
    return f"Qt cannot open {where}" + (f" ({detail})" if detail else "")


def keyring_problem() -> str | None:
    """None when a system keyring backend exists (the desk can remember passwords)."""
    from ui.desk.auth import PasswordVault

    try:
        vault = PasswordVault()
    except Exception as exc:  # a broken keyring configuration is still "no keyring"
        return f"the system keyring cannot be used ({type(exc).__name__})"
    return None if vault.available else "no system keyring (Secret Service, Keychain) found"


def camera_problem(camera: str | None, microphone: str | None) -> str | None:
    """None when the camera and microphone open (FFmpeg devices, as the desk uses them)."""
    import av

    if sys.platform.startswith("linux"):
        tries = ((camera or "/dev/video0", "v4l2", "camera"),
                 (microphone or "default", "pulse", "microphone"))
    else:
        return None  # macOS and Windows name devices differently; the desk reports there
    for device, fmt, what in tries:
        try:
            container = av.open(device, format=fmt)
        except Exception as exc:  # FFmpeg raises OSError subclasses and ValueError
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            return f"no {what} could be opened at {device} ({reason})"
        container.close()
    return None
