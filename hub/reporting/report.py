"""The manager's report: calls, outcomes and avoided-activity claims by month and setting.

Every figure is an aggregate query in the database; Python only adds up the few thousand
aggregate rows that come back. Whole days are read from roll-ups (sums by day and by month,
per site for calls and per setting and outcome for records, kept by rollup.py);
what they cannot answer is read live from the calls and records (``GROUP BY`` month and site
or setting, on covering indexes the hub's migration 0004 adds): one site's report, and days
not rolled up or marked dirty by a write since (today, always). Both give the same figures.
The same code serves the hub's ``/api/v1/reports`` routes and ``telehub-export --db``; it
reads the hub's own tables (hub/models.py: calls, sites, the central records, the roll-ups).
The answers' shapes (Filters, Report, DrillPage) are REST bodies: hub/contract/rest.py.

Counting rules (shared/clinical/REFERENCE.md, "Avoided admissions" and "Service levels"):

* A call counts in the month (UTC) it was requested. Time to answer is answered − requested;
  the standards are 60 seconds (NHS 111: 95% within 60 s) and 5 minutes (the Airedale hub).
  A call answered, requeued and answered again keeps its first answer time.
* Abandoned: the caller hung up while waiting (``end_reason`` "abandoned"); the NHS 111
  measure counts those who waited over 30 s. Caller lost: the caller's connection dropped
  and did not come back. A call with no outcome was answered but has no signed-off record.
* A record counts in the month of its call (its ``occurred_at``), in its setting. Claims are
  the avoided flags the nurse confirmed; each is *confirmed* or *withdrawn* by the record's
  latest follow-up check (an unplanned attendance or admission withdraws it) and *pending*
  until one is recorded. An ambulance conveyance is claimed where the caller would have
  called 999 and an admission or A&E attendance avoided is claimed.
* Savings are estimates: claims times the unit costs in data/unit_costs.csv, each an
  editable assumption with its source. The headline is confirmed claims only.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa

from hub.contract.rest import (
    CLAIMS,
    CallFigures,
    Claim,
    ClaimFigures,
    Filters,
    OutcomeFigures,
    Report,
    Saving,
    SiteFigures,
    UnitCost,
)
from hub.contract.rest import SETTINGS as SITE_KINDS
from hub.models import Call, Site, central_records, report_rollups
from hub.reporting.bound import (
    STATEMENTS,
    Shape,
    Span,
    bound_day_within,
    bound_record_site_clause,
    bound_site_clause,
    bound_within,
    filter_params,
    midnight,
    span_params,
)
from hub.reporting.tables import CALL_SUMS, RECORD_SUMS
from records.tables import load_table

__all__ = [
    "ABANDON_AFTER_S",
    "ANSWER_5MIN",
    "ANSWER_60S",
    "CALLS",
    "CALL_FIGURES",
    "LOG",
    "RECORD_FIGURES",
    "ROLLUPS",
    "SITES",
    "SITE_KINDS",
    "WAIT_BANDS",
    "Filters",  # the report's query (hub/contract/rest.py), here for the report's callers
    "RollupPlan",
    "build",
    "call_sums",
    "call_where",
    "claim_flag",
    "day_within",
    "first_of_month",
    "has_record",
    "next_month",
    "record_site_clause",
    "record_sums",
    "record_where",
    "rollup_plan",
    "runs",
    "seconds",
    "site_clause",
    "unit_costs",
    "utc_day",
    "within",
]

ANSWER_60S = 60.0
ANSWER_5MIN = 300.0
ABANDON_AFTER_S = 30.0
# Upper bounds (seconds) of the time-to-answer bands (WAIT_BAND_LABELS); the last is open.
WAIT_BANDS: tuple[float, ...] = (30.0, 60.0, 120.0, 300.0)

CALL_FIGURES = ("calls", "answered", "within_60s", "over_60s", "within_5min", "over_5min",
                "abandoned", "abandoned_after_30s", "caller_lost", "no_record", "open")  # fmt: skip
RECORD_FIGURES = ("records", "outcome", "claimed", "confirmed", "withdrawn", "pending")


# --- the hub's tables ----------------------------------------------------------------------

CALLS = cast(sa.Table, Call.__table__)
SITES = cast(sa.Table, Site.__table__)
LOG = central_records
ROLLUPS = report_rollups
_CALL_FIELDS = 12  # CALL_SUMS up to held_s_total are CallFigures fields; then the wait bands
_SECONDS = {CALL_SUMS.index("answer_s_total"), CALL_SUMS.index("held_s_total")}




# --- unit costs ----------------------------------------------------------------------------


@functools.cache
def unit_costs() -> tuple[UnitCost, ...]:
    """data/unit_costs.csv: editable assumptions, each with its source."""
    return tuple(
        UnitCost(item=r["item"], label=r["label"], cost_gbp=float(r["cost_gbp"]),
                 year=r["year"], claim=r["claim"], source=r["source"])
        for r in load_table("unit_costs")
    )  # fmt: skip


# --- SQL expressions per dialect ------------------------------------------------------------


def _month(col: Any, dialect: str, aware: bool) -> Any:
    """'YYYY-MM' (UTC) of a timestamp column, computed in the database."""
    if dialect == "sqlite":  # stored as 'YYYY-MM-DD HH:MM:SS[.ffffff]' in UTC
        return sa.func.substr(col, 1, 7)
    utc = sa.func.timezone("UTC", col) if aware else col
    return sa.func.to_char(utc, "YYYY-MM")


def utc_day(col: Any, dialect: str, aware: bool) -> Any:
    """The UTC day of a timestamp column as a DATE, computed in the database (labelled "day":
    PostgreSQL must see GROUP BY name the selected expression, bound 'UTC' and all)."""
    if dialect == "sqlite":  # 'YYYY-MM-DD', as SQLAlchemy stores a Date there
        return sa.type_coerce(sa.func.substr(col, 1, 10), sa.Date).label("day")
    return sa.cast(sa.func.timezone("UTC", col) if aware else col, sa.Date).label("day")


def _month_of_day(col: Any, dialect: str) -> Any:
    """'YYYY-MM' of a DATE column (labelled, as :func:`utc_day`)."""
    if dialect == "sqlite":
        return sa.func.substr(col, 1, 7).label("month")
    return sa.func.to_char(col, "YYYY-MM").label("month")


def first_of_month(col: Any, dialect: str) -> Any:
    """The first day of a DATE column's month, as a DATE (labelled "month")."""
    if dialect == "sqlite":
        return sa.type_coerce(sa.func.substr(col, 1, 7).op("||")("-01"), sa.Date).label("month")
    return sa.cast(sa.func.to_char(col, "YYYY-MM-01"), sa.Date).label("month")


