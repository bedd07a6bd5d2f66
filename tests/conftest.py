"""Shared fixtures: real PostgreSQL started for the test session, and the CI rule on skips."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.postgres import pg_bin

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """In CI a skipped test is a failed test: every real component must be there."""
    report = yield
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which must run every test: {report.longrepr}"
    return report


def need(reason: str) -> None:
    """A real component is missing: outside CI skip with the reason; in CI fail."""
    if IN_CI:
        pytest.fail(f"CI must run this test, but: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A private PostgreSQL cluster on loopback for this test run; yields its admin URL."""
    url = os.environ.get("TELEHUB_TEST_PG_URL")
    if url:
        yield url
        return
    initdb, pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        need("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    assert initdb and pg_ctl
    run_as: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        if shutil.which("runuser") is None:
            need("running as root without runuser to start PostgreSQL as another user")
        run_as = ["runuser", "-u", "postgres", "--"]
    tmp = Path(tempfile.mkdtemp(prefix="telehub-pg-"))
    data, sockdir = tmp / "data", tmp / "sock"
    sockdir.mkdir()
    if run_as:
        shutil.chown(tmp, "postgres")
        shutil.chown(sockdir, "postgres")
    port = free_port()
    subprocess.run([*run_as, initdb, "-D", str(data), "-U", "postgres", "--auth=trust",
                    "--no-sync", "-E", "UTF8"], check=True, capture_output=True)
    opts = f"-p {port} -k {sockdir} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*run_as, pg_ctl, "-D", str(data), "-o", opts, "-w", "-l",
                    str(tmp / "log"), "start"], check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def fresh_pg_database(postgres_server: str) -> Callable[[], str]:
    """Makes a new empty database on the test server and returns its URL."""
    import psycopg

    admin = postgres_server.replace("postgresql+psycopg://", "postgresql://")

    def make() -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return postgres_server.rsplit("/", 1)[0] + f"/{name}"

    return make


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: an SQLite file, and (second run) a real PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub.db'}"
    maker: Callable[[], str] = request.getfixturevalue("fresh_pg_database")
    return maker()
