"""Where telehub keeps its files on this computer: the one place that knows the data folder.

The hub's embedded database, each desk user's record store, the station's residents list and
the demo's night all live under :func:`data_home`. platformdirs knows each system's rule
(the XDG base directories on Linux, so ``$XDG_DATA_HOME/telehub``, by default
``~/.local/share/telehub``; Application Support on macOS; LOCALAPPDATA on Windows), so no
program spells a path of its own.

What is kept there is clinical, so it is kept from the computer's other accounts: a folder is
made ``0700`` and a database file ``0600`` (:func:`private_folder`, :func:`private_database`;
every SQLite engine goes through the second, see ``records.store.create_engine``).
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from platformdirs import user_data_path

log = logging.getLogger(__name__)

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


FOLDER_MODE = 0o700
FILE_MODE = 0o600
# SQLite's companions of a database file: the write-ahead log, its index, the rollback journal.
_COMPANIONS = ("-wal", "-shm", "-journal")


def _ours(folder: Path) -> bool:
    """Whether ``folder`` is telehub's own (under the data folder, or a part's earlier one)."""
    roots = [data_home()] + [user_data_path(e, appauthor=False, ensure_exists=False)
                             for e in _EARLIER.values()]
    folder = folder.absolute()
    return any(folder == root or root in folder.parents for root in roots)


def private_folder(folder: Path) -> Path:
    """``folder``, made if missing with every folder made for it ``0700``.

    An existing folder that other accounts can open is tightened to ``0700`` when it is
    telehub's own (under :func:`data_home`); a folder somebody chose (``--data-dir``, a
    ``sqlite:///`` path) may be shared on purpose, so it is left alone and a warning logged.
    """
    folder = folder.absolute()
    missing = [f for f in (folder, *folder.parents) if not f.exists()]
    for made in reversed(missing):
        made.mkdir(mode=FOLDER_MODE, exist_ok=True)
        os.chmod(made, FOLDER_MODE)  # mkdir's mode is filtered by the umask
    if os.name != "posix":
        return folder  # Windows: the user's profile folder is private already
    for existing in (folder, *folder.parents):
        if existing in missing:
            continue
        if not _ours(existing):
            break
        if stat.S_IMODE(existing.stat().st_mode) & 0o077:
            try:
                os.chmod(existing, FOLDER_MODE)
            except PermissionError:  # another account's folder: the warning below says so
                break
    if folder not in missing and stat.S_IMODE(folder.stat().st_mode) & 0o077:
        log.warning("the folder %s can be opened by other accounts on this computer; telehub "
                    "keeps clinical data there (chmod 700 it)", folder)
    return folder


def private_database(path: Path) -> Path:
    """An SQLite database file, made ``0600`` before SQLite first opens it.

    SQLite gives its -wal and -shm files the mode of the database file, so they follow; ones
    left by an earlier run are tightened too, as is an existing database file.
    """
    private_folder(path.parent)
    if os.name != "posix":
        return path
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
        os.fchmod(fd, FILE_MODE)  # the mode given to open is filtered by the umask
        os.close(fd)
    for existing in (path, *(path.with_name(path.name + s) for s in _COMPANIONS)):
        if not existing.exists() or not stat.S_IMODE(existing.stat().st_mode) & 0o077:
            continue
        try:
            os.chmod(existing, FILE_MODE)
        except PermissionError:  # another account's file (an export reading the hub's)
            log.warning("the database file %s can be read by other accounts on this "
                        "computer and is not ours to tighten (chmod 600 it)", existing)
    return path