def seconds(later: Any, earlier: Any, dialect: str) -> Any:
    if dialect == "sqlite":
        return (sa.func.julianday(later) - sa.func.julianday(earlier)) * 86400.0
    return sa.extract("epoch", later - earlier)


def _count_if(*conditions: Any) -> Any:
    return sa.func.sum(sa.case((sa.and_(*conditions), 1), else_=0))


def site_clause(filters: Filters, site_col: Any) -> list[Any]:
    """Calls of the chosen site or setting (by the site's id)."""
    out: list[Any] = []
    if filters.site_id is not None:
        out.append(site_col == filters.site_id)
    if filters.site_kind is not None:
        out.append(site_col.in_(sa.select(SITES.c.id).where(SITES.c.kind == filters.site_kind)))
    return out


def record_site_clause(conn: sa.Connection, filters: Filters) -> list[Any]:
    """Records of the chosen site (the desk writes the site's name; older ones its id)."""
    out: list[Any] = []
    if filters.site_id is not None:
        name = conn.scalar(sa.select(SITES.c.name).where(SITES.c.id == filters.site_id))
        out.append(LOG.c.site_id.in_([n for n in (name, str(filters.site_id)) if n]))
    if filters.site_kind is not None:
        out.append(LOG.c.setting == filters.site_kind)
    return out


def call_where(filters: Filters) -> list[Any]:
    lo, hi = filters.bounds()
    return [CALLS.c.requested_at >= lo, CALLS.c.requested_at < hi,
            *site_clause(filters, CALLS.c.site_id)]  # fmt: skip


def record_where(conn: sa.Connection, filters: Filters) -> list[Any]:
    lo, hi = filters.bounds()
    return [LOG.c.occurred_at >= lo, LOG.c.occurred_at < hi, *record_site_clause(conn, filters)]


def has_record(call_id: Any) -> Any:
    return sa.exists(sa.select(sa.literal(1)).where(LOG.c.call_id == call_id))


def claim_flag(claim: Claim) -> Any:
    if claim == "ambulance_conveyance":
        return sa.and_(LOG.c.intended_action == "ambulance_999",
                       sa.or_(LOG.c.admission_avoided, LOG.c.ae_attendance_avoided))
    return LOG.c[f"{claim}_avoided"]


# --- which days come from the roll-ups -----------------------------------------------------

_midnight = midnight


