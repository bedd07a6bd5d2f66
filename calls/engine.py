"""The call engine of one desk or site: a signaling client, its calls, and the user's actions.

``CallEngine`` runs on one asyncio loop (the desk gives it a thread of its own) and reports
everything as events to one consumer: the session events of :mod:`calls.session` plus
:class:`SignalingChanged`, :class:`QueueChanged` and :class:`PlanPushed`. The UI acts
through the coroutine methods (``request_call``, ``claim``, ``accept_invite``, ``hang_up``...).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from calls.conversation import (
    CONVERSATION_MESSAGES,
    Conversation,
    ConversationEvent,
    HubStatusChanged,
    event_of,
)
from calls.media import MediaSource
from calls.photos import PhotoEvent
from calls.session import (
    FINAL,
    CallSession,
    CallState,
    HandOverReceived,
    InvalidStateError,
    Refused,
    SessionContext,
    SessionEvent,
    SessionOptions,
)
from calls.signaling import (
    Closed,
    Connected,
    Disconnected,
    NotConnectedError,
    Received,
    SignalingClient,
    SignalingEvent,
)
from hub.client import Backoff
from hub.contract import signaling as p
from hub.contract.identity import CallRole, SiteKind
from records.schema import TriageRecord

log = logging.getLogger("telehub.calls.engine")


@dataclass(frozen=True)
class SignalingChanged:
    connected: bool
    reason: str = ""


@dataclass(frozen=True)
class QueueChanged:
    """The waiting calls as a nurse desk sees them, in queue order."""

    entries: tuple[p.QueueEntry, ...]


@dataclass(frozen=True)
class PlanPushed:
    """The hub pushed the plan agreed on one of this site's calls (written or corrected).

    It belongs to no live call: the plan is usually written after the call has ended.
    """

    plan: p.CallPlanReady


@dataclass(frozen=True)
class GlanceChanged:
    """The hub at a glance (nurse and manager desks), as pushed."""

    glance: p.HubGlance


EngineEvent = (SessionEvent | SignalingChanged | QueueChanged | PlanPushed | GlanceChanged
               | PhotoEvent | ConversationEvent)
EngineConsumer = asyncio.Queue[EngineEvent] | Callable[[EngineEvent], None]


class CallEngine:
    """Calls for one signed-in party (a site, a nurse or a specialist)."""

    def __init__(self, hub_url: str | Sequence[str], token: str, role: CallRole,
                 consumer: EngineConsumer | None = None, *,
                 media: Callable[[], MediaSource] | None = None,
                 options: SessionOptions | None = None,
                 backoff: Backoff | None = None) -> None:
        self.role = role
        self.options = options or SessionOptions()
        self._consumer = consumer
        self._make_media = media or MediaSource.synthetic
        self.signaling = SignalingClient(hub_url, token, self._on_signaling,
                                         client_name=f"telehub-{role}", backoff=backoff)
        self.sessions: dict[str, CallSession] = {}
        self.conversation = Conversation(self.signaling.send)  # chat and hold (hub-known)
        self._requesting: dict[str, CallSession] = {}  # by request_id, until call_queued
        self._unsent: set[str] = set()  # request ids made while there was no connection
        self._recancel: set[str] = set()  # cancelled calls to cancel again (this welcome)
        self.queue: dict[str, p.QueueEntry] = {}
        self._queue_seq = -1
        self._closed = False
        self._listeners: list[Callable[[EngineEvent], None]] = []

    # --- events ---------------------------------------------------------------------------

    def _emit(self, event: EngineEvent) -> None:
        for listener in list(self._listeners):
            listener(event)
        if isinstance(self._consumer, asyncio.Queue):
            self._consumer.put_nowait(event)
        elif self._consumer is not None:
            self._consumer(event)

    def listen(self, listener: Callable[[EngineEvent], None]) -> Callable[[], None]:
        """Also send events to ``listener``; returns a function that stops it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _context(self) -> SessionContext:
        return SessionContext(
            send=self.signaling.send, my_pid=lambda: self.signaling.participant_id,
            emit=self._emit, make_media=self._make_media, hold=self.signaling.hold,
            release=self.signaling.release, options=self.options,
        )

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> p.Welcome:
        return await self.signaling.start()

    async def close(self) -> None:
        """Hang up every call, then close peer connections, media, tasks and the hub
        connection, in that order. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for session in list(self.sessions.values()) + list(self._requesting.values()):
            if session.state in (CallState.CONNECTING, CallState.IN_CALL, CallState.QUEUED,
                                 CallState.REQUESTING):
                # hang_up bounds its own message to the hub; what it releases must not be
                # cut short by a timeout here (a half-closed peer connection leaks sockets).
                with contextlib.suppress(Exception):
                    await session.hang_up()
            await session.close()
        self.sessions.clear()
        self._requesting.clear()
        await self.signaling.close()

    # --- actions --------------------------------------------------------------------------

    def _need(self, role: CallRole, action: str) -> None:
        if self.role is not role:
            raise InvalidStateError(f"a {self.role} cannot {action}")

    async def request_call(self, reason: str, **details: Any) -> CallSession:
        """A site asks for a nurse; returns the session (requesting, then queued)."""
        self._need(CallRole.CALLER, "request a call")
        request = p.CallRequest(request_id=details.pop("request_id", uuid.uuid4().hex),
                                reason=reason, **details)
        session = CallSession(self._context(), CallRole.CALLER)
        self._requesting[request.request_id] = session
        try:
            await session.request(request)
        except NotConnectedError:
            # Between connections (the hub went away, and this site waits its turn to sign
            # in again): the request goes with the next welcome (_on_signaling), and the
            # client connects now rather than at the end of its back-off.
            self._unsent.add(request.request_id)
            self.signaling.hurry()
        return session

    async def claim(self, call_id: str) -> CallSession:
        self._need(CallRole.NURSE, "answer a call")
        session = self._known(call_id, f"call {call_id} is not waiting in the queue")
        await session.claim()
        return session

    async def accept_invite(self, call_id: str) -> CallSession:
        self._need(CallRole.SPECIALIST, "accept an invitation")
        session = self._known(call_id, f"there is no invitation for call {call_id}")
        await session.accept()
        return session

    async def take_hand_over(self, call_id: str) -> CallSession:
        self._need(CallRole.NURSE, "take a hand-over")
        session = self._known(call_id, f"no hand-over of call {call_id} rings here")
        await session.take_hand_over()
        return session

    async def hand_over(self, call_id: str, to: str | None, note: str | None = None,
                        record: TriageRecord | None = None) -> None:
        """Pass call ``call_id`` to nurse ``to`` (participant id) or back to the queue."""
        self._need(CallRole.NURSE, "hand a call over")
        session = self._known(call_id, f"call {call_id} is not yours")
        await session.hand_over(to, note, record)

    def _known(self, call_id: str, missing: str) -> CallSession:
        session = self.sessions.get(call_id)
        if session is None:
            raise InvalidStateError(missing)
        return session

    async def hang_up(self, call_id: str) -> None:
        session = self.sessions.get(call_id)
        if session is not None:
            await session.hang_up()

    async def ask_photo(self, call_id: str) -> str:
        """The nurse asks the caller of a call for a photo; returns the request's id."""
        self._need(CallRole.NURSE, "ask for a photo")
        request_id = uuid.uuid4().hex
        await self.signaling.send(p.PhotoRequest(call_id=call_id, request_id=request_id))
        return request_id

    async def decline_photo(self, call_id: str, request_id: str) -> None:
        """The caller says the patient did not consent to the photo asked for."""
        self._need(CallRole.CALLER, "decline a photo")
        await self.signaling.send(p.PhotoDecline(call_id=call_id, request_id=request_id))

    # --- hub messages ---------------------------------------------------------------------

    async def _on_signaling(self, event: SignalingEvent) -> None:
        match event:
            case Connected():
                self._emit(SignalingChanged(True, "reconnected" if event.reconnect else ""))
                # A request not yet queued is sent (again): one made while there was no
                # connection, or one whose call_queued was lost with it. The hub treats the
                # same request_id as a retry, never a second call.
                for request_id, session in list(self._requesting.items()):
                    if request_id in self._unsent and session.cancelled:
                        # Given up on before the hub ever heard of it: nothing to cancel.
                        self._unsent.discard(request_id)
                        del self._requesting[request_id]
                    elif session.request_message is not None:
                        with contextlib.suppress(Exception):
                            await self.signaling.send(session.request_message)
                            self._unsent.discard(request_id)
                if event.reconnect:
                    await self._ask_after_cancelled()
            case Disconnected():
                self._emit(SignalingChanged(False, event.reason))
            case Closed():
                self._emit(SignalingChanged(False, event.reason))
            case Received():
                try:
                    await self._dispatch(event.message)
                except InvalidStateError as exc:
                    log.warning("refused a hub message: %s", exc)
                    self._emit(Refused(getattr(event.message, "call_id", None), str(exc)))

    async def _dispatch(self, msg: p.ServerMessage) -> None:
        match msg:
            case p.QueueSnapshot():
                self._queue_seq = msg.seq
                await self._set_queue({e.call_id: e for e in msg.entries})
            case p.QueueUpdate():
                if self._queue_seq >= 0 and msg.seq != self._queue_seq + 1:
                    await self.signaling.send(p.QueueSync())  # a gap: ask for the whole queue
                    return
                self._queue_seq = msg.seq
                queue = dict(self.queue)
                if msg.op == "removed":
                    queue.pop(msg.call_id, None)
                elif msg.entry is not None:
                    queue[msg.call_id] = msg.entry
                await self._set_queue(queue, msg.reason, msg.claimed_by)
            case p.SpecialistInvite():
                if self.role is CallRole.SPECIALIST and msg.call_id not in self.sessions:
                    invited = CallSession(self._context(), CallRole.SPECIALIST,
                                          call_id=msg.call_id, invite=msg)
                    self.sessions[msg.call_id] = invited
                    invited.ring()
            case p.CallQueued() if msg.request_id in self._requesting:
                requested = self._requesting.pop(msg.request_id)
                self.sessions[msg.call_id] = requested
                if requested.cancelled:  # hung up before the hub had queued it
                    requested.call_id = msg.call_id
                    with contextlib.suppress(Exception):
                        await self.signaling.send(p.CallCancel(call_id=msg.call_id))
                    return
                await requested.handle(msg)
            case p.CallQueued() if self._answered_already(msg.call_id):
                # The answer to this request sent again after a welcome: the hub tells its
                # call_queued first, whatever became of the call; this one is in it already.
                log.info("call %s is answered already; its call_queued again is not news",
                         msg.call_id)
            case p.CallPlanReady():
                self._emit(PlanPushed(msg))
            case p.HubGlance():
                self._emit(GlanceChanged(msg))
            case p.HandOverOffer() if self.role is CallRole.NURSE and msg.ring_s is not None:
                held = self.sessions.get(msg.call_id)
                if held is None or held.state in FINAL:
                    offered = CallSession(self._context(), CallRole.NURSE, call_id=msg.call_id,
                                          entry=msg.entry, hand_over=msg)
                    self.sessions[msg.call_id] = offered
                    offered.ring()
                    self._emit(HandOverReceived(msg.call_id, msg))
            case p.ClinicRing():
                if self.role is CallRole.SPECIALIST and msg.call_id not in self.sessions:
                    # Rung like an invitation (the desk shows and answers it as one).
                    as_invite = p.SpecialistInvite(
                        call_id=msg.call_id, site_name=msg.site_name, site_kind=SiteKind.PRISON,
                        reason=f"Booked clinic: {msg.title} ({msg.reason})",
                        invited_by="the clinic booking")
                    ringing = CallSession(self._context(), CallRole.SPECIALIST,
                                          call_id=msg.call_id, invite=as_invite, clinic=msg)
                    self.sessions[msg.call_id] = ringing
                    ringing.ring()
            case p.PhotoRequested() | p.PhotoDeclined() | p.PhotoReady():
                self._emit(PhotoEvent(msg))  # the call's state is not changed by a photo
            case _ if isinstance(msg, CONVERSATION_MESSAGES):
                event = event_of(msg)
                if isinstance(event, HubStatusChanged):
                    self.conversation.status = event.status
                self._emit(event)
            case p.Error():
                await self._on_error(msg)
            case _:
                call_id = getattr(msg, "call_id", None)
                session = self.sessions.get(call_id) if call_id else None
                if session is None:
                    log.info("no call %s here for %s", call_id, msg.type)
                    return
                if session.cancelled:
                    await self._cancel_again(session, msg)
                    return
                if session.state in FINAL:  # e.g. the hub confirming our own hang-up
                    self._forget_if_over(session)
                    return
                await session.handle(msg)
                self._forget_if_over(session)

    def _answered_already(self, call_id: str) -> bool:
        session = self.sessions.get(call_id)
        return (session is not None and not session.cancelled
                and session.state in (CallState.CONNECTING, CallState.IN_CALL))

    async def _ask_after_cancelled(self) -> None:
        """After a welcome (a reconnect, or another hub dispatching now): a call hung up here
        (a caller's cancel, a nurse's end, a specialist's leave) whose ``call_ended`` has not
        come may have lost that message with a hub that died. Each is resumed;
        :meth:`_cancel_again` acts on the hub's answer."""
        self._recancel = {call_id for call_id, s in self.sessions.items() if s.cancelled}
        for call_id in list(self._recancel):
            with contextlib.suppress(Exception):
                await self.signaling.send(p.CallResume(call_id=call_id))

    async def _cancel_again(self, session: CallSession, msg: p.ServerMessage) -> None:
        """A message on a call hung up here. ``call_ended``: the hang-up was heard (or the
        call ended otherwise), the call is forgotten. ``call_queued`` or ``call_connected``
        (the hub's answer to the resume): the call is still open, the hang-up was lost, so
        it is sent again, once a welcome: a caller's cancel, or a nurse's end (else the
        hub would wait out the grace and put a finished call back at the front of the
        queue) or a specialist's leave. Anything else (a position, an offer) is for a call
        this party has left."""
        call_id = session.call_id
        assert call_id is not None
        if isinstance(msg, p.CallEnded):
            self.sessions.pop(call_id, None)
        elif isinstance(msg, p.CallQueued | p.CallConnected) and call_id in self._recancel:
            self._recancel.discard(call_id)
            log.info("call %s is still open after its hang-up; sending it again", call_id)
            again: p._Message = (p.CallCancel(call_id=call_id) if self.role is CallRole.CALLER
                                 else p.CallEnd(call_id=call_id))
            with contextlib.suppress(Exception):
                await self.signaling.send(again)

    async def _on_error(self, msg: p.Error) -> None:
        session = self.sessions.get(msg.call_id) if msg.call_id else None
        if session is None and msg.ref == "call_request" and msg.request_id in self._requesting:
            session = self._requesting.pop(str(msg.request_id))
        if session is None and msg.ref == "call_request" and len(self._requesting) == 1:
            rid, session = next(iter(self._requesting.items()))
            self._requesting.pop(rid)
        if session is None:
            self._emit(Refused(msg.call_id, msg.message))
            return
        if session.cancelled:
            # What a party that hung up still sends (the resume, the cancel or end again,
            # a caller's request again) refused: the hub holds no open call to end
            # (not_found, an ended request), so nothing is left to do.
            refused = msg.ref in ("call_resume", "call_cancel", "call_end", "call_request")
            if refused and session.call_id is not None:
                self.sessions.pop(session.call_id, None)
                self._recancel.discard(session.call_id)
            return
        await session.handle(msg)
        self._forget_if_over(session)

    def _forget_if_over(self, session: CallSession) -> None:
        if session.state in FINAL and session.call_id is not None:
            self.sessions.pop(session.call_id, None)

    async def _set_queue(self, queue: dict[str, p.QueueEntry], reason: str | None = None,
                         claimed_by: str | None = None) -> None:
        gone = set(self.queue) - set(queue)
        self.queue = queue
        if self.role is CallRole.NURSE:
            for call_id, entry in queue.items():
                if call_id not in self.sessions:
                    ringing = CallSession(self._context(), CallRole.NURSE, call_id=call_id,
                                          entry=entry)
                    self.sessions[call_id] = ringing
                    ringing.ring()
            for call_id in gone:
                session = self.sessions.get(call_id)
                if session is not None and session.state is CallState.RINGING:
                    why = f"answered by {claimed_by}" if claimed_by else (reason or "gone")
                    await session.withdraw(why)
                    self._forget_if_over(session)
        self._emit(QueueChanged(tuple(sorted(queue.values(), key=lambda e: e.position))))

