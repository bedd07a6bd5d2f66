"""The station program and a desk given two hubs' addresses (no load balancer), on one real
PostgreSQL: the hub both are on is killed (SIGKILL) in the middle of a call, and both carry
on at the other one: the call resumes, the desk has the queue again, REST goes there too."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from calls.engine import CallEngine
from calls.session import CallState
from hub.client import Backoff, HubClient
from hub.contract.identity import CallRole
from tests.helpers.engines import LoopThread
from tests.helpers.hubserver import HubDatabase, ProcessHub
from tests.ui.conftest import signed_in
from tests.ui.station.test_station import MemoryKeyring, click, type_into
from ui.desk.window import DeskWindow
from ui.station.app import open_station, parse_args
from ui.station.credential import SERVICE, CredentialVault

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def hub_db_url(fresh_pg_database: Callable[[], str]) -> str:
    return fresh_pg_database()


def test_the_station_and_a_desk_carry_on_at_the_other_hub_when_theirs_is_killed(
    qtbot: QtBot, hubdb: HubDatabase, start_hubs: Callable[[int], list[ProcessHub]],
    desk_factory: Callable[..., DeskWindow], tmp_path: Path,
) -> None:
    a, b = start_hubs(2)  # a dispatches: killing it moves every client of both hubs
    hubdb.staff("nina", "nurse")
    site, other = hubdb.site("Rosewood Care Home"), hubdb.site("Alder House")
    assert site.credential is not None

    # The desk: both addresses typed in its sign-in field.
    desk = desk_factory()
    signed_in(qtbot, desk, f"{a.http}, {b.http}", "nina")
    assert desk.session is not None and desk.session.hubs.urls == (a.http, b.http)
    assert desk.bridge is not None and desk.bridge.engine.signaling.url == a.ws

    # The station as `telehub-site --hub A --hub B` builds it, its credential in the keyring
    # under the service's first address.
    keyring = MemoryKeyring()
    vault = CredentialVault(keyring)
    assert vault.save(a.http, site.credential)
    station = open_station(parse_args(["--hub", a.http, "--hub", b.http, "--media",
                                       "synthetic", "--data-dir", str(tmp_path / "station")]),
                           vault)
    assert not isinstance(station, str), station
    w = station.window
    thread = LoopThread()
    waiting: CallEngine | None = None
    try:
        qtbot.addWidget(w)
        w.resize(1280, 800)
        w.show()
        station.bridge.start()
        qtbot.waitUntil(lambda: w.connected, timeout=10_000)

        # Another home waits in the queue (through b, its only address).
        async def call_from_b() -> CallEngine:
            engine = CallEngine(b.ws, other.token, CallRole.CALLER,
                                backoff=Backoff(initial=0.05, maximum=0.5))
            await engine.start()
            await engine.request_call("a fall")
            return engine

        waiting = thread.run(call_from_b())
        click(qtbot, w.home_page.call_button)
        type_into(qtbot, w.details_page.reason.reason, "Short of breath, new confusion")
        click(qtbot, w.details_page.go_button)
        qtbot.waitUntil(lambda: desk.queue.model.rowCount() == 2, timeout=10_000)
        mine = next(e.call_id for e in desk.queue.model.entries
                    if e.site_id == site.principal.id)
        desk.on_answer(mine)
        qtbot.waitUntil(lambda: desk.call.remote.painted >= 5
                        and w.call_page.remote_view.frames > 5, timeout=20_000)

        painted, frames = desk.call.remote.painted, w.call_page.remote_view.frames
        a.kill()
        # Both are signed in again at b, the desk has the queue back (the other home), and
        # the call goes on: its media never stopped (peer to peer), its signaling resumed.
        qtbot.waitUntil(lambda: desk.hub_up and desk.bridge is not None
                        and desk.bridge.engine.signaling.url == b.ws
                        and desk.bridge.engine.signaling.connections >= 2, timeout=20_000)
        qtbot.waitUntil(lambda: w.connected and station.bridge.engine.signaling.url == b.ws
                        and station.bridge.engine.signaling.connections >= 2, timeout=20_000)
        qtbot.waitUntil(lambda: desk.queue.model.rowCount() == 1, timeout=10_000)
        assert desk.queue.model.entries[0].site_id == other.principal.id
        assert desk.current == mine and w.pages.currentWidget() is w.call_page
        qtbot.waitUntil(lambda: desk.call.remote.painted > painted + 5
                        and w.call_page.remote_view.frames > frames + 5, timeout=10_000)
        # REST follows: the station asked for its plan after the reconnect, at b (a refused
        # the connection); the desk's clients share one list of addresses, moved the same way.
        qtbot.waitUntil(lambda: station.hub.url == b.http, timeout=10_000)
        assert station.hub.name == a.http
        assert list(keyring.values) == [(SERVICE, a.http)]  # the one entry, found as before
        rest = HubClient(desk.parts.http, desk.session.hubs, desk.session.token)
        assert rest.round_trip_ms() > 0 and desk.session.hubs.current == b.http

        # The nurse ends the call at b: the station is told and shows the end.
        desk.on_end()
        qtbot.waitUntil(lambda: w.pages.currentWidget() is w.after_page, timeout=10_000)
        call = station.bridge.engine.sessions.get(mine)
        assert call is None or call.state is CallState.ENDED
    finally:
        if waiting is not None:
            thread.run(waiting.close())
        thread.stop()
        w.close()
        station.close()
        # The last hub would drain for seconds (waiting for another to take the dispatch);
        # a clean stop is tests/hub/test_cluster.py's, so it goes at once here.
        b.kill()
