"""Fixtures for the site station: a nurse's desk on the real call engine and station windows;
the hub (with steady timings here: the GUI answers pings between paints) comes from
tests/helpers/fixtures.py."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from pytestqt.qtbot import QtBot

from calls.cameras import Camera
from calls.engine import CallEngine, EngineEvent, QueueChanged
from calls.media import MediaSource
from hub.client import Backoff, HubClient
from hub.contract.identity import CallRole
from records.store import Store
from tests.helpers.engines import LoopThread
from tests.helpers.fixtures import STEADY
from tests.helpers.hubserver import HubDatabase, Seeded, ThreadedHub
from ui.station.bridge import StationBridge
from ui.station.media import CameraChoice, Switches, media_factory
from ui.station.residents import ResidentList
from ui.station.window import StationWindow

T = TypeVar("T")


@pytest.fixture
def hub_timings() -> dict[str, Any]:
    return STEADY


class Desk:
    """A real aiortc nurse desk (the call engine) on a loop in its own thread."""

    def __init__(self, hub: ThreadedHub, nurse: Seeded) -> None:
        self.thread = LoopThread()
        self.loop = self.thread.loop
        self.queue: tuple[Any, ...] = ()
        self.token = nurse.token
        self.engine: CallEngine = self.run(self._make(hub, nurse))
        self.run(self.engine.start())

    async def _make(self, hub: ThreadedHub, nurse: Seeded) -> CallEngine:
        engine = CallEngine(hub.ws, nurse.token, CallRole.NURSE,
                            backoff=Backoff(initial=0.05, maximum=0.5))
        engine.listen(self._on)
        return engine

    def _on(self, event: EngineEvent) -> None:
        if isinstance(event, QueueChanged):
            self.queue = event.entries

    def run(self, coro: Coroutine[Any, Any, T], within: float = 20) -> T:
        return self.thread.run(coro, within)

    def close(self) -> None:
        self.run(self.engine.close())
        self.thread.stop()


@pytest.fixture
def desk(hub: ThreadedHub, hubdb: HubDatabase) -> Iterator[Desk]:
    made = Desk(hub, hubdb.staff("nina", "nurse"))
    yield made
    made.close()


@pytest.fixture
def make_station(
    hub: ThreadedHub, tmp_path: Path, qtbot: QtBot,
) -> Iterator[Callable[[Seeded], StationWindow]]:
    made: list[tuple[StationBridge, HubClient, Store]] = []
    # Held until teardown: a window whose wrapper the garbage collector took at some later
    # moment (it is in reference cycles) was deleted in the middle of another test.
    windows: list[StationWindow] = []

    def make(site: Seeded, backoff: Backoff | None = None,
             camera: Callable[[Switches], Callable[[], MediaSource]] | None = None,
             cameras: list[Camera] | None = None) -> StationWindow:
        """A signed-in station; ``camera`` makes its media from its switches (default: the
        synthetic pattern at the call's size); ``cameras`` to choose from in a call."""
        assert site.credential is not None
        client = HubClient(httpx.Client(timeout=10.0), hub.http)
        client.sign_in_site(site.credential)
        assert client.token is not None
        store = Store.open(f"sqlite:///{tmp_path / f'station{len(made)}.db'}")
        choice = CameraChoice(tmp_path / f"station{len(made)}.ini")
        switches = Switches(camera=choice.pick(cameras or []))
        media = camera(switches) if camera is not None else media_factory("synthetic", switches)
        bridge = StationBridge(client.ws_url, client.token, media, switches,
                               backoff=backoff or Backoff(initial=0.05, maximum=0.5))
        made.append((bridge, client, store))
        window = StationWindow(client, bridge, ResidentList(store, f"site:{site.principal.id}"),
                               cameras=cameras, choice=choice)
        windows.append(window)
        qtbot.addWidget(window)
        window.resize(1280, 800)
        window.show()
        bridge.start()
        qtbot.waitUntil(lambda: window.connected, timeout=10_000)
        return window

    yield make
    for window in windows:
        window.close()
    for bridge, client, store in made:
        bridge.close()
        client.http.close()
        store.close()
