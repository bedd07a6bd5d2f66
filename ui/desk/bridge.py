"""The call engine on its own asyncio loop and thread, seen by the UI as Qt signals.

PySide6's QtAsyncio cannot run aiortc (DESIGN.md), so the engine lives on a loop in a thread
of its own. The UI sends work with :func:`asyncio.run_coroutine_threadsafe` and never waits
for it; engine events come back as Qt signals, which Qt queues across threads. Video reaches
the UI as the latest frame only (:class:`LatestFrame`): a slow paint skips frames, it never
builds a queue.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import av
from aiortc.mediastreams import MediaStreamError
from PySide6.QtCore import QObject, Signal

from calls.engine import CallEngine, EngineEvent, QueueChanged, SignalingChanged
from calls.media import MediaSource, VideoSink
from calls.session import (
    FINAL,
    CallSession,
    CallState,
    InviteDeclinedBy,
    ModeChanged,
    ParticipantsChanged,
    QualityReport,
    Refused,
    Role,
    StateChanged,
)

log = logging.getLogger("telehub.desk.bridge")
T = TypeVar("T")


class EngineLoop:
    """An asyncio loop running in a daemon thread until :meth:`stop`."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="call-engine", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def start(self) -> EngineLoop:
        self.thread.start()
        return self

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, fn: Callable[[], None]) -> None:
        self.loop.call_soon_threadsafe(fn)

    def stop(self, timeout: float = 10.0) -> None:
        """Cancels what is left on the loop, closes its executor, stops it and joins."""
        if not self.thread.is_alive():
            return

        async def drain() -> None:
            me = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not me]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.loop.shutdown_default_executor()

        with contextlib.suppress(Exception):
            self.submit(drain()).result(timeout)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout)
        if not self.thread.is_alive():
            self.loop.close()


class LatestFrame:
    """The newest decoded frame of one video stream, handed from the engine thread to the
    UI. ``notify`` is called (on the engine thread) only when no frame is already waiting to
    be taken, so at most one paint request is ever queued per stream."""

    def __init__(self, notify: Callable[[], None]) -> None:
        self._notify = notify
        self._lock = threading.Lock()
        self._frame: av.VideoFrame | None = None
        self._arrived = 0.0
        self._waiting = False
        self.frames = 0

    def put(self, frame: av.VideoFrame) -> None:
        with self._lock:
            self._frame, self._arrived = frame, time.perf_counter()
            self.frames += 1
            fire, self._waiting = not self._waiting, True
        if fire:
            self._notify()

    def take(self) -> tuple[av.VideoFrame, float] | None:
        """The frame and when it arrived (``time.perf_counter``), or None if none is new."""
        with self._lock:
            frame, self._frame, self._waiting = self._frame, None, False
            return None if frame is None else (frame, self._arrived)


