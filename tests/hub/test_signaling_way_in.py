"""The signaling WebSocket's way into the hub (hub.routes.signaling.SignalingFirst): what a
client gets at ``/ws``, at other paths and when the hub fails is what the whole application
gives it, the refusals of a bad hello included."""

from __future__ import annotations

import json
import logging

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from hub.contract import signaling as p
from hub.serving import WS_MAX_BYTES
from tests.helpers.hubserver import HubDatabase, ThreadedHub
from tests.helpers.wsclient import HubClient


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
