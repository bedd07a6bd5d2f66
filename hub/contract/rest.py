"""Every REST body the hub and its clients exchange: requests, answers and query parameters.

One definition each, imported by the hub's routes and by every client (the desk, the site
station, the manager view, the sync runner, ``telehub-export``), so the two ends cannot drift
apart. Like the rest of hub/contract this imports no FastAPI, SQLAlchemy or hub service code;
a body that carries a triage record carries :class:`records.schema.TriageRecord`, the
record's one definition. Models the WebSocket shares with REST (``Principal``,
``IceServer``, ``QueueSnapshot``, ``Patient``) stay in identity.py and signaling.py.

Routes (under ``/api/v1`` but ``/health``) and their bodies, request -> answer:

* ``GET /health`` -> :class:`Health`
* ``POST /auth/login`` :class:`LoginBody`, ``POST /auth/site-login`` :class:`SiteLoginBody`
  -> :class:`TokenOut`; ``POST /auth/invitation-login`` :class:`InvitationLoginBody` ->
  :class:`HomeTokenOut`; ``POST /auth/logout`` -> 204; ``GET /me`` -> ``Principal``
* ``POST /auth/login`` may answer 401 :class:`SignInRefused`;
  ``POST /auth/second-factor/enrolment`` :class:`EnrolmentBody` -> :class:`EnrolmentOut`;
  ``POST /auth/second-factor/confirmation`` :class:`ConfirmEnrolmentBody` ->
  :class:`EnrolledOut`; ``DELETE /staff/{id}/second-factor`` -> 204. Every sign-in route
  answers 429 with Retry-After while an account or address is locked, and 503 with
  Retry-After when too many passwords are being checked at once
* ``GET /ice-servers`` -> ``list[IceServer]``; ``GET /queue`` -> ``QueueSnapshot``
* ``GET /calls`` (:class:`CallLogQuery`) -> ``list[CallOut]``; ``GET /calls/{id}`` ->
  :class:`CallOut`; ``PUT /calls/{id}/plan`` :class:`PlanBody` -> :class:`PlanOut`
* ``GET /staff`` -> ``list[StaffOut]``; ``POST /staff`` :class:`NewStaffBody` ->
  ``Principal``; ``GET /sites`` -> ``list[Principal]``; ``POST /sites`` :class:`NewSiteBody`
  -> :class:`NewSiteOut`
* the accounts' lifecycle (admin): ``POST /staff/{id}/disable``, ``POST /staff/{id}/enable``,
  ``POST /staff/{id}/password`` :class:`ResetPasswordBody` -> :class:`StaffOut`;
  ``GET /site-accounts`` -> ``list[SiteOut]``; ``POST /sites/{id}/credential`` ->
  :class:`NewSiteOut`; ``POST /sites/{id}/retire`` -> :class:`SiteOut`;
  ``GET /account-events`` -> ``list[AccountEventOut]``; anyone on staff: ``POST /me/password``
  :class:`ChangePasswordBody` -> 204
* ``POST /invitations`` :class:`NewInvitationBody` -> :class:`IssuedInvitationOut`;
  ``GET /invitations`` -> ``list[InvitationOut]``; ``DELETE /invitations/{id}`` -> 204
* ``POST /clinics`` :class:`NewBookingBody`, ``GET /clinics`` (:class:`ClinicDayQuery`),
  ``POST /clinics/{id}/join`` :class:`JoinBody`, ``POST /clinics/{id}/outcome``
  :class:`OutcomeBody` -> :class:`BookingOut`; ``DELETE /clinics/{id}`` -> 204
* ``PUT /records/{uuid}`` ``TriageRecord`` -> :class:`PutResponse` (409:
  :class:`PutConflict`); ``POST /records:batch`` :class:`BatchRequest` ->
  :class:`BatchResponse`; ``GET /records/{uuid}`` -> ``TriageRecord``;
  ``GET /records/{uuid}/versions`` -> ``list[VersionOut]``; ``GET /records``
  (:class:`RecordQuery`) -> :class:`RecordPage`; ``GET /records:export``
  (:class:`RecordExportQuery`) -> a file
* ``GET /reports/summary`` (:class:`Filters`) -> :class:`Report`; ``GET /reports/drill``
  (:class:`Filters` and :class:`DrillQuery`) -> :class:`DrillPage`; ``GET /reports:export``
  (:class:`Filters`, ``format``: :data:`ReportFormat`) -> a file

Query parameters travel under the names the routes give them (``from`` and ``to`` for date
bounds); each query model's ``params()`` gives a client exactly what to send.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from hub.contract.fields import Count, Day, Moment, NhsNumber, RowId, Text
from hub.contract.identity import Principal, SiteKind, StaffRole
from hub.contract.signaling import PROTOCOL_VERSION, Patient
from records.schema import TriageRecord

__all__ = [
    "CLAIMS",
    "MAX_BATCH",
    "MAX_PAGE",
    "MAX_PASSWORD",
    "MIN_PASSWORD",
    "SETTINGS",
    "WAIT_BAND_LABELS",
    "AccountAction",
    "AccountEventOut",
    "BatchItemResult",
    "BatchRequest",
    "BatchResponse",
    "BookingOut",
    "CallFigures",
    "CallLogQuery",
    "CallOut",
    "ChangePasswordBody",
    "Claim",
    "ClaimFigures",
    "ClinicDayQuery",
    "ConfirmEnrolmentBody",
    "DrillPage",
    "DrillQuery",
    "DrillRow",
    "EnrolledOut",
    "EnrolmentBody",
    "EnrolmentOut",
    "ErrorOut",
    "FieldError",
    "Filters",
    "Health",
    "HomeTokenOut",
    "InvitationLoginBody",
    "InvitationOut",
    "InvitedPatient",
    "IssuedInvitationOut",
    "JoinBody",
    "LoginBody",
    "NewBookingBody",
    "NewInvitationBody",
    "NewSiteBody",
    "NewSiteOut",
    "NewStaffBody",
    "OutcomeBody",
    "OutcomeFigures",
    "ParticipantOut",
    "PlanBody",
    "PlanOut",
    "PutConflict",
    "PutResponse",
    "Ready",
    "RecordExportFormat",
    "RecordExportQuery",
    "RecordPage",
    "RecordQuery",
    "Report",
    "ReportFormat",
    "ResetPasswordBody",
    "Saving",
    "Setting",
    "SignInRefused",
    "SiteFigures",
    "SiteLoginBody",
    "SiteOut",
    "StaffOut",
    "TokenOut",
    "UnitCost",
    "VersionOut",
]

MIN_PASSWORD = 10  # characters of a staff password (hub/password_policy.py: the whole rule)
MAX_PASSWORD = 1024
MAX_BATCH = 500  # records in one POST /records:batch
MAX_PAGE = 500  # rows of one page of GET /records and GET /reports/drill


class _Body(BaseModel):
    """A request body: a field the hub does not know is refused (422 naming it)."""

    model_config = ConfigDict(extra="forbid")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _params(values: dict[str, Any]) -> dict[str, str]:
    """Query parameters as sent: None left out, dates and times in ISO form."""
    out: dict[str, str] = {}
    for key, value in values.items():
        if value is None:
            continue
        out[key] = value.isoformat() if isinstance(value, date | datetime) else str(value)
    return out


# --- refusals -------------------------------------------------------------------------------


class FieldError(BaseModel):
    """One invalid value: where it was (``["body", "patient", "name"]``), the rule it broke
    and the rule's name; never the value itself."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorOut(BaseModel):
    """The body of every refusal (4xx) and failure (500): what was wrong, never a value sent."""

    detail: str | list[FieldError]


