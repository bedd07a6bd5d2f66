"""The hub-wide history: the central store's encounters by patient, site, problem, outcome and
day, newest first, a keyset page at a time; and the context of a call (its patient's and its
site's recent encounters). Bodies and matching rules: hub/contract/history.py.

A repository like hub/central_store.py: it takes a Session and never commits. Every encounter
it returns is audited as a read (one ``record_audit_events`` row per version, detail
``history`` or ``context``); the audit holds identifiers, never a searched value.

Words (a patient's name, the presenting problem) are searched through ``central_record_terms``
(hub/encounter_index.py, kept in the write's own transaction): each word typed is a B-tree range of
that table (:func:`hub.contract.history.successor`), so a search costs the rows it matches,
not the million it might scan. Pages are keyset pages on ``(occurred_at, uuid)``: the next
page starts below the last row of this one, read straight off a composite index.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.central_store import CentralStore
from hub.contract.history import (
    CONTEXT_ENCOUNTERS,
    MAX_TERM,
    EncounterSummary,
    HistoryPage,
    HistoryQuery,
    News2Point,
    PatientContext,
    ResidentNotes,
    decode_cursor,
    encode_cursor,
    follow_up_state,
    pair_term,
    search_terms,
    successor,
)
from hub.contract.identity import Principal, StaffRole
from hub.contract.signaling import Patient
from hub.encounter_index import TERMS as _TERMS
from hub.models import (
    Call,
    CallParticipant,
    CentralRecordVersion,
    Site,
    central_records,
)
from hub.residents import ResidentRegister
from records import nhs_number

__all__ = ["EncounterSearch"]

_SHOWN = 500  # characters of a problem or plan in a list (the record has the rest)
_QUERY_WORDS = 8  # words of one field that a search uses (the rest add nothing but cost)
_CAP = 5_000  # rows counted at most to choose which filter leads
_MAX_LEADING = 32  # distinct words a typed word may begin and still lead (one range each)


# --- reading ----------------------------------------------------------------------------------

_t = central_records
_v = CentralRecordVersion
_COLUMNS = (_t.c.uuid, _t.c.version, _t.c.call_id, _t.c.occurred_at, _t.c.site_id,
            _t.c.setting, _t.c.nhs_number, _t.c.presenting_problem, _t.c.news2_total,
            _t.c.news2_band, _t.c.news2_complete, _t.c.outcome, _t.c.nurse,
            _t.c.signed_off_by, _t.c.admission_avoided, _t.c.ae_attendance_avoided,
            _t.c.prison_transfer_avoided, _t.c.follow_up_result, _v.payload)  # fmt: skip


def _day_start(day: Any) -> datetime:
    return datetime.combine(day, time(), UTC)


def _probe(field: str, word: str) -> sa.ColumnElement[bool]:
    """The record has a word of ``field`` that begins with ``word``: a look at its own few
    index rows (``ix_central_record_terms_record``), one record at a time."""
    return sa.exists().where(_TERMS.c.record_uuid == _t.c.uuid, _TERMS.c.field == field,
                             _TERMS.c.term >= word, _TERMS.c.term < successor(word))


def _query_words(query: HistoryQuery) -> list[tuple[str, str]]:
    return [(field, word) for field, text in (("name", query.name), ("problem", query.problem))
            for word in search_terms(text, limit=_QUERY_WORDS)]


def _after(at: sa.ColumnElement[Any], uuid: sa.ColumnElement[Any],
           cursor: tuple[datetime, UUID]) -> sa.ColumnElement[bool]:
    """Older than the cursor's encounter, newest first: the keyset condition."""
    return sa.tuple_(at, uuid) < sa.tuple_(sa.literal(cursor[0], _t.c.occurred_at.type),
                                           sa.literal(cursor[1], _t.c.uuid.type))


