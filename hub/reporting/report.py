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
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

import sqlalchemy as sa

from hub.contract.rest import (
    CLAIMS,
    CallFigures,
    Claim,
    ClaimFigures,
    DrillPage,
    DrillRow,
    Filters,
    OutcomeFigures,
    Report,
    Saving,
    SiteFigures,
    UnitCost,
)
from hub.contract.rest import SETTINGS as SITE_KINDS
from hub.models import Call, Site, central_records, report_rollups
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
    "Figure",
    "Filters",  # the report's query (hub/contract/rest.py), here for the report's callers
    "build",
    "call_sums",
    "count",
    "drill",
    "first_of_month",
    "next_month",
    "record_sums",
    "record_where",
    "runs",
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
_CALL_FIELDS = 10  # CALL_SUMS up to no_record are CallFigures fields; then the wait bands
_ANSWER_S = CALL_SUMS.index("answer_s_total")




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


def _seconds(later: Any, earlier: Any, dialect: str) -> Any:
    if dialect == "sqlite":
        return (sa.func.julianday(later) - sa.func.julianday(earlier)) * 86400.0
    return sa.extract("epoch", later - earlier)


def _count_if(*conditions: Any) -> Any:
    return sa.func.sum(sa.case((sa.and_(*conditions), 1), else_=0))


def _site_clause(filters: Filters, site_col: Any) -> list[Any]:
    """Calls of the chosen site or setting (by the site's id)."""
    out: list[Any] = []
    if filters.site_id is not None:
        out.append(site_col == filters.site_id)
    if filters.site_kind is not None:
        out.append(site_col.in_(sa.select(SITES.c.id).where(SITES.c.kind == filters.site_kind)))
    return out


def _record_site_clause(conn: sa.Connection, filters: Filters) -> list[Any]:
    """Records of the chosen site (the desk writes the site's name; older ones its id)."""
    out: list[Any] = []
    if filters.site_id is not None:
        name = conn.scalar(sa.select(SITES.c.name).where(SITES.c.id == filters.site_id))
        out.append(LOG.c.site_id.in_([n for n in (name, str(filters.site_id)) if n]))
    if filters.site_kind is not None:
        out.append(LOG.c.setting == filters.site_kind)
    return out


def _call_where(filters: Filters) -> list[Any]:
    lo, hi = filters.bounds()
    return [CALLS.c.requested_at >= lo, CALLS.c.requested_at < hi,
            *_site_clause(filters, CALLS.c.site_id)]  # fmt: skip


def record_where(conn: sa.Connection, filters: Filters) -> list[Any]:
    lo, hi = filters.bounds()
    return [LOG.c.occurred_at >= lo, LOG.c.occurred_at < hi, *_record_site_clause(conn, filters)]


def _has_record(call_id: Any) -> Any:
    return sa.exists(sa.select(sa.literal(1)).where(LOG.c.call_id == call_id))


def _claim_flag(claim: Claim) -> Any:
    if claim == "ambulance_conveyance":
        return sa.and_(LOG.c.intended_action == "ambulance_999",
                       sa.or_(LOG.c.admission_avoided, LOG.c.ae_attendance_avoided))
    return LOG.c[f"{claim}_avoided"]


# --- which days come from the roll-ups -----------------------------------------------------

Span = tuple[date, date]  # UTC days, first and last included


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def within(col: Any, spans: Sequence[Span]) -> Any:
    """A timestamp column within any of these spans of UTC days."""
    return sa.or_(*(sa.and_(col >= _midnight(a), col < _midnight(b + timedelta(days=1)))
                    for a, b in spans))  # fmt: skip


def _day_within(col: Any, spans: Sequence[Span]) -> Any:
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
class _Plan:
    """Where each day of a report's range is read from."""

    months: tuple[date, ...] = ()  # whole months from month rows (their first days)
    days: tuple[Span, ...] = ()  # from day rows
    live: tuple[Span, ...] = ()  # from the calls and records themselves