# --- service and sign-in -------------------------------------------------------------------


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    protocol: int = PROTOCOL_VERSION  # the signaling protocol of the hub answering


class CallerHubsOut(BaseModel):
    """``GET /call/hubs`` (no token): the public addresses of the service's hubs that the
    caller page may move to when its own is lost (``serve --peer-url``); empty when the hub
    was given none. The page puts its own origin first."""

    hubs: list[str]


class Ready(BaseModel):
    """``GET /ready``: 200 with ``ready``; 503 with why not (the load balancer's check)."""

    status: Literal["ready", "draining", "database_unreachable"]


class LoginBody(_Body):
    username: Annotated[Text, Field(min_length=1, max_length=64)]
    password: Annotated[Text, Field(min_length=1, max_length=1024)]
    code: Annotated[Text, Field(min_length=1, max_length=32, description=(
        "The six digits from the authenticator app, or a recovery code, when the account "
        "has a second factor"))] | None = None


class SiteLoginBody(_Body):
    credential: Annotated[Text, Field(min_length=1, max_length=256)]


class InvitationLoginBody(_Body):
    code: Annotated[Text, Field(min_length=1, max_length=64)]


class TokenOut(BaseModel):
    token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime
    principal: Principal


class HomeTokenOut(TokenOut):
    patient: Patient = Field(description="Who is calling, to send with the call request")


