"""The signaling WebSocket at ``/ws``: the hello handshake, then each frame parsed against the
contract (hub/contract/signaling.py) and handed to the live side: the Switchboard, or on a
hub of several its ClusterNode (hub/live/front.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from fastapi import APIRouter, WebSocket
from starlette.types import ASGIApp, Receive, Scope, Send

from hub import lifecycle
from hub.contract import signaling as p
from hub.contract.identity import Principal
from hub.errors import UnhandledErrors
from hub.live import Connection
from hub.live.front import LiveFront
from hub.live.refusal import carry_out
from hub.routes.deps import SwitchboardDep, hub_services

log = logging.getLogger("telehub.hub")
router = APIRouter()
HELLO_TIMEOUT_S = 10.0
PATH = "/ws"


@router.websocket(PATH)
async def signaling(websocket: WebSocket, switchboard: SwitchboardDep) -> None:
    await serve_connection(websocket, switchboard)


class SignalingFirst:
    """In front of the application: a WebSocket to ``/ws`` goes straight to the signaling
    endpoint, past the router (which tries every REST route first), the middleware and the
    solving of its one dependency. Those cost a sign-in more than the rest of it, and a dead
    hub's sites all sign in to the survivor at once (docs/cluster.md).

    What those layers do for a WebSocket is done here too: an error the endpoint lets
    through is logged and ends the connection (:class:`hub.errors.UnhandledErrors`), and the
    live side is the one the dependency hands over. Everything else, and ``/ws`` under a
    root path or with FastAPI's telemetry on, goes through the whole application."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # What the router puts in the scope: UnhandledErrors names the route in its log.
        self._route = next(r for r in router.routes if getattr(r, "path", None) == PATH)
        self._endpoint = UnhandledErrors(self._serve)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "websocket" and scope["path"] == PATH
                and not scope.get("root_path") and "fastapi.telemetry" not in scope):
            scope["route"] = self._route
            await self._endpoint(scope, receive, send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    async def _serve(scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        services = await hub_services(websocket)
        await serve_connection(websocket, services.switchboard)


async def _hello(websocket: WebSocket, switchboard: LiveFront
                 ) -> tuple[Principal, str] | None:
    """Wait for a valid ``hello``; refuse (error + close) anything else. Returns who signed
    in and the hash of their token (so a sign-out can close this connection)."""

    async def refuse(code: p.ErrorCode, message: str, close_code: int) -> None:
        await websocket.send_text(p.Error(code=code, message=message, ref="hello").to_json())
        await websocket.close(close_code, message[:120])

    try:
        async with asyncio.timeout(HELLO_TIMEOUT_S):  # no task of its own, unlike wait_for
            frame = await websocket.receive()
    except TimeoutError:
        await refuse(p.ErrorCode.HELLO_FIRST, "no hello within 10 s", 4401)
        return None
    if frame["type"] == "websocket.disconnect":
        return None
    try:
        msg = p.parse_client_message(frame.get("text") or frame.get("bytes") or b"")
    except p.ProtocolError as exc:
        await refuse(exc.code, exc.message, 4400)
        return None
    if not isinstance(msg, p.Hello):
        await refuse(p.ErrorCode.HELLO_FIRST, "the first message must be a hello", 4401)
        return None
    if msg.protocol != p.PROTOCOL_VERSION:
        await refuse(
            p.ErrorCode.UNSUPPORTED_VERSION,
            f"this hub speaks protocol {p.PROTOCOL_VERSION}, not {msg.protocol}",
            4400,
        )
        return None
    principal = await switchboard.authenticate(msg.token)
    if principal is None:
        await refuse(p.ErrorCode.UNAUTHORIZED, "the token is unknown, expired or revoked", 4401)
        return None
    return principal, lifecycle.token_hash(msg.token)


async def serve_connection(websocket: WebSocket, switchboard: LiveFront) -> None:
    await websocket.accept()
    try:
        signed_in = await _hello(websocket, switchboard)
    except Exception:  # the peer vanished during the handshake
        return
    if signed_in is None:
        return
    conn = Connection(websocket, *signed_in)
    switchboard.attach(conn)
    try:
        while not conn.closed:
            frame = await websocket.receive()
            if frame["type"] == "websocket.disconnect":
                break
            conn.last_seen = time.monotonic()
            text = frame.get("text")
            if text is None:
                conn.send(p.Error(code=p.ErrorCode.INVALID,
                                  message="binary frames are not part of the protocol"))
                continue
            try:
                msg = p.parse_client_message(text)
            except p.ProtocolError as exc:
                conn.send(exc.to_error())
                continue
            await carry_out(switchboard.handle, conn, msg)
    except Exception as exc:  # network trouble on this connection only
        with contextlib.suppress(Exception):
            log.info("connection %s ended: %s", conn.id, type(exc).__name__)
    finally:
        await switchboard.detach(conn)