def _plan(conn: sa.Connection, filters: Filters, live: bool) -> _Plan:
    whole = _Plan(live=((filters.start, filters.end),))
    if live or filters.site_id is not None:
        return whole  # records match a site by its name: there is no roll-up by site
    t = ROLLUPS
    in_range = sa.and_(t.days.c.day >= filters.start, t.days.c.day <= filters.end)
    clean = set(conn.scalars(sa.select(t.days.c.day).where(in_range)))
    if not clean:
        return whole
    clean -= set(conn.scalars(
        sa.select(t.dirty.c.day).where(t.dirty.c.day >= filters.start,
                                       t.dirty.c.day <= filters.end).distinct()))  # fmt: skip
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
    return _Plan(tuple(months), runs(days), runs(unrolled))


# --- the report ----------------------------------------------------------------------------


def call_sums(dialect: str) -> list[Any]:
    """The sums of CALL_SUMS over rows of ``calls``, in that order."""
    c = CALLS.c
    wait = _seconds(c.answered_at, c.requested_at, dialect)
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
                  _seconds(c.ended_at, c.requested_at, dialect) > ABANDON_AFTER_S),
        _count_if(c.end_reason == "caller_lost"),
        _count_if(c.state != "ended"),
        _count_if(answered, c.state == "ended", ~_has_record(c.id)),
        *bands,
    ]  # fmt: skip


def record_sums() -> list[Any]:
    """The sums of RECORD_SUMS over rows of the log, in that order."""
    t = LOG.c
    sums: list[Any] = [sa.func.count()]
    for claim in CLAIMS:
        flag = _claim_flag(claim)
        sums += [_count_if(flag), _count_if(flag, t.follow_up_result == "confirmed"),
                 _count_if(flag, t.follow_up_result == "withdrawn")]  # fmt: skip
    return sums


def _call_rows(conn: sa.Connection, filters: Filters, spans: Sequence[Span]) -> list[Any]:
    """(month, site_id, *CALL_SUMS) of the calls requested within ``spans``, read live."""
    if not spans:
        return []
    c = CALLS.c
    month = _month(c.requested_at, conn.dialect.name, aware=True).label("month")
    query = (
        sa.select(month, c.site_id, *call_sums(conn.dialect.name))
        .where(within(c.requested_at, spans), *_site_clause(filters, c.site_id))
        .group_by(month, c.site_id)
    )
    return list(conn.execute(query))


def _rolled_call_rows(conn: sa.Connection, filters: Filters, plan: _Plan) -> list[Any]:
    """The same rows as :func:`_call_rows`, from the roll-ups."""
    d = conn.dialect.name
    out: list[Any] = []
    if plan.months:
        m = ROLLUPS.call_months
        out += conn.execute(
            sa.select(_month_of_day(m.c.month, d), m.c.site_id, *(m.c[n] for n in CALL_SUMS))
            .where(m.c.month.in_(plan.months), *_site_clause(filters, m.c.site_id))
        )  # fmt: skip
    if plan.days:
        t = ROLLUPS.call_days
        month = _month_of_day(t.c.day, d)
        out += conn.execute(
            sa.select(month, t.c.site_id, *(sa.func.sum(t.c[n]) for n in CALL_SUMS))
            .where(_day_within(t.c.day, plan.days), *_site_clause(filters, t.c.site_id))
            .group_by(month, t.c.site_id)
        )  # fmt: skip
    return out


def _record_rows(conn: sa.Connection, filters: Filters, spans: Sequence[Span]) -> list[Any]:
    """(month, setting, outcome, *RECORD_SUMS) of the records within ``spans``, read live."""
    if not spans:
        return []
    t = LOG.c
    month = _month(t.occurred_at, conn.dialect.name, aware=False).label("month")
    query = (
        sa.select(month, t.setting, t.outcome, *record_sums())
        .where(within(t.occurred_at, spans), *_record_site_clause(conn, filters))
        .group_by(month, t.setting, t.outcome)
    )
    return list(conn.execute(query))


