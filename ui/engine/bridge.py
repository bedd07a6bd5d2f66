"""The base of every program's bridge to its call engine: the engine on its own loop and
thread (:class:`~ui.engine.loop.EngineLoop`), seen by the widgets as Qt signals.

The UI submits work and never waits for it; a failure comes back as ``refused``. Engine
events arrive on the engine thread and leave as signals, which Qt queues to the UI thread.
Video reaches the UI as the latest frame only (:class:`~ui.engine.frames.LatestFrame`).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal

from calls.engine import CallEngine, EngineEvent, SignalingChanged
from calls.session import (
    MediaResumed,
    MediaStalled,
    QualityReport,
    Refused,
    RemoteMediaAdded,
    StateChanged,
)
from ui.engine.frames import LatestFrame, hook
from ui.engine.loop import EngineLoop

T = TypeVar("T")
EngineMaker = Callable[[Callable[[EngineEvent], None]], CallEngine]


class EngineBridge(QObject):
    """One call engine on a loop of its own; subclasses add their program's actions and
    turn the rest of the engine's events into their own signals (:meth:`on_event`).

    Signals:
        connectionChanged(bool, str): the hub connection is up (True) or down, and why.
        stateChanged(StateChanged): a call moved (queued, ringing, in_call, ended...).
        refused(str): the hub, the call's state or a failed action said no; plain words.
        remoteFrame(): a new frame of the other party waits in :attr:`remote`.
        selfFrame(): a new frame of our own camera waits in :attr:`local`.
        qualityReported(QualityReport): about once a second during a call.
        mediaLiveness(object): a ``MediaStalled`` (nothing arrives from a participant: at
            once, then each second) or ``MediaResumed``.
    """

    connectionChanged = Signal(bool, str)
    stateChanged = Signal(StateChanged)
    refused = Signal(str)
    remoteFrame = Signal()
    selfFrame = Signal()
    qualityReported = Signal(QualityReport)
    mediaLiveness = Signal(object)

    def __init__(self, make_engine: EngineMaker, *, name: str,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.remote = LatestFrame(self.remoteFrame.emit)
        self.local = LatestFrame(self.selfFrame.emit)
        self.loop = EngineLoop(name).start()
        self._closing = False

        async def build() -> CallEngine:  # on the loop: the engine's futures belong to it
            return make_engine(self._on_event)

        self.engine: CallEngine = self.loop.submit(build()).result(10)

    # --- engine thread --------------------------------------------------------------------

    def _on_event(self, event: EngineEvent) -> None:
        match event:
            case SignalingChanged():
                self.connectionChanged.emit(event.connected, event.reason)
            case Refused():
                self.refused.emit(event.message)
            case QualityReport():
                self.qualityReported.emit(event)
            case MediaStalled() | MediaResumed():
                self.mediaLiveness.emit(event)
            case _:
                self.on_event(event)

    def on_event(self, event: EngineEvent) -> None:
        """Runs on the engine thread for every other event; subclasses emit their signals."""

    def remote_video(self, event: RemoteMediaAdded, slot: LatestFrame) -> None:
        """Hooks the video sink ``event`` announced to ``slot`` (engine thread)."""
        session = self.engine.sessions.get(event.call_id)
        sink = session.remote_video(event.participant_id) if session is not None else None
        if sink is not None:
            hook(sink, slot)

    # --- from the UI (never waits) --------------------------------------------------------

    def submit(self, coro: Coroutine[Any, Any, T], *,
               report: bool = True) -> concurrent.futures.Future[T]:
        """Runs ``coro`` on the engine's loop; with ``report`` a failure becomes ``refused``.
        Once closing, does nothing (the widgets may still react to the last events)."""
        if self._closing:
            coro.close()
            future: concurrent.futures.Future[T] = concurrent.futures.Future()
            future.cancel()
            return future
        future = self.loop.submit(coro)
        if report:
            future.add_done_callback(self._report)
        return future

    def call(self, fn: Callable[[], object]) -> None:
        """Runs ``fn`` on the engine thread, soon (for the engine's plain methods)."""
        if not self._closing:
            self.loop.call(fn)

    def _report(self, future: concurrent.futures.Future[Any]) -> None:
        exc = future.exception() if not future.cancelled() else None
        if exc is not None:
            self.refused.emit(str(exc) or type(exc).__name__)

    def close(self, timeout: float = 15.0) -> None:
        """Hangs up and closes the engine, then cancels what is left and stops the loop
        (blocks: only at quit). Idempotent."""
        if self._closing:
            return
        self._closing = True
        with contextlib.suppress(Exception):
            self.loop.submit(self.engine.close()).result(timeout)
        self.loop.stop()