# --- the second factor (hub/mfa.py) --------------------------------------------------------


class SignInRefused(BaseModel):
    """401 from ``POST /auth/login``. ``detail`` says why; when the password was right but a
    second factor is still needed, ``second_factor`` says which: ``code`` (send the login
    again with ``code``) or ``enrol`` (the account has none yet: ``POST
    /auth/second-factor/enrolment`` first), and ``role`` is the account's role."""

    detail: str
    second_factor: Literal["code", "enrol"] | None = None
    role: StaffRole | None = None


class EnrolmentBody(_Body):
    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class EnrolmentOut(BaseModel):
    """A new TOTP secret, pending until a code from it is confirmed. Shown once."""

    secret: str = Field(description="Base32, for an app that cannot scan the QR code")
    uri: str = Field(description="otpauth:// URI, what the QR code holds")
    digits: int = 6
    period_s: int = 30


class ConfirmEnrolmentBody(EnrolmentBody):
    code: Annotated[str, Field(min_length=1, max_length=32)]


class EnrolledOut(TokenOut):
    recovery_codes: list[str] = Field(description="Each works once instead of a code; shown "
                                                  "this once, the hub keeps only hashes")


# --- accounts ------------------------------------------------------------------------------


# A password a body sets has no length bounds here: the hub's policy (hub/password_policy.py)
# checks it and its refusal names the rule broken (a bound here would answer "check password").
class NewStaffBody(_Body):
    username: Annotated[Text, Field(min_length=1, max_length=64)]
    role: StaffRole
    password: str
    display_name: Annotated[Text, Field(max_length=120)] | None = None


class StaffOut(BaseModel):
    """A member of staff as the administrator sees them (``GET /staff``)."""

    id: int
    username: str
    name: str
    role: StaffRole
    active: bool


class SiteOut(BaseModel):
    """A site as the administrator sees it (``GET /site-accounts``)."""

    id: int
    name: str
    kind: SiteKind
    active: bool
    retired_at: datetime | None = None


class ResetPasswordBody(_Body):
    """An administrator sets a new password for someone else (``POST /staff/{id}/password``)."""

    password: str


class ChangePasswordBody(_Body):
    """A signed-in member of staff changes their own password (``POST /me/password``)."""

    current_password: Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD)]
    new_password: str


AccountAction = Literal["enrol", "disable", "enable", "reset_password", "change_password",
                        "rotate_credential", "retire"]


class AccountEventOut(BaseModel):
    """One line of the accounts' audit trail (``GET /account-events``): who did what to
    whom. It never holds a password, credential or token."""

    at: datetime
    actor: str = Field(description='participant id ("staff:3"), or "cli:<user>" for the CLI')
    actor_name: str
    action: AccountAction
    subject: str = Field(description='"staff:5" or "site:2"')
    subject_name: str


class NewSiteBody(_Body):
    name: Annotated[Text, Field(min_length=1, max_length=120)]
    kind: SiteKind


class NewSiteOut(BaseModel):
    site: Principal
    credential: str = Field(description="Shown once; the hub keeps only its hash")


# --- the call log and call plans -----------------------------------------------------------


class CallLogQuery(BaseModel):
    """Query of ``GET /calls``: times with a zone (a time without one is refused)."""

    start: Moment | None = None  # sent as "from"
    end: Moment | None = None  # sent as "to"
    site_id: RowId | None = None
    state: Literal["waiting", "connected", "ended"] | None = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 100
    offset: Count = 0

    def params(self) -> dict[str, str]:
        return _params({"from": self.start, "to": self.end, "site_id": self.site_id,
                        "state": self.state, "limit": self.limit, "offset": self.offset})


class ParticipantOut(BaseModel):
    participant_id: str
    name: str
    role: str
    joined_at: datetime
    left_at: datetime | None
    left_reason: str | None