def _rolled_record_rows(conn: sa.Connection, filters: Filters, plan: _Plan) -> list[Any]:
    """The same rows as :func:`_record_rows`, from the roll-ups."""
    d = conn.dialect.name
    out: list[Any] = []
    if plan.months:
        m = ROLLUPS.record_months
        kind = [] if filters.site_kind is None else [m.c.setting == filters.site_kind]
        out += conn.execute(
            sa.select(_month_of_day(m.c.month, d), m.c.setting, m.c.outcome,
                      *(m.c[n] for n in RECORD_SUMS))
            .where(m.c.month.in_(plan.months), *kind)
        )  # fmt: skip
    if plan.days:
        t = ROLLUPS.record_days
        kind = [] if filters.site_kind is None else [t.c.setting == filters.site_kind]
        month = _month_of_day(t.c.day, d)
        out += conn.execute(
            sa.select(month, t.c.setting, t.c.outcome, *(sa.func.sum(t.c[n]) for n in RECORD_SUMS))
            .where(_day_within(t.c.day, plan.days), *kind)
            .group_by(month, t.c.setting, t.c.outcome)
        )  # fmt: skip
    return out


def build(conn: sa.Connection, filters: Filters, *, live: bool = False) -> Report:
    """The report for ``filters``: whole days from the roll-ups, the rest live; ``live``
    reads every day live (the reference the roll-ups are tested against: same figures)."""
    import time as _time

    started = _time.perf_counter()
    plan = _plan(conn, filters, live)
    named = sa.select(SITES.c.id, SITES.c.name, SITES.c.kind)
    sites = {sid: (name, kind) for sid, name, kind in conn.execute(named)}
    by_kind: dict[tuple[str, str], list[Any]] = {}
    by_site: dict[int, list[int]] = {}
    call_rows = [*_call_rows(conn, filters, plan.live), *_rolled_call_rows(conn, filters, plan)]
    for row in call_rows:
        month, site_id, values = row[0], row[1], row[2:]
        kind = sites.get(site_id, ("?", "unknown"))[1]
        acc = by_kind.setdefault((month, kind), [0] * len(CALL_SUMS))
        for n, value in enumerate(values):
            # float: PostgreSQL's live sum of seconds is a numeric, the roll-up's a double
            acc[n] += float(value or 0) if n == _ANSWER_S else int(value or 0)
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


# --- drill-down ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """A drill-down target: ``name`` from CALL_FIGURES or RECORD_FIGURES, with its argument
    (an outcome code or a claim) where it takes one."""

    name: str
    arg: str | None = None

    @classmethod
    def parse(cls, text: str) -> Figure:
        name, _, arg = text.partition(":")
        if name in CALL_FIGURES and not arg:
            return cls(name)
        if name == "records" and not arg:
            return cls(name)
        if name == "outcome" and arg:
            return cls(name, arg)
        if name in ("claimed", "confirmed", "withdrawn", "pending") and arg in CLAIMS:
            return cls(name, arg)
        raise ValueError(f"unknown figure {text!r}")

    @property
    def of_calls(self) -> bool:
        return self.name in CALL_FIGURES


def _call_figure_clause(fig: Figure, dialect: str) -> list[Any]:
    c = CALLS.c
    wait = _seconds(c.answered_at, c.requested_at, dialect)
    answered = c.answered_at.is_not(None)
    return {
        "calls": [],
        "answered": [answered],
        "within_60s": [answered, wait <= ANSWER_60S],
        "over_60s": [answered, wait > ANSWER_60S],
        "within_5min": [answered, wait <= ANSWER_5MIN],
        "over_5min": [answered, wait > ANSWER_5MIN],
        "abandoned": [c.end_reason == "abandoned"],
        "abandoned_after_30s": [c.end_reason == "abandoned",
                                _seconds(c.ended_at, c.requested_at, dialect) > ABANDON_AFTER_S],
        "caller_lost": [c.end_reason == "caller_lost"],
        "no_record": [answered, c.state == "ended", ~_has_record(c.id)],
        "open": [c.state != "ended"],
    }[fig.name]  # fmt: skip


def _record_figure_clause(fig: Figure) -> list[Any]:
    t = LOG.c
    if fig.name == "records":
        return []
    if fig.name == "outcome":
        return [t.outcome.is_(None)] if fig.arg == "none" else [t.outcome == fig.arg]
    assert fig.arg is not None
    flag = _claim_flag(fig.arg)  # type: ignore[arg-type]
    result = {"claimed": None, "confirmed": "confirmed", "withdrawn": "withdrawn"}
    if fig.name == "pending":
        return [flag, sa.or_(t.follow_up_result.is_(None),
                             t.follow_up_result.not_in(("confirmed", "withdrawn")))]
    wanted = result[fig.name]
    return [flag] if wanted is None else [flag, t.follow_up_result == wanted]


def _rolled_figure(fig: Figure, t: sa.Table) -> tuple[Any, list[Any]]:
    """A figure as a sum over roll-up rows: the summed expression and the rows' condition."""
    c = t.c
    if fig.name in ("over_60s", "over_5min"):
        return c.answered - c[fig.name.replace("over", "within")], []
    if fig.of_calls:
        return c[fig.name], []
    if fig.name == "records":
        return c.records, []
    if fig.name == "outcome":
        return c.records, [c.outcome.is_(None) if fig.arg == "none" else c.outcome == fig.arg]
    if fig.name == "pending":
        return (c[f"{fig.arg}_claimed"] - c[f"{fig.arg}_confirmed"]
                - c[f"{fig.arg}_withdrawn"]), []  # fmt: skip
    return c[f"{fig.arg}_{fig.name}"], []


