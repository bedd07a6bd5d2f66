"""The hub's FastAPI application: assembles the routes (hub/routes/, the signaling
WebSocket among them), startup and shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp

from hub import caller_page, errors, schema
from hub.config import HubConfig
from hub.db import make_engine, session_factory
from hub.live import Switchboard
from hub.live.cluster import ClusterNode
from hub.live.pg import is_postgres
from hub.live.solo import SoloLock
from hub.record_checks import RecordChecker
from hub.routes import (
    accounts,
    auth,
    call_plans,
    calls,
    clinics,
    health,
    invitations,
    mfa,
    records,
    reports,
    signaling,
)
from hub.routes.answer_headers import AnswerHeaders
from hub.routes.body_limit import BodyLimit
from hub.routes.deps import HubServices, install
from hub.signin import SignInGuard

__version__ = "0.1.0"


class HubApp(FastAPI):
    """The hub's application: FastAPI with :class:`AnswerHeaders` outside everything, even
    the error middleware that writes a 500 (``add_middleware`` would put it inside that)."""

    def build_middleware_stack(self) -> ASGIApp:
        return AnswerHeaders(super().build_middleware_stack())


def create_app(config: HubConfig) -> FastAPI:
    engine = make_engine(config.db_url)
    # Refuse to run on a schema this code was not written for (the CLI says what to run).
    schema.check_current(engine)
    services = HubServices(
        config=config, engine=engine, sessions=session_factory(engine),
        record_checker=RecordChecker(config.record_check_processes),
    )  # fmt: skip
    services.signin = SignInGuard(services.sessions, config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        live: Switchboard | ClusterNode
        solo = SoloLock(config.db_url)
        if is_postgres(config.db_url):  # one of any number of hubs on the database
            live = ClusterNode(config, services.sessions)
        else:
            solo.acquire()  # SQLite: this process alone (raises HubAlreadyRunning)
            live = Switchboard(config, services.sessions)
        await live.start()
        services.started(live)
        if config.record_checkers_at_start:
            services.record_checker.start()
        try:
            yield
        finally:
            await live.stop()
            solo.release()
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
    for module in (health, auth, mfa, calls, accounts, records, invitations, call_plans,
                   clinics, caller_page, reports, signaling):
        app.include_router(module.router)
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    errors.install(app)  # last: its catch-all is the outermost layer

    return app