class EncounterSearch:
    """Searches of the central store for one principal (a specialist sees only the
    encounters of calls they took part in: docs/security.md, least privilege)."""

    def __init__(self, session: Session, principal: Principal) -> None:
        self._session = session
        self._principal = principal

    def _where(self, query: HistoryQuery, nhs: str | None,
               led: Collection[tuple[str, str]] = ()) -> list[sa.ColumnElement[bool]]:
        """The filters on ``central_records``; every word but those the lead answers
        (``led``) as a probe."""
        where: list[sa.ColumnElement[bool]] = []
        if nhs is not None:
            where.append(_t.c.nhs_number == nhs)
        if query.site:
            where.append(_t.c.site_id == query.site)
        if query.outcome:
            where.append(_t.c.outcome == query.outcome)
        if query.start is not None:
            where.append(_t.c.occurred_at >= _day_start(query.start))
        if query.end is not None:
            where.append(_t.c.occurred_at < _day_start(query.end + timedelta(days=1)))
        where += [_probe(f, w) for f, w in _query_words(query) if (f, w) not in led]
        if self._principal.role is StaffRole.SPECIALIST:
            where.append(_t.c.call_id.in_(sa.select(CallParticipant.call_id).where(
                CallParticipant.participant_id == self._principal.participant_id)))
        return where

    def _find(self, query: HistoryQuery, nhs: str | None, limit: int,
              extra: Sequence[sa.ColumnElement[bool]] = ()) -> list[tuple[Any, ...]]:
        """Up to ``limit`` encounters, newest first, after ``query.cursor``.

        Which index leads decides the cost. An NHS number, or a site with fewer records than
        any word typed matches, leads through its composite index, the words checked record
        by record. Otherwise the rarest word leads: the index rows of each distinct word it
        begins are read newest first, joined to the records that pass the rest, and the
        newest of them all kept.
        """
        cursor = decode_cursor(query.cursor) if query.cursor else None
        words = _query_words(query)
        driver: tuple[str, str] | None = None
        terms: list[str] | None = None
        pair_answers: set[tuple[str, str]] = set()
        if nhs is None and words:
            expansions = {(f, w): self._expand(f, w) for f, w in words}
            # Two words of a name lead as their pair: its records are among each word's, so
            # the words' rows (thousands, for common ones) need not be counted.
            pair, pair_answers = self._pair_lead(query, expansions)
            ranked: list[tuple[int, int, str, str, list[str] | None]] = (
                [pair] if pair is not None else [])
            for (f, w), expanded in expansions.items() if pair is None else ():
                # The rarest word leads (fewest rows; then fewest distinct words it begins).
                count = self._count(_TERMS, _TERMS.c.field == f, _TERMS.c.term >= w,
                                    _TERMS.c.term < successor(w))
                ranked.append((count, len(expanded) if expanded is not None else _MAX_LEADING,
                               f, w, expanded))
            ranked.sort(key=lambda r: r[:2])
            count, _, f, w, expanded = ranked[0]
            if not query.site or count < self._count(_t, _t.c.site_id == query.site):
                driver, terms = (f, w), expanded
        led = (set() if driver is None else pair_answers if driver[0] == "pair"
               else {driver})
        where = [*self._where(query, nhs, led), *extra]
        if driver is None or terms is None:
            if driver is not None:  # a word too short to lead: a probe like the others
                where.append(_probe(*driver))
            select = (sa.select(*_COLUMNS)
                      .join(_v, sa.and_(_v.record_uuid == _t.c.uuid,
                                        _v.version == _t.c.version))
                      .where(*where)
                      .order_by(_t.c.occurred_at.desc(), _t.c.uuid.desc())
                      .limit(limit))  # fmt: skip
            if cursor is not None:
                select = select.where(_after(_t.c.occurred_at, _t.c.uuid, cursor))
            return [tuple(row) for row in self._session.execute(select)]
        return self._led(driver[0], terms, where, cursor, limit)

    def _pair_lead(self, query: HistoryQuery,
                   expanded: dict[tuple[str, str], list[str] | None]
                   ) -> tuple[tuple[int, int, str, str, list[str]] | None,
                              set[tuple[str, str]]]:
        """A lead through the name's pair terms (:func:`hub.contract.history.name_pairs`),
        ranked as a word's would be, when two words of the name are typed (or None); and
        the words whose probes it makes needless.

        A full name's words are each common and together rare: this reads the few records
        that hold both. Words that begin another word typed add nothing and are left out
        (so the two left must be two distinct words of the name). The first's expansions
        (the indexed words it begins) each give a pair prefix with the second; the words
        themselves stay probes only where a pair term was cut short (its second word may be
        another), so the lead finds exactly what :func:`words_match` does.
        """
        typed = search_terms(query.name, limit=_QUERY_WORDS)
        kept = [w for w in typed if not any(o != w and o.startswith(w) for o in typed)]
        if len(kept) < 2:
            return None, set()
        options = [(expanded.get(("name", a)), a, b)
                   for a, b in ((kept[0], kept[1]), (kept[1], kept[0]))]
        usable = sorted((len(e), e, a, b) for e, a, b in options if e is not None)
        if not usable:
            return None, set()
        _, firsts, a, b = usable[0]
        terms: list[str] = []
        for first in firsts:
            found = self._expand("pair", pair_term(first, b))
            if found is None:
                return None, set()
            terms += found
        count = sum(self._count(_TERMS, _TERMS.c.field == "pair", _TERMS.c.term == t)
                    for t in terms)
        whole = all(len(first) + 1 + len(b) <= MAX_TERM for first in firsts)
        return ((min(count, _CAP), len(terms), "pair", pair_term(a, b), terms),
                {("name", a), ("name", b)} if whole else set())

    def _count(self, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
        """How many rows match, counted up to a cap (enough to compare two filters)."""
        capped = sa.select(sa.literal(1)).select_from(table).where(*where).limit(_CAP)
        return int(self._session.scalar(sa.select(sa.func.count()).select_from(
            capped.subquery())) or 0)

    def _expand(self, field: str, prefix: str) -> list[str] | None:
        """The distinct indexed words that begin with ``prefix`` (one index seek each), or
        None when there are too many to lead with."""
        found: list[str] = []
        while len(found) <= _MAX_LEADING:
            # One lower bound only: given two, SQLite may seek by the lesser and scan on.
            low = _TERMS.c.term > found[-1] if found else _TERMS.c.term >= prefix
            seek = (sa.select(_TERMS.c.term)
                    .where(_TERMS.c.field == field, low, _TERMS.c.term < successor(prefix))
                    .order_by(_TERMS.c.term).limit(1))  # fmt: skip
            term = self._session.scalar(seek)
            if term is None:
                return found
            found.append(term)
        return None

    def _led(self, field: str, terms: Sequence[str], where: Sequence[sa.ColumnElement[bool]],
             cursor: tuple[datetime, UUID] | None, limit: int) -> list[tuple[Any, ...]]:
        """Encounters led by the index rows of ``terms``: for each word, its rows newest
        first joined to the records that pass ``where`` (the database stops at ``limit``);
        then the newest ``limit`` of them all."""
        d = _TERMS.alias("lead")
        found: dict[UUID, datetime] = {}
        for term in terms:
            led = (sa.select(d.c.record_uuid, d.c.occurred_at)
                   .join(_t, _t.c.uuid == d.c.record_uuid)
                   .where(d.c.field == field, d.c.term == term, *where)
                   .order_by(d.c.occurred_at.desc(), d.c.record_uuid.desc())
                   .limit(limit))  # fmt: skip
            if cursor is not None:
                led = led.where(_after(d.c.occurred_at, d.c.record_uuid, cursor))
            found.update((u, at) for u, at in self._session.execute(led))
        newest = [u for at, u in sorted(((at, u) for u, at in found.items()),
                                        reverse=True)[:limit]]
        if not newest:
            return []
        rows = {row[0]: tuple(row) for row in self._session.execute(
            sa.select(*_COLUMNS)
            .join(_v, sa.and_(_v.record_uuid == _t.c.uuid, _v.version == _t.c.version))
            .where(_t.c.uuid.in_(newest)))}
        return [rows[u] for u in newest if u in rows]

    def page(self, query: HistoryQuery, *, now: datetime) -> HistoryPage:
        """One page of encounters matching ``query``, newest first, audited as reads.

        Raises :class:`hub.contract.history.InvalidCursor` for a cursor the hub never gave,
        and ``records.nhs_number.InvalidNhsNumber`` for an NHS number that is not one.
        """
        nhs = nhs_number.normalise(query.nhs_number) if query.nhs_number else None
        rows = self._find(query, nhs, query.limit + 1)
        more = len(rows) > query.limit
        found = [_summary(row, now) for row in rows[:query.limit]]
        self._audit(found, "history")
        last = found[-1] if more else None
        return HistoryPage(encounters=found, next_cursor=None if last is None
                           else encode_cursor(last.occurred_at, last.uuid))

    def _audit(self, found: Sequence[EncounterSummary], detail: str) -> None:
        CentralStore(self._session, self._principal).audit(
            "read", [(e.uuid, e.version, detail) for e in found])

    # --- the context of a call ----------------------------------------------------------------

    def context(self, call_id: str, *, now: datetime) -> PatientContext | None:
        """The context of a call that is waiting, or that this principal took part in; None
        for any other call (the route answers 404, as for a call that does not exist)."""
        call = self._session.get(Call, call_id)
        if call is None or not self._may_see(call):
            return None
        site = self._session.get(Site, call.site_id)
        site_name = site.name if site is not None else ""
        patient = Patient.model_validate(call.patient) if call.patient else None
        nhs = patient.nhs_number if patient is not None else None
        nhs = nhs_number.normalise(nhs) if nhs and nhs_number.is_valid(nhs) else None
        others = [_t.c.call_id.is_distinct_from(call_id)]  # not this call's own record
        matched_by: Any = "none"
        theirs: list[EncounterSummary] = []
        if nhs is not None:
            matched_by = "nhs_number"
            theirs = self._summaries(HistoryQuery(), nhs, others, now)
        elif patient is not None and patient.name and search_terms(patient.name):
            matched_by = "name"
            theirs = self._summaries(HistoryQuery(name=patient.name, site=site_name), None,
                                     others, now)
        at_site = self._summaries(HistoryQuery(site=site_name), None, others, now)
        self._audit(theirs + [e for e in at_site if e not in theirs], f"context {call_id}")
        trend = [News2Point(at=e.occurred_at, total=e.news2_total, band=e.news2_band,
                            complete=e.news2_complete)
                 for e in reversed(theirs) if e.news2_total is not None]
        if call.news2_total is not None:
            trend.append(News2Point(at=call.requested_at, total=call.news2_total,
                                    band=call.news2_band, complete=call.news2_complete,
                                    now=True))
        return PatientContext(call_id=call_id, site=site_name, patient=patient,
                              matched_by=matched_by, patient_encounters=theirs,
                              site_encounters=at_site, news2_trend=trend,
                              resident=ResidentRegister(self._session,
                                                        self._principal).for_call(call),
                              last_recorded=self._from_records(theirs))

    def _summaries(self, query: HistoryQuery, nhs: str | None,
                   extra: Sequence[sa.ColumnElement[bool]], now: datetime
                   ) -> list[EncounterSummary]:
        return [_summary(row, now) for row in self._find(query, nhs, CONTEXT_ENCOUNTERS, extra)]

    def _may_see(self, call: Call) -> bool:
        """A waiting call is on every nurse's queue already; any other only to those in it."""
        if call.state == "waiting":
            return True
        me = self._principal
        if me.kind == "staff" and call.answered_by == me.id:
            return True
        return self._session.scalar(sa.select(CallParticipant.id).where(
            CallParticipant.call_id == call.id,
            CallParticipant.participant_id == me.participant_id).limit(1)) is not None

    def _from_records(self, theirs: Sequence[EncounterSummary]) -> ResidentNotes | None:
        """What the latest of the patient's encounters that carries any of it says of their
        usual NEWS2, ReSPECT plan and DNACPR (its patient's fields)."""
        for encounter in theirs:
            payload = self._session.scalar(sa.select(_v.payload).where(
                _v.record_uuid == encounter.uuid, _v.version == encounter.version))
            patient = (json.loads(payload).get("patient") or {}) if payload else {}
            notes = {k: patient.get(k) for k in ("usual_news2", "respect_plan", "dnacpr")}
            if any(v is not None for v in notes.values()):
                return ResidentNotes(**notes, recorded_at=encounter.occurred_at,
                                     source=f"the record of the call of "
                                            f"{encounter.occurred_at:%d %b %Y}")
        return None


def _summary(row: tuple[Any, ...], now: datetime) -> EncounterSummary:
    (uuid, version, call_id, occurred_at, site, setting, nhs, problem, total, band, complete,
     outcome, nurse, signed_off_by, admission, ae, prison, follow, payload) = row
    record = json.loads(payload)
    patient = record.get("patient") or {}
    sbard = record.get("sbard") or {}
    plan = sbard.get("decision") or sbard.get("recommendation") or ""
    return EncounterSummary(
        uuid=uuid, version=version, call_id=call_id, occurred_at=occurred_at, site=site,
        setting=setting, patient_name=patient.get("name"), nhs_number=nhs,
        problem=(problem or "")[:_SHOWN], news2_total=total, news2_band=band,
        news2_complete=complete, outcome=outcome, plan=plan[:_SHOWN],
        follow_up=follow_up_state(bool(admission or ae or prison), follow, occurred_at, now),
        nurse=nurse, signed_off_by=signed_off_by)