def count(conn: sa.Connection, filters: Filters, figure: str, *, live: bool = False) -> int:
    """How many calls or records are behind one figure (a drill-down's total), as build()
    counts them: whole days from the roll-ups, the rest (or with ``live``, all) live."""
    fig = Figure.parse(figure)
    plan = _plan(conn, filters, live)
    total = 0
    if plan.live:
        if fig.of_calls:
            where = [within(CALLS.c.requested_at, plan.live),
                     *_site_clause(filters, CALLS.c.site_id),
                     *_call_figure_clause(fig, conn.dialect.name)]  # fmt: skip
            query = sa.select(sa.func.count()).select_from(CALLS).where(*where)
        else:
            where = [within(LOG.c.occurred_at, plan.live), *_record_site_clause(conn, filters),
                     *_record_figure_clause(fig)]  # fmt: skip
            query = sa.select(sa.func.count()).select_from(LOG).where(*where)
        total += int(conn.scalar(query) or 0)
    r = ROLLUPS
    months, days = ((r.call_months, r.call_days) if fig.of_calls
                    else (r.record_months, r.record_days))  # fmt: skip
    parts: list[tuple[sa.Table, Any]] = []
    if plan.months:
        parts.append((months, months.c.month.in_(plan.months)))
    if plan.days:
        parts.append((days, _day_within(days.c.day, plan.days)))
    for table, in_range in parts:
        summed, where = _rolled_figure(fig, table)
        if filters.site_kind is not None:
            where += (_site_clause(filters, table.c.site_id) if fig.of_calls
                      else [table.c.setting == filters.site_kind])  # fmt: skip
        query = sa.select(sa.func.coalesce(sa.func.sum(summed), 0)).where(in_range, *where)
        total += int(conn.scalar(query) or 0)
    return total


def _claims_of(row: Any) -> tuple[str, ...]:
    out = [c for c in ("admission", "ae_attendance", "prison_transfer", "gp_visit")
           if getattr(row, f"{c}_avoided")]  # fmt: skip
    if row.intended_action == "ambulance_999" and (row.admission_avoided
                                                   or row.ae_attendance_avoided):
        out.append("ambulance_conveyance")
    return tuple(out)


