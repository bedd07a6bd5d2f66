"""The hub's FastAPI application: assembles the routes (hub/routes/), the signaling
WebSocket, startup and shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, WebSocket

from hub import caller_page, schema
from hub.config import HubConfig
from hub.contract import signaling as p
from hub.contract.identity import Principal
from hub.db import make_engine, session_factory
from hub.live import Connection, Refusal, Switchboard
from hub.record_checks import RecordChecker
from hub.routes import (
    accounts,
    auth,
    call_plans,
    calls,
    clinics,
    health,
    invitations,
    records,
    reports,
)
from hub.routes.body_limit import BodyLimit
from hub.routes.deps import HubServices, SwitchboardDep, install

log = logging.getLogger("telehub.hub")
HELLO_TIMEOUT_S = 10.0
__version__ = "0.1.0"


def create_app(config: HubConfig) -> FastAPI:
    engine = make_engine(config.db_url)
    # Refuse to run on a schema this code was not written for (the CLI says what to run).
    schema.check_current(engine)
    services = HubServices(
        config=config, engine=engine, sessions=session_factory(engine),
        record_checker=RecordChecker(config.record_check_processes),
    )  # fmt: skip

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        switchboard = Switchboard(config, services.sessions)
        await switchboard.start()
        services.started(switchboard)
        if config.record_checkers_at_start:
            services.record_checker.start()
        try:
            yield
        finally:
            await switchboard.stop()
            await asyncio.to_thread(services.record_checker.close)
            engine.dispose()

    app = FastAPI(
        title="telehub hub",
        version=__version__,
        summary="Accounts, sites, the live call queue, signaling and the call log.",
        lifespan=lifespan,
        docs_url=None,  # the Swagger page needs a CDN; /openapi.json describes the API
        redoc_url=None,
    )
    install(app, services)
    for module in (health, auth, calls, accounts, records, invitations, call_plans, clinics,
                   caller_page, reports):
        app.include_router(module.router)
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)

    @app.websocket("/ws")
    async def signaling(websocket: WebSocket, switchboard: SwitchboardDep) -> None:
        await serve_connection(websocket, switchboard)

    return app


async def _hello(websocket: WebSocket, switchboard: Switchboard) -> Principal | None:
    """Wait for a valid ``hello``; refuse (error + close) anything else."""

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
    return principal


async def serve_connection(websocket: WebSocket, switchboard: Switchboard) -> None:
    await websocket.accept()
    try:
        principal = await _hello(websocket, switchboard)
    except Exception:  # the peer vanished during the handshake
        return
    if principal is None:
        return
    conn = Connection(websocket, principal)
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
            try:
                await switchboard.handle(conn, msg)
            except Refusal as r:
                conn.send(p.Error(code=r.code, message=r.message, ref=msg.type,
                                  call_id=r.call_id,
                                  request_id=getattr(msg, "request_id", None)))
            except Exception:
                log.exception("bug while handling a %s message", msg.type)
                conn.send(p.Error(code=p.ErrorCode.INTERNAL, ref=msg.type,
                                  message="the hub failed to handle this message; "
                                  "nothing was changed on your side, try again"))
    except Exception as exc:  # network trouble on this connection only
        with contextlib.suppress(Exception):
            log.info("connection %s ended: %s", conn.id, type(exc).__name__)
    finally:
        await switchboard.detach(conn)