def within(col: Any, spans: Sequence[Span]) -> Any:
    """A timestamp column within any of these spans of UTC days."""
    return sa.or_(*(sa.and_(col >= _midnight(a), col < _midnight(b + timedelta(days=1)))
                    for a, b in spans))  # fmt: skip


def day_within(col: Any, spans: Sequence[Span]) -> Any:
    return sa.or_(*(col.between(a, b) for a, b in spans))


def runs(days: Iterable[date]) -> tuple[Span, ...]:
    """Consecutive days as spans: [1, 2, 3, 5] -> [(1, 3), (5, 5)]."""
    out: list[Span] = []
    for day in sorted(days):
        if out and out[-1][1] + timedelta(days=1) == day:
            out[-1] = (out[-1][0], day)
        else:
            out.append((day, day))
    return tuple(out)


def next_month(first: date) -> date:
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1)


@dataclass(frozen=True)
class RollupPlan:
    """Where each day of a report's range is read from."""

    months: tuple[date, ...] = ()  # whole months from month rows (their first days)
    days: tuple[Span, ...] = ()  # from day rows
    live: tuple[Span, ...] = ()  # from the calls and records themselves


def _days_between(col: Any) -> Any:
    return sa.and_(col >= sa.bindparam("start"), col <= sa.bindparam("end"))


_ROLLED_DAYS = sa.select(ROLLUPS.days.c.day).where(_days_between(ROLLUPS.days.c.day))
_DIRTY_DAYS = (sa.select(ROLLUPS.dirty.c.day).where(_days_between(ROLLUPS.dirty.c.day))
               .distinct())  # fmt: skip


def rollup_plan(conn: sa.Connection, filters: Filters, live: bool) -> RollupPlan:
    whole = RollupPlan(live=((filters.start, filters.end),))
    if live or filters.site_id is not None:
        return whole  # records match a site by its name: there is no roll-up by site
    bounds = {"start": filters.start, "end": filters.end}
    clean = set(conn.scalars(_ROLLED_DAYS, bounds))
    if not clean:
        return whole
    clean -= set(conn.scalars(_DIRTY_DAYS, bounds))
    months: list[date] = []
    days: list[date] = []
    unrolled: list[date] = []
    day = filters.start
    while day <= filters.end:
        first = day.replace(day=1)
        last_of_month = next_month(first) - timedelta(days=1)
        last = min(filters.end, last_of_month)
        span = [day + timedelta(days=n) for n in range((last - day).days + 1)]
        if day == first and last == last_of_month and clean.issuperset(span):
            months.append(first)
        else:
            for d in span:
                (days if d in clean else unrolled).append(d)
        day = last + timedelta(days=1)
    return RollupPlan(tuple(months), runs(days), runs(unrolled))


# --- the report ----------------------------------------------------------------------------


def call_sums(dialect: str) -> list[Any]:
    """The sums of CALL_SUMS over rows of ``calls``, in that order."""
    c = CALLS.c
    wait = seconds(c.answered_at, c.requested_at, dialect)
    answered = c.answered_at.is_not(None)
    bands = [
        _count_if(answered, wait <= WAIT_BANDS[0]),
        *(_count_if(answered, wait > lo, wait <= hi)
          for lo, hi in itertools.pairwise(WAIT_BANDS)),
        _count_if(answered, wait > WAIT_BANDS[-1]),
    ]  # fmt: skip
    return [
        sa.func.count(),
        sa.func.count(c.answered_at),
        _count_if(answered, wait <= ANSWER_60S),
        _count_if(answered, wait <= ANSWER_5MIN),
        sa.func.coalesce(sa.func.sum(wait), 0.0),
        _count_if(c.end_reason == "abandoned"),
        _count_if(c.end_reason == "abandoned",
                  seconds(c.ended_at, c.requested_at, dialect) > ABANDON_AFTER_S),
        _count_if(c.end_reason == "caller_lost"),
        _count_if(c.state != "ended"),
        _count_if(answered, c.state == "ended", ~has_record(c.id)),
        _count_if(c.held_s > 0),
        sa.func.coalesce(sa.func.sum(c.held_s), 0.0),
        *bands,
    ]  # fmt: skip


def record_sums() -> list[Any]:
    """The sums of RECORD_SUMS over rows of the log, in that order."""
    t = LOG.c
    sums: list[Any] = [sa.func.count()]
    for claim in CLAIMS:
        flag = claim_flag(claim)
        sums += [_count_if(flag), _count_if(flag, t.follow_up_result == "confirmed"),
                 _count_if(flag, t.follow_up_result == "withdrawn")]  # fmt: skip
    return sums


