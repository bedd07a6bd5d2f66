"""Data and transport, through `telehub-hub` run as a real process: the hub's files are its
account's alone, plain HTTP only on loopback (or behind a TLS proxy the operator names), HTTPS
from a certificate, and every answer uncacheable, unsniffable and without a Server banner."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.asyncio.client import connect

from hub.app import create_app
from hub.cli import main
from hub.config import HubConfig
from hub.db import default_db_url, make_engine
from records.data_home import data_home
from tests.helpers.hubserver import PASSWORD, HubDatabase, ProcessHub, ThreadedHub


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The usual umask (022: new files readable by everyone), which the hub must not trust;
    the hub processes started in the test inherit it."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def test_the_hubs_data_folder_and_database_files_are_its_accounts_alone(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, loose_umask: None) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert main(["db", "upgrade"]) == 0  # the default database: the embedded SQLite file
    home, db = data_home(), data_home() / "hub.db"
    assert default_db_url() == f"sqlite:///{db}"
    assert mode(tmp_path / "xdg") == 0o700  # every folder made for it
    assert mode(home) == 0o700 and mode(db) == 0o600
    enrol = HubDatabase(default_db_url())
    enrol.staff("nina", "nurse")
    enrol.dispose()
    # A real hub (uvicorn and the app) on it, in this process: `serve` opens its database
    # through the same make_engine as `db upgrade` above.
    hub = ThreadedHub(HubConfig(db_url=default_db_url())).start()
    try:
        signed_in = httpx.post(f"{hub.http}/api/v1/auth/login",
                               json={"username": "nina", "password": PASSWORD})
        assert signed_in.status_code == 200
        # SQLite's write-ahead log and its index exist while the hub runs: its mode too.
        for name in ("hub.db", "hub.db-wal", "hub.db-shm"):
            assert mode(home / name) == 0o600, name
        assert mode(home) == 0o700
    finally:
        hub.stop()


def test_a_loosened_data_folder_is_tightened_when_the_hub_opens_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, loose_umask: None) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    home = data_home()
    home.mkdir(parents=True, mode=0o755)
    (home / "hub.db").touch(mode=0o644)
    assert mode(home) == 0o755 and mode(home / "hub.db") == 0o644
    engine = make_engine(default_db_url())  # as `serve` and every `telehub-hub` command does
    assert mode(home) == 0o700 and mode(home / "hub.db") == 0o600
    engine.dispose()


# --- plain HTTP only where nobody else can listen ------------------------------------------


def serve(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """``telehub-hub serve`` (its entry point, in this process) where it refuses to start:
    the exit code and what it said on stderr."""
    code = main(["serve", *args, "--port", "0"])
    out = capsys.readouterr()
    assert "listening" not in out.out
    return code, out.err


def test_serve_refuses_plain_http_on_an_address_other_computers_reach(
        db: str, capsys: pytest.CaptureFixture[str]) -> None:
    for host in ("0.0.0.0", "::", "hub.example.org"):
        code, said = serve(capsys, "--db", db, "--host", host)
        assert code == 2, (host, said)
        assert f"refusing to serve plain HTTP on {host}" in said
        assert "--tls-cert" in said and "--behind-tls-proxy" in said
    code, said = serve(capsys, "--db", db, "--host", "0.0.0.0", "--tls-cert", "/nowhere.pem")
    assert code == 2 and "give both --tls-cert and --tls-key" in said


def test_the_environment_can_say_a_tls_proxy_is_in_front(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
        ) -> None:
    """TELEHUB_BEHIND_TLS_PROXY=1 (a service unit's setting) lets serve past the rule: here it
    goes on to the next check, the schema of an empty database, and stops there."""
    monkeypatch.setenv("TELEHUB_BEHIND_TLS_PROXY", "1")
    code, said = serve(capsys, "--db", f"sqlite:///{tmp_path / 'empty.db'}",
                       "--host", "0.0.0.0")
    assert code == 2
    assert "refusing" not in said and "run `telehub-hub db upgrade`" in said


# --- HTTPS from a certificate ---------------------------------------------------------------


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "telehub test hub")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "hub.pem", tmp_path / "hub.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_serve_refuses_a_certificate_it_cannot_use(
        db: str, certificate: tuple[Path, Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    cert, _key = certificate
    wrong = tmp_path / "other.key"
    wrong.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    code, said = serve(capsys, "--db", db, "--host", "0.0.0.0", "--tls-cert", str(cert),
                       "--tls-key", str(wrong))
    assert code == 2 and f"cannot use the TLS certificate {cert}" in said
    assert "BEGIN" not in said  # no key material in the message


@pytest.mark.slow
async def test_given_a_certificate_the_hub_serves_https_and_wss_on_every_address(
        db: str, certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    enrol = HubDatabase(db)
    site = enrol.site("Beech House")
    enrol.dispose()
    hub = ProcessHub(db, "--host", "0.0.0.0", "--tls-cert", str(cert), "--tls-key", str(key),
                     trust=str(cert))
    try:
        assert any("listening on https://0.0.0.0:" in line for line in hub.output)
        with httpx.Client(**hub.client_options) as http:
            me = http.get(f"{hub.http}/api/v1/me",
                          headers={"Authorization": f"Bearer {site.token}"})
            assert me.status_code == 200 and me.json()["name"] == "Beech House"
            assert_answer_headers(me)
        with pytest.raises(httpx.HTTPError):  # plain HTTP to the TLS port gets nothing
            httpx.get(f"http://127.0.0.1:{hub.port}/health", timeout=5)
        trust = ssl.create_default_context(cafile=str(cert))
        async with connect(hub.ws, ssl=trust) as ws:
            assert ws.response is not None
            assert "server" not in {k.lower() for k in ws.response.headers}
    finally:
        hub.stop()


# --- the headers of every answer ------------------------------------------------------------


def assert_answer_headers(answer: httpx.Response) -> None:
    where = f"{answer.request.method} {answer.request.url.path} ({answer.status_code})"
    assert answer.headers.get_list("cache-control") == ["no-store"], where
    assert answer.headers.get_list("x-content-type-options") == ["nosniff"], where
    assert "server" not in answer.headers, where


@pytest.mark.slow
def test_every_answer_is_uncacheable_unsniffable_and_without_a_server_banner(db: str) -> None:
    """Through a hub serving plain HTTP on every address, as it may behind a TLS proxy."""
    enrol = HubDatabase(db)
    nurse = enrol.staff("nina", "nurse")
    enrol.dispose()
    hub = ProcessHub(db, "--host", "0.0.0.0", "--behind-tls-proxy")
    bearer = {"Authorization": f"Bearer {nurse.token}"}
    try:
        assert any("listening on http://0.0.0.0:" in line for line in hub.output)
        with httpx.Client(base_url=hub.http) as http:
            answers = [
                http.get("/health"),
                http.get("/openapi.json"),
                http.get("/api/v1/me", headers=bearer),  # REST with patients' data behind it
                http.get("/api/v1/queue", headers=bearer),
                http.get("/call"),  # the caller page and its files
                http.get("/call/nothing.js"),
                http.get("/call/"),  # a redirect
                http.get("/api/v1/me"),  # 401
                http.get("/api/v1/staff", headers=bearer),  # 403
                http.get("/no/such/route"),  # 404
                http.post("/api/v1/auth/login", json={"username": 5}),  # 422
                http.post("/api/v1/auth/login", content=b"x" * (2 * 1024 * 1024)),  # 413
                http.request("PATCH", "/health"),  # 405
            ]
        statuses = sorted({a.status_code for a in answers})
        assert statuses == [200, 308, 401, 403, 404, 405, 413, 422]
        for answer in answers:
            assert_answer_headers(answer)
        assert answers[4].headers["content-security-policy"].startswith("default-src 'self'")
    finally:
        hub.stop()


async def test_a_server_error_carries_the_headers_too(tmp_path: Path) -> None:
    """A 500 is written by Starlette's outermost error middleware, outside every middleware a
    route module adds: the headers are put on around that too. (A route that fails on
    purpose is added to the real application for this.)"""
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    HubDatabase(url).dispose()
    app = create_app(HubConfig(db_url=url))

    def fails() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/fails", fails)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        answer = await client.get("/fails")
    assert answer.status_code == 500
    assert answer.headers.get_list("cache-control") == ["no-store"]
    assert answer.headers.get_list("x-content-type-options") == ["nosniff"]


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    HubDatabase(url).dispose()
    return url