class HoldOut(BaseModel):
    """One hold of a call (``ended_at`` absent while it is held)."""

    started_at: datetime
    ended_at: datetime | None
    held_by: str  # participant id of the nurse


class MessageOut(BaseModel):
    """One chat message of a call, as the hub passed it on (``chat_message``)."""

    sent_at: datetime
    sender: str  # participant id
    name: str
    role: str
    text: str


class CallOut(BaseModel):
    """One entry of the call log."""

    id: str
    site_id: int
    site_name: str
    site_kind: str
    reason: str
    urgency: str
    intended_action: str | None
    news2_total: int | None
    news2_band: str | None
    state: str
    requested_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    ended_by: str | None
    participants: list[ParticipantOut]
    held_s: float = 0.0  # seconds on hold, over its finished holds
    holds: list[HoldOut] = []
    messages: list[MessageOut] = []


class OpeningBody(_Body):
    """``PUT /api/v1/hub/opening``: set the hub open, closed or suspended."""

    state: Literal["open", "closed", "suspended"]


class OpeningOut(BaseModel):
    """The hub's opening as an administrator set it, and what callers are told when no
    nurse can answer (then, or when no nurse is signed in)."""

    state: str  # open, closed, suspended
    changed_at: datetime | None
    changed_by: str | None
    advice: str
    phone: str | None


class PlanBody(_Body):
    decision: Annotated[Text, Field(min_length=1, max_length=4000)]
    call_again: Annotated[Text, Field(max_length=1000)] | None = None


class PlanOut(BaseModel):
    call_id: str
    decision: str
    call_again: str | None
    written_by_name: str
    written_at: datetime


# --- invitations ---------------------------------------------------------------------------


class InvitedPatient(_Body):
    name: Annotated[Text, Field(min_length=1, max_length=80)]
    nhs_number: NhsNumber | None = None  # checked (modulus 11), kept as its 10 digits
    date_of_birth: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")] | None = None


class NewInvitationBody(_Body):
    patient: InvitedPatient
    valid_days: Annotated[int, Field(ge=1, le=90)] = 30


class InvitationOut(BaseModel):
    id: int
    site: Principal
    patient: InvitedPatient
    issued_at: datetime
    expires_at: datetime
    revoked: bool
    last_used_at: datetime | None


class IssuedInvitationOut(InvitationOut):
    code: str = Field(description="Shown once; the hub keeps only its hash")
    link: str = Field(description="Path of the caller page with the code in its fragment")


# --- clinics -------------------------------------------------------------------------------


class NewBookingBody(_Body):
    site_id: RowId
    specialist_id: RowId
    starts_at: Moment
    minutes: Annotated[int, Field(ge=5, le=240)] = 20
    title: Annotated[Text, Field(min_length=1, max_length=120)]
    patient: Patient | None = None


class ClinicDayQuery(BaseModel):
    """Query of ``GET /clinics``: the UTC day (today when left out), optionally one site."""

    day: Day | None = None
    site_id: RowId | None = None

    def params(self) -> dict[str, str]:
        return _params({"day": self.day, "site_id": self.site_id})


class JoinBody(_Body):
    call_id: Annotated[Text, Field(min_length=1, max_length=36)]


class OutcomeBody(_Body):
    transfer_avoided: bool


class BookableSpecialist(BaseModel):
    id: int
    name: str


class ClinicChoicesOut(BaseModel):
    """What a clinic may be booked with (``GET /clinics/choices``): the enrolled prisons and
    the specialists' accounts, for the desk's booking form."""

    prisons: list[Principal]
    specialists: list[BookableSpecialist]


class BookingOut(BaseModel):
    id: int
    site_id: int
    site_name: str
    specialist_id: int
    specialist_name: str
    starts_at: datetime
    minutes: int
    title: str
    patient: Patient | None
    cancelled: bool
    call_id: str | None
    transfer_avoided: bool | None


# --- the central store of triage records ---------------------------------------------------


class PutResponse(_Frozen):
    """Body of 200/201 from ``PUT /records/{uuid}``."""

    uuid: UUID
    version: int
    status: Literal["stored", "unchanged"]


