"""The hub-wide follow-up worklist: the body of ``GET /api/v1/follow-ups`` (routes/followups.py).

Every claimed avoided admission, A&E attendance or prison transfer (``avoided`` on the
record's latest version at the hub) has its follow-up checks due: one per window of
records/data/follow_up_windows.csv (72 hours, 7 days), due and overdue that many hours after
the call (shared/clinical/REFERENCE.md; the hours unverified). A check is recorded at any desk
as a new version of the record (records.store ``record_follow_up``, through the desk's outbox),
so "done" and "by whom" are what the hub holds: the follow-up's ``checked_by``, stamped by the
hub from the principal that pushed it (hub/authorship.py), shown as that person's name. A
claim withdrawn by one check needs no later one.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["FollowUpCounts", "FollowUpItem", "FollowUpState", "Worklist", "WorklistQuery"]

MAX_WORKLIST = 500  # records one answer covers (the oldest first: they are the most overdue)


class FollowUpState(enum.StrEnum):
    UPCOMING = "upcoming"  # the window has not ended: nothing to check yet
    DUE = "due"
    OVERDUE = "overdue"
    DONE = "done"


class FollowUpItem(BaseModel):
    """One check of one record's claim."""

    model_config = ConfigDict(frozen=True)

    record_uuid: UUID
    version: int  # the record's latest version at the hub (a follow-up amends it)
    call_id: str | None
    site_id: str
    setting: str
    patient: str
    nhs_number: str | None
    problem: str
    claims: tuple[Literal["admission", "ae_attendance", "prison_transfer"], ...]
    call_at: datetime
    window: Literal["72h", "7d"]
    due_at: datetime
    overdue_at: datetime
    state: FollowUpState
    done_at: datetime | None = None
    done_by: str | None = None  # the name of whoever the hub saw record it
    result: Literal["confirmed", "withdrawn"] | None = None


class FollowUpCounts(BaseModel):
    model_config = ConfigDict(frozen=True)

    upcoming: int = 0
    due: int = 0
    overdue: int = 0
    done: int = 0


class Worklist(BaseModel):
    """Answer of ``GET /api/v1/follow-ups``: due and overdue checks (most overdue first), then
    those done in the last ``done_days``; ``counts`` cover every claim, upcoming included."""

    model_config = ConfigDict(frozen=True)

    as_of: datetime
    items: list[FollowUpItem]
    counts: FollowUpCounts


class WorklistQuery(BaseModel):
    """Query of ``GET /api/v1/follow-ups``."""

    done_days: Annotated[int, Field(ge=0, le=90)] = 14

    def params(self) -> dict[str, str]:
        return {"done_days": str(self.done_days)}
