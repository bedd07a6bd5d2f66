"""The request's unit of work (hub/routes/deps.py): commits before the answer, rolls back on
error, and runs after_commit actions on the event loop only once the change is durable."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI, HTTPException

from hub import accounts
from hub.config import HubConfig
from hub.metrics import HubMetrics
from hub.models import Site
from hub.readiness import Readiness
from hub.record_checks import RecordChecker
from hub.routes.deps import HubServices, UnitOfWorkDep, install
from tests.helpers.hubserver import HubDatabase


class Seen:
    """What each after_commit action saw: sites of that name, read on another connection."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.counts: list[int] = []

    def action(self, name: str) -> None:
        asyncio.get_running_loop()  # raises off the event loop
        with self.engine.connect() as conn:
            self.counts.append(conn.scalar(
                sa.select(sa.func.count()).select_from(Site).where(Site.name == name)) or 0)


@pytest.fixture
async def client(hubdb: HubDatabase) -> AsyncIterator[tuple[httpx.AsyncClient, Seen]]:
    engine = hubdb.sessions.kw["bind"]
    seen = Seen(engine)
    app = FastAPI()
    install(app, HubServices(config=HubConfig(db_url=hubdb.url), engine=engine,
                             sessions=hubdb.sessions, record_checker=RecordChecker(0),
                             readiness=Readiness(engine), metrics=HubMetrics()))

    @app.post("/sites/{name}")
    def enrol(name: str, unit: UnitOfWorkDep, refuse: bool = False) -> dict[str, str]:
        accounts.add_site(unit.session, name, "care_home")
        unit.after_commit(lambda: seen.action(name))
        if refuse:
            raise HTTPException(409, "refused after writing")
        return {"name": name}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as http:
        yield http, seen


def _sites(hubdb: HubDatabase, name: str) -> int:
    with hubdb.sessions() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(Site)
                        .where(Site.name == name)) or 0  # fmt: skip


async def test_a_2xx_answer_finds_the_change_committed_and_the_action_ran_after(
    client: tuple[httpx.AsyncClient, Seen], hubdb: HubDatabase
) -> None:
    http, seen = client
    assert (await http.post("/sites/Ash House")).status_code == 200
    # Visible at once to any other connection, and the action saw it durable.
    assert _sites(hubdb, "Ash House") == 1
    assert seen.counts == [1]


async def test_an_error_rolls_back_and_skips_the_actions(
    client: tuple[httpx.AsyncClient, Seen], hubdb: HubDatabase
) -> None:
    http, seen = client
    answer = await http.post("/sites/Elm House", params={"refuse": "true"})
    assert answer.status_code == 409
    assert _sites(hubdb, "Elm House") == 0
    assert seen.counts == []
