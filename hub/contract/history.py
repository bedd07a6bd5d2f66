"""The hub-wide history and the patient context on a call: their queries, answers and rules.

Two routes (hub/routes/history.py), both reads of the central store, audited as reads:

* ``GET /api/v1/history`` (:class:`HistoryQuery`) -> :class:`HistoryPage`: encounters of the
  whole hub by patient name, NHS number, site, problem, outcome and the day of the call,
  newest first, a page at a time. Paging is by keyset: each page's ``next_cursor`` is sent
  back as ``cursor`` for the next one (an opaque string; never an offset, which costs the
  database every row before the page).
* ``GET /api/v1/context?call_id=`` (:class:`ContextQuery`) -> :class:`PatientContext`: for
  one call, the patient's and the site's recent encounters, the patient's NEWS2 trend and
  what the site has recorded about the resident. The patient and the site come from the
  call as the hub holds it, never from the request, so a nurse sees the context of a call
  that is waiting or that they took part in, and of no one else.

The matching rules live here too (:func:`search_terms`, :func:`words_match`), so the hub's
index and the desk's filter of its own unsynced records cannot drift apart. Like the rest of
hub/contract this imports nothing of the hub's service code.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
import unicodedata
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from hub.contract.fields import Day, Text
from hub.contract.residents import ResidentOut
from hub.contract.signaling import Patient

__all__ = [
    "CONTEXT_ENCOUNTERS",
    "MAX_HISTORY_PAGE",
    "MAX_PAIR_WORDS",
    "MAX_TERM",
    "MAX_TERMS",
    "ContextQuery",
    "EncounterSummary",
    "FollowUpState",
    "HistoryPage",
    "HistoryQuery",
    "InvalidCursor",
    "News2Point",
    "PatientContext",
    "ResidentNotes",
    "decode_cursor",
    "encode_cursor",
    "follow_up_state",
    "name_pairs",
    "pair_term",
    "search_terms",
    "successor",
    "words_match",
]

MAX_HISTORY_PAGE = 100  # encounters on one page of GET /history
CONTEXT_ENCOUNTERS = 10  # the patient's, and the site's, most recent encounters on a call
MAX_TERM = 32  # characters of one indexed word (a longer word is indexed by its start)
MAX_TERMS = 64  # distinct words indexed of one field (a problem is free text)
MAX_PAIR_WORDS = 8  # words of a name whose pairs are indexed (a name has fewer)
# A follow-up check is due within 7 days of the call (REFERENCE.md: "within 72 hours or 7
# days"); after that a claim without one is overdue.
FOLLOW_UP_DUE = timedelta(days=7)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _params(values: dict[str, object]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in values.items():
        if value is None or value == "":
            continue
        out[key] = value.isoformat() if isinstance(value, date | datetime) else str(value)
    return out


# --- the words a search matches --------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+")


def _fold(text: str) -> str:
    """Case and accents aside: "Zoë" and "ZOE" are one word."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def search_terms(text: str | None, limit: int = MAX_TERMS) -> list[str]:
    """The distinct words of ``text`` as the index holds them (folded, at most
    :data:`MAX_TERM` characters each, at most ``limit`` of them), in order of appearance."""
    if not text:
        return []
    seen: dict[str, None] = {}
    for word in _WORD.findall(_fold(text)):
        seen.setdefault(word[:MAX_TERM], None)
        if len(seen) >= limit:
            break
    return list(seen)


def words_match(query: str | None, text: str | None) -> bool:
    """Whether every word of ``query`` begins a word of ``text`` ("edi bro" matches "Edith
    Brown"): the rule the hub's index applies, for the desk's own records."""
    wanted = search_terms(query, limit=8)
    if not wanted:
        return True
    held = search_terms(text)
    return all(any(term.startswith(word) for term in held) for word in wanted)


def pair_term(first: str, second: str) -> str:
    """The index term of two words of one name, ``first`` then ``second`` (one space
    between, cut at :data:`MAX_TERM` characters like any term)."""
    return f"{first} {second}"[:MAX_TERM]


def name_pairs(name: str | None) -> list[str]:
    """The pair terms of a name: each ordered pair of its distinct words (of the first
    :data:`MAX_PAIR_WORDS`), so "Harold Brownley" gives "harold brownley" and "brownley
    harold".

    Why: a full name's words are each common and together rare; read through one word's
    index rows, a search reads thousands of records to find the few with the other word
    too. Every record that :func:`words_match` a query of two words, neither beginning the
    other, has two distinct words beginning them, so it holds the pair term that begins
    with ``pair_term(that first word, the second word typed)``: the pair is one selective
    range, and finds exactly what the rule matches.
    """
    words = search_terms(name, limit=MAX_PAIR_WORDS)
    return list(dict.fromkeys(pair_term(a, b) for a in words for b in words if a != b))


