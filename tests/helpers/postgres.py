"""Where this machine's PostgreSQL server programs are (for the private test clusters)."""

from __future__ import annotations

import shutil
from pathlib import Path


def pg_bin(name: str) -> str | None:
    """``initdb``, ``pg_ctl``...: on PATH, else the newest /usr/lib/postgresql/*/bin (Debian
    keeps them off PATH); None when PostgreSQL is not installed."""
    found = shutil.which(name)
    if found:
        return found
    for base in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (base / name).exists():
            return str(base / name)
    return None
