"""A private PostgreSQL server for a test run or a benchmark: where this machine's server
programs are, and a cluster of its own on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


class NoPostgres(RuntimeError):
    """PostgreSQL's server programs (or a way to run them as a non-root user) are missing."""


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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def private_cluster(settings: dict[str, str] | None = None,
                    parent: Path | None = None) -> Iterator[str]:
    """A new PostgreSQL cluster in a temporary folder (in ``parent``, else the system's
    temporary folder), listening on loopback only, stopped and removed afterwards; yields its
    admin URL. Raises :class:`NoPostgres` if it cannot."""
    initdb, pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        raise NoPostgres("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    run_as: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        if shutil.which("runuser") is None:
            raise NoPostgres("running as root without runuser to start PostgreSQL as another "
                             "user")
        run_as = ["runuser", "-u", "postgres", "--"]
    tmp = Path(tempfile.mkdtemp(prefix="telehub-pg-", dir=parent))
    data, sockdir = tmp / "data", tmp / "sock"
    sockdir.mkdir()
    if run_as:
        shutil.chown(tmp, "postgres")
        shutil.chown(sockdir, "postgres")
    try:
        subprocess.run([*run_as, initdb, "-D", str(data), "-U", "postgres", "--auth=trust",
                        "--no-sync", "-E", "UTF8"], check=True, capture_output=True)
        extra = "".join(f" -c {k}={v}" for k, v in (settings or {}).items())
        for _attempt in range(3):  # a port free a moment ago may be taken by another process
            port = _free_port()
            opts = f"-p {port} -k {sockdir} -c listen_addresses=127.0.0.1 -c fsync=off{extra}"
            started = subprocess.run([*run_as, pg_ctl, "-D", str(data), "-o", opts, "-w",
                                      "-l", str(tmp / "log"), "start"], capture_output=True)
            if started.returncode == 0:
                break
        else:
            raise RuntimeError("the private PostgreSQL server did not start:\n"
                               + (tmp / "log").read_text(errors="replace")[-2000:])
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run([*run_as, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                           capture_output=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def new_database(admin_url: str, template: str | None = None) -> str:
    """A new database on the server of ``admin_url``, empty or (``template``: a database
    name on that server, with no one connected to it) a copy of that one; returns its URL."""
    import uuid

    name = f"t_{uuid.uuid4().hex[:12]}"
    _admin(admin_url, f'CREATE DATABASE "{name}"'
           + (f' TEMPLATE "{template}"' if template else ""))
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def database_name(url: str) -> str:
    return url.rsplit("/", 1)[1]


def is_empty(url: str) -> bool:
    """No table in the database of ``url`` (nothing migrated, nothing written)."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        row = conn.execute("SELECT count(*) FROM information_schema.tables "
                           "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
                           ).fetchone()
    return row is not None and row[0] == 0


def replace_with_copy(admin_url: str, url: str, template: str) -> None:
    """Drops the database of ``url`` and makes it again, under the same name, as a copy of
    ``template`` (a copy is a file copy on the server: far quicker than migrating anew)."""
    name = database_name(url)
    _admin(admin_url, f'DROP DATABASE "{name}"')
    _admin(admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')


def _admin(admin_url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(admin_url.replace("postgresql+psycopg://", "postgresql://"),
                         autocommit=True) as conn:
        conn.execute(statement)  # type: ignore[arg-type]