def _call_rows(conn: sa.Connection, filters: Filters, spans: Sequence[Span]) -> list[Any]:
    """(month, site_id, *CALL_SUMS) of the calls requested within ``spans``, read live."""
    if not spans:
        return []
    query = _call_rows_query(conn.dialect.name, len(spans), Shape.of(filters))
    return list(conn.execute(query, {**filter_params(None, filters), **span_params(spans)}))


@functools.lru_cache(maxsize=STATEMENTS)
def _call_rows_query(dialect: str, spans: int, shape: Shape) -> sa.Select[Any]:
    c = CALLS.c
    month = _month(c.requested_at, dialect, aware=True).label("month")
    return (
        sa.select(month, c.site_id, *call_sums(dialect))
        .where(bound_within(c.requested_at, spans), *bound_site_clause(shape, c.site_id))
        .group_by(month, c.site_id)
    )


def _rolled_call_rows(conn: sa.Connection, filters: Filters, plan: RollupPlan) -> list[Any]:
    """The same rows as :func:`_call_rows`, from the roll-ups."""
    d, shape = conn.dialect.name, Shape.of(filters)
    params = filter_params(None, filters)
    out: list[Any] = []
    if plan.months:
        out += conn.execute(_rolled_call_months_query(d, shape),
                            {**params, "months": list(plan.months)})  # fmt: skip
    if plan.days:
        out += conn.execute(_rolled_call_days_query(d, len(plan.days), shape),
                            {**params, **span_params(plan.days, days=True)})  # fmt: skip
    return out


@functools.lru_cache(maxsize=STATEMENTS)
def _rolled_call_months_query(d: str, shape: Shape) -> sa.Select[Any]:
    m = ROLLUPS.call_months
    return (
        sa.select(_month_of_day(m.c.month, d), m.c.site_id, *(m.c[n] for n in CALL_SUMS))
        .where(m.c.month.in_(sa.bindparam("months", expanding=True)),
               *bound_site_clause(shape, m.c.site_id))
    )  # fmt: skip


@functools.lru_cache(maxsize=STATEMENTS)
def _rolled_call_days_query(d: str, spans: int, shape: Shape) -> sa.Select[Any]:
    t = ROLLUPS.call_days
    month = _month_of_day(t.c.day, d)
    return (
        sa.select(month, t.c.site_id, *(sa.func.sum(t.c[n]) for n in CALL_SUMS))
        .where(bound_day_within(t.c.day, spans), *bound_site_clause(shape, t.c.site_id))
        .group_by(month, t.c.site_id)
    )  # fmt: skip


def _record_rows(conn: sa.Connection, filters: Filters, spans: Sequence[Span]) -> list[Any]:
    """(month, setting, outcome, *RECORD_SUMS) of the records within ``spans``, read live."""
    if not spans:
        return []
    query = _record_rows_query(conn.dialect.name, len(spans), Shape.of(filters))
    return list(conn.execute(query, {**filter_params(conn, filters), **span_params(spans)}))


@functools.lru_cache(maxsize=STATEMENTS)
def _record_rows_query(dialect: str, spans: int, shape: Shape) -> sa.Select[Any]:
    t = LOG.c
    month = _month(t.occurred_at, dialect, aware=False).label("month")
    return (
        sa.select(month, t.setting, t.outcome, *record_sums())
        .where(bound_within(t.occurred_at, spans), *bound_record_site_clause(shape))
        .group_by(month, t.setting, t.outcome)
    )


def _rolled_record_rows(conn: sa.Connection, filters: Filters, plan: RollupPlan) -> list[Any]:
    """The same rows as :func:`_record_rows`, from the roll-ups."""
    d, by_kind = conn.dialect.name, filters.site_kind is not None
    params = {"f_site_kind": filters.site_kind}
    out: list[Any] = []
    if plan.months:
        out += conn.execute(_rolled_record_months_query(d, by_kind),
                            {**params, "months": list(plan.months)})  # fmt: skip
    if plan.days:
        out += conn.execute(_rolled_record_days_query(d, len(plan.days), by_kind),
                            {**params, **span_params(plan.days, days=True)})  # fmt: skip
    return out


@functools.lru_cache(maxsize=STATEMENTS)
def _rolled_record_months_query(d: str, by_kind: bool) -> sa.Select[Any]:
    m = ROLLUPS.record_months
    kind = [m.c.setting == sa.bindparam("f_site_kind")] if by_kind else []
    return (
        sa.select(_month_of_day(m.c.month, d), m.c.setting, m.c.outcome,
                  *(m.c[n] for n in RECORD_SUMS))
        .where(m.c.month.in_(sa.bindparam("months", expanding=True)), *kind)
    )  # fmt: skip


