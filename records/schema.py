"""The triage record's one definition as data: the value the desk holds and the sync wire form.

Both the desk's sync client (records/sync.py) and the hub's central store API validate
records with :class:`TriageRecord`, so the two ends cannot drift apart. The local store
returns these frozen models, never live ORM objects.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Annotated, Literal, Self
from uuid import UUID, uuid4

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from hub.contract.fields import MAX_INT, Day, Text, in_range
from records import codes, news2, nhs_number

__all__ = [
    "AvoidedFlags",
    "FollowUp",
    "News2Result",
    "ObservationSet",
    "Patient",
    "SbardNotes",
    "TriageRecord",
    "utc_now",
]

# The most records one batch request may carry; the hub refuses larger batches with 413.

# Text and times refuse what no store can hold (NUL, lone surrogates, years far out of range).
ShortText = Annotated[Text, Field(max_length=200)]
LongText = Annotated[Text, Field(max_length=10_000)]


def utc_now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    # Naive times are ambiguous across sites and DST; the wire carries UTC offsets only.
    if value is not None and value.utcoffset() is None:
        raise ValueError("time must carry a UTC offset")
    return value if value is None else in_range(value)


AwareTime = Annotated[datetime, AfterValidator(_aware)]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Patient(_Frozen):
    """Who the record is about. ``nhs_number`` is stored as its 10 digits."""

    id: UUID = Field(default_factory=uuid4)
    nhs_number: Annotated[Text, Field(max_length=32)] | None = None
    name: ShortText
    date_of_birth: Day | None = None
    site_id: ShortText | None = None
    dnacpr: bool | None = None  # a DNACPR decision is in place (None: not known)
    respect_plan: LongText | None = None  # ReSPECT treatment limits, as written on the form
    usual_news2: int | None = Field(default=None, ge=0, le=20)  # the resident's usual score

    @field_validator("nhs_number")
    @classmethod
    def _valid_nhs_number(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # normalise checks it (InvalidNhsNumber is a ValueError, worded without the value).
        return nhs_number.normalise(value)


class ObservationSet(_Frozen):
    """Observations as typed; checked by :mod:`records.news2` (plausible ranges, ACVPU)."""

    respiration_rate: float | None = None
    spo2: float | None = None
    on_oxygen: bool | None = None
    systolic_bp: float | None = None
    pulse: float | None = None
    consciousness: news2.Consciousness | None = None
    temperature: float | None = None
    scale: Literal[1, 2] = 1

    @model_validator(mode="after")
    def _scorable(self) -> Self:
        self.news2_score()  # ObservationError is a ValueError: pydantic reports it as invalid
        return self

    def values(self) -> ObservationValues:
        """The fields as a tuple, in :class:`records.news2.Observations` order."""
        return (self.respiration_rate, self.spo2, self.on_oxygen, self.systolic_bp, self.pulse,
                self.consciousness, self.temperature, self.scale)  # fmt: skip

    def to_news2(self) -> news2.Observations:
        return news2.Observations(*self.values())

    def news2_score(self) -> news2.News2Score:
        """NEWS2 of these observations (records.news2.score), computed once per distinct set."""
        return _scored(self.values())


# (respiration_rate, spo2, on_oxygen, systolic_bp, pulse, consciousness, temperature, scale)
ObservationValues = tuple[
    float | None, float | None, bool | None, float | None, float | None,
    news2.Consciousness | None, float | None, int,
]  # fmt: skip


@functools.lru_cache(maxsize=4096)
def _scored(values: ObservationValues) -> news2.News2Score:
    # A memo of a pure function, keyed by the validated values themselves (never by a model
    # instance, whose fields model_copy could have changed): validating a record checks the
    # observations and then their NEWS2, and both now cost one scoring, not three. Refusals
    # (ObservationError) are never cached, so a bad value is refused every time.
    return news2.score(news2.Observations(*values))


class News2Result(_Frozen):
    """NEWS2 as computed from the record's observations (never typed in by hand)."""

    subscores: dict[str, int | None]
    total: int
    complete: bool
    band: Literal["low", "low-medium", "medium", "high"]

    @classmethod
    def of(cls, observations: ObservationSet) -> News2Result:
        result = observations.news2_score()
        return cls(
            subscores=dict(result.subscores),
            total=result.total,
            complete=result.complete,
            band=result.band,
        )

    def matches(self, result: news2.News2Score) -> bool:
        """Whether this is ``result`` (compared field by field: no model built to compare)."""
        return (
            self.total == result.total
            and self.complete == result.complete
            and self.band == result.band
            and self.subscores == result.subscores
        )


