"""The hub's WebSocket signaling protocol: the one definition of every message, used by both ends.

Every frame is one JSON object with a ``type``. The hub parses what clients send with
:func:`parse_client_message` and clients parse what the hub sends with
:func:`parse_server_message`; both sides build messages from the classes below, so the two
ends cannot drift apart. docs/signaling.md shows an example of every message.
"""

from __future__ import annotations

import enum
import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from hub.contract.fields import RowId, Text
from hub.contract.identity import CallRole, Principal, SiteKind
from records.news2 import Consciousness
from records.schema import TriageRecord

PROTOCOL_VERSION = 1
# Large enough for an SDP offer with audio, video and every gathered candidate (typically
# 3-10 KB); anything bigger is refused with an error rather than parsed.
MAX_FRAME_BYTES = 64 * 1024
# What the hub may send is larger: a queue snapshot of a long queue (each waiting call with
# its observations and patient, up to ~5 KB) passes 64 KiB at a dozen calls.
MAX_SERVER_FRAME_BYTES = 4 * 1024 * 1024

Sdp = Annotated[Text, Field(min_length=1, max_length=60_000)]
CallId = Annotated[Text, Field(min_length=1, max_length=64)]
ShortText = Annotated[Text, Field(max_length=200)]


class Urgency(enum.StrEnum):
    """How soon the caller needs a nurse; the queue serves ``emergency`` first."""

    EMERGENCY = "emergency"
    URGENT = "urgent"
    ROUTINE = "routine"

    @property
    def rank(self) -> int:
        return _URGENCY_RANK[self]


_URGENCY_RANK = {Urgency.EMERGENCY: 0, Urgency.URGENT: 1, Urgency.ROUTINE: 2}


class IntendedAction(enum.StrEnum):
    """What the caller would have done without the hub: the avoided-admission baseline."""

    NOTHING = "nothing"
    GP = "gp"
    NHS_111 = "nhs_111"
    AMBULANCE_999 = "ambulance_999"
    AE = "ae"


class EndReason(enum.StrEnum):
    """Why a call ended; recorded in the call log."""

    COMPLETED = "completed"  # ended by a participant after it was answered
    ABANDONED = "abandoned"  # the caller hung up while waiting
    CALLER_LOST = "caller_lost"  # the caller's connection did not come back in time


class ErrorCode(enum.StrEnum):
    BAD_JSON = "bad_json"
    TOO_LARGE = "too_large"
    UNKNOWN_TYPE = "unknown_type"
    INVALID = "invalid"
    UNSUPPORTED_VERSION = "unsupported_version"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    ALREADY_CLAIMED = "already_claimed"
    WRONG_STATE = "wrong_state"
    NOT_PARTICIPANT = "not_participant"
    NO_SPECIALIST = "no_specialist"
    HELLO_FIRST = "hello_first"
    TOO_MANY_CALLS = "too_many_calls"
    INTERNAL = "internal"


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=True)


# --- shared parts -------------------------------------------------------------------------


class PreCallObservations(BaseModel):
    """Observations the caller took before the call; any may be missing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    respiration_rate: int | None = Field(default=None, ge=0, le=80)
    spo2: int | None = Field(default=None, ge=50, le=100)
    on_oxygen: bool | None = None
    systolic_bp: int | None = Field(default=None, ge=40, le=300)
    pulse: int | None = Field(default=None, ge=20, le=250)
    consciousness: Consciousness | None = None
    temperature: float | None = Field(default=None, ge=25.0, le=45.0)
    scale: Literal[1, 2] = 1


class News2Summary(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    total: int
    band: str
    complete: bool


class Patient(BaseModel):
    """Who the call is about, as far as the caller knows before the call."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    nhs_number: Annotated[Text, Field(max_length=16)] | None = None
    name: ShortText | None = None
    date_of_birth: Annotated[Text, Field(max_length=10)] | None = None


class IceServer(BaseModel):
    """One entry of RTCConfiguration.iceServers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    urls: list[str]
    username: str | None = None
    credential: str | None = None


class QueueEntry(BaseModel):
    """A waiting call as nurse desks see it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    call_id: str
    site_id: int
    site_name: str
    site_kind: SiteKind
    urgency: Urgency
    reason: str
    intended_action: IntendedAction | None = None
    requested_at: datetime
    position: int
    requeued: bool = False
    caller_connected: bool = True
    news2: News2Summary | None = None
    observations: PreCallObservations | None = None
    patient: Patient | None = None
    soft_signs: list[str] = Field(default_factory=list)


