"""REST bodies of the record's authority: who wrote each version, conflicts resolved, drafts.

Issue 13 ("one hub, one record"). The hub, not the body, says who wrote a version: the
central store stamps the authenticated principal's user name into the version's attribution
fields (``signed_off_by``, a new ``avoided.confirmed_by``, a new follow-up's ``checked_by``,
version 1's ``nurse``) and keeps who pushed it beside it (:class:`AuthoredVersionOut`).
Versions are contiguous: a pushed version is the held one + 1 (or a retry of a held one);
any other is refused with 422 naming ``version``. Two desks that amend one version: the
second is a conflict, and the hub keeps its take aside (:class:`CompetitorOut`) until a nurse
resolves both into the next version (:class:`ResolutionBody`), whose ``supersedes`` names
them. Unsigned drafts are kept on the hub per nurse (:class:`DraftPage`).

Routes (under ``/api/v1``), request -> answer:

* ``GET /records/{uuid}/versions`` -> ``list[AuthoredVersionOut]`` (nurse, specialist,
  manager: readers of the record)
* ``GET /records/{uuid}/competitors`` -> ``list[CompetitorOut]`` (readers)
* ``POST /records/{uuid}/resolution`` :class:`ResolutionBody` -> :class:`ResolutionOut`
  (201 stored, 200 unchanged, 409 conflict: the held version moved on; writers)
* ``PUT /drafts/{uuid}`` ``TriageRecord`` (a draft) -> :class:`DraftOut`;
  ``DELETE /drafts/{uuid}`` -> 204; ``GET /drafts`` -> :class:`DraftPage` (the signed-in
  nurse's or specialist's own drafts only)

A version 2**62 ahead (or any gap) answers 422 with ``loc`` ``["body", "version"]`` (in a
batch ``["body", "records", n, "version"]``), type ``version_gap``; nothing is stored, so
the real next version is taken as before.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from hub.contract.rest import VersionOut
from records.schema import TriageRecord

__all__ = [
    "ATTRIBUTED_FIELDS",
    "MAX_COMPETING",
    "MAX_DRAFTS",
    "AuthoredVersionOut",
    "CompetitorOut",
    "DraftOut",
    "DraftPage",
    "ResolutionBody",
    "ResolutionOut",
    "VersionAction",
]

MAX_COMPETING = 20  # a desk's own versions one resolution may carry
MAX_DRAFTS = 200  # drafts one nurse may keep on the hub (GET /drafts answers them all)

# The body fields the hub attributes itself (each a field path, as audit details name them).
ATTRIBUTED_FIELDS = ("signed_off_by", "nurse", "avoided.confirmed_by", "follow_ups.checked_by")

VersionAction = Literal["signed_off", "amended", "resolved"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AuthoredVersionOut(VersionOut):
    """One held version with who wrote it as the hub saw them (not as the body says).

    ``stored_by`` is the pushing principal's participant id (``staff:3``); ``author`` its
    user name, ``author_name`` its display name, both at the time; ``replaced`` the
    :data:`ATTRIBUTED_FIELDS` whose value in the pushed body named someone else and was
    replaced. ``supersedes`` lists the competitor ids a resolution supersedes (beside the
    version before it). Versions stored before issue 13 have no author (None).
    """

    author: str | None = None
    author_name: str | None = None
    author_role: str | None = None
    action: VersionAction | None = None
    supersedes: list[int] = Field(default_factory=list)
    replaced: list[str] = Field(default_factory=list)


class CompetitorOut(_Frozen):
    """A pushed take of a version the hub did not take (it held another): kept, never lost."""

    id: int
    version: int  # the version number the take claimed
    pushed_at: datetime
    pushed_by: str  # participant id
    author: str | None  # user name of the pushing principal
    author_name: str
    resolved_by: int | None  # the version that superseded it; None while unresolved
    record: TriageRecord


class ResolutionBody(_Frozen):
    """Body of ``POST /records/{uuid}/resolution``.

    ``resolved`` is the version that supersedes both ``supersedes_version`` (the held
    version the nurse saw) and ``competing`` (this desk's own takes the hub did not take,
    oldest first); its version is ``supersedes_version + 1`` and it carries its reason.
    """

    supersedes_version: int = Field(ge=1, le=2**62)
    competing: list[TriageRecord] = Field(min_length=1, max_length=MAX_COMPETING)
    resolved: TriageRecord


class ResolutionOut(_Frozen):
    """Answer of ``POST /records/{uuid}/resolution`` (201, 200 or 409)."""

    uuid: UUID
    version: int
    status: Literal["stored", "unchanged", "conflict"]
    held_version: int | None  # with "conflict": the newest version the store holds
    competitors: list[int]  # the ids the competing takes are kept under


class DraftOut(_Frozen):
    """Answer of ``PUT /drafts/{uuid}``: ``kept``, or ``closed`` when the hub already holds
    a signed-off version of the record (the draft is not kept: it was signed off)."""

    uuid: UUID
    status: Literal["kept", "closed"]


class DraftPage(_Frozen):
    """Answer of ``GET /drafts``: the principal's own drafts, most recently changed first."""

    drafts: list[TriageRecord]
