"""Sign-in, tokens and roles on the hub's REST API and WebSocket, against a real server."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

import httpx
import pytest
from argon2 import PasswordHasher

from hub import accounts
from hub.contract import signaling as p
from hub.db import unit_of_work
from tests.helpers.hubserver import HubDatabase, ThreadedHub
from tests.helpers.wsclient import HubClient

PUBLIC = {"/health",
          # The load balancer's health check: "ready" or why not, nothing about anyone.
          "/ready",
          "/api/v1/auth/login", "/api/v1/auth/site-login", "/openapi.json",
          # A home patient exchanges an invitation code for a token here: they have nothing
          # else to sign in with (the caller page's files at /call are public for the same
          # reason and are not in the API document).
          "/api/v1/auth/invitation-login",
          # Staff enrol an authenticator app with their password, before a full sign-in.
          "/api/v1/auth/second-factor/enrolment", "/api/v1/auth/second-factor/confirmation"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_staff_sign_in_gives_a_token_that_works_and_can_be_revoked(
    hub: ThreadedHub, hubdb: HubDatabase
) -> None:
    hubdb.staff("night-nurse", "nurse", password="a long pass phrase")
    with httpx.Client(base_url=hub.http) as http:
        r = http.post("/api/v1/auth/login",
                      json={"username": "night-nurse", "password": "a long pass phrase"})
        assert r.status_code == 200
        body = r.json()
        assert body["principal"]["role"] == "nurse" and body["token_type"] == "bearer"
        token = body["token"]
        assert http.get("/api/v1/me", headers=bearer(token)).json()["name"] == "Night-Nurse"
        assert http.post("/api/v1/auth/logout", headers=bearer(token)).status_code == 204
        assert http.get("/api/v1/me", headers=bearer(token)).status_code == 401


@pytest.mark.parametrize("username,password", [("night-nurse", "wrong password"),
                                               ("nobody", "a long pass phrase")])
def test_wrong_credentials_are_refused_without_saying_which_part_was_wrong(
    hub: ThreadedHub, hubdb: HubDatabase, username: str, password: str
) -> None:
    hubdb.staff("night-nurse", "nurse", password="a long pass phrase")
    r = httpx.post(f"{hub.http}/api/v1/auth/login",
                   json={"username": username, "password": password})
    assert r.status_code == 401
    assert r.json()["detail"] == "wrong user name or password"


def test_site_signs_in_with_its_credential_only(hub: ThreadedHub, hubdb: HubDatabase) -> None:
    site = hubdb.site("Hawthorn Prison", "prison")
    assert site.credential and site.credential.startswith("ths_")
    r = httpx.post(f"{hub.http}/api/v1/auth/site-login", json={"credential": site.credential})
    assert r.status_code == 200
    assert r.json()["principal"] == {"kind": "site", "id": site.principal.id,
                                     "name": "Hawthorn Prison", "role": "prison"}
    bad = httpx.post(f"{hub.http}/api/v1/auth/site-login",
                     json={"credential": site.credential[:-2] + "xx"})
    assert bad.status_code == 401


def test_every_route_but_login_health_and_the_api_document_needs_a_token(
    hub: ThreadedHub, hubdb: HubDatabase
) -> None:
    with httpx.Client(base_url=hub.http) as http:
        spec = http.get("/openapi.json").json()
        assert spec["info"]["title"] == "telehub hub"
        paths = spec["paths"]
        assert "/api/v1/calls" in paths and "/api/v1/queue" in paths
        checked = 0
        for path, methods in paths.items():
            url = path.replace("{call_id}", "x").replace("{staff_id}", "1").replace("{uuid}",
                                                          "00000000-0000-4000-8000-000000000000")
            for method in methods:
                r = http.request(method.upper(), url, json={})
                if path in PUBLIC:
                    assert r.status_code != 401, (method, path)
                else:
                    assert r.status_code == 401, (method, path, r.status_code)
                    # and a made-up token is no better than none
                    r2 = http.request(method.upper(), url, json={}, headers=bearer("made-up"))
                    assert r2.status_code == 401, (method, path)
                    checked += 1
        assert checked >= 8


@pytest.mark.parametrize(
    "role,method,path,allowed",
    [
        ("nurse", "GET", "/api/v1/queue", True),
        ("specialist", "GET", "/api/v1/queue", False),
        ("nurse", "GET", "/api/v1/calls", True),
        ("specialist", "GET", "/api/v1/calls", False),
        ("manager", "GET", "/api/v1/calls", True),
        ("admin", "GET", "/api/v1/calls", False),  # clinical: docs/security.md
        ("admin", "GET", "/api/v1/queue", False),
        ("admin", "GET", "/api/v1/ice-servers", False),
        ("nurse", "GET", "/api/v1/ice-servers", True),
        ("nurse", "GET", "/api/v1/staff", False),
        ("manager", "GET", "/api/v1/staff", False),
        ("admin", "GET", "/api/v1/staff", True),
        ("nurse", "POST", "/api/v1/sites", False),
        ("admin", "POST", "/api/v1/sites", True),
        ("site", "GET", "/api/v1/calls", False),
        ("site", "GET", "/api/v1/queue", False),
        ("site", "GET", "/api/v1/ice-servers", True),
    ],
)
def test_every_route_checks_the_role(
    hub: ThreadedHub, hubdb: HubDatabase, role: str, method: str, path: str, allowed: bool
) -> None:
    who = hubdb.site("Some Home") if role == "site" else hubdb.staff(f"u-{role}", role)
    body = {"name": "New Home", "kind": "home"} if method == "POST" else None
    r = httpx.request(method, hub.http + path, json=body, headers=bearer(who.token))
    if allowed:
        assert r.status_code in (200, 201), r.text
    else:
        assert r.status_code == 403
        assert "needs one of the roles" in r.json()["detail"]


def test_admin_enrols_staff_and_sites_over_the_api(hub: ThreadedHub, hubdb: HubDatabase) -> None:
    admin = hubdb.staff("root-admin", "admin")
    with httpx.Client(base_url=hub.http, headers=bearer(admin.token)) as http:
        r = http.post("/api/v1/sites", json={"name": "Moor View", "kind": "care_home"})
        assert r.status_code == 201
        credential = r.json()["credential"]
        assert http.post("/api/v1/sites", json={"name": "Moor View",
                                                "kind": "care_home"}).status_code == 409
        assert http.post("/api/v1/sites", json={"name": "X", "kind": "spaceship"}
                         ).status_code == 422
        r = http.post("/api/v1/staff", json={"username": "dr-lee", "role": "specialist",
                                             "password": "long enough pw"})
        assert r.status_code == 201 and r.json()["role"] == "specialist"
        assert http.post("/api/v1/staff", json={"username": "dr-lee", "role": "specialist",
                                                "password": "long enough pw"}).status_code == 409
        assert http.post("/api/v1/staff", json={"username": "x", "role": "nurse",
                                                "password": "short"}).status_code == 422
        names = [s["name"] for s in http.get("/api/v1/staff").json()]
        assert "dr-lee" in names
    # the credential really works, and the listing never shows it again
    assert httpx.post(f"{hub.http}/api/v1/auth/site-login",
                      json={"credential": credential}).status_code == 200
    listing = httpx.get(f"{hub.http}/api/v1/sites", headers=bearer(admin.token)).text
    assert credential not in listing


async def test_websocket_needs_a_valid_live_token(hub: ThreadedHub, hubdb: HubDatabase) -> None:
    nurse = hubdb.staff("nurse", "nurse")
    with unit_of_work(hubdb.sessions) as s:
        expired = accounts.issue_token(s, nurse.principal, timedelta(seconds=-1)).token
    for token in ("not-a-token", expired):
        client = await HubClient.connect(hub.ws)
        await client.send(p.Hello(protocol=p.PROTOCOL_VERSION, token=token))
        err = await client.expect(p.Error)
        assert err.code == p.ErrorCode.UNAUTHORIZED
        assert await client.closed() == 4401
    ok = await HubClient.connect(hub.ws, nurse.token)
    assert ok.welcome is not None and ok.welcome.principal.role == "nurse"
    assert ok.welcome.protocol == p.PROTOCOL_VERSION


async def test_websocket_refuses_anything_before_hello(hub: ThreadedHub) -> None:
    client = await HubClient.connect(hub.ws)
    await client.send(p.QueueSync())
    err = await client.expect(p.Error)
    assert err.code == p.ErrorCode.HELLO_FIRST
    assert await client.closed() == 4401


async def test_websocket_refuses_another_protocol_version(
    hub: ThreadedHub, hubdb: HubDatabase
) -> None:
    nurse = hubdb.staff("nurse", "nurse")
    client = await HubClient.connect(hub.ws)
    await client.send(p.Hello(protocol=p.PROTOCOL_VERSION + 1, token=nurse.token))
    err = await client.expect(p.Error)
    assert err.code == p.ErrorCode.UNSUPPORTED_VERSION
    assert str(p.PROTOCOL_VERSION) in err.message
    assert await client.closed() == 4400


def test_password_is_stored_as_an_argon2_hash(hubdb: HubDatabase) -> None:
    from sqlalchemy import select

    from hub.models import Staff

    hubdb.staff("careful", "nurse", password="my secret phrase")
    with unit_of_work(hubdb.sessions) as s:
        stored = s.scalar(select(Staff.password_hash).where(Staff.username == "careful"))
    assert stored is not None and stored.startswith("$argon2id$")
    assert "my secret phrase" not in stored


def test_an_unknown_user_costs_one_real_hash_made_at_first_use(hubdb: HubDatabase,
                                                               monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:  # fmt: skip
    """The dummy hash that equalises sign-in time is made when first needed (not at import,
    which every hub process and CLI call pays), and a sign-in for nobody verifies against it."""
    verified: list[str] = []

    class Hasher(PasswordHasher):  # the real argon2 hasher, noting what it verifies against
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            verified.append(str(hash))
            return super().verify(hash, password)

    monkeypatch.setattr(accounts, "_hasher", Hasher())
    accounts._dummy_hash.cache_clear()
    with unit_of_work(hubdb.sessions) as s:
        assert accounts.authenticate_staff(s, "nobody-here", "a guess at it") is None
        assert accounts.authenticate_staff(s, "nobody-either", "another guess") is None
    dummy = accounts._dummy_hash()
    assert verified == [dummy, dummy] and dummy.startswith("$argon2id$")
    assert accounts._dummy_hash.cache_info().misses == 1  # made once, then reused
