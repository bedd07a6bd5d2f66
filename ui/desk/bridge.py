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
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from PySide6.QtCore import QObject, Signal

from calls.engine import CallEngine, EngineEvent, QueueChanged, SignalingChanged
from calls.media import VideoSink
from calls.session import (
    FINAL,
    CallSession,
    CallState,
    InviteDeclinedBy,
    LocalMediaChanged,
    ModeChanged,
    ParticipantsChanged,
    QualityReport,
    Refused,
    RemoteMediaAdded,
    Role,
    StateChanged,
)
from ui.desk.audio import VoiceQueue

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
        queueChanged(tuple): the waiting calls (``hub.contract.signaling.QueueEntry``), queue order.
        stateChanged(StateChanged): a call moved (ringing, connecting, in_call, ended...).
        invited(CallSession): a specialist's desk is rung for a call (its ``invite``).
        qualityReported(QualityReport): about once a second during a call.
        modeChanged(ModeChanged): full / low / audio_only, by hand or automatically.
        participantsChanged(ParticipantsChanged): who is in the call.
        connectionChanged(bool, str): the hub connection is up (True) or down, and why.
        refused(str): the hub (or the call's state) refused an action; plain words.
        inviteDeclined(str): a specialist declined the invitation (their name).
        voiceAdded(str): a participant's audio now arrives in :attr:`voices` (by their id).
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
    voiceAdded = Signal(str)
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
        self.voices: dict[str, VoiceQueue] = {}  # written on the engine thread only
        self._selfview: asyncio.Task[None] | None = None

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
                if event.new in FINAL:
                    self._stop_self_view()
                    self.voices.clear()
                self.stateChanged.emit(event)
            case RemoteMediaAdded():
                self._on_remote_media(event)
            case LocalMediaChanged() if event.ready:
                self._start_self_view(event.call_id)
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

    def _on_remote_media(self, event: RemoteMediaAdded) -> None:
        """A participant's new sink (a new one after each link replacement): hook the
        caller's video to the large view, anyone else's to the guest view, and every voice
        to its queue for the speakers."""
        session = self.engine.sessions.get(event.call_id)
        if session is None:
            return
        if event.kind == "video":
            sink = session.remote_video(event.participant_id)
            if sink is not None:
                _hook(sink, self.remote if event.role == "caller" else self.guest)
        elif event.kind == "audio":
            voice = session.remote_audio(event.participant_id)
            if voice is not None:
                queue = self.voices.get(event.participant_id)
                if queue is None:
                    queue = self.voices[event.participant_id] = VoiceQueue()
                voice.listeners.append(queue.put)
                self.voiceAdded.emit(event.participant_id)

    def _start_self_view(self, call_id: str) -> None:
        session = self.engine.sessions.get(call_id)
        track = session.self_view() if session is not None else None
        if track is None:
            return
        self._stop_self_view()
        self._selfview = asyncio.get_running_loop().create_task(
            _read_self(track, self.local), name="desk-self-view")

    def _stop_self_view(self) -> None:
        if self._selfview is not None:
            self._selfview.cancel()  # its finally stops the track
            self._selfview = None

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

    def set_muted(self, call_id: str, muted: bool) -> None:
        self._switch(call_id, lambda session: session.set_muted(muted))

    def set_camera_off(self, call_id: str, off: bool) -> None:
        self._switch(call_id, lambda session: session.set_camera_off(off))

    def set_hold(self, call_id: str, on: bool) -> None:
        self._switch(call_id, lambda session: session.set_hold(on))

    def _switch(self, call_id: str, change: Callable[[CallSession], None]) -> None:
        def apply() -> None:
            session = self.engine.sessions.get(call_id)
            if session is not None and session.state not in FINAL:
                change(session)

        self._loop.call(apply)

    def close(self, timeout: float = 10.0) -> None:
        """Hangs up and closes the engine (blocks: only at quit)."""
        with contextlib.suppress(Exception):
            self._loop.submit(self.engine.close()).result(timeout)


def _hook(sink: VideoSink, slot: LatestFrame) -> None:
    if sink.latest is not None:
        slot.put(sink.latest)
    sink.listeners.append(slot.put)


async def _read_self(video: MediaStreamTrack, slot: LatestFrame) -> None:
    """The self view: a latest-only subscription to the call's own outgoing video."""
    try:
        while True:
            frame = await video.recv()
            if isinstance(frame, av.VideoFrame):
                slot.put(frame)
    except MediaStreamError:
        pass
    finally:
        video.stop()