def successor(prefix: str) -> str:
    """The first string after every string that begins with ``prefix`` (in code-point order,
    as SQLite and a "C" collation compare): ``prefix <= term < successor(prefix)``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


# --- the cursor of a page --------------------------------------------------------------------


class InvalidCursor(ValueError):
    """The cursor is not one the hub gave (the route answers 422 naming ``cursor``)."""


def encode_cursor(occurred_at: datetime, record_uuid: UUID) -> str:
    """Where the next page starts: after (older than) this encounter."""
    raw = f"{occurred_at.astimezone(UTC).isoformat()}|{record_uuid.hex}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, _, uuid = raw.partition("|")
        at = datetime.fromisoformat(when)
        if at.utcoffset() is None:
            raise ValueError("naive")
        return at.astimezone(UTC), UUID(hex=uuid)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor("not a cursor this hub gave") from None


# --- the search ------------------------------------------------------------------------------


class HistoryQuery(BaseModel):
    """Query of ``GET /history``: every filter given must hold. ``name`` and ``problem``
    match by words (each word typed begins a word held, case and accents aside); ``site``
    is the site's name exactly; ``nhs_number`` the 10 digits (spaces allowed); ``outcome``
    a code of records/data/outcomes.csv; ``start``..``end`` UTC days, both included, of when
    the call was made. Sent as ``from`` and ``to``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[Text, Field(max_length=120)] | None = None
    nhs_number: Annotated[Text, Field(max_length=16)] | None = None
    site: Annotated[Text, Field(max_length=200)] | None = None
    problem: Annotated[Text, Field(max_length=200)] | None = None
    outcome: Annotated[Text, Field(max_length=32)] | None = None
    start: Day | None = None
    end: Day | None = None
    cursor: Annotated[Text, Field(max_length=200)] | None = None
    limit: Annotated[int, Field(ge=1, le=MAX_HISTORY_PAGE)] = 50

    def params(self) -> dict[str, str]:
        return _params({"name": self.name, "nhs_number": self.nhs_number, "site": self.site,
                        "problem": self.problem, "outcome": self.outcome, "from": self.start,
                        "to": self.end, "cursor": self.cursor, "limit": self.limit})

    @property
    def filtered(self) -> bool:
        """Whether any filter is given (else: the newest encounters of the hub)."""
        return any((self.name, self.nhs_number, self.site, self.problem, self.outcome,
                    self.start, self.end))


class FollowUpState(enum.StrEnum):
    """Where a record's follow-up check stands (REFERENCE.md: a check within 72 hours or
    7 days confirms or withdraws an avoided claim)."""

    NONE = "none"  # nothing claimed: no check needed
    DUE = "due"  # claimed, not yet checked, within 7 days of the call
    OVERDUE = "overdue"  # claimed, not checked, more than 7 days after the call
    CONFIRMED = "confirmed"
    WITHDRAWN = "withdrawn"


def follow_up_state(claimed: bool, result: str | None, occurred_at: datetime,
                    now: datetime) -> FollowUpState:
    """The state of a record's follow-up from its log columns (``follow_up_result``)."""
    if result == "withdrawn":
        return FollowUpState.WITHDRAWN
    if result == "confirmed":
        return FollowUpState.CONFIRMED
    if not claimed:
        return FollowUpState.NONE
    return FollowUpState.OVERDUE if now - occurred_at > FOLLOW_UP_DUE else FollowUpState.DUE


class EncounterSummary(_Frozen):
    """One encounter (a record's latest version held by the hub) as a list shows it."""

    uuid: UUID
    version: int
    call_id: str | None
    occurred_at: datetime  # when the call was made (requested; else signed off)
    site: str
    setting: str
    patient_name: str | None
    nhs_number: str | None
    problem: str
    news2_total: int | None
    news2_band: str | None
    news2_complete: bool | None
    outcome: str | None
    plan: str  # the SBARD decision: what was agreed, when to escalate again
    follow_up: FollowUpState
    nurse: str
    signed_off_by: str | None


class HistoryPage(_Frozen):
    """Answer of ``GET /history``: newest call first; ``next_cursor`` None on the last page."""

    encounters: list[EncounterSummary]
    next_cursor: str | None


# --- the context of a call -------------------------------------------------------------------


class ContextQuery(BaseModel):
    """Query of ``GET /context``: the call (its patient and site are the hub's to know)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    call_id: Annotated[Text, Field(min_length=1, max_length=36)]

    def params(self) -> dict[str, str]:
        return {"call_id": self.call_id}


class News2Point(_Frozen):
    """One NEWS2 of the patient's, for the trend (oldest first); ``now`` for this call's
    pre-call observations."""

    at: datetime
    total: int
    band: str | None
    complete: bool | None
    now: bool = False


class ResidentNotes(_Frozen):
    """What an earlier record carried about the patient: their usual ("normal for them")
    NEWS2 and their treatment escalation plan (ReSPECT, DNACPR). ``source`` says which
    record and ``recorded_at`` when."""

    usual_news2: int | None = None
    respect_plan: str | None = None
    dnacpr: bool | None = None
    source: str = ""
    recorded_at: datetime | None = None


class PatientContext(_Frozen):
    """Answer of ``GET /context``.

    ``matched_by`` says how the patient's encounters were found: by NHS number, by name at
    this site (no number given), or not at all (the call names no patient). ``resident`` is
    what the site has recorded about the resident, as the hub holds it (hub/residents.py: the
    usual observations, ReSPECT, DNACPR); ``last_recorded`` what the patient's latest earlier
    record carried (its usual NEWS2, ReSPECT plan, DNACPR), for a patient the site has not
    recorded.
    """

    call_id: str
    site: str
    patient: Patient | None
    matched_by: Literal["nhs_number", "name", "none"]
    patient_encounters: list[EncounterSummary]
    site_encounters: list[EncounterSummary]
    news2_trend: list[News2Point]
    resident: ResidentOut | None
    last_recorded: ResidentNotes | None
