"""The drill-down of the manager's report: the calls or records behind one figure.

Counted and listed with the report's own clauses (report.py), so a drill-down's total is the
figure it came from; one page at a time, identifiers, times and codes only (no patient data).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from hub.contract.rest import CLAIMS, DrillPage, DrillRow, Filters
from hub.reporting.bound import (
    Shape,
    bound_day_within,
    bound_record_site_clause,
    bound_site_clause,
    bound_within,
    filter_params,
    span_params,
)
from hub.reporting.report import (
    ABANDON_AFTER_S,
    ANSWER_5MIN,
    ANSWER_60S,
    CALL_FIGURES,
    CALLS,
    LOG,
    ROLLUPS,
    SITES,
    call_where,
    claim_flag,
    has_record,
    record_where,
    rollup_plan,
    seconds,
)

__all__ = ["Figure", "count", "drill"]


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
    wait = seconds(c.answered_at, c.requested_at, dialect)
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
                                seconds(c.ended_at, c.requested_at, dialect) > ABANDON_AFTER_S],
        "caller_lost": [c.end_reason == "caller_lost"],
        "no_record": [answered, c.state == "ended", ~has_record(c.id)],
        "open": [c.state != "ended"],
    }[fig.name]  # fmt: skip


def _record_figure_clause(fig: Figure) -> list[Any]:
    t = LOG.c
    if fig.name == "records":
        return []
    if fig.name == "outcome":
        return [t.outcome.is_(None)] if fig.arg == "none" else [t.outcome == fig.arg]
    assert fig.arg is not None
    flag = claim_flag(fig.arg)  # type: ignore[arg-type]
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
    plan = rollup_plan(conn, filters, live)
    shape = Shape.of(filters)
    total = 0
    if plan.live:
        query = _live_count_query(fig, conn.dialect.name, len(plan.live), shape)
        params = filter_params(None if fig.of_calls else conn, filters)
        total += int(conn.scalar(query, {**params, **span_params(plan.live)}) or 0)
    if plan.months:
        query = _rolled_count_query(fig, 0, shape.by_kind)
        total += int(conn.scalar(query, {"f_site_kind": filters.site_kind,
                                         "months": list(plan.months)}) or 0)  # fmt: skip
    if plan.days:
        query = _rolled_count_query(fig, len(plan.days), shape.by_kind)
        total += int(conn.scalar(query, {"f_site_kind": filters.site_kind,
                                         **span_params(plan.days, days=True)}) or 0)  # fmt: skip
    return total


# Each count's query is built once per shape, its values bound (as the report's: report.py).


@functools.lru_cache(maxsize=1024)
def _live_count_query(fig: Figure, dialect: str, spans: int, shape: Shape) -> sa.Select[Any]:
    if fig.of_calls:
        where = [bound_within(CALLS.c.requested_at, spans),
                 *bound_site_clause(shape, CALLS.c.site_id),
                 *_call_figure_clause(fig, dialect)]  # fmt: skip
        return sa.select(sa.func.count()).select_from(CALLS).where(*where)
    where = [bound_within(LOG.c.occurred_at, spans), *bound_record_site_clause(shape),
             *_record_figure_clause(fig)]  # fmt: skip
    return sa.select(sa.func.count()).select_from(LOG).where(*where)


@functools.lru_cache(maxsize=1024)
def _rolled_count_query(fig: Figure, days: int, by_kind: bool) -> sa.Select[Any]:
    """The figure summed over the roll-ups' month rows (``days`` 0) or ``days`` spans of day
    rows."""
    r = ROLLUPS
    if fig.of_calls:
        table = r.call_days if days else r.call_months
    else:
        table = r.record_days if days else r.record_months
    in_range = (bound_day_within(table.c.day, days) if days
                else table.c.month.in_(sa.bindparam("months", expanding=True)))  # fmt: skip
    summed, where = _rolled_figure(fig, table)
    if by_kind and fig.of_calls:
        where += bound_site_clause(Shape(by_site=False, by_kind=True), table.c.site_id)
    elif by_kind:
        where.append(table.c.setting == sa.bindparam("f_site_kind"))
    return sa.select(sa.func.coalesce(sa.func.sum(summed), 0)).where(in_range, *where)


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
        where = [*call_where(f), *_call_figure_clause(fig, d)]
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