class CallBridge(QObject):
    """One signed-in engine, as the desk's widgets see it.

    Signals:
        queueChanged(tuple): the waiting calls (``calls.protocol.QueueEntry``), queue order.
        stateChanged(StateChanged): a call moved (ringing, connecting, in_call, ended...).
        invited(CallSession): a specialist's desk is rung for a call (its ``invite``).
        qualityReported(QualityReport): about once a second during a call.
        modeChanged(ModeChanged): full / low / audio_only, by hand or automatically.
        participantsChanged(ParticipantsChanged): who is in the call.
        connectionChanged(bool, str): the hub connection is up (True) or down, and why.
        refused(str): the hub (or the call's state) refused an action; plain words.
        inviteDeclined(str): a specialist declined the invitation (their name).
        remoteFrame(): a new caller frame waits in :attr:`remote`.
        guestFrame(): a new frame of the third party (specialist or nurse) in :attr:`guest`.
        selfFrame(): a new frame of our own camera waits in :attr:`local`.
    """

    queueChanged = Signal(tuple)
    stateChanged = Signal(object)
    invited = Signal(object)
    qualityReported = Signal(object)
    modeChanged = Signal(object)
    participantsChanged = Signal(object)
    connectionChanged = Signal(bool, str)
    refused = Signal(str)
    inviteDeclined = Signal(str)
    remoteFrame = Signal()
    guestFrame = Signal()
    selfFrame = Signal()

    def __init__(self, loop: EngineLoop, make_engine: Callable[[Callable[[EngineEvent], None]],
                                                               CallEngine],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._loop = loop
        self.remote = LatestFrame(self.remoteFrame.emit)
        self.guest = LatestFrame(self.guestFrame.emit)
        self.local = LatestFrame(self.selfFrame.emit)
        self._tapping: asyncio.Task[None] | None = None

        async def build() -> CallEngine:
            return make_engine(self._on_event)

        self.engine: CallEngine = loop.submit(build()).result(10)

    @property
    def role(self) -> Role:
        return self.engine.role

    # --- engine thread --------------------------------------------------------------------

    def _on_event(self, event: EngineEvent) -> None:
        """Runs on the engine thread: turns each event into a queued Qt signal."""
        match event:
            case QueueChanged():
                self.queueChanged.emit(event.entries)
            case SignalingChanged():
                self.connectionChanged.emit(event.connected, event.reason)
            case StateChanged():
                session = self.engine.sessions.get(event.call_id or "")
                if (event.new is CallState.RINGING and session is not None
                        and session.invite is not None):
                    self.invited.emit(session)
                if event.new is CallState.CONNECTING and session is not None:
                    self._tap(session)
                self.stateChanged.emit(event)
            case QualityReport():
                self.qualityReported.emit(event)
            case ModeChanged():
                self.modeChanged.emit(event)
            case ParticipantsChanged():
                self.participantsChanged.emit(event)
            case Refused():
                self.refused.emit(event.message)
            case InviteDeclinedBy():
                self.inviteDeclined.emit(event.by)
            case _:
                pass

    def _tap(self, session: CallSession) -> None:
        if self._tapping is not None:
            self._tapping.cancel()
        self._tapping = asyncio.get_running_loop().create_task(
            self._tap_media(session), name="desk-frame-tap")

    async def _tap_media(self, session: CallSession) -> None:
        """Hooks the latest-frame slots onto the call's sinks, and onto each new one when a
        peer connection is replaced (aiortc's recovery is a new connection, new sinks)."""
        hooked: set[int] = set()
        selfview: asyncio.Task[None] | None = None
        try:
            while session.state not in FINAL:
                for pid, link in list(session.links.items()):
                    sink = link.video
                    if sink is None or id(sink) in hooked:
                        continue
                    hooked.add(id(sink))
                    part = session.participants.get(pid)
                    slot = self.remote if part is None or part.role == "caller" else self.guest
                    _hook(sink, slot)
                if selfview is None and session.media is not None:
                    selfview = asyncio.create_task(_read_self(session.media, self.local))
                await asyncio.sleep(0.05)
        finally:
            if selfview is not None:
                selfview.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await selfview

    # --- actions from the UI (never wait) --------------------------------------------------

    def _run(self, coro: Coroutine[Any, Any, object]) -> concurrent.futures.Future[object]:
        future = self._loop.submit(coro)

        def done(f: concurrent.futures.Future[object]) -> None:
            if f.cancelled():
                return
            exc = f.exception()
            if exc is not None:
                self.refused.emit(str(exc))

        future.add_done_callback(done)
        return future

    def start(self) -> concurrent.futures.Future[object]:
        return self._run(self.engine.start())

    def answer(self, call_id: str) -> concurrent.futures.Future[object]:
        if self.role is Role.SPECIALIST:
            return self._run(self.engine.accept_invite(call_id))
        return self._run(self.engine.claim(call_id))

    def decline(self, call_id: str) -> concurrent.futures.Future[object]:
        async def decline() -> None:
            session = self.engine.sessions.get(call_id)
            if session is not None:
                await session.decline()

        return self._run(decline())

    def hang_up(self, call_id: str) -> concurrent.futures.Future[object]:
        return self._run(self.engine.hang_up(call_id))

    def invite_specialist(self, call_id: str, note: str | None) -> concurrent.futures.Future[
            object]:
        async def invite() -> None:
            session = self.engine.sessions.get(call_id)
            if session is None:
                raise RuntimeError("the call has ended")
            await session.invite_specialist(note or None)

        return self._run(invite())

    def set_mode(self, call_id: str, mode: str) -> None:
        """``full``, ``low`` or ``audio_only``; ``auto`` gives the choice back to the engine."""

        def apply() -> None:
            session = self.engine.sessions.get(call_id)
            if session is None or session.state in FINAL:
                return
            if mode == "auto":
                session.set_auto_mode(True)
            else:
                session.set_mode(mode)

        self._loop.call(apply)

    def close(self, timeout: float = 10.0) -> None:
        """Hangs up and closes the engine (blocks: only at quit)."""
        with contextlib.suppress(Exception):
            self._loop.submit(self.engine.close()).result(timeout)


def _hook(sink: VideoSink, slot: LatestFrame) -> None:
    if sink.latest is not None:
        slot.put(sink.latest)
    sink.listeners.append(slot.put)


async def _read_self(media: MediaSource, slot: LatestFrame) -> None:
    """The self view: one more latest-only subscriber of the call's own (profiled) video."""
    audio, video = media.subscribe()
    if audio is not None:
        audio.stop()  # the self view has no use for our own microphone
    if video is None:
        return
    try:
        while True:
            frame = await video.recv()
            if isinstance(frame, av.VideoFrame):
                slot.put(frame)
    except MediaStreamError:
        pass
    finally:
        video.stop()