@functools.lru_cache(maxsize=STATEMENTS)
def _rolled_record_days_query(d: str, spans: int, by_kind: bool) -> sa.Select[Any]:
    t = ROLLUPS.record_days
    kind = [t.c.setting == sa.bindparam("f_site_kind")] if by_kind else []
    month = _month_of_day(t.c.day, d)
    return (
        sa.select(month, t.c.setting, t.c.outcome, *(sa.func.sum(t.c[n]) for n in RECORD_SUMS))
        .where(bound_day_within(t.c.day, spans), *kind)
        .group_by(month, t.c.setting, t.c.outcome)
    )  # fmt: skip


_SITES_NAMED = sa.select(SITES.c.id, SITES.c.name, SITES.c.kind)


def build(conn: sa.Connection, filters: Filters, *, live: bool = False) -> Report:
    """The report for ``filters``: whole days from the roll-ups, the rest live; ``live``
    reads every day live (the reference the roll-ups are tested against: same figures)."""
    import time as _time

    started = _time.perf_counter()
    plan = rollup_plan(conn, filters, live)
    sites = {sid: (name, kind) for sid, name, kind in conn.execute(_SITES_NAMED)}
    by_kind: dict[tuple[str, str], list[Any]] = {}
    by_site: dict[int, list[int]] = {}
    call_rows = [*_call_rows(conn, filters, plan.live), *_rolled_call_rows(conn, filters, plan)]
    for row in call_rows:
        month, site_id, values = row[0], row[1], row[2:]
        kind = sites.get(site_id, ("?", "unknown"))[1]
        acc = by_kind.setdefault((month, kind), [0] * len(CALL_SUMS))
        for n, value in enumerate(values):
            # float: PostgreSQL's live sum of seconds is a numeric, the roll-up's a double
            acc[n] += float(value or 0) if n in _SECONDS else int(value or 0)
        s = by_site.setdefault(site_id, [0, 0, 0, 0])
        s[0] += int(values[0])
        s[1] += int(values[1])
        s[2] += int(values[3] or 0)
        s[3] += int(values[5] or 0)
    calls = tuple(
        CallFigures(month=m, site_kind=k,
                    **{n: v for n, v in zip(CALL_SUMS[:_CALL_FIELDS], acc, strict=False)},
                    wait_bands=tuple(acc[_CALL_FIELDS:]))
        for (m, k), acc in sorted(by_kind.items())
    )  # fmt: skip
    site_rows = tuple(sorted(
        (SiteFigures(site_id=sid, site_name=sites.get(sid, ("?", "unknown"))[0],
                     site_kind=sites.get(sid, ("?", "unknown"))[1], calls=v[0], answered=v[1],
                     within_5min=v[2], abandoned=v[3]) for sid, v in by_site.items()),
        key=lambda s: (-s.calls, s.site_name),
    ))  # fmt: skip
    per_outcome: dict[tuple[str, str, str | None], int] = {}
    claims: dict[tuple[str, str, Claim], list[int]] = {}
    record_rows = [*_record_rows(conn, filters, plan.live),
                   *_rolled_record_rows(conn, filters, plan)]  # fmt: skip
    for row in record_rows:
        month, kind, outcome, count, sums = row[0], row[1], row[2], row[3], row[4:]
        key = (month, kind, outcome)
        per_outcome[key] = per_outcome.get(key, 0) + int(count)
        for n, claim in enumerate(CLAIMS):
            acc2 = claims.setdefault((month, kind, claim), [0, 0, 0])
            for i in range(3):
                acc2[i] += int(sums[3 * n + i] or 0)
    outcomes = [OutcomeFigures(month=m, site_kind=k, outcome=o or "none", records=n)
                for (m, k, o), n in per_outcome.items()]  # fmt: skip
    claim_rows = tuple(
        ClaimFigures(month=m, site_kind=k, claim=c, claimed=v[0], confirmed=v[1], withdrawn=v[2])
        for (m, k, c), v in sorted(claims.items())
    )
    savings = tuple(
        Saving(unit=u,
               claimed=sum(c.claimed for c in claim_rows if c.claim == u.claim),
               confirmed=sum(c.confirmed for c in claim_rows if c.claim == u.claim))
        for u in unit_costs()
    )  # fmt: skip
    return Report(
        filters=filters, generated_at=datetime.now(UTC), calls=calls,
        outcomes=tuple(sorted(outcomes, key=lambda o: (o.month, o.site_kind, o.outcome))),
        claims=claim_rows, sites=site_rows, savings=savings,
        elapsed_ms=(_time.perf_counter() - started) * 1000,
    )  # fmt: skip
