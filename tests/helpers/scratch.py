"""Where the suite's throwaway folders with many files go: memory (/dev/shm) where it has
room, else the system's temporary folder.

Why: this machine's disk is ext4 mounted with online discard (a trim for each file
removed), and the programs the tests start write and fsync many small files. Removing a
worker's PostgreSQL cluster of 200 databases (~300 files each) took 67 s on the disk and
1.6 s in memory; a browser's fresh profile starts quicker there too."""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path

MEMORY = Path("/dev/shm")
ROOM = 4 << 30  # a worker's cluster ends near 1 GB (a database is ~8 MB)


@functools.cache
def scratch_parent() -> Path | None:
    """/dev/shm when it is a writable folder with ``ROOM`` free, else None (``tempfile``'s
    own choice)."""
    try:
        roomy = MEMORY.is_dir() and shutil.disk_usage(MEMORY).free >= ROOM
    except OSError:
        return None
    return MEMORY if roomy and os.access(MEMORY, os.W_OK) else None
