"""The hub's FastAPI application: assembles the routes (hub/routes/, the signaling
WebSocket among them), startup and shutdown."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp

from hub import caller_page, errors, schema
from hub.config import HubConfig
from hub.contract.photos import MAX_PHOTO_BYTES
from hub.db import make_engine, session_factory
from hub.listen import listen_socket
from hub.live import Switchboard
from hub.live.cluster import ClusterNode
from hub.live.pg import is_postgres
from hub.live.solo import SoloLock
from hub.metrics import HubMetrics
from hub.readiness import Readiness
from hub.record_checks import RecordChecker
from hub.routes import (
    accounts,
    auth,
    call_plans,
    calls,
    clinics,
    followups,
    health,
    history,
    invitations,
    mfa,
    opening,
    photos,
    records,
    reports,
    residents,
    signaling,
)
from hub.routes.answer_headers import AnswerHeaders
from hub.routes.body_limit import BodyLimit
from hub.routes.deps import HubServices, install
from hub.signin import SignInGuard

__version__ = "0.1.0"
log = logging.getLogger("telehub.hub")


class HubApp(FastAPI):
    """The hub's application: FastAPI with :class:`AnswerHeaders` outside everything, even
    the error middleware that writes a 500 (``add_middleware`` would put it inside that),
    and in front of it all the signaling WebSocket's own way in
    (:class:`hub.routes.signaling.SignalingFirst`)."""

    def build_middleware_stack(self) -> ASGIApp:
        return signaling.SignalingFirst(AnswerHeaders(super().build_middleware_stack()))


def create_app(config: HubConfig) -> FastAPI:
    """The hub's application. With ``config.metrics_port`` set it binds its metrics
    listener; the CLI binds one itself (to say plainly when the port is taken) and hands it
    over with :func:`serve_metrics_on`."""
    engine = make_engine(config.db_url)
    # Refuse to run on a schema this code was not written for (the CLI says what to run).
    schema.check_current(engine)
    services = HubServices(
        config=config, engine=engine, sessions=session_factory(engine),
        record_checker=RecordChecker(config.record_check_processes),
        readiness=Readiness(engine), metrics=HubMetrics(),
    )  # fmt: skip
    if config.metrics_port is not None:
        services.serve_metrics_on(listen_socket(config.metrics_host, config.metrics_port))
    services.signin = SignInGuard(services.sessions, config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        live: Switchboard | ClusterNode
        solo = SoloLock(config.db_url)
        if is_postgres(config.db_url):  # one of any number of hubs on the database
            live = ClusterNode(config, services.sessions, metrics=services.metrics)
        else:
            solo.acquire()  # SQLite: this process alone (raises HubAlreadyRunning)
            live = Switchboard(config, services.sessions, metrics=services.metrics)
        await live.start()
        services.started(live)
        services.metrics.watch(live)
        listener = services.metrics_listener
        if listener is not None:
            await listener.start()
        if config.record_checkers_at_start:
            services.record_checker.start()
        try:
            yield
        finally:
            if listener is not None:
                await listener.stop()
            services.metrics.watch(None)
            await live.stop()
            solo.release()
            services.readiness.close()
            await asyncio.to_thread(services.record_checker.close)
            if services.signin is not None:
                await asyncio.to_thread(services.signin.close)
            engine.dispose()

    app = HubApp(
        title="telehub hub",
        version=__version__,
        summary="Accounts, sites, the live call queue, signaling and the call log.",
        lifespan=lifespan,
        docs_url=None,  # the Swagger page needs a CDN; /openapi.json describes the API
        redoc_url=None,
    )
    install(app, services)
    for module in (health, auth, mfa, calls, accounts, records, history, invitations,
                   call_plans, clinics, caller_page, reports, residents, followups, opening,
                   signaling, photos):
        app.include_router(module.router)
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes,
                       wider={photos.UPLOAD_PATH: MAX_PHOTO_BYTES})
    caller_page.allow_peers(app, config)  # the caller page from another hub of the service
    errors.install(app)  # last: its catch-all is the outermost layer

    return app


def serve_metrics_on(app: FastAPI, sock: socket.socket) -> None:
    """Serve the hub's metrics on ``sock`` (bound and listening) once the app starts."""
    services = app.state.services
    assert isinstance(services, HubServices)
    services.serve_metrics_on(sock)
