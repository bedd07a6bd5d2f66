"""The station's call engine (role caller), as the station's widgets see it.

Built on :class:`ui.engine.bridge.EngineBridge` (the engine on its own loop and thread);
this adds the station's events (its place in the queue, the pre-call check, the plan the
hub pushes) and actions (request a call, hang up, the switches, blocking fetches).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QObject, Signal

from calls.cameras import Camera, open_camera
from calls.conversation import ChatReceived, HoldChanged, HubStatusChanged
from calls.engine import CallEngine, EngineEvent, PlanPushed
from calls.media import MediaSource
from calls.photos import PhotoEvent, StillCamera
from calls.session import (
    CallSession,
    CallState,
    ClinicFellBack,
    QueueMoved,
    RemoteMediaAdded,
    StateChanged,
)
from hub.client import Backoff, site_backoff
from hub.contract import signaling as p
from hub.contract.identity import CallRole
from ui.engine.bridge import EngineBridge
from ui.station.media import DeviceCheck, Switches, check_devices


class StationBridge(EngineBridge):
    """The station's one engine (role caller), as the widgets see it.

    Signals (besides :class:`~ui.engine.bridge.EngineBridge`'s connectionChanged,
    stateChanged, refused, remoteFrame and selfFrame):
        queueMoved(int, object): place in the queue and the estimated wait in seconds
            (None: nobody can answer now; hubStatus says why).
        chatReceived(ChatMessage): a message of this station's call (its own come back).
        holdChanged(CallHeld): the nurse put the call on hold or took it off.
        hubStatus(HubStatus): whether a nurse can answer now, and what to do if not.
        deviceChecked(DeviceCheck): what the pre-call check of camera and microphone found.
        fetched(str, object): the result (or the exception) of a :meth:`fetch`, by its tag.
        planPushed(CallPlanReady): the plan of one of this site's calls, written or
            corrected, as the hub pushed it.
        photoRequested(PhotoRequested): the nurse asks for a photo (ui/station/photo.py).
    """

    queueMoved = Signal(int, object)
    clinicFellBack = Signal(str)  # the booked specialist did not answer: why
    chatReceived = Signal(p.ChatMessage)
    holdChanged = Signal(p.CallHeld)
    hubStatus = Signal(p.HubStatus)
    deviceChecked = Signal(DeviceCheck)
    fetched = Signal(str, object)
    planPushed = Signal(p.CallPlanReady)
    photoRequested = Signal(p.PhotoRequested)

    def __init__(self, hub_ws: str | Sequence[str], token: str,
                 media: Callable[[], MediaSource],
                 switches: Switches, backoff: Backoff | None = None,
                 parent: QObject | None = None) -> None:
        def make(emit: Callable[[EngineEvent], None]) -> CallEngine:
            return CallEngine(hub_ws, token, CallRole.CALLER, emit, media=media,
                              backoff=backoff or site_backoff())

        super().__init__(make, name="station-engine", parent=parent)
        self.switches = switches
        # The camera's own frames, before the call's profile: the self view, and the still
        # a photo is taken from (at the camera's full resolution).
        self.still = StillCamera()

        def on_frame(frame: Any) -> None:
            self.local.put(frame)
            self.still.offer(frame)

        switches.on_frame = on_frame
        self._media = media
        self.session: CallSession | None = None
        self.call_id: str | None = None

    # --- actions (UI thread) --------------------------------------------------------------

    def start(self) -> None:
        async def go() -> None:
            try:
                await self.engine.start()
            except Exception as exc:
                self.connectionChanged.emit(False, f"cannot reach the hub ({exc})")
        self.submit(go(), report=False)

    def request_call(self, reason: str, **details: Any) -> None:
        async def go() -> None:
            self.session = await self.engine.request_call(reason, **details)
        self.submit(go())

    def hang_up(self) -> None:
        async def go() -> None:
            if self.session is not None and self.session.state not in (
                    CallState.ENDED, CallState.FAILED):
                await self.session.hang_up()
        self.submit(go())

    def say(self, text: str) -> None:
        """Send ``text`` to the nurses of this station's call (waiting or in progress)."""
        async def go() -> None:
            if self.call_id is None:
                raise RuntimeError("there is no call to write in yet")
            await self.engine.conversation.say(self.call_id, text)
        self.submit(go())

    def set_muted(self, muted: bool) -> None:
        self.switches.muted = muted

    def set_camera_off(self, off: bool) -> None:
        self.switches.camera_off = off

    def switch_camera(self, camera: Camera) -> None:
        """The next call uses ``camera``; a call in progress switches to it now, without a
        new offer (the other end sees the new camera on the same track)."""
        self.switches.camera = camera

        async def go() -> None:
            session = self.session
            if session is None or session.media is None or session.state in (
                    CallState.ENDED, CallState.FAILED):
                return
            track, players = await asyncio.to_thread(open_camera, camera)  # a device opens slowly
            session.switch_camera(track, players)
        self.submit(go())

    def check_devices(self) -> None:
        async def go() -> None:
            self.deviceChecked.emit(await check_devices(self._media))
        self.submit(go(), report=False)

    def fetch(self, tag: str, work: Callable[[], object]) -> None:
        """Runs blocking ``work`` (an HTTP call) off the UI thread; ``fetched`` brings the
        result, or the exception it raised."""
        async def go() -> None:
            try:
                result: object = await asyncio.to_thread(work)
            except Exception as exc:
                result = exc
            self.fetched.emit(tag, result)
        self.submit(go(), report=False)

    # --- engine events (engine thread) ----------------------------------------------------

    def on_event(self, event: EngineEvent) -> None:
        match event:
            case StateChanged():
                if event.call_id:
                    self.call_id = event.call_id
                self.stateChanged.emit(event)
            case QueueMoved():
                self.queueMoved.emit(event.position, event.estimated_wait_s)
            case RemoteMediaAdded() if event.kind == "video":
                self.remote_video(event, self.remote)
            case PlanPushed():
                self.planPushed.emit(event.plan)
            case ClinicFellBack():
                self.clinicFellBack.emit(event.reason)
            case PhotoEvent() if isinstance(event.message, p.PhotoRequested):
                self.photoRequested.emit(event.message)
            case ChatReceived():
                self.chatReceived.emit(event.message)
            case HoldChanged():
                self.holdChanged.emit(event.held)
            case HubStatusChanged():
                self.hubStatus.emit(event.status)
            case _:
                pass
