"""The signaling WebSocket's way into the hub (hub.routes.signaling.SignalingFirst): what a
client gets at ``/ws``, at other paths and when the hub fails is what the whole application
gives it, the refusals of a bad hello included."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy import update
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from hub import accounts
from hub.contract import signaling as p
from hub.db import unit_of_work
from hub.live.pg import libpq_url
from hub.models import Site, Staff
from hub.routes import signaling
from hub.serving import WS_MAX_BYTES
from tests.helpers.hubserver import HubDatabase, ThreadedHub
from tests.helpers.wsclient import HubClient

PG_ONLY = pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)


async def test_a_hello_over_the_frame_cap_is_refused_naming_the_limit(
    hub: ThreadedHub, hubdb: HubDatabase
) -> None:
    token = hubdb.site("Rose Court").token
    client = await HubClient.connect(hub.ws)
    await client.send_raw(json.dumps({"type": "hello", "protocol": p.PROTOCOL_VERSION,
                                      "token": token + "x" * 70_000}))
    err = await client.expect(p.Error)
    assert err.code == p.ErrorCode.TOO_LARGE and err.ref == "hello"
    assert await client.closed() == 4400


async def test_a_frame_over_the_socket_cap_ends_the_connection(hub: ThreadedHub) -> None:
    async with connect(hub.ws, max_size=None, ping_interval=None) as ws:
        await ws.send("x" * (WS_MAX_BYTES + 1))
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    assert ws.close_code == 1009  # message too big, from the WebSocket layer itself


async def test_a_hello_that_is_not_one_or_carries_junk_is_refused(
    hub: ThreadedHub, hubdb: HubDatabase
) -> None:
    token = hubdb.site("Rose Court").token
    for frame, code, close in (
        ("{not json", p.ErrorCode.BAD_JSON, 4400),
        (json.dumps({"type": "hello", "protocol": p.PROTOCOL_VERSION}), p.ErrorCode.INVALID,
         4400),
        (json.dumps({"type": "hello", "protocol": p.PROTOCOL_VERSION, "token": token,
                     "surprise": 1}), p.ErrorCode.INVALID, 4400),
        (json.dumps({"type": "hello", "protocol": p.PROTOCOL_VERSION, "token": token[:-1]}),
         p.ErrorCode.UNAUTHORIZED, 4401),
    ):
        client = await HubClient.connect(hub.ws)
        await client.send_raw(frame)
        err = await client.expect(p.Error)
        assert (err.code, err.ref) == (code, "hello"), frame[:60]
        assert await client.closed() == close
    # and the token itself still signs in
    assert (await HubClient.connect(hub.ws, token)).welcome is not None


async def test_a_socket_that_sends_no_hello_in_time_is_refused(
    hub: ThreadedHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(signaling, "HELLO_TIMEOUT_S", 0.2)  # the hub runs in this process
    client = await HubClient.connect(hub.ws)
    err = await client.expect(p.Error)
    assert (err.code, err.ref) == (p.ErrorCode.HELLO_FIRST, "hello")
    assert await client.closed() == 4401


async def test_a_query_string_on_the_path_still_reaches_signaling(
    hub: ThreadedHub, hubdb: HubDatabase
) -> None:
    client = await HubClient.connect(hub.ws + "?from=desk", hubdb.site("Rose Court").token)
    assert client.welcome is not None


@pytest.mark.parametrize("path", ["/", "/ws/", "/wss", "/api/v1/ws", "/health", "/call"])
async def test_a_websocket_to_any_other_path_is_refused_403(hub: ThreadedHub, path: str
                                                             ) -> None:
    url = hub.ws.removesuffix("/ws") + path
    with pytest.raises(InvalidStatus) as refused:
        await connect(url, ping_interval=None)
    assert refused.value.response.status_code == 403


async def test_a_failure_of_the_hub_is_logged_by_place_and_answered_500(
    hub: ThreadedHub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="telehub.hub")
    live = hub.services.live_front()
    hub.services.started(None)  # as when the live side has stopped: the dependency fails
    try:
        with pytest.raises(InvalidStatus) as refused:
            await connect(hub.ws, ping_interval=None)
    finally:
        hub.services.started(live)
    assert refused.value.response.status_code == 500
    logged = [r.getMessage() for r in caplog.records if r.name == "telehub.hub"]
    assert any(m.startswith("unhandled RuntimeError at hub/routes/deps.py:")
               and m.endswith(" on WS /ws") for m in logged), logged
    # and the hub goes on
    assert hub.services.live_front() is live


async def test_a_hello_signs_in_only_a_live_token_and_as_whom_it_was_issued(
    hub: ThreadedHub, hubdb: HubDatabase
) -> None:
    nurse, home = hubdb.staff("nina", "nurse"), hubdb.site("Rose Court", "prison")
    gone_nurse, gone_home = hubdb.staff("olga", "nurse"), hubdb.site("Elm Lodge")
    with unit_of_work(hubdb.sessions) as s:
        expired = accounts.issue_token(s, nurse.principal, timedelta(seconds=-1)).token
        revoked = accounts.issue_token(s, home.principal, timedelta(hours=1)).token
        accounts.revoke_token(s, revoked)
        s.execute(update(Staff).where(Staff.id == gone_nurse.principal.id).values(active=False))
        s.execute(update(Site).where(Site.id == gone_home.principal.id).values(active=False))
    for token in (expired, revoked, gone_nurse.token, gone_home.token):
        with pytest.raises(PermissionError, match="unknown, expired or revoked"):
            await HubClient.connect(hub.ws, token)
    for seeded in (nurse, home):
        client = await HubClient.connect(hub.ws, seeded.token)
        assert client.welcome is not None and client.welcome.principal == seeded.principal


@PG_ONLY
async def test_the_sign_in_lookups_connection_cut_by_the_database_is_opened_again(
    hub: ThreadedHub, hubdb: HubDatabase
) -> None:
    first, second = hubdb.site("Rose Court"), hubdb.site("Elm Lodge")
    assert (await HubClient.connect(hub.ws, first.token)).welcome is not None

    def cut() -> int:
        with psycopg.connect(libpq_url(hubdb.url), autocommit=True) as admin:
            row = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM "
                                "pg_stat_activity WHERE application_name = "
                                "'telehub-sign-ins'").fetchone()
        return int(row[0]) if row else 0

    assert cut() == 1  # its own connection, kept from the first sign-in
    # the next hello meets the cut connection: asked again on a new one, it signs in
    client = await HubClient.connect(hub.ws, second.token)
    assert client.welcome is not None and client.welcome.principal == second.principal
    assert cut() == 1
