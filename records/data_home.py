"""Where telehub keeps its files on this computer: the one place that knows the data folder.

The hub's embedded database, each desk user's record store, the station's residents list and
the demo's night all live under :func:`data_home`. platformdirs knows each system's rule
(the XDG base directories on Linux, so ``$XDG_DATA_HOME/telehub``, by default
``~/.local/share/telehub``; Application Support on macOS; LOCALAPPDATA on Windows), so no
program spells a path of its own.
"""

from __future__ import annotations

from pathlib import Path

from platformdirs import user_data_path

APP = "telehub"
# Folders a program kept before it lived under data_home, by the part it uses now: a station
# set up then (Qt's folder for the program "telehub-site") keeps its residents list there.
_EARLIER = {"station": "telehub-site"}


def data_home(part: str | None = None) -> Path:
    """telehub's data folder, or the folder of one ``part`` of it ("desk", "demo", ...).

    Nothing is created: the program that writes there makes the folder, with its own mode.
    """
    home = user_data_path(APP, appauthor=False, ensure_exists=False)
    if part is None:
        return home
    folder = home / part
    earlier = _EARLIER.get(part)
    if earlier is not None and not folder.exists():
        before = user_data_path(earlier, appauthor=False, ensure_exists=False)
        if before.is_dir():
            return before
    return folder
