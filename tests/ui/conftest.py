"""Fixtures for desk tests: a synthetic site caller on the real call engine, and desks built
from real parts (the fail keyring unless a test says otherwise); the hub and the people
enrolled in it come from tests/helpers/fixtures.py."""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from keyring.backends import fail

from calls.engine import CallEngine, EngineEvent
from calls.media import HD, MediaSource
from calls.session import CallSession
from hub.client import Backoff, HubClient
from hub.contract import signaling as p
from hub.contract.identity import CallRole
from records.store import Store
from tests.helpers.engines import LoopThread
from tests.helpers.fixtures import People
from tests.helpers.hubserver import PASSWORD, Seeded, ThreadedHub
from ui import theme
from ui.desk.auth import PasswordVault, SignedIn
from ui.desk.manager.view import manager_view
from ui.desk.media import media_factory
from ui.desk.window import DeskParts, DeskWindow

T = TypeVar("T")



class SiteCaller:
    """A care home's station: the real call engine with the synthetic pattern and tone."""

    def __init__(self, loop: LoopThread, engine: CallEngine) -> None:
        self.loop = loop
        self.engine = engine
        self.events: list[EngineEvent] = []
        self.session: CallSession | None = None

    def request(self, reason: str, **details: Any) -> CallSession:
        async def go() -> CallSession:
            return await self.engine.request_call(reason, **details)

        self.session = self.loop.run(go())
        return self.session


@pytest.fixture
def engine_loop() -> Iterator[LoopThread]:
    loop = LoopThread()
    yield loop
    loop.stop()


@pytest.fixture
def make_engine(engine_loop: LoopThread, hub: ThreadedHub
                ) -> Iterator[Callable[..., CallEngine]]:
    made: list[CallEngine] = []

    def make(who: Seeded, role: CallRole,
             media: Callable[[], MediaSource] = MediaSource.synthetic) -> CallEngine:
        async def build() -> CallEngine:
            engine = CallEngine(hub.ws, who.token, role,
                                backoff=Backoff(initial=0.05, maximum=0.5),
                                media=media)
            await engine.start()
            return engine

        engine: CallEngine = engine_loop.run(build())
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine_loop.run(engine.close())


@pytest.fixture
def site_caller(make_engine: Callable[..., CallEngine], engine_loop: LoopThread,
                people: People) -> SiteCaller:
    caller = SiteCaller(engine_loop, make_engine(people.site, CallRole.CALLER))
    caller.engine.listen(caller.events.append)
    return caller


@pytest.fixture
def hd_site_caller(make_engine: Callable[..., CallEngine], engine_loop: LoopThread,
                   people: People) -> SiteCaller:
    """A station whose camera gives 1280x720 (the synthetic pattern in HD)."""
    caller = SiteCaller(engine_loop, make_engine(
        people.site, CallRole.CALLER, media=lambda: MediaSource.synthetic(size=HD)))
    caller.engine.listen(caller.events.append)
    return caller


def desk_parts(tmp_path: Path, vault: PasswordVault | None = None,
               sync_url: str | None = None, voice_output: Any = None) -> DeskParts:
    http = httpx.Client(timeout=10)

    def open_store(signed: SignedIn) -> Store:
        return Store.open(f"sqlite:///{tmp_path / f'desk-{signed.username}.db'}")

    def make_engine_for(signed: SignedIn, emit: Callable[[EngineEvent], None]) -> CallEngine:
        role = signed.principal.call_role
        assert role is not None  # the window makes no engine for a manager
        return CallEngine(signed.ws_urls, signed.token, role, emit,
                          media=media_factory("synthetic"),
                          backoff=Backoff(initial=0.05, maximum=0.5))

    def make_sync(signed: SignedIn) -> tuple[HubClient, httpx.Client]:
        http = httpx.Client(timeout=5)
        return HubClient(http, sync_url or signed.hubs, signed.token), http

    return DeskParts(vault or PasswordVault(fail.Keyring()), http, open_store,
                     make_engine_for, make_sync, sync_idle_s=0.5, voice_output=voice_output,
                     open_manager=functools.partial(manager_view, http))


@pytest.fixture
def desk_theme(qapp: Any) -> Iterator[Any]:
    """The desk's look (``theme.apply``: Fusion, its palette, a font of 10.5 pt or more and
    its style sheet) on the application for one test, and the application's own look back
    after it: left in place, it changed the station tests that ran next in the same process
    (their type is sized from the application font; their outlines drawn in its style)."""
    from PySide6.QtGui import QFont, QPalette

    style, palette = qapp.style().name(), QPalette(qapp.palette())
    font, sheet = QFont(qapp.font()), qapp.styleSheet()
    theme.apply(qapp)
    yield qapp
    qapp.setStyleSheet(sheet)
    qapp.setStyle(style)
    qapp.setPalette(palette)
    qapp.setFont(font)


@pytest.fixture
def desk_factory(qtbot: Any, tmp_path: Path, desk_theme: Any
                 ) -> Iterator[Callable[..., DeskWindow]]:
    made: list[DeskWindow] = []

    def make(hub: str = "", user: str = "", **kw: Any) -> DeskWindow:
        window = DeskWindow(desk_parts(tmp_path, **kw), hub, user)
        qtbot.addWidget(window)
        window.show()
        made.append(window)
        return window

    yield make
    for window in made:
        window.shutdown()
        window.parts.http.close()


def signed_in(qtbot: Any, window: DeskWindow, hub: ThreadedHub | str, user: str) -> None:
    """Signs in through the real sign-in screen, by keyboard; ``hub`` may be what is typed
    in the address field (several hubs' addresses)."""
    from PySide6.QtCore import Qt

    window.activateWindow()  # window shortcuts (Ctrl+Return...) need the active window
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    window.signin.hub.setText(hub if isinstance(hub, str) else hub.http)
    window.signin.user.setText(user)
    qtbot.keyClicks(window.signin.password, PASSWORD)
    qtbot.keyClick(window.signin.password, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.bridge is not None and window.hub_up, timeout=15_000)


PRE_CALL = p.PreCallObservations(respiration_rate=21, spo2=93, on_oxygen=False,
                                 systolic_bp=120, pulse=95, consciousness="A",
                                 temperature=37.5)


@pytest.fixture(autouse=True)
def _qt_garbage_collected_on_the_gui_thread() -> Iterator[None]:
    """Collect reference cycles here, on the GUI thread, before and after each test.

    A cycle holding a Qt object (a window, a model) of an earlier test is otherwise freed
    whenever the collector next runs, which may be on an engine or worker thread: Qt then
    deletes a GUI object off its thread, and the process crashes (seen in CI, in the set-up
    of the next test while its fixtures waited on the engine loop)."""
    gc.collect()
    yield
    gc.collect()
    # What is left now outlives the test (session fixtures, caches): frozen, so that later
    # collections do not walk it again; and a Qt object in it is then never freed by a
    # collection on another thread.
    gc.freeze()

