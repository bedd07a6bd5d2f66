"""The station's call engine on its own asyncio loop and thread, seen by the UI as Qt signals.

PySide6's QtAsyncio cannot run aiortc (DESIGN.md), so the engine runs on a loop in a thread
of its own; the UI submits work with ``run_coroutine_threadsafe`` and never waits for it.
Engine events come back as Qt signals (queued across threads). Video reaches the UI as the
latest frame only, so a slow paint skips frames and never builds a queue.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import av
from PySide6.QtCore import QObject, Signal

from calls.engine import CallEngine, EngineEvent, SignalingChanged
from calls.media import MediaSource
from calls.session import (
    CallSession,
    CallState,
    LinkChanged,
    QueueMoved,
    Refused,
    Role,
    StateChanged,
)
from calls.signaling import Backoff
from hub.contract import signaling as p
from ui.station.media import Switches, check_devices

T = TypeVar("T")


class LatestFrame:
    """The newest frame of one stream, handed from the engine thread to the UI thread."""

    def __init__(self, notify: Callable[[], None]) -> None:
        self._notify = notify
        self._lock = threading.Lock()
        self._frame: av.VideoFrame | None = None
        self.frames = 0

    def put(self, frame: av.VideoFrame) -> None:
        with self._lock:
            fire = self._frame is None
            self._frame = frame
            self.frames += 1
        if fire:  # at most one paint request waits at a time
            self._notify()

    def take(self) -> av.VideoFrame | None:
        with self._lock:
            frame, self._frame = self._frame, None
            return frame


class PlanListeningEngine(CallEngine):
    """The call engine, also handing on the hub's ``call_plan`` pushes (which belong to no
    live call: the plan is usually written after the call has ended)."""

    def __init__(self, *args: Any, on_plan: Callable[[p.CallPlanReady], None],
                 **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._on_plan = on_plan

    async def _dispatch(self, msg: p.ServerMessage) -> None:
        if isinstance(msg, p.CallPlanReady):
            self._on_plan(msg)
            return
        await super()._dispatch(msg)


class StationBridge(QObject):
    """The station's one engine (role caller), as the widgets see it.

    Signals:
        connectionChanged(bool, str): the hub connection is up (True) or down, and why.
        stateChanged(object): a :class:`calls.session.StateChanged` of the station's call.
        queueMoved(int, int): place in the queue and the estimated wait in seconds.
        refused(str): the hub refused something; plain words to show.
        deviceChecked(object): a :class:`ui.station.media.DeviceCheck`.
        remoteFrame(): a new frame of the nurse waits in :attr:`remote`.
        selfFrame(): a new frame of our own camera waits in :attr:`local`.
        fetched(str, object): the result (or the exception) of a :meth:`fetch`, by its tag.
        planPushed(object): a :class:`hub.contract.signaling.CallPlanReady` the hub pushed (the plan
            of one of this site's calls, written or corrected).
    """

    connectionChanged = Signal(bool, str)
    stateChanged = Signal(object)
    queueMoved = Signal(int, int)
    refused = Signal(str)
    deviceChecked = Signal(object)
    remoteFrame = Signal()
    selfFrame = Signal()
    fetched = Signal(str, object)
    planPushed = Signal(object)

    def __init__(self, hub_ws: str, token: str, media: Callable[[], MediaSource],
                 switches: Switches, backoff: Backoff | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.switches = switches
        self.remote = LatestFrame(self.remoteFrame.emit)
        self.local = LatestFrame(self.selfFrame.emit)
        switches.on_frame = self.local.put
        self._media = media
        self.loop = asyncio.new_event_loop()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="station-engine", daemon=True)
        self._thread.start()
        self.engine: CallEngine = self._submit(self._make(hub_ws, token, backoff)).result(10)
        self.session: CallSession | None = None
        self.call_id: str | None = None
        self._hooked: set[int] = set()

    async def _make(self, hub_ws: str, token: str, backoff: Backoff | None) -> CallEngine:
        engine = PlanListeningEngine(hub_ws, token, Role.CALLER, media=self._media,
                                     backoff=backoff, on_plan=self.planPushed.emit)
        engine.listen(self._on_event)
        return engine

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def _submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        if self._closing:  # the window may still react to the last events: do nothing
            coro.close()
            future: concurrent.futures.Future[T] = concurrent.futures.Future()
            future.cancel()
            return future
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def _report(self, future: concurrent.futures.Future[Any]) -> None:
        exc = future.exception() if not future.cancelled() else None
        if exc is not None:
            self.refused.emit(str(exc) or type(exc).__name__)

    # --- actions (UI thread) --------------------------------------------------------------

    def start(self) -> None:
        async def go() -> None:
            try:
                await self.engine.start()
            except Exception as exc:
                self.connectionChanged.emit(False, f"cannot reach the hub ({exc})")
        self._submit(go())

    def request_call(self, reason: str, **details: Any) -> None:
        async def go() -> None:
            self._hooked.clear()
            self.session = await self.engine.request_call(reason, **details)
        self._submit(go()).add_done_callback(self._report)

    def hang_up(self) -> None:
        async def go() -> None:
            if self.session is not None and self.session.state not in (
                    CallState.ENDED, CallState.FAILED):
                await self.session.hang_up()
        self._submit(go()).add_done_callback(self._report)

    def set_muted(self, muted: bool) -> None:
        self.switches.muted = muted

    def set_camera_off(self, off: bool) -> None:
        self.switches.camera_off = off

    def check_devices(self) -> None:
        async def go() -> None:
            self.deviceChecked.emit(await check_devices(self._media))
        self._submit(go())

    def fetch(self, tag: str, work: Callable[[], object]) -> None:
        """Runs blocking ``work`` (an HTTP call) off the UI thread; ``fetched`` brings the
        result, or the exception it raised."""
        async def go() -> None:
            try:
                result: object = await asyncio.to_thread(work)
            except Exception as exc:
                result = exc
            self.fetched.emit(tag, result)
        self._submit(go())

    def close(self) -> None:
        """Hangs up, closes the engine, then cancels what is left and stops the loop."""
        if self._closing:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self.engine.close(), self.loop).result(15)
        self._closing = True

        async def drain() -> None:
            me = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not me]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.loop.shutdown_default_executor()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(drain(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self.loop.close()

    # --- engine events (engine thread) ----------------------------------------------------

    def _on_event(self, event: EngineEvent) -> None:
        match event:
            case SignalingChanged():
                self.connectionChanged.emit(event.connected, event.reason)
            case StateChanged():
                if event.call_id:
                    self.call_id = event.call_id
                self.stateChanged.emit(event)
                self._hook_sinks()
            case QueueMoved():
                self.queueMoved.emit(event.position, event.estimated_wait_s)
            case Refused():
                self.refused.emit(event.message)
            case LinkChanged():
                self._hook_sinks()
                # The sink appears when the first track arrives, just after the link connects.
                self.loop.call_later(0.5, self._hook_sinks)
                self.loop.call_later(2.0, self._hook_sinks)

    def _hook_sinks(self) -> None:
        if self.session is None:
            return
        for link in self.session.links.values():
            sink = link.video
            if sink is not None and id(sink) not in self._hooked:
                self._hooked.add(id(sink))
                sink.listeners.append(self.remote.put)
