"""The signaling WebSocket at ``/ws``: the hello handshake, then each frame parsed against the
contract (hub/contract/signaling.py) and handed to the live side: the Switchboard, or on a
hub of several its ClusterNode (hub/live/front.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from fastapi import APIRouter, WebSocket

from hub import lifecycle
from hub.contract import signaling as p
from hub.contract.identity import Principal
from hub.live import Connection
from hub.live.front import LiveFront
from hub.live.refusal import carry_out
from hub.routes.deps import SwitchboardDep

log = logging.getLogger("telehub.hub")
router = APIRouter()
HELLO_TIMEOUT_S = 10.0


@router.websocket("/ws")
async def signaling(websocket: WebSocket, switchboard: SwitchboardDep) -> None:
    await serve_connection(websocket, switchboard)


async def _hello(websocket: WebSocket, switchboard: LiveFront
                 ) -> tuple[Principal, str] | None:
    """Wait for a valid ``hello``; refuse (error + close) anything else. Returns who signed
    in and the hash of their token (so a sign-out can close this connection)."""

    async def refuse(code: p.ErrorCode, message: str, close_code: int) -> None:
        await websocket.send_text(p.Error(code=code, message=message, ref="hello").to_json())
        await websocket.close(close_code, message[:120])

    try:
        frame = await asyncio.wait_for(websocket.receive(), HELLO_TIMEOUT_S)
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
