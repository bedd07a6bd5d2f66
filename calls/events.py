"""A call's states and what a session tells its engine and UI (see :mod:`calls.session`)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from calls.liveness import MediaResumed, MediaStalled
from calls.peer import LinkQuality
from hub.contract import signaling as p
from hub.contract.identity import CallRole


class CallState(enum.StrEnum):
    IDLE = "idle"
    REQUESTING = "requesting"
    QUEUED = "queued"
    RINGING = "ringing"
    CONNECTING = "connecting"
    IN_CALL = "in_call"
    ENDED = "ended"
    FAILED = "failed"




@dataclass(frozen=True)
class StateChanged:
    call_id: str | None
    old: CallState
    new: CallState
    reason: str = ""


@dataclass(frozen=True)
class QueueMoved:
    call_id: str
    position: int
    estimated_wait_s: int | None  # None: nobody can answer now (see HubStatusChanged)


@dataclass(frozen=True)
class ParticipantsChanged:
    call_id: str
    participants: tuple[p.Participant, ...]


@dataclass(frozen=True)
class LinkChanged:
    """A peer connection to one participant changed state (``new`` for a fresh one)."""

    call_id: str
    participant_id: str
    generation: int
    state: str


@dataclass(frozen=True)
class QualityReport:
    call_id: str
    links: tuple[LinkQuality, ...]
    profile: str  # what we send: "hd", "full", "low" or "audio_only" (calls.modes.MODES)
    sent_size: tuple[int, int] | None = None  # the size of the video we send, if any


@dataclass(frozen=True)
class ModeChanged:
    call_id: str
    mode: str  # "hd", "full", "low" or "audio_only"
    automatic: bool
    reason: str


@dataclass(frozen=True)
class Refused:
    """The hub refused something this session sent (or a message was wrong for the state)."""

    call_id: str | None
    message: str


@dataclass(frozen=True)
class InviteDeclinedBy:
    call_id: str
    by: str


@dataclass(frozen=True)
class RemoteMediaAdded:
    """A sink for one participant's audio or video exists (a new one after each link
    replacement): get it with :meth:`CallSession.remote_video` / ``remote_audio``."""

    call_id: str
    participant_id: str
    role: CallRole
    generation: int
    kind: str  # "audio" or "video"


@dataclass(frozen=True)
class LocalMediaChanged:
    """Our own media: ``ready`` once the call's source exists (its self view can be read
    with :meth:`CallSession.self_view`), and the switches the user set."""

    call_id: str
    ready: bool
    muted: bool
    camera_off: bool
    on_hold: bool


@dataclass(frozen=True)
class HandOverReceived:
    """A call handed to this nurse: ringing (``offer.ring_s``) or, handed back to the
    queue, already answered; the note and the draft record come with it."""

    call_id: str
    offer: p.HandOverOffer


@dataclass(frozen=True)
class HandOverAnswered:
    """How this nurse's hand-over went (``p.HandOverStatus.outcome``)."""

    call_id: str
    outcome: str
    by: str | None


@dataclass(frozen=True)
class ClinicFellBack:
    """A booked clinic call's specialist did not answer: it now waits for a nurse."""

    call_id: str
    reason: str
    position: int
    estimated_wait_s: int


SessionEvent = (StateChanged | QueueMoved | ParticipantsChanged | LinkChanged | QualityReport
                | ModeChanged | Refused | InviteDeclinedBy | RemoteMediaAdded
                | LocalMediaChanged | HandOverReceived | HandOverAnswered | ClinicFellBack
                | MediaStalled | MediaResumed)