class Participant(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    participant_id: str  # "site:<id>" or "staff:<id>"
    name: str
    role: CallRole


# --- client to hub ------------------------------------------------------------------------


class Hello(_Message):
    """First message on every connection: authenticates it with a bearer token."""

    type: Literal["hello"] = "hello"
    protocol: int
    token: Annotated[Text, Field(min_length=1, max_length=512)]
    client: ShortText | None = None


class Pong(_Message):
    type: Literal["pong"] = "pong"
    t: float | None = None


class Ping(_Message):
    """Sent by the hub every heartbeat interval; a client may send one too."""

    type: Literal["ping"] = "ping"
    t: float | None = None


class CallRequest(_Message):
    """A site asks for a nurse."""

    type: Literal["call_request"] = "call_request"
    request_id: Annotated[Text, Field(min_length=1, max_length=64)]
    reason: Annotated[Text, Field(min_length=1, max_length=500)]
    urgency: Urgency = Urgency.URGENT
    intended_action: IntendedAction | None = None
    observations: PreCallObservations | None = None
    patient: Patient | None = None
    soft_signs: Annotated[list[ShortText], Field(max_length=20)] = Field(default_factory=list)
    # A prison's booked clinic (POST /api/v1/clinics): the call rings its specialist first.
    clinic_id: RowId | None = None


class CallCancel(_Message):
    """The caller hangs up: while waiting the call is abandoned; in a call it ends."""

    type: Literal["call_cancel"] = "call_cancel"
    call_id: CallId


class CallResume(_Message):
    """A reconnecting caller or desk takes back its call (after a drop or a hub restart)."""

    type: Literal["call_resume"] = "call_resume"
    call_id: CallId


class CallClaim(_Message):
    """A nurse desk answers a waiting call. Exactly one claim wins."""

    type: Literal["call_claim"] = "call_claim"
    call_id: CallId


class CallEnd(_Message):
    """A participant ends the call for everyone (a specialist only leaves)."""

    type: Literal["call_end"] = "call_end"
    call_id: CallId


class _LegMessage(_Message):
    """A message for one leg of a call, relayed by the hub to participant ``to`` only."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    call_id: CallId
    to: Annotated[Text, Field(max_length=40)]
    # Filled in by the hub when it relays the message; a client's own value is overwritten.
    sender: str | None = Field(default=None, alias="from")

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=True, by_alias=True)


class _SdpMessage(_LegMessage):
    """An SDP offer or answer (complete: no trickle ICE)."""

    sdp: Sdp


class Renegotiate(_LegMessage):
    """Asks the offering end of a leg for a fresh offer: the answering end saw the link die,
    and aiortc has no ICE restart, so recovery is a new peer connection offered anew."""

    type: Literal["renegotiate"] = "renegotiate"


class Offer(_SdpMessage):
    type: Literal["offer"] = "offer"


class Answer(_SdpMessage):
    type: Literal["answer"] = "answer"


class InviteSpecialist(_Message):
    """The nurse in a call asks the hub to ring every signed-in specialist desk."""

    type: Literal["invite_specialist"] = "invite_specialist"
    call_id: CallId
    note: Annotated[Text, Field(max_length=500)] | None = None


class InviteCancel(_Message):
    type: Literal["invite_cancel"] = "invite_cancel"
    call_id: CallId


class InviteAccept(_Message):
    """A specialist joins the escalated call; the first acceptance wins."""

    type: Literal["invite_accept"] = "invite_accept"
    call_id: CallId


class InviteDecline(_Message):
    type: Literal["invite_decline"] = "invite_decline"
    call_id: CallId


class QueueSync(_Message):
    """A desk asks for a fresh queue snapshot (e.g. after it saw a gap in ``seq``)."""

    type: Literal["queue_sync"] = "queue_sync"


# --- hand-over, clinics and the hub at a glance (issue 14) -------------------------------

HandOverNote = Annotated[Text, Field(max_length=500)]


class HandOver(_Message):
    """The nurse in a call passes it on: to the free nurse ``to`` (a participant id,
    ``staff:<id>``), or back to the front of the queue when ``to`` is left out. The note and
    the draft record go with it; the hub sets the record's author from the sender."""

    type: Literal["hand_over"] = "hand_over"
    call_id: CallId
    to: Annotated[Text, Field(max_length=40)] | None = None
    note: HandOverNote | None = None
    record: TriageRecord | None = None


class HandOverAccept(_Message):
    """The nurse offered a hand-over takes the call."""

    type: Literal["hand_over_accept"] = "hand_over_accept"
    call_id: CallId


class HandOverDecline(_Message):
    type: Literal["hand_over_decline"] = "hand_over_decline"
    call_id: CallId


class HandOverOffer(_Message):
    """Rings the nurse a call is handed to, with who hands it over, the note and the draft."""

    type: Literal["hand_over_offer"] = "hand_over_offer"
    call_id: str
    entry: QueueEntry
    from_name: str
    note: str | None = None
    record: TriageRecord | None = None
    # Seconds the offered nurse has to answer; left out when the call is theirs already
    # (it was handed back to the queue and they answered it).
    ring_s: float | None = None


HandOverOutcome = Literal["accepted", "queued", "declined", "not_answered", "withdrawn"]


class HandOverStatus(_Message):
    """How a hand-over went, to the nurse handing over (``accepted``: the call is the other
    nurse's now; ``queued``: back in the queue; ``declined`` or ``not_answered``: still
    yours) and to the nurse offered it (``withdrawn``: the call ended or its nurse left)."""

    type: Literal["hand_over_status"] = "hand_over_status"
    call_id: str
    outcome: HandOverOutcome
    by: str | None = None


class ClinicRing(_Message):
    """Rings the specialist booked for a prison clinic when its call arrives; answered with
    ``invite_accept`` or ``invite_decline``, ended by ``invite_withdrawn``."""

    type: Literal["clinic_ring"] = "clinic_ring"
    call_id: str
    booking_id: int
    site_name: str
    title: str
    reason: str
    ring_s: float


class ClinicFallback(_Message):
    """To the caller of a clinic call: its specialist did not answer (or is not signed in,
    or declined), so the call now waits for a nurse, at ``position``."""

    type: Literal["clinic_fallback"] = "clinic_fallback"
    call_id: str
    reason: Literal["not_answered", "declined", "not_signed_in"]
    position: int
    estimated_wait_s: int


class UrgencyWait(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    urgency: Urgency
    waiting: int
    longest_wait_s: int  # 0 when none waits
    standard_s: int  # the answering standard for this urgency
    breached: bool  # the longest wait is past the standard


class HubGlance(_Message):
    """The hub at a glance, pushed to every nurse and manager desk when it changes (and at
    least every few seconds while calls wait, so the longest wait grows)."""

    type: Literal["hub_glance"] = "hub_glance"
    nurses_signed_in: int
    nurses_free: int
    nurses_in_call: int
    # Who is free (role nurse), for a desk handing a call to a named nurse.
    free_nurses: list[Participant] = Field(default_factory=list)
    waiting: list[UrgencyWait]
    answered_today: int
    answered_in_standard_today: int

# --- a photo into the record (issue 17): the nurse asks, the site consents or declines ----
# The photo itself goes over REST (POST /api/v1/calls/{call_id}/photos, too big for a frame);
# these only ask for it, refuse it and say it is there. Bodies: hub/contract/photos.py.
# Both directions in one block, before the unions that name them.

PhotoRequestId = Annotated[Text, Field(min_length=1, max_length=64)]


class PhotoRequest(_Message):
    """The nurse in a call asks the caller's station or page for a still of the camera."""

    type: Literal["photo_request"] = "photo_request"
    call_id: CallId
    request_id: PhotoRequestId


class PhotoDecline(_Message):
    """The site says no: the resident (or patient) did not consent to the photo."""

    type: Literal["photo_decline"] = "photo_decline"
    call_id: CallId
    request_id: PhotoRequestId


class PhotoRequested(_Message):
    """Tells the caller that the nurse asks for a photo: ask consent, then capture."""

    type: Literal["photo_requested"] = "photo_requested"
    call_id: str
    request_id: str
    by: str  # the nurse's name


class PhotoDeclined(_Message):
    """Tells the nurse that the site declined (no consent); nothing was taken."""

    type: Literal["photo_declined"] = "photo_declined"
    call_id: str
    request_id: str


class PhotoReady(_Message):
    """Tells the nurse in the call that the photo is in the central store (fetch it with
    GET /api/v1/photos/{photo_id}/image: every fetch is audited)."""

    type: Literal["photo_ready"] = "photo_ready"
    call_id: str
    request_id: str
    photo_id: str
    content_type: str
    width: int
    height: int
    size: int


ClientMessage = Annotated[
    Hello
    | Pong
    | Ping
    | CallRequest
    | CallCancel
    | CallResume
    | CallClaim
    | CallEnd
    | Offer
    | Answer
    | Renegotiate
    | InviteSpecialist
    | InviteCancel
    | InviteAccept
    | InviteDecline
    | QueueSync
    | HandOver
    | HandOverAccept
    | HandOverDecline
    | PhotoRequest
    | PhotoDecline,
    Field(discriminator="type"),
]


# --- hub to client ------------------------------------------------------------------------


class Welcome(_Message):
    type: Literal["welcome"] = "welcome"
    protocol: int = PROTOCOL_VERSION
    principal: Principal
    heartbeat_interval: float
    heartbeat_timeout: float


class Error(_Message):
    """A refusal, sent only to the client whose message caused it; nothing was changed."""

    type: Literal["error"] = "error"
    code: ErrorCode
    message: str
    ref: str | None = None  # the type of the refused message
    call_id: str | None = None
    request_id: str | None = None


class QueueSnapshot(_Message):
    type: Literal["queue_snapshot"] = "queue_snapshot"
    seq: int
    entries: list[QueueEntry]


class QueueUpdate(_Message):
    """One change of the queue, pushed to every signed-in nurse desk as it happens.

    ``seq`` grows by one per change, so a desk that sees a gap asks for a ``queue_sync``.
    ``removed`` carries why the call left the queue: claimed, abandoned or caller_lost.
    """

    type: Literal["queue_update"] = "queue_update"
    seq: int
    op: Literal["added", "updated", "removed"]
    call_id: str
    entry: QueueEntry | None = None
    reason: str | None = None
    claimed_by: str | None = None


class CallQueued(_Message):
    """The caller's request is in the queue (sent again on resume while waiting)."""

    type: Literal["call_queued"] = "call_queued"
    call_id: str
    request_id: str | None = None
    position: int
    estimated_wait_s: int


class QueuePosition(_Message):
    type: Literal["queue_position"] = "queue_position"
    call_id: str
    position: int
    estimated_wait_s: int


class CallConnected(_Message):
    """The call was answered (or a participant resumed it): who is in it, and ICE servers."""

    type: Literal["call_connected"] = "call_connected"
    call_id: str
    you: str  # this connection's participant id in the call
    participants: list[Participant]
    ice_servers: list[IceServer]


class CallEnded(_Message):
    type: Literal["call_ended"] = "call_ended"
    call_id: str
    reason: EndReason
    by: str | None = None


class CallRequeued(_Message):
    """The desk that answered is gone; the call is back at the front of the queue."""

    type: Literal["call_requeued"] = "call_requeued"
    call_id: str
    position: int
    estimated_wait_s: int


class SpecialistInvite(_Message):
    """Rings a specialist desk."""

    type: Literal["specialist_invite"] = "specialist_invite"
    call_id: str
    site_name: str
    site_kind: SiteKind
    reason: str
    invited_by: str
    note: str | None = None


class InviteWithdrawn(_Message):
    """Stops the ringing: another specialist accepted, the nurse cancelled or the call ended."""

    type: Literal["invite_withdrawn"] = "invite_withdrawn"
    call_id: str
    reason: Literal["accepted_elsewhere", "cancelled", "call_ended", "not_answered"]


class InviteDeclined(_Message):
    """Tells the inviting nurse that a specialist declined."""

    type: Literal["invite_declined"] = "invite_declined"
    call_id: str
    by: str


class CallPlanReady(_Message):
    """The plan agreed on a call (SBARD decision, when to call again), pushed to the site that
    called as soon as the nurse writes or corrects it; it is also at GET /calls/{id}/plan."""

    type: Literal["call_plan"] = "call_plan"
    call_id: str
    decision: str
    call_again: str | None = None
    written_by: str
    written_at: datetime


class ParticipantJoined(_Message):
    type: Literal["participant_joined"] = "participant_joined"
    call_id: str
    participant: Participant


class ParticipantLeft(_Message):
    type: Literal["participant_left"] = "participant_left"
    call_id: str
    participant_id: str
    reason: str



ServerMessage = Annotated[
    Welcome
    | Error
    | Ping
    | Pong
    | QueueSnapshot
    | QueueUpdate
    | CallQueued
    | QueuePosition
    | CallConnected
    | CallEnded
    | CallRequeued
    | Offer
    | Answer
    | Renegotiate
    | SpecialistInvite
    | InviteWithdrawn
    | InviteDeclined
    | ParticipantJoined
    | ParticipantLeft
    | CallPlanReady
    | HandOverOffer
    | HandOverStatus
    | ClinicRing
    | ClinicFallback
    | HubGlance
    | PhotoRequested
    | PhotoDeclined
    | PhotoReady,
    Field(discriminator="type"),
]

_client_adapter: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)
_server_adapter: TypeAdapter[ServerMessage] = TypeAdapter(ServerMessage)
CLIENT_TYPES = frozenset(
    m.model_fields["type"].default
    for m in (
        Hello, Pong, Ping, CallRequest, CallCancel, CallResume, CallClaim, CallEnd, Offer,
        Answer, Renegotiate, InviteSpecialist, InviteCancel, InviteAccept, InviteDecline, QueueSync,
        HandOver, HandOverAccept, HandOverDecline,
        PhotoRequest, PhotoDecline,
    )
)


class ProtocolError(Exception):
    """A frame that cannot be accepted; ``code`` says which rule it broke."""

    def __init__(self, code: ErrorCode, message: str, ref: str | None = None,
                 request_id: str | None = None, call_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref
        self.request_id, self.call_id = request_id, call_id

    def to_error(self) -> Error:
        return Error(code=self.code, message=self.message, ref=self.ref,
                     request_id=self.request_id, call_id=self.call_id)


def _own_id(data: dict[str, Any], key: str) -> str | None:
    """The frame's own ``request_id`` or ``call_id``, if it is one the contract would take:
    a refusal carries it back so the client can tell which of its messages was refused."""
    value = data.get(key)
    if isinstance(value, str) and 1 <= len(value) <= 64 and value.isprintable():
        return value
    return None


def _decode(text: str | bytes, cap: int = MAX_FRAME_BYTES) -> dict[str, Any]:
    size = len(text.encode()) if isinstance(text, str) else len(text)
    if size > cap:
        raise ProtocolError(ErrorCode.TOO_LARGE, f"frame of {size} bytes is over the {cap} cap")
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(ErrorCode.BAD_JSON, f"frame is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ProtocolError(ErrorCode.INVALID, "frame must be a JSON object")
    if not isinstance(data.get("type"), str):
        raise ProtocolError(ErrorCode.INVALID, "frame has no string 'type'")
    return data


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err["loc"][1:]) or "message"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def parse_client_message(text: str | bytes) -> ClientMessage:
    """Parse one frame from a client, or raise :class:`ProtocolError` saying what is wrong."""
    data = _decode(text)
    kind = data["type"]
    if kind not in CLIENT_TYPES:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {kind!r}", ref=kind)
    try:
        return _client_adapter.validate_python(data)
    except ValidationError as exc:
        raise ProtocolError(ErrorCode.INVALID, _describe(exc), ref=kind,
                            request_id=_own_id(data, "request_id"),
                            call_id=_own_id(data, "call_id")) from None


def parse_server_message(text: str | bytes) -> ServerMessage:
    """Parse one frame from the hub (used by clients)."""
    data = _decode(text, MAX_SERVER_FRAME_BYTES)
    try:
        return _server_adapter.validate_python(data)
    except ValidationError as exc:
        raise ProtocolError(ErrorCode.INVALID, _describe(exc), ref=data["type"]) from None