_RECORD_COLUMNS = ("uuid", "call_id", "requested_at", "answered_at", "ended_at", "site_id",
                   "setting", "intended_action", "outcome", "admission_avoided",
                   "ae_attendance_avoided", "prison_transfer_avoided", "gp_visit_avoided",
                   "follow_up_result", "nurse", "occurred_at")  # fmt: skip


def _seconds_between(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return (later - earlier).total_seconds()


def drill(conn: sa.Connection, filters: Filters, figure: str, *, month: str | None = None,
          site_kind: str | None = None, limit: int = 100, offset: int = 0) -> DrillPage:
    """The calls or records behind one figure, oldest first, a page at a time."""
    fig = Figure.parse(figure)
    f = filters.narrowed(month)
    if site_kind is not None:
        f = f.model_copy(update={"site_kind": site_kind})
    d = conn.dialect.name
    if fig.of_calls:
        c = CALLS.c
        where = [*_call_where(f), *_call_figure_clause(fig, d)]
        total = count(conn, f, figure)
        rows = conn.execute(
            sa.select(c.id, c.requested_at, c.answered_at, c.ended_at, c.end_reason,
                      SITES.c.name, SITES.c.kind)
            .join_from(CALLS, SITES, SITES.c.id == c.site_id)
            .where(*where).order_by(c.requested_at, c.id).limit(limit).offset(offset)
        ).all()  # fmt: skip
        found = {r.call_id: r for r in _records_of_calls(conn, [r[0] for r in rows])}
        out = []
        for cid, req, ans, end, reason, name, kind in rows:
            rec = found.get(cid)
            out.append(DrillRow(
                call_id=cid, record_uuid=str(rec.uuid) if rec else None, requested_at=req,
                answered_at=ans, ended_at=end, answer_s=_seconds_between(ans, req),
                end_reason=reason, site=name, site_kind=kind,
                intended_action=rec.intended_action if rec else None,
                outcome=rec.outcome if rec else None, claims=_claims_of(rec) if rec else (),
                follow_up=rec.follow_up_result if rec else None,
                nurse=rec.nurse if rec else None,
            ))  # fmt: skip
    else:
        t = LOG.c
        where = [*record_where(conn, f), *_record_figure_clause(fig)]
        total = count(conn, f, figure)
        recs = conn.execute(
            sa.select(*(t[n] for n in _RECORD_COLUMNS)).where(*where)
            .order_by(t.occurred_at, t.uuid).limit(limit).offset(offset)
        ).all()  # fmt: skip
        ends = _end_reasons(conn, [r.call_id for r in recs if r.call_id])
        out = [DrillRow(
            call_id=r.call_id, record_uuid=str(r.uuid), requested_at=r.requested_at,
            answered_at=r.answered_at, ended_at=r.ended_at,
            answer_s=_seconds_between(r.answered_at, r.requested_at),
            end_reason=ends.get(r.call_id) if r.call_id else None, site=r.site_id,
            site_kind=r.setting, intended_action=r.intended_action, outcome=r.outcome,
            claims=_claims_of(r), follow_up=r.follow_up_result, nurse=r.nurse,
        ) for r in recs]  # fmt: skip
    more = offset + len(out) < total
    return DrillPage(figure=figure, total=total, offset=offset, rows=tuple(out),
                     next_offset=offset + len(out) if more else None)  # fmt: skip


def _records_of_calls(conn: sa.Connection, call_ids: Sequence[str]) -> Iterable[Any]:
    if not call_ids:
        return []
    t = LOG.c
    # The latest-signed record of each call (a specialist may have written one as well).
    return conn.execute(
        sa.select(*(t[n] for n in _RECORD_COLUMNS)).where(t.call_id.in_(call_ids))
        .order_by(t.occurred_at)
    ).all()  # fmt: skip


def _end_reasons(conn: sa.Connection, call_ids: Sequence[str]) -> dict[str, str | None]:
    if not call_ids:
        return {}
    return {cid: reason for cid, reason in conn.execute(
        sa.select(CALLS.c.id, CALLS.c.end_reason).where(CALLS.c.id.in_(call_ids)))}
