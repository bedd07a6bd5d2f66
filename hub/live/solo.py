"""The one-process rule of a hub on SQLite: a second hub process on the same file refuses.

SQLite is the embedded single-process default; its queue and claims live in the one hub's
memory, so two hub processes on one file would each answer calls the other cannot see.
The hub holds an exclusive ``flock`` on ``<database>.hub-lock`` while it serves; the kernel
lets go of it when the process ends, however it ends.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class HubAlreadyRunning(Exception):
    """Another hub process serves this SQLite database."""


def lock_path(db_url: str) -> Path | None:
    """Where the lock of a SQLite file database lives; None for anything else."""
    if not db_url.startswith("sqlite") or ":///" not in db_url:
        return None
    path = db_url.split(":///", 1)[1].split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return Path(path + ".hub-lock")


class SoloLock:
    """Held while a hub serves a SQLite database (see the module docstring)."""

    def __init__(self, db_url: str) -> None:
        self.path = lock_path(db_url)
        self._fd: int | None = None

    def acquire(self) -> None:
        if self.path is None or self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise HubAlreadyRunning(
                f"another hub process is already serving {self.path.with_suffix('')}: one "
                "SQLite database serves one hub process. Stop the other one, or run several "
                "hubs on a PostgreSQL database (--db postgresql://...; docs/cluster.md)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor lets go of the lock
            self._fd = None
