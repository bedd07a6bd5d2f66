"""What the hub knows about a site's residents (and each Gold Line patient): the REST bodies of
hub/routes/residents.py, used by the station, the desk's call context and the hub alike.

A resident belongs to one site: a site reads and writes only its own; a nurse reads one in a
call's context (``GET /api/v1/calls/{call_id}/resident``). Every write is a new version (the
old ones are kept) with who wrote it and when, as the hub saw the writer's token.

What RESTORE2 asks a home to record travels with the resident (shared/clinical/REFERENCE.md):
their usual observations and NEWS2 when well ("normal for them", with the day and who took
them), and their treatment escalation plan as the site recorded it: the ReSPECT
recommendations (focus, CPR, the realistic treatments, who made the plan and when) and a
DNACPR decision kept apart (it may exist without a ReSPECT form). The vocabularies are data
(records/data/respect_focus.csv, cpr_recommendations.csv; unverified); none of the form's
wording is reproduced.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from hub.contract.fields import MAX_INT, Day, NhsNumber, Text
from records import codes
from records.schema import ObservationSet

__all__ = [
    "DnacprDecision",
    "ResidentDetails",
    "ResidentOut",
    "ResidentVersionOut",
    "ResidentWrite",
    "RespectPlan",
    "UsualObservations",
]

ShortText = Annotated[Text, Field(max_length=200)]
LongText = Annotated[Text, Field(max_length=4000)]


def _in(table: str) -> AfterValidator:
    def check(value: str) -> str:
        return str(getattr(codes, table)().require(value))

    return AfterValidator(check)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UsualObservations(_Body):
    """The resident's baseline when well (RESTORE2): the observations and their NEWS2, or the
    usual NEWS2 alone where that is all the home knows; with the day and who took them.

    ``news2_total`` follows from ``observations`` when they are given (a typed total that
    differs is refused): a call compares today's values with these, never scores anew.
    """

    observations: ObservationSet | None = None
    news2_total: Annotated[int, Field(ge=0, le=20)] | None = None
    news2_complete: bool | None = None
    taken_on: Day
    taken_by: Annotated[ShortText, Field(min_length=1)]

    @model_validator(mode="after")
    def _derived(self) -> Self:
        if self.observations is None:
            if self.news2_total is None:
                raise ValueError("the usual values need observations or a usual NEWS2")
            return self
        score = self.observations.news2_score()
        if set(self.observations.values()[:7]) == {None}:
            raise ValueError("the usual observations are empty")
        if self.news2_total is not None and (
                self.news2_total != score.total or self.news2_complete not in (None,
                                                                                score.complete)):
            raise ValueError("news2_total does not match the usual observations")
        self.__dict__["news2_total"] = score.total
        self.__dict__["news2_complete"] = score.complete
        return self


class RespectPlan(_Body):
    """The ReSPECT recommendations as the site recorded them (not the form itself)."""

    focus: Annotated[str, _in("respect_focus")] | None = None
    cpr: Annotated[str, _in("cpr_recommendations")] | None = None
    treatments: LongText = ""  # the specific realistic treatments, hospital admission among them
    made_on: Day
    made_by: Annotated[ShortText, Field(min_length=1)]  # the clinician who made the plan
    reviewed_on: Day | None = None


class DnacprDecision(_Body):
    """A DNACPR decision, with or without a ReSPECT form (older local forms)."""

    decided_on: Day
    source: Annotated[ShortText, Field(min_length=1)]  # e.g. "GP practice DNACPR form"


class ResidentDetails(_Body):
    """What a site writes about one resident; the NHS number checked (modulus 11)."""

    name: Annotated[ShortText, Field(min_length=1)]
    nhs_number: NhsNumber | None = None
    date_of_birth: Day | None = None
    usual: UsualObservations | None = None
    respect: RespectPlan | None = None
    dnacpr: DnacprDecision | None = None


class ResidentWrite(_Body):
    """Body of ``PUT /api/v1/residents/{resident_id}``: the version the writer started from
    (None for a new resident); a write over any other version is a 409, never a silent
    overwrite (two stations of one site, one of them offline meanwhile)."""

    base_version: Annotated[int, Field(ge=1, le=MAX_INT)] | None = None
    details: ResidentDetails


class ResidentOut(BaseModel):
    """A resident's current version, as the hub holds it."""

    model_config = ConfigDict(frozen=True)

    id: UUID
    site_id: int
    site_name: str
    version: int
    details: ResidentDetails
    written_at: datetime
    written_by: str  # the name of the principal whose token wrote this version


class ResidentVersionOut(BaseModel):
    """One version of a resident (``GET /api/v1/residents/{id}/versions``, oldest first)."""

    model_config = ConfigDict(frozen=True)

    version: int
    details: ResidentDetails
    written_at: datetime
    written_by: str