class SbardNotes(_Frozen):
    """Handover notes: Situation, Background, Assessment, Recommendation, Decision."""

    situation: LongText = ""
    background: LongText = ""
    assessment: LongText = ""
    recommendation: LongText = ""
    decision: LongText = ""


class AvoidedFlags(_Frozen):
    """What the nurse confirms the call avoided (suggested by records.codes.suggested_avoided)."""

    admission: bool = False
    ae_attendance: bool = False
    prison_transfer: bool = False
    gp_visit: bool = False
    confirmed_by: ShortText | None = None
    confirmed_at: AwareTime | None = None

    @model_validator(mode="after")
    def _confirmed(self) -> Self:
        claimed = self.admission or self.ae_attendance or self.prison_transfer or self.gp_visit
        if claimed and (self.confirmed_by is None or self.confirmed_at is None):
            raise ValueError("an avoided flag needs the confirming nurse and time")
        return self


class FollowUp(_Frozen):
    """The follow-up check that confirms or withdraws the avoided claim."""

    window: Literal["72h", "7d"]
    checked_at: AwareTime
    checked_by: ShortText
    unplanned_attendance: bool
    unplanned_admission: bool

    @property
    def claim_withdrawn(self) -> bool:
        return self.unplanned_attendance or self.unplanned_admission


def _code_in(table: str) -> AfterValidator:
    def check(value: str | None) -> str | None:
        if value is not None:
            getattr(codes, table)().require(value)
        return value

    return AfterValidator(check)


class TriageRecord(_Frozen):
    """One call's triage record at one version (the sync identity is ``(uuid, version)``).

    ``status`` is "draft" while the nurse types and "signed_off" once closed; only
    signed-off versions are synced. Version 2 onwards is an amendment and carries its reason.
    """

    uuid: UUID = Field(default_factory=uuid4)
    version: int = Field(default=1, ge=1, le=MAX_INT)
    status: Literal["draft", "signed_off"] = "draft"
    call_id: ShortText | None = None
    requested_at: AwareTime | None = None
    answered_at: AwareTime | None = None
    ended_at: AwareTime | None = None
    site_id: ShortText
    setting: Annotated[str, _code_in("settings")]
    patient: Patient | None = None
    presenting_problem: LongText = ""
    observations: ObservationSet | None = None
    news2: News2Result | None = None
    soft_signs: tuple[Annotated[str, _code_in("soft_signs")], ...] = ()
    sbard: SbardNotes = SbardNotes()
    intended_action: Annotated[str | None, _code_in("intended_actions")] = None
    outcome: Annotated[str | None, _code_in("outcomes")] = None
    referral_target: Annotated[str | None, _code_in("referral_targets")] = None
    nurse: ShortText
    specialist: ShortText | None = None
    avoided: AvoidedFlags = AvoidedFlags()
    follow_ups: tuple[FollowUp, ...] = ()
    signed_off_at: AwareTime | None = None
    signed_off_by: ShortText | None = None
    amendment_reason: LongText | None = None
    updated_at: AwareTime = Field(default_factory=utc_now)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        # A clinical safety check, kept on every validation: a score that does not follow
        # from the observations is refused, never stored.
        if self.observations is None:
            consistent = self.news2 is None
        elif self.news2 is None:
            # NEWS2 is derived: filled in when absent, checked against the observations when given.
            self.__dict__["news2"] = News2Result.of(self.observations)
            consistent = True
        else:
            consistent = self.news2 is not None and self.news2.matches(
                self.observations.news2_score()
            )
        if not consistent:
            raise ValueError("news2 does not match the observations")
        if len(set(self.soft_signs)) != len(self.soft_signs):
            raise ValueError("soft_signs has a repeated sign")
        if self.status == "signed_off":
            missing = [
                name
                for name in ("outcome", "intended_action", "signed_off_at", "signed_off_by")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(f"a signed-off record needs {', '.join(missing)}")
        if self.version > 1 and not (self.amendment_reason or "").strip():
            raise ValueError("version 2 onwards is an amendment and needs its reason")
        return self
