"""One call as one party sees it: explicit states, the peer connections, recovery and quality.

States (:class:`CallState`) and who passes through which (:data:`TRANSITIONS`):

- site (caller): idle → requesting → queued → connecting → in_call → ended; a lost desk sends
  the call back to queued (``call_requeued``) and a new desk picks it up from there.
- nurse desk: idle → ringing (the call waits in the queue) → connecting (claimed) → in_call
  → ended; ringing → ended when another desk answers or the caller gives up.
- specialist: idle → ringing (invited) → connecting (accepted) → in_call → ended.
- any of them → failed when the hub refuses what the session asked for.

Every change is a :class:`StateChanged` event. A hub message that is wrong for the current
state is refused with :class:`InvalidStateError` and changes nothing.

Who offers: of any two participants the higher-ranked one makes the offer (specialist >
nurse > caller). So the desk offers to the caller after ``call_connected``, a joining
specialist offers to each participant already there, and after a drop the same side offers
again; the two ends of a pair never offer at once (no glare).

Recovery: aiortc cannot restart ICE, so the offering side replaces a peer connection that
failed, never connected, or stopped carrying media, with a new one (a new offer/answer over
the hub, the same call id). Five times a second the session counts what arrived on each link
(:mod:`calls.liveness`): a connected link silent for ``stall_after`` (0.6 s) is stalled, both
ends say so at once (:class:`MediaStalled`, then every second of silence), and the offering
end replaces it straight away and then keeps probing: a new link each ``probe_interval``
(1 s) after the last one was answered without its ICE connecting. So whenever the network
comes back, a probe at most a second old (or the next one) finds the path within about a
second; an exponential back-off would leave the retry falling between its steps.

Quality is sampled each second from getStats (a report comes every second of the call, for
links being replaced too); the video mode steps between 720p, 480p, 240p and audio only on
loss and the bandwidth estimate (:mod:`calls.modes`), unless the user chose one by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc.mediastreams import MediaStreamTrack

from calls.codecs import PREFERRED
from calls.events import CallState as CallState
from calls.events import ClinicFellBack as ClinicFellBack
from calls.events import HandOverAnswered as HandOverAnswered
from calls.events import HandOverReceived as HandOverReceived
from calls.events import InviteDeclinedBy as InviteDeclinedBy
from calls.events import LinkChanged as LinkChanged
from calls.events import LocalMediaChanged as LocalMediaChanged
from calls.events import ModeChanged as ModeChanged
from calls.events import ParticipantsChanged as ParticipantsChanged
from calls.events import QualityReport as QualityReport
from calls.events import QueueMoved as QueueMoved
from calls.events import Refused as Refused
from calls.events import RemoteMediaAdded as RemoteMediaAdded
from calls.events import SessionEvent as SessionEvent
from calls.events import StateChanged as StateChanged
from calls.liveness import STALL_AFTER, ArrivalClock
from calls.liveness import MediaResumed as MediaResumed
from calls.liveness import MediaStalled as MediaStalled
from calls.media import HD, AudioSink, MediaSource, VideoSink
from calls.modes import MODES, PROFILE_OF, Measure, ModeLadder
from calls.peer import LinkClosedError, LinkQuality, PeerLink, SdpRewriter, rtc_configuration
from hub.contract import signaling as p
from hub.contract.identity import CallRole
from records.schema import TriageRecord

log = logging.getLogger("telehub.calls.session")


RANK = {CallRole.CALLER: 0, CallRole.NURSE: 1, CallRole.SPECIALIST: 2}
FINAL = frozenset({CallState.ENDED, CallState.FAILED})

S = CallState
TRANSITIONS: dict[CallRole, dict[CallState, frozenset[CallState]]] = {
    CallRole.CALLER: {
        S.IDLE: frozenset({S.REQUESTING}),
        S.REQUESTING: frozenset({S.QUEUED, S.ENDED, S.FAILED}),
        S.QUEUED: frozenset({S.CONNECTING, S.ENDED, S.FAILED}),
        S.CONNECTING: frozenset({S.IN_CALL, S.QUEUED, S.ENDED, S.FAILED}),
        S.IN_CALL: frozenset({S.QUEUED, S.ENDED, S.FAILED}),
    },
    CallRole.NURSE: {
        S.IDLE: frozenset({S.RINGING}),
        S.RINGING: frozenset({S.CONNECTING, S.ENDED}),
        S.CONNECTING: frozenset({S.IN_CALL, S.ENDED, S.FAILED}),
        S.IN_CALL: frozenset({S.ENDED, S.FAILED}),
    },
    CallRole.SPECIALIST: {
        S.IDLE: frozenset({S.RINGING}),
        S.RINGING: frozenset({S.CONNECTING, S.ENDED}),
        S.CONNECTING: frozenset({S.IN_CALL, S.ENDED, S.FAILED}),
        S.IN_CALL: frozenset({S.ENDED, S.FAILED}),
    },
}

# Which hub messages a session accepts in which states (anything else: InvalidStateError).
_LIVE = frozenset({S.CONNECTING, S.IN_CALL})
ACCEPTS: dict[type[p._Message], frozenset[CallState]] = {
    p.CallQueued: frozenset({S.REQUESTING, S.QUEUED}),
    p.QueuePosition: frozenset({S.QUEUED}),
    p.CallRequeued: frozenset({S.QUEUED, S.CONNECTING, S.IN_CALL}),
    p.CallConnected: frozenset({S.QUEUED, S.CONNECTING, S.IN_CALL}),
    p.Offer: _LIVE,
    p.Answer: _LIVE,
    p.Renegotiate: _LIVE,  # the answering end saw the link die: the offerer makes a new one
    p.ParticipantJoined: _LIVE,
    p.ParticipantLeft: _LIVE,
    p.InviteDeclined: _LIVE,
    p.CallEnded: frozenset(set(CallState) - FINAL),
    p.InviteWithdrawn: frozenset({S.RINGING}),
    p.Error: frozenset(set(CallState) - FINAL),
    p.HandOverStatus: frozenset({S.RINGING, S.CONNECTING, S.IN_CALL}),
    p.HandOverOffer: _LIVE,  # what came with a call handed back to the queue
    p.ClinicFallback: frozenset({S.QUEUED}),
}


class InvalidStateError(Exception):
    """Something was asked of a call (by the user or the hub) that its state does not allow."""


@dataclass(frozen=True)
class SessionOptions:
    """Timings and network choices of the call engine."""

    relay_only: bool = False  # only TURN paths (a network that blocks direct UDP)
    connect_timeout: float = 8.0  # a new peer connection must connect within this
    media_timeout: float = 4.0  # a link this long without media is not worth keeping
    stall_after: float = STALL_AFTER  # nothing at all arrived this long: stalled
    stall_after_rtcp_only: float = 3.5  # the same, from a party that sends no media
    probe_interval: float = 1.0  # while stalled: a new link this long after the last answer
    liveness_interval: float = 0.2
    quality_interval: float = 1.0
    auto_mode: bool = True
    video_codecs: tuple[str, ...] = PREFERRED  # in order of preference (calls.codecs)
    vp8_hd: bool = False  # allow 720p over VP8 (five times H.264's CPU: calls.modes)
    loss_down: float = 0.05  # sustained loss above this steps down...
    down_after: int = 3  # ...after this many bad samples in a row
    loss_up: float = 0.02  # and below this steps back up...
    up_after: int = 10  # ...after this many good samples in a row
    rewrite_sdp: SdpRewriter | None = None  # a seam for network labs (the tests' UDP relay)


HANG_UP_SEND_TIMEOUT = 5.0  # seconds to tell the hub of a hang-up before ending anyway


@dataclass
class SessionContext:
    """What a session needs from its engine (passed in, so a test can hand in its own)."""

    send: Callable[[p._Message], Awaitable[None]]
    my_pid: Callable[[], str]
    emit: Callable[[SessionEvent], None]
    make_media: Callable[[], MediaSource]
    hold: Callable[[str], None]
    release: Callable[[str], None]
    options: SessionOptions = field(default_factory=SessionOptions)


class CallSession:
    """One call for one party. The engine feeds it hub messages (:meth:`handle`); the UI
    calls the action methods; both see :class:`SessionEvent` events."""

    def __init__(self, ctx: SessionContext, role: CallRole, *, call_id: str | None = None,
                 request_id: str | None = None, entry: p.QueueEntry | None = None,
                 invite: p.SpecialistInvite | None = None,
                 hand_over: p.HandOverOffer | None = None,
                 clinic: p.ClinicRing | None = None) -> None:
        self.ctx = ctx
        self.role = role
        self.call_id = call_id
        self.request_id = request_id
        self.entry = entry
        self.request_message: p.CallRequest | None = None
        self.invite = invite
        self.hand_over_offer = hand_over  # this ringing call is one handed to us
        self.clinic = clinic  # this ringing call is our booked clinic
        self.state = CallState.IDLE
        self.reason = ""
        self.participants: dict[str, p.Participant] = {}
        self.absent: set[str] = set()
        self.links: dict[str, PeerLink] = {}
        self.ice_servers: list[p.IceServer] = []
        self.media: MediaSource | None = None
        self.mode = "hd"
        self.auto_mode = ctx.options.auto_mode
        opts = ctx.options
        self.ladder = ModeLadder(opts.loss_down, opts.down_after, opts.loss_up, opts.up_after,
                                 opts.vp8_hd)
        self._clocks: dict[str, ArrivalClock] = {}  # by participant: when media last came
        self.muted = False
        self.camera_off = False
        self.on_hold = False
        self._failures: dict[str, int] = {}
        self._next_try: dict[str, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._monitor: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one signaling step at a time per call
        self._closed = False  # released (or being released): no new links or media
        self._handed_over = False  # the nurse left handing the call over (not lost)
        # Hung up here (the caller cancelled or hung up, the nurse ended the call, the
        # specialist left): until the hub's call_ended for it, the message may have died
        # with a hub, so the engine keeps this session and sends it again after a welcome
        # if the hub says the call is still open (CallEngine._cancel_again).
        self.cancelled = False
        self.ended = asyncio.Event()

    # --- state ----------------------------------------------------------------------------

    def _move(self, new: CallState, reason: str = "") -> None:
        old = self.state
        if new == old:
            return
        if new not in TRANSITIONS[self.role].get(old, frozenset()):
            raise InvalidStateError(
                f"a {self.role} call cannot go from {old} to {new}")
        self.state, self.reason = new, reason
        log.info("call %s (%s): %s -> %s %s", self.call_id, self.role, old, new, reason)
        self.ctx.emit(StateChanged(self.call_id, old, new, reason))
        if new in FINAL:
            self.ended.set()

    def _require(self, action: str, *states: CallState) -> None:
        if self.state not in states:
            raise InvalidStateError(
                f"cannot {action} while the call is {self.state} "
                f"(only when {' or '.join(states)})")

    @property
    def me(self) -> str:
        return self.ctx.my_pid()

    # --- user actions ---------------------------------------------------------------------

    async def request(self, message: p.CallRequest) -> None:
        self._require("request a call", S.IDLE)
        self.request_id = message.request_id
        self.request_message = message
        self._move(S.REQUESTING)
        await self.ctx.send(message)

    def ring(self) -> None:
        self._require("ring", S.IDLE)
        self._move(S.RINGING)

    async def claim(self) -> None:
        if self.role is not CallRole.NURSE:
            raise InvalidStateError("only a nurse desk answers calls")
        self._require("answer", S.RINGING)
        assert self.call_id is not None
        self._move(S.CONNECTING, "answered")
        await self.ctx.send(p.CallClaim(call_id=self.call_id))

    async def accept(self) -> None:
        if self.role is not CallRole.SPECIALIST:
            raise InvalidStateError("only a specialist accepts an invitation")
        self._require("accept", S.RINGING)
        assert self.call_id is not None
        self._move(S.CONNECTING, "accepted")
        await self.ctx.send(p.InviteAccept(call_id=self.call_id))

    async def take_hand_over(self) -> None:
        """The nurse a call is handed to takes it."""
        if self.role is not CallRole.NURSE or self.hand_over_offer is None:
            raise InvalidStateError("no hand-over rings here")
        self._require("take the hand-over", S.RINGING)
        assert self.call_id is not None
        self._move(S.CONNECTING, "hand-over taken")
        await self.ctx.send(p.HandOverAccept(call_id=self.call_id))

    async def hand_over(self, to: str | None, note: str | None = None,
                        record: TriageRecord | None = None) -> None:
        """Pass the call to nurse ``to`` (a participant id), or back to the queue (None)."""
        if self.role is not CallRole.NURSE:
            raise InvalidStateError("only the nurse in the call hands it over")
        self._require("hand over", S.IN_CALL, S.CONNECTING)
        assert self.call_id is not None
        await self.ctx.send(p.HandOver(call_id=self.call_id, to=to, note=note, record=record))

    async def decline(self) -> None:
        self._require("decline", S.RINGING)
        assert self.call_id is not None
        await self.ctx.send(p.HandOverDecline(call_id=self.call_id)
                            if self.hand_over_offer is not None
                            else p.InviteDecline(call_id=self.call_id))
        await self._finish(S.ENDED, "declined")

    async def withdraw(self, reason: str) -> None:
        """The ringing stopped: another desk answered, or the caller gave up."""
        self._require("stop ringing", S.RINGING)
        await self._finish(S.ENDED, reason)

    async def invite_specialist(self, note: str | None = None) -> None:
        if self.role is not CallRole.NURSE:
            raise InvalidStateError("only the nurse in the call invites a specialist")
        self._require("invite a specialist", S.IN_CALL, S.CONNECTING)
        assert self.call_id is not None
        await self.ctx.send(p.InviteSpecialist(call_id=self.call_id, note=note))

    async def hang_up(self) -> None:
        """Caller: abandon the wait or end the call. Nurse: end it for everyone. Specialist:
        leave (the others go on)."""
        if self.state in FINAL:
            return
        # Before any await: a call_queued handled meanwhile finds the caller's mind made up
        # (a request not yet queued is cancelled once call_queued names it: the engine). A
        # nurse or specialist has something to take back only once in the call.
        self.cancelled = (self.state is not S.IDLE if self.role is CallRole.CALLER
                          else self.state in (S.CONNECTING, S.IN_CALL))
        if self.call_id is not None and self.state not in (S.IDLE, S.RINGING):
            msg: p._Message = (p.CallCancel(call_id=self.call_id) if self.role is CallRole.CALLER
                               else p.CallEnd(call_id=self.call_id))
            # The hub may be unreachable or slow: end here anyway. Only the message is given
            # a time limit; releasing the call's links and media always runs to its end.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ctx.send(msg), HANG_UP_SEND_TIMEOUT)
        await self._finish(S.ENDED, "hung up")

    def set_mode(self, mode: str, automatic: bool = False) -> None:
        """Switch video during the call: "hd" (up to 1280x720@30), "full" (480 lines@30),
        "low" (240 lines@15) or "audio_only". A choice by hand turns the automatic choice
        off."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if not automatic:
            self.auto_mode = False
        self._apply_mode(mode, automatic, "chosen by hand" if not automatic else "")

    def set_muted(self, muted: bool) -> None:
        """Mute or unmute our microphone for everyone in the call (they hear silence)."""
        self.muted = muted
        self._local_changed()

    def set_camera_off(self, off: bool) -> None:
        """Turn our camera off or on for everyone in the call (they see black)."""
        self.camera_off = off
        self._local_changed()

    def set_hold(self, on: bool) -> None:
        """Hold: the others hear silence and see black until resumed, whatever mute and
        camera say; both are as they were after resuming. (Held locally: the hub has no hold
        message, and the peer connections stay up so resuming is instant.)"""
        self.on_hold = on
        self._local_changed()

    def _local_changed(self) -> None:
        if self.state in FINAL:
            raise InvalidStateError(f"the call is {self.state}")
        if self.media is not None:
            self._configure_media()
        if self.call_id is not None:
            self.ctx.emit(LocalMediaChanged(self.call_id, self.media is not None,
                                            self.muted, self.camera_off, self.on_hold))

    # --- media for the UI -----------------------------------------------------------------

    def remote_video(self, participant_id: str) -> VideoSink | None:
        """The latest-frame sink of that participant's video (None until it arrives)."""
        link = self.links.get(participant_id)
        return link.video if link is not None else None

    def remote_audio(self, participant_id: str) -> AudioSink | None:
        link = self.links.get(participant_id)
        return link.audio if link is not None else None

    def self_view(self) -> MediaStreamTrack | None:
        """A latest-only subscription to our own outgoing video (what the others see, black
        when the camera is off). The caller stops it; None before the call has media."""
        if self.media is None:
            return None
        audio, video = self.media.subscribe()
        if audio is not None:
            audio.stop()
        return video

    def set_auto_mode(self, on: bool) -> None:
        self.auto_mode = on
        self.ladder.reset()

    def switch_camera(self, source: MediaStreamTrack, players: list[Any] | None = None,
                      ) -> None:
        """Everyone in the call sees ``source`` from now on (no new offer: the tracks stay,
        their camera changes under them)."""
        if self.media is None:
            raise InvalidStateError("the call has no media yet")
        self.media.switch_camera(source, players)

    def _apply_mode(self, mode: str, automatic: bool, reason: str) -> None:
        if mode == self.mode:
            return
        self.mode = mode
        if self.media is not None:
            self._configure_media()
        if self.call_id is not None:
            self.ctx.emit(ModeChanged(self.call_id, mode, automatic, reason))

    def _configure_media(self) -> None:
        assert self.media is not None
        self.media.set_profile(PROFILE_OF.get(self.mode, HD))
        self.media.set_audio_only(self.mode == "audio_only")
        self.media.set_muted(self.muted or self.on_hold)
        self.media.set_camera_off(self.camera_off or self.on_hold)

    # --- hub messages ---------------------------------------------------------------------

    async def handle(self, msg: p.ServerMessage) -> None:
        allowed = ACCEPTS.get(type(msg))
        if allowed is None or self.state not in allowed:
            raise InvalidStateError(
                f"{msg.type} is not expected by a {self.role} call that is {self.state}")
        async with self._lock:
            if self._closed:
                log.info("call %s is closed; ignoring %s", self.call_id, msg.type)
                return
            try:
                await self._handle(msg)
            except LinkClosedError as exc:  # the call ended while an offer/answer was made
                log.info("call %s: %s", self.call_id, exc)

    async def _handle(self, msg: p.ServerMessage) -> None:
        match msg:
            case p.CallQueued():
                self.call_id = msg.call_id
                self.ctx.hold(msg.call_id)
                self._move(S.QUEUED, "waiting for a nurse")
                self.ctx.emit(QueueMoved(msg.call_id, msg.position, msg.estimated_wait_s))
            case p.QueuePosition():
                self.ctx.emit(QueueMoved(msg.call_id, msg.position, msg.estimated_wait_s))
            case p.CallRequeued():
                await self._close_links()
                self.participants.clear()
                why = ("the nurse handed the call back; at the front of the queue"
                       if self._handed_over else
                       "the nurse was cut off; back at the front of the queue")
                self._handed_over = False
                self._move(S.QUEUED, why)
                self.ctx.emit(QueueMoved(msg.call_id, msg.position, msg.estimated_wait_s))
            case p.CallConnected():
                await self._on_connected(msg)
            case p.Offer():
                await self._on_offer(msg)
            case p.Answer():
                link = self.links.get(msg.sender or "")
                if link is None or link.answered or not link.offerer:
                    log.info("ignoring a stale answer from %s", msg.sender)
                    return
                await link.accept_answer(msg.sdp)
            case p.ParticipantJoined():
                self._handed_over = False
                part = msg.participant
                self.participants[part.participant_id] = part
                self.absent.discard(part.participant_id)
                self._participants_changed()
                if self._i_offer_to(part):
                    link = self.links.get(part.participant_id)
                    if link is None or not self._healthy(link):
                        await self._offer_to(part.participant_id)
            case p.ParticipantLeft():
                pid = msg.participant_id
                # connection_lost: the party dropped and may come back within the grace
                # period; every other reason (left, grace_expired, desk_lost) is final.
                final = msg.reason != "connection_lost"
                self._handed_over = msg.reason == "handed_over"
                self.absent.add(pid)
                if final:
                    self.participants.pop(pid, None)
                    self.absent.discard(pid)
                    link = self.links.pop(pid, None)
                    if link is not None:
                        await asyncio.shield(self._release(link))
                self._participants_changed()
            case p.Renegotiate():
                # The answering end saw our link die first: replace it as if we had.
                sender = msg.sender or ""
                link = self.links.get(sender)
                young = link is not None and (
                    time.monotonic() - link.created_at < self.ctx.options.probe_interval)
                if young:
                    log.info("call %s: %s asked for a new offer; one is on its way",
                             self.call_id, sender)
                elif link is not None and link.offerer and sender in self.participants:
                    self._schedule_rebuild(sender, "the other end asked for a new offer")
            case p.InviteDeclined():
                self.ctx.emit(InviteDeclinedBy(msg.call_id, msg.by))
            case p.InviteWithdrawn():
                await self._finish(S.ENDED, f"invitation withdrawn: {msg.reason}")
            case p.CallEnded():
                await self._finish(S.ENDED, msg.reason.value)
            case p.Error():
                await self._on_error(msg)
            case p.HandOverStatus():
                await self._on_hand_over_status(msg)
            case p.HandOverOffer():
                self.ctx.emit(HandOverReceived(msg.call_id, msg))
            case p.ClinicFallback():
                self.ctx.emit(QueueMoved(msg.call_id, msg.position, msg.estimated_wait_s))
                self.ctx.emit(ClinicFellBack(msg.call_id, msg.reason, msg.position,
                                             msg.estimated_wait_s))

    async def _on_hand_over_status(self, msg: p.HandOverStatus) -> None:
        self.ctx.emit(HandOverAnswered(msg.call_id, msg.outcome, msg.by))
        if msg.outcome == "accepted":
            await self._finish(S.ENDED, f"handed over to {msg.by}")
        elif msg.outcome == "queued":
            await self._finish(S.ENDED, "handed back to the queue")
        elif msg.outcome == "withdrawn" and self.state in (S.RINGING, S.CONNECTING):
            await self._finish(S.ENDED, "hand-over withdrawn")

    async def _on_error(self, msg: p.Error) -> None:
        self.ctx.emit(Refused(self.call_id, msg.message))
        if self.state is S.REQUESTING or (self.state is S.CONNECTING and msg.ref in (
                "call_claim", "invite_accept", "hand_over_accept")):
            await self._finish(S.FAILED, msg.message)

    async def _on_connected(self, msg: p.CallConnected) -> None:
        self.call_id = msg.call_id
        self.ctx.hold(msg.call_id)
        self.ice_servers = list(msg.ice_servers)
        self.participants = {x.participant_id: x for x in msg.participants}
        self.absent.clear()
        self._participants_changed()
        if self.state is S.QUEUED:
            self._move(S.CONNECTING, "a nurse answered")
        if self.media is None:
            self._make_media()
        if self._monitor is None:
            self._monitor = asyncio.create_task(self._watch(), name=f"call-{self.call_id}")
        for part in msg.participants:
            if part.participant_id != self.me and self._i_offer_to(part):
                link = self.links.get(part.participant_id)
                if link is None or not self._healthy(link):
                    await self._offer_to(part.participant_id)

    def _make_media(self) -> None:
        self.media = self.ctx.make_media()
        self._configure_media()
        assert self.call_id is not None
        self.ctx.emit(LocalMediaChanged(self.call_id, True, self.muted, self.camera_off,
                                        self.on_hold))

    def _participants_changed(self) -> None:
        assert self.call_id is not None
        self.ctx.emit(ParticipantsChanged(self.call_id, tuple(self.participants.values())))

    def _i_offer_to(self, other: p.Participant) -> bool:
        return RANK[self.role] > RANK[other.role]

    def _healthy(self, link: PeerLink) -> bool:
        return (link.state == "connected"
                and time.monotonic() - link.last_media_at < self.ctx.options.media_timeout / 2)

    # --- peer connections -----------------------------------------------------------------

    def _new_link(self, remote: str, offerer: bool) -> PeerLink:
        if self._closed:
            raise LinkClosedError(f"call {self.call_id} is closed: no new link to {remote}")
        old = self.links.get(remote)
        generation = old.generation + 1 if old is not None else 1
        assert self.media is not None
        link = PeerLink(
            remote, offerer=offerer, generation=generation,
            configuration=rtc_configuration(self.ice_servers, self.ctx.options.relay_only),
            media=self.media, on_change=self._on_link_change,
            rewrite_sdp=self.ctx.options.rewrite_sdp, on_media=self._on_link_media,
            codecs=self.ctx.options.video_codecs,
        )
        self.links[remote] = link
        if old is not None:
            self._release(old)
        assert self.call_id is not None
        self.ctx.emit(LinkChanged(self.call_id, remote, generation, "new"))
        return link

    async def _offer_to(self, remote: str) -> None:
        assert self.call_id is not None
        link = self._new_link(remote, offerer=True)
        try:
            sdp = await link.make_offer()
        except LinkClosedError:
            return  # replaced or ended while gathering
        if self.links.get(remote) is not link or self.state in FINAL:
            return
        await self.ctx.send(p.Offer(call_id=self.call_id, to=remote, sdp=sdp))

    async def _on_offer(self, msg: p.Offer) -> None:
        assert self.call_id is not None and msg.sender is not None
        if self.media is None:  # an offer can overtake nothing, but be safe
            self._make_media()
        link = self._new_link(msg.sender, offerer=False)
        try:
            sdp = await link.answer_offer(msg.sdp)
        except LinkClosedError:
            return  # replaced or ended while gathering
        if self.links.get(msg.sender) is link and self.state not in FINAL:
            await self.ctx.send(p.Answer(call_id=self.call_id, to=msg.sender, sdp=sdp))

    def _on_link_media(self, link: PeerLink, kind: str) -> None:
        if self.links.get(link.remote) is not link or self.call_id is None:
            return
        part = self.participants.get(link.remote)
        role = part.role if part is not None else CallRole.CALLER
        self.ctx.emit(RemoteMediaAdded(self.call_id, link.remote, role, link.generation,
                                       kind))

    def _on_link_change(self, link: PeerLink) -> None:
        if self.links.get(link.remote) is not link or self.call_id is None:
            return
        self.ctx.emit(LinkChanged(self.call_id, link.remote, link.generation, link.state))
        if link.state == "connected":
            self._failures.pop(link.remote, None)
            if self.state is S.CONNECTING:
                self._move(S.IN_CALL, "media connected")
        elif link.state == "failed" and link.offerer:
            self._schedule_rebuild(link.remote, "ICE failed")
        elif link.state == "failed":
            # Only the offering end rebuilds a leg; tell it, in case it has not noticed yet.
            self._spawn(self.ctx.send(p.Renegotiate(call_id=self.call_id, to=link.remote)))

    def _schedule_rebuild(self, remote: str, why: str) -> None:
        if remote in self._next_try:
            return  # already due: a second reason does not put it off
        n = self._failures.get(remote, 0)
        self._failures[remote] = n + 1
        # At once the first time, then at the short fixed interval (see the module's note).
        delay = 0.05 if n == 0 else self.ctx.options.probe_interval
        self._next_try[remote] = time.monotonic() + delay
        log.info("call %s: link to %s lost (%s); new peer connection in %.2f s",
                 self.call_id, remote, why, delay)

    async def _watch(self) -> None:
        """Five times a second: links that stopped carrying media or need replacing; once
        a second: quality (for every link, connected or being replaced) and the mode."""
        opts = self.ctx.options
        next_sample = time.monotonic() + opts.quality_interval
        while self.state not in FINAL:
            await asyncio.sleep(opts.liveness_interval)
            now = time.monotonic()
            async with self._lock:
                if self.state in FINAL:
                    return
                for remote, link in list(self.links.items()):
                    if not link.closed:
                        await self._check(remote, link, now)
                if now < next_sample:
                    continue
                next_sample = now + opts.quality_interval
                samples = []
                for remote, link in list(self.links.items()):
                    clock = self._clocks.get(remote)
                    silent = clock.silent_for(now) if clock and clock.stalled else 0.0
                    if link.connected_at is not None and not link.closed:
                        with contextlib.suppress(Exception):
                            samples.append(await link.sample(silent))
                    elif not link.closed:
                        samples.append(link.idle_quality(silent))
            if samples and self.call_id is not None:
                sent = self.media.sent_size if self.media is not None else None
                self.ctx.emit(QualityReport(self.call_id, tuple(samples), self.mode, sent))
                self._auto([q for q in samples if q.state == "connected" and not q.silent_for])

    async def _check(self, remote: str, link: PeerLink, now: float) -> None:
        """Liveness and replacement of one link (under the call's lock)."""
        opts = self.ctx.options
        clock = self._clocks.setdefault(remote, ArrivalClock(now))
        silent = clock.tick(link.generation, link.datagrams_in, now,
                            link.connected_at is not None)
        limit = opts.stall_after if link.remote_sends else opts.stall_after_rtcp_only
        assert self.call_id is not None
        if clock.stalled and link.connected_at is not None and silent < limit:
            clock.stalled = False
            self._failures.pop(remote, None)
            self.ctx.emit(MediaResumed(self.call_id, remote, link.generation,
                                       now - clock.stalled_at))
        elif not clock.stalled and clock.had_media and silent >= limit:
            # Counted per participant, across links: a link replaced because its ICE failed
            # or its peer closed it is as silent as one that stopped.
            clock.stalled, clock.stalled_at, clock.told = True, clock.last_at, int(silent)
            self.ctx.emit(MediaStalled(self.call_id, remote, link.generation, silent))
            log.info("call %s: nothing from %s for %.1f s; replacing the link",
                     self.call_id, remote, silent)
            if link.connected_at is None:
                pass  # a replacement is already on its way: let it connect (or be probed)
            elif link.offerer:
                self._next_try.pop(remote, None)
                await self._reoffer(remote)
            else:
                self._spawn(self.ctx.send(p.Renegotiate(call_id=self.call_id, to=remote)))
        elif clock.stalled and int(silent) > clock.told:  # again each whole second
            clock.told = int(silent)
            self.ctx.emit(MediaStalled(self.call_id, remote, link.generation, silent))
        if not link.offerer:
            return
        link = self.links.get(remote, link)
        due = self._next_try.get(remote)
        if due is not None:
            if now >= due:
                self._next_try.pop(remote)
                await self._reoffer(remote)
        elif clock.stalled and link.connected_at is None and (
                link.answered_at is not None and not link.ice_connected
                and now - link.answered_at >= opts.probe_interval):
            await self._reoffer(remote)  # probing: this one did not find the path in time
        elif link.connected_at is None and now - link.created_at > opts.connect_timeout:
            self._schedule_rebuild(remote, "did not connect in time")

    async def _reoffer(self, remote: str) -> None:
        if remote in self.participants and remote not in self.absent:
            await self._offer_to(remote)

    def _auto(self, samples: list[LinkQuality]) -> None:
        if not self.auto_mode or not samples:
            return
        measures = [Measure(s.loss_out if s.loss_out is not None else s.loss_in,
                            s.estimate_kbps, s.codec, s.kbps_out) for s in samples]
        step = self.ladder.step(self.mode, measures)
        if step is not None:
            self._apply_mode(step[0], True, step[1])

    # --- ending ---------------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            await coro

        self._track(asyncio.create_task(run()))

    def _track(self, task: asyncio.Task[None]) -> None:
        """Background work of this call, which :meth:`close` waits for."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _release(self, link: PeerLink) -> asyncio.Task[None]:
        """Starts closing a link dropped from ``links``, as background work :meth:`close`
        waits for: whoever awaits the close may be cancelled (the engine stops the message
        handler last), and a link closed halfway leaks its ICE sockets."""
        closing = link.close_soon()
        self._track(closing)
        return closing

    async def _close_links(self) -> None:
        # Every close starts before the first is awaited, and runs to its end even if this
        # is cancelled: a link dropped from ``links`` half-closed would leak its sockets.
        links, self.links = list(self.links.values()), {}
        self._next_try.clear()
        closing = [self._release(link) for link in links]
        if closing:
            await asyncio.shield(asyncio.gather(*closing))

    async def _finish(self, state: CallState, reason: str) -> None:
        if self.state in FINAL:
            return
        if state not in TRANSITIONS[self.role].get(self.state, frozenset()):
            raise InvalidStateError(f"a {self.role} call cannot go from {self.state} to {state}")
        # Released first, so whoever sees "ended" can rely on nothing of the call running.
        await self.close()
        self._move(state, reason)

    async def close(self) -> None:
        """Releases everything of this call, in order: the monitor, the peer connections
        (sinks, then connections, then subscriptions), background closes, then the media
        source (capture threads). Safe to call twice."""
        self._closed = True
        if self.call_id is not None:
            self.ctx.release(self.call_id)
        monitor, self._monitor = self._monitor, None
        if monitor is not None and monitor is not asyncio.current_task():
            monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await monitor
        await self._close_links()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self.media is not None:
            media, self.media = self.media, None
            await media.close()
