"""The desk's call engine (a nurse's or a specialist's), as the desk's widgets see it.

Built on :class:`ui.engine.bridge.EngineBridge` (the engine on its own loop and thread);
this adds the desk's events (the queue, invitations, quality, participants, voices) and
actions (answer, decline, invite a specialist, the call's switches).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from calls.conversation import ChatReceived, HeldCallsChanged, HoldChanged
from calls.engine import EngineEvent, GlanceChanged, QueueChanged
from calls.photos import PhotoEvent
from calls.session import (
    FINAL,
    CallSession,
    CallState,
    HandOverAnswered,
    HandOverReceived,
    InviteDeclinedBy,
    LocalMediaChanged,
    ModeChanged,
    ParticipantsChanged,
    RemoteMediaAdded,
    StateChanged,
)
from hub.contract import signaling as p
from hub.contract.identity import CallRole
from records.schema import TriageRecord
from ui.desk.audio import VoiceQueue
from ui.engine.bridge import EngineBridge, EngineMaker
from ui.engine.frames import LatestFrame, read_self_view


class CallBridge(EngineBridge):
    """One signed-in engine, as the desk's widgets see it.

    Signals (besides :class:`~ui.engine.bridge.EngineBridge`'s connectionChanged,
    stateChanged, refused, remoteFrame and selfFrame):
        queueChanged(tuple): the waiting calls (``hub.contract.signaling.QueueEntry``), queue order.
        invited(CallSession): a specialist's desk is rung for a call (its ``invite``).
        modeChanged(ModeChanged): hd / full / low / audio_only, by hand or automatically.
        participantsChanged(ParticipantsChanged): who is in the call.
        inviteDeclined(str): a specialist declined the invitation (their name).
        voiceAdded(str): a participant's audio now arrives in :attr:`voices` (by their id).
        guestFrame(): a new frame of the third party (specialist or nurse) in :attr:`guest`.
        handOverOffered(HandOverReceived), handOverAnswered(HandOverAnswered): hand-overs.
        glanceChanged(HubGlance): the hub at a glance, as pushed.
        photoAnswered(object): the site's answer to a photo request (``PhotoReady`` or
            ``PhotoDeclined``; ui/desk/photos.py).
        chatReceived(ChatMessage): a message to a waiting call or in one of this desk's.
        heldCalls(tuple): the calls on hold across the hub (``HeldCall``).
        holdChanged(CallHeld): this desk's call went on hold or came off it.
    """

    queueChanged = Signal(tuple)
    invited = Signal(CallSession)
    modeChanged = Signal(ModeChanged)
    participantsChanged = Signal(ParticipantsChanged)
    inviteDeclined = Signal(str)
    voiceAdded = Signal(str)
    guestFrame = Signal()
    handOverOffered = Signal(object)
    handOverAnswered = Signal(object)
    glanceChanged = Signal(object)
    photoAnswered = Signal(object)
    chatReceived = Signal(p.ChatMessage)
    heldCalls = Signal(tuple)
    holdChanged = Signal(p.CallHeld)

    def __init__(self, make_engine: EngineMaker, parent: QObject | None = None) -> None:
        super().__init__(make_engine, name="call-engine", parent=parent)
        self.guest = LatestFrame(self.guestFrame.emit)
        self.voices: dict[str, VoiceQueue] = {}  # written on the engine thread only
        self._selfview: asyncio.Task[None] | None = None

    @property
    def role(self) -> CallRole:
        return self.engine.role

    # --- engine thread --------------------------------------------------------------------

    def on_event(self, event: EngineEvent) -> None:
        match event:
            case QueueChanged():
                self.queueChanged.emit(event.entries)
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
            case ModeChanged():
                self.modeChanged.emit(event)
            case ParticipantsChanged():
                self.participantsChanged.emit(event)
            case InviteDeclinedBy():
                self.inviteDeclined.emit(event.by)
            case HandOverReceived():
                self.handOverOffered.emit(event)
            case HandOverAnswered():
                self.handOverAnswered.emit(event)
            case GlanceChanged():
                self.glanceChanged.emit(event.glance)
            case PhotoEvent():
                self.photoAnswered.emit(event.message)
            case ChatReceived():
                self.chatReceived.emit(event.message)
            case HeldCallsChanged():
                self.heldCalls.emit(event.calls)
            case HoldChanged():
                self.holdChanged.emit(event.held)
            case _:
                pass

    def _on_remote_media(self, event: RemoteMediaAdded) -> None:
        """A participant's new sink (a new one after each link replacement): the caller's
        video to the large view, anyone else's to the guest view, and every voice to its
        queue for the speakers."""
        if event.kind == "video":
            self.remote_video(event, self.remote if event.role is CallRole.CALLER
                              else self.guest)
        elif event.kind == "audio":
            session = self.engine.sessions.get(event.call_id)
            voice = session.remote_audio(event.participant_id) if session is not None else None
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
            read_self_view(track, self.local), name="desk-self-view")

    def _stop_self_view(self) -> None:
        if self._selfview is not None:
            self._selfview.cancel()  # its finally stops the track
            self._selfview = None

    # --- actions from the UI (never wait) --------------------------------------------------

    def start(self) -> concurrent.futures.Future[object]:
        return self.submit(self.engine.start())

    def answer(self, call_id: str) -> concurrent.futures.Future[CallSession]:
        if self.role is CallRole.SPECIALIST:
            return self.submit(self.engine.accept_invite(call_id))
        return self.submit(self.engine.claim(call_id))

    def decline(self, call_id: str) -> concurrent.futures.Future[None]:
        async def decline() -> None:
            session = self.engine.sessions.get(call_id)
            if session is not None:
                await session.decline()

        return self.submit(decline())

    def hang_up(self, call_id: str) -> concurrent.futures.Future[None]:
        return self.submit(self.engine.hang_up(call_id))

    def invite_specialist(self, call_id: str, note: str | None
                          ) -> concurrent.futures.Future[None]:
        async def invite() -> None:
            session = self.engine.sessions.get(call_id)
            if session is None:
                raise RuntimeError("the call has ended")
            await session.invite_specialist(note or None)

        return self.submit(invite())

    def hand_over(self, call_id: str, to: str | None, note: str | None,
                  record: TriageRecord | None) -> concurrent.futures.Future[None]:
        return self.submit(self.engine.hand_over(call_id, to, note, record))

    def take_hand_over(self, call_id: str) -> concurrent.futures.Future[CallSession]:
        return self.submit(self.engine.take_hand_over(call_id))
    def ask_photo(self, call_id: str) -> concurrent.futures.Future[str]:
        """Ask the caller for a photo (the nurse only; refusals come back as ``refused``)."""
        return self.submit(self.engine.ask_photo(call_id))

    def set_mode(self, call_id: str, mode: str) -> None:
        """``full``, ``low`` or ``audio_only``; ``auto`` gives the choice back to the engine."""

        def apply(session: CallSession) -> None:
            if mode == "auto":
                session.set_auto_mode(True)
            else:
                session.set_mode(mode)

        self._switch(call_id, apply)

    def set_muted(self, call_id: str, muted: bool) -> None:
        self._switch(call_id, lambda session: session.set_muted(muted))

    def set_camera_off(self, call_id: str, off: bool) -> None:
        self._switch(call_id, lambda session: session.set_camera_off(off))

    def set_hold(self, call_id: str, on: bool) -> None:
        """Hold: silence and black to the others at once (the session), and the hub told,
        so the caller sees the hold and how long, and every nurse the held call."""
        self._switch(call_id, lambda session: session.set_hold(on))
        if self.role is CallRole.NURSE:
            self.submit(self.engine.conversation.hold(call_id, on))

    def say(self, call_id: str, text: str) -> concurrent.futures.Future[None]:
        """Send ``text`` to a waiting caller, or to the others in this desk's call."""
        return self.submit(self.engine.conversation.say(call_id, text))

    def _switch(self, call_id: str, change: Callable[[CallSession], None]) -> None:
        def apply() -> None:
            session = self.engine.sessions.get(call_id)
            if session is not None and session.state not in FINAL:
                change(session)

        self.call(apply)