class PutConflict(_Frozen):
    """Body of 409 from ``PUT /records/{uuid}``: a newer version is held, or this one with
    other content."""

    uuid: UUID
    version: int
    detail: str
    held_version: int | None


class BatchRequest(_Frozen):
    records: list[TriageRecord] = Field(min_length=1, max_length=MAX_BATCH)


class BatchItemResult(_Frozen):
    uuid: UUID
    version: int
    status: Literal["stored", "unchanged", "conflict"]
    held_version: int | None = None  # with "conflict": the newest version the store holds


class BatchResponse(_Frozen):
    results: list[BatchItemResult]


class VersionOut(BaseModel):
    version: int
    stored_at: datetime
    stored_by: str
    signed_off_at: datetime | None
    signed_off_by: str | None
    amendment_reason: str | None


class RecordQuery(BaseModel):
    """Query of ``GET /records``: UTC days ``start``..``end`` (both included), site, patient."""

    site_id: Annotated[Text, Field(max_length=200)] | None = None
    start: Day | None = None  # sent as "from"
    end: Day | None = None  # sent as "to"
    nhs_number: Annotated[Text, Field(max_length=16)] | None = None
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE)] = 100
    offset: Count = 0

    def params(self) -> dict[str, str]:
        return _params({"site_id": self.site_id, "from": self.start, "to": self.end,
                        "nhs_number": self.nhs_number, "limit": self.limit,
                        "offset": self.offset})


class RecordPage(BaseModel):
    """Answer of ``GET /records``: latest versions, oldest call first."""

    records: list[TriageRecord]
    next_offset: int | None  # the offset of the next page; None on the last page


RecordExportFormat = Literal["csv", "xlsx", "fhir"]


class RecordExportQuery(BaseModel):
    """Query of ``GET /records:export``: the avoided-admission log of UTC days start..end."""

    start: Day  # sent as "from"
    end: Day  # sent as "to"
    format: RecordExportFormat = "csv"

    def params(self) -> dict[str, str]:
        return _params({"from": self.start, "to": self.end, "format": self.format})


# --- the manager's report ------------------------------------------------------------------

Setting = Literal["care_home", "prison", "home"]  # a site's kind, as the report groups calls
SETTINGS: tuple[Setting, ...] = ("care_home", "prison", "home")
Claim = Literal["admission", "ae_attendance", "prison_transfer", "ambulance_conveyance"]
CLAIMS: tuple[Claim, ...] = ("admission", "ae_attendance", "prison_transfer",
                             "ambulance_conveyance")  # fmt: skip
# The time-to-answer bands of CallFigures.wait_bands (bounds: WAIT_BANDS where the report is built).
WAIT_BAND_LABELS = ("≤30 s", "30–60 s", "1–2 min", "2–5 min", ">5 min")
ReportFormat = Literal["summary", "csv", "xlsx", "fhir", "pdf"]


class Filters(_Frozen):
    """UTC days ``start``..``end`` (both included), optionally one site or one setting.

    The query of every ``/reports`` route; sent as ``from``, ``to``, ``site_id``,
    ``site_kind``.
    """

    start: Day
    end: Day
    site_id: RowId | None = None
    site_kind: Setting | None = None

    def params(self) -> dict[str, str]:
        return _params({"from": self.start, "to": self.end, "site_id": self.site_id,
                        "site_kind": self.site_kind})

    def bounds(self) -> tuple[datetime, datetime]:
        return (datetime.combine(self.start, time(), UTC),
                datetime.combine(self.end + timedelta(days=1), time(), UTC))  # fmt: skip

    def narrowed(self, month: str | None) -> Filters:
        """These filters within one month ("YYYY-MM"): a drill-down from a monthly figure."""
        if month is None:
            return self
        first = date.fromisoformat(f"{month}-01")
        after = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
        return self.model_copy(update={
            "start": max(self.start, first), "end": min(self.end, after - timedelta(days=1)),
        })  # fmt: skip


class DrillQuery(BaseModel):
    """Query of ``GET /reports/drill`` besides the :class:`Filters`."""

    figure: Annotated[Text, Field(max_length=60)]
    month: Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")] | None = None
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE)] = 100
    offset: Count = 0

    def params(self) -> dict[str, str]:
        return _params({"figure": self.figure, "month": self.month, "limit": self.limit,
                        "offset": self.offset})


