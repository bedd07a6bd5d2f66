"""telehub-hub from the command line, run as a real process."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hub.db import make_engine
from hub.schema import check_current
from tests.helpers.fixtures import FAST
from tests.helpers.hubserver import HubStarter, ThreadedHub
from tests.helpers.waiting import wait_until


def hub_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hub", *args], input=stdin, text=True,
                          capture_output=True, timeout=60, env=dict(os.environ))


@contextlib.contextmanager
def served(db: str) -> Iterator[ThreadedHub]:
    """A hub serving the database the commands wrote, in this process: the commands are the
    real processes under test; what they wrote is read by the hub's own code either way."""
    starter = HubStarter(db, FAST)
    try:
        yield starter()
    finally:
        starter.stop_all()


@pytest.fixture
def db(tmp_path: Path, _migrated_hub_file: Path) -> str:
    """A hub database at head: a copy of the run's migrated template (what `db upgrade`
    gives, as the test below proves, without a process start per test)."""
    path = tmp_path / "cli.db"
    shutil.copyfile(_migrated_hub_file, path)
    return f"sqlite:///{path}"


def test_serve_on_an_out_of_date_schema_stops_and_says_what_to_run(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    r = hub_cli("serve", "--db", url, "--port", "0")
    assert r.returncode == 2
    assert "run `telehub-hub db upgrade`" in r.stderr
    assert "empty" in r.stderr
    # what it says to run brings the database to the schema the hub needs
    assert hub_cli("db", "upgrade", "--db", url).returncode == 0
    engine = make_engine(url)
    try:
        check_current(engine)
    finally:
        engine.dispose()


def test_add_staff_reads_the_password_from_stdin_never_argv(db: str) -> None:
    r = hub_cli("add-staff", "--db", db, "--username", "sam", "--role", "nurse",
                stdin="night shift pass\n")
    assert r.returncode == 0, r.stderr
    assert "added nurse sam" in r.stdout
    assert "night shift pass" not in r.stdout + r.stderr
    # there is no way to give it on the command line
    r = hub_cli("add-staff", "--db", db, "--username", "x", "--role", "nurse",
                "--password", "pw")
    assert r.returncode == 2 and "unrecognized arguments" in r.stderr
    # a short password and an unknown role are refused in plain words
    r = hub_cli("add-staff", "--db", db, "--username", "kim", "--role", "nurse", stdin="short\n")
    assert r.returncode == 2 and "at least 10 characters" in r.stderr
    r = hub_cli("add-staff", "--db", db, "--username", "sam", "--role", "nurse",
                stdin="night shift pass\n")
    assert r.returncode == 2 and "already exists" in r.stderr
    with served(db) as hub:
        ok = httpx.post(f"{hub.http}/api/v1/auth/login",
                        json={"username": "sam", "password": "night shift pass"})
        assert ok.status_code == 200


def test_add_site_prints_a_working_credential_once(db: str,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    r = hub_cli("add-site", "--db", db, "--name", "St Anne's", "--kind", "care_home")
    assert r.returncode == 0, r.stderr
    credential = r.stdout.strip().splitlines()[-1]
    assert credential.startswith("ths_") and len(credential) > 40
    again = hub_cli("add-site", "--db", db, "--name", "St Anne's", "--kind", "care_home")
    assert again.returncode == 2 and "already exists" in again.stderr
    assert credential not in again.stdout
    caplog.set_level(logging.DEBUG)  # everything the hub logs, not only its warnings
    with served(db) as hub:
        ok = httpx.post(f"{hub.http}/api/v1/auth/site-login", json={"credential": credential})
        assert ok.status_code == 200 and ok.json()["principal"]["role"] == "care_home"
    assert caplog.records and credential not in caplog.text  # never logged


def test_serve_says_plainly_when_the_port_is_taken(db: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = hub_cli("serve", "--db", db, "--port", str(port))
    assert r.returncode == 2
    assert f"port {port} on 127.0.0.1 is in use" in r.stderr


def test_serve_with_tls(db: str, tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    import ipaddress

    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(datetime.now(UTC) - timedelta(minutes=1))
        .not_valid_after(datetime.now(UTC) + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "hub.crt", tmp_path / "hub.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub", "serve", "--db", db, "--port", "0",
         "--tls-cert", str(cert_file), "--tls-key", str(key_file), "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        line = ""
        for line in proc.stdout:
            if "listening on" in line:
                break
        assert "listening on https://127.0.0.1:" in line, line
        port = int(line.split(":")[2].split()[0])
        import ssl

        ctx = ssl.create_default_context(cafile=str(cert_file))
        r = wait_until(lambda: httpx.get(f"https://127.0.0.1:{port}/health", verify=ctx), 15,
                       "the hub to answer over TLS", interval=0.1,
                       ignoring=(httpx.ConnectError,))
        assert r.json()["status"] == "ok"
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
    r2 = hub_cli("serve", "--db", db, "--tls-cert", str(cert_file))
    assert r2.returncode == 2 and "both --tls-cert and --tls-key" in r2.stderr


async def test_the_hub_turns_nagle_off_on_every_connection(hub: object) -> None:
    """Without TCP_NODELAY the second of two small frames (queue update, then call_connected)
    waits ~40 ms for the client's delayed ACK; asyncio sets it only for IPPROTO_TCP sockets."""
    from tests.helpers.wsclient import HubClient

    client = await HubClient.connect(hub.ws)  # type: ignore[attr-defined]
    try:
        conns = list(hub.server.server_state.connections)  # type: ignore[attr-defined]
        assert conns
        for proto in conns:
            sock = proto.transport.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        await client.close()


def test_db_rollup_rebuilds_the_report_rollups(db: str) -> None:
    r = hub_cli("db", "rollup", "--db", db)
    assert r.returncode == 0, r.stderr
    assert "report roll-ups rebuilt: 0 days" in r.stdout



def test_opening_sets_the_hub_closed_for_every_hub_on_the_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    from hub import cli
    from hub.contract.signaling import HubState
    from hub.db import unit_of_work
    from hub.live.opening import read_opening
    from tests.helpers.hubserver import HubDatabase

    hubdb = HubDatabase(f"sqlite:///{tmp_path / 'cli.db'}")  # in this process: quicker
    try:
        assert cli.main(["opening", "closed", "--db", hubdb.url]) == 0
        out = capsys.readouterr().out
        assert out.startswith("the hub is set closed (set ") and "by cli:" in out
        with unit_of_work(hubdb.sessions) as s:
            state, at, by = read_opening(s)
        assert state is HubState.CLOSED and at is not None and by is not None
        with pytest.raises(SystemExit) as refused:  # "unstaffed" is the hub's, not settable
            cli.main(["opening", "unstaffed", "--db", hubdb.url])
        assert refused.value.code == 2
    finally:
        hubdb.dispose()