class CallFigures(_Frozen):
    """The calls of one month from one setting."""

    month: str
    site_kind: str
    calls: int = 0
    answered: int = 0
    within_60s: int = 0
    within_5min: int = 0
    answer_s_total: float = 0.0  # for the mean time to answer
    abandoned: int = 0
    abandoned_after_30s: int = 0
    caller_lost: int = 0
    open: int = 0  # still waiting or connected
    no_record: int = 0  # answered, no signed-off record in the central store
    held: int = 0  # calls put on hold at least once (finished holds)
    held_s_total: float = 0.0  # seconds on hold, over those calls (for the mean hold)
    wait_bands: tuple[int, ...] = (0, 0, 0, 0, 0)  # answered calls per WAIT_BAND_LABELS band


class OutcomeFigures(_Frozen):
    month: str
    site_kind: str
    outcome: str
    records: int


class ClaimFigures(_Frozen):
    """Claims of one kind, one month, one setting: claimed = confirmed + withdrawn + pending."""

    month: str
    site_kind: str
    claim: Claim
    claimed: int = 0
    confirmed: int = 0
    withdrawn: int = 0

    @property
    def pending(self) -> int:
        return self.claimed - self.confirmed - self.withdrawn


class SiteFigures(_Frozen):
    site_id: int
    site_name: str
    site_kind: str
    calls: int
    answered: int
    within_5min: int
    abandoned: int


class UnitCost(_Frozen):
    item: str
    label: str
    cost_gbp: float
    year: str
    claim: Claim
    source: str


class Saving(_Frozen):
    """An estimate: claims of one kind times its unit cost (an editable assumption)."""

    unit: UnitCost
    claimed: int
    confirmed: int

    @property
    def confirmed_gbp(self) -> float:
        return self.confirmed * self.unit.cost_gbp

    @property
    def claimed_gbp(self) -> float:
        return self.claimed * self.unit.cost_gbp


class Report(_Frozen):
    """Answer of ``GET /reports/summary``: every figure of the dashboard for its filters."""

    filters: Filters
    generated_at: datetime
    calls: tuple[CallFigures, ...]
    outcomes: tuple[OutcomeFigures, ...]
    claims: tuple[ClaimFigures, ...]
    sites: tuple[SiteFigures, ...]
    savings: tuple[Saving, ...]
    elapsed_ms: float = 0.0

    # Totals over whatever rows match: the dashboard's headline figures.
    def total(self, figure: str, *, month: str | None = None,
              site_kind: str | None = None) -> float:  # fmt: skip
        return float(sum(getattr(c, figure) for c in self.calls
                   if (month is None or c.month == month)
                   and (site_kind is None or c.site_kind == site_kind)))  # fmt: skip

    def claim_total(self, claim: str, figure: str, *, month: str | None = None,
                    site_kind: str | None = None) -> int:  # fmt: skip
        return sum(getattr(c, figure) for c in self.claims
                   if c.claim == claim and (month is None or c.month == month)
                   and (site_kind is None or c.site_kind == site_kind))  # fmt: skip

    def outcome_totals(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for o in self.outcomes:
            out[o.outcome] = out.get(o.outcome, 0) + o.records
        return out

    def months(self) -> list[str]:
        return sorted({c.month for c in self.calls} | {c.month for c in self.claims}
                      | {o.month for o in self.outcomes})  # fmt: skip

    def wait_bands(self) -> list[int]:
        totals = [0] * len(WAIT_BAND_LABELS)
        for c in self.calls:
            for n, v in enumerate(c.wait_bands):
                totals[n] += v
        return totals


class DrillRow(_Frozen):
    """One call or record behind a figure: identifiers, times and codes, no patient data."""

    call_id: str | None
    record_uuid: str | None
    requested_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    answer_s: float | None
    end_reason: str | None
    site: str
    site_kind: str
    intended_action: str | None = None
    outcome: str | None = None
    claims: tuple[str, ...] = ()
    follow_up: str | None = None  # confirmed, withdrawn; None while pending
    nurse: str | None = None


class DrillPage(_Frozen):
    """Answer of ``GET /reports/drill``: one page of the calls or records behind a figure."""

    figure: str
    total: int
    offset: int
    rows: tuple[DrillRow, ...] = Field(default=())
    next_offset: int | None = None
