"""Keeps the manager's report roll-ups exact: writers mark the days they change, and
:func:`refresh` rebuilds marked days with the report's own queries.

The roll-ups are :class:`hub.reporting.tables.RollupTables` (hub migration 0005). A day is read from
them only while it is rolled up and carries no mark; otherwise hub/reporting/report.py reads it
live, so a figure is right from the moment its write commits. The marks, each written in the
writer's own transaction so that a change and its mark commit together:

* a call's day (the UTC day it was requested) when it is logged, answered, requeued or
  ended (:class:`hub.calllog.CallLog`);
* a record's day (its ``occurred_at``) when a version is stored, and when it replaces a held
  version the held one's day too (an amendment may move it); and the day of its call, whose
  "answered, no record" a new record changes (:meth:`hub.central_store.CentralStore.apply`).

Anything that writes calls or records another way (a bulk load, a restore, bench/reports.py)
must then rebuild: :func:`rebuild_all` (``telehub-hub db rollup``).

:func:`refresh` reads the marks, rebuilds their days from the calls and records with the
live queries, and deletes exactly the marks it read: a mark committed meanwhile stays, and
its day is read live until the next rebuild. Marks are rows, not a per-day flag, so writers
never wait on each other for one. One rebuilder runs at a time (:func:`refresh_now`: SQLite's
write lock, a PostgreSQL advisory lock). The hub rebuilds before it answers a report, leaving
today (written all day) to be read live.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.reporting.report import (
    CALLS,
    LOG,
    ROLLUPS,
    call_sums,
    first_of_month,
    next_month,
    record_sums,
    runs,
    utc_day,
    within,
)
from hub.reporting.tables import CALL_SUMS, RECORD_SUMS

__all__ = ["day_of", "mark_all", "mark_calls", "mark_days", "mark_records", "rebuild_all",
           "refresh", "refresh_now"]

_MARKED = "telehub.report_days_marked"  # Session.info: days marked in this transaction
_LOCK = 0x7E1E_0007  # PostgreSQL advisory lock: one roll-up rebuilder at a time
_CHUNK = 500  # ids in one IN (...): well within SQLite's limit on parameters

T = TypeVar("T")


def _chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for n in range(0, len(items), _CHUNK):
        yield items[n : n + _CHUNK]


def day_of(at: datetime) -> date:
    """The UTC day of an aware time."""
    return at.astimezone(UTC).date()


# --- marking (in the writer's transaction) ---------------------------------------------------


def mark_days(session: Session, days: Iterable[date]) -> None:
    """Mark these days changed, once per day in the session's transaction (a group commit
    of many calls on one day writes one mark)."""
    session.connection()  # begins the transaction the marks belong to
    # The innermost: marks written in a savepoint that is rolled back (a store write that
    # lost a race, hub/central_store.py) are gone, and the retry must write them again.
    tx = session.get_nested_transaction() or session.get_transaction()
    held: tuple[object, set[date]] | None = session.info.get(_MARKED)
    if held is None or held[0] is not tx:
        held = session.info[_MARKED] = (tx, set())
    new = set(days) - held[1]
    if new:
        session.execute(sa.insert(ROLLUPS.dirty), [{"day": d} for d in sorted(new)])
        held[1].update(new)


def mark_calls(session: Session, call_ids: Collection[str]) -> None:
    """Mark the days these calls were requested on (calls not in the log mark nothing)."""
    dialect = session.get_bind().dialect.name
    day = utc_day(CALLS.c.requested_at, dialect, aware=True)
    days: set[date] = set()
    for chunk in _chunks(sorted(set(call_ids))):
        days.update(session.scalars(sa.select(day).where(CALLS.c.id.in_(chunk)).distinct()))
    mark_days(session, days)


def mark_records(session: Session, stored: Sequence[Mapping[str, Any]],
                 replacing: Sequence[Mapping[str, Any]]) -> None:  # fmt: skip
    """Mark the days records change, before they are written.

    ``stored`` and ``replacing`` are log rows (:func:`records.avoided_log.log_row`) of
    records new to the store and of new versions of held ones. The held rows are read for
    the days they count on now; a call gains or loses its record only when the record is
    new or names another call, so only then is the call's day marked.
    """
    days = {day_of(r["occurred_at"]) for r in (*stored, *replacing)}
    calls = {r["call_id"] for r in stored if r["call_id"]}
    if replacing:
        new_call = {r["uuid"]: r["call_id"] for r in replacing}
        for chunk in _chunks(list(new_call)):
            for uuid, occurred, call_id in session.execute(
                sa.select(LOG.c.uuid, LOG.c.occurred_at, LOG.c.call_id).where(
                    LOG.c.uuid.in_(chunk))
            ):  # fmt: skip
                days.add(day_of(occurred))
                if call_id != new_call[uuid]:
                    calls.update(c for c in (call_id, new_call[uuid]) if c)
    mark_days(session, days)
    if calls:
        mark_calls(session, calls)


def mark_all(conn: sa.Connection) -> None:
    """Mark every day that has calls or records (after writing them around the writers)."""
    d = conn.dialect.name
    for col, aware in ((CALLS.c.requested_at, True), (LOG.c.occurred_at, False)):
        conn.execute(sa.insert(ROLLUPS.dirty).from_select(
            ["day"], sa.select(utc_day(col, d, aware)).distinct()))  # fmt: skip


# --- rebuilding ------------------------------------------------------------------------------


def _rebuild_days(conn: sa.Connection, first: date, last: date) -> None:
    """Day rows of ``first``..``last`` from the calls and records, by the live queries."""
    d = conn.dialect.name
    t = ROLLUPS
    c, r = CALLS.c, LOG.c
    span = [(first, last)]
    conn.execute(sa.delete(t.call_days).where(t.call_days.c.day.between(first, last)))
    day = utc_day(c.requested_at, d, aware=True)
    conn.execute(sa.insert(t.call_days).from_select(
        ["day", "site_id", *CALL_SUMS],
        sa.select(day, c.site_id, *call_sums(d)).where(within(c.requested_at, span))
        .group_by(day, c.site_id),
    ))  # fmt: skip
    conn.execute(sa.delete(t.record_days).where(t.record_days.c.day.between(first, last)))
    day = utc_day(r.occurred_at, d, aware=False)
    conn.execute(sa.insert(t.record_days).from_select(
        ["day", "setting", "outcome", *RECORD_SUMS],
        sa.select(day, r.setting, r.outcome, *record_sums()).where(within(r.occurred_at, span))
        .group_by(day, r.setting, r.outcome),
    ))  # fmt: skip


def _rebuild_month(conn: sa.Connection, first: date) -> None:
    """Month rows of the month that starts on ``first``, from its day rows."""
    d = conn.dialect.name
    t = ROLLUPS
    end = next_month(first) - timedelta(days=1)
    for months, days, keys, sums in (
        (t.call_months, t.call_days, ("site_id",), CALL_SUMS),
        (t.record_months, t.record_days, ("setting", "outcome"), RECORD_SUMS),
    ):
        conn.execute(sa.delete(months).where(months.c.month == first))
        month = first_of_month(days.c.day, d)
        conn.execute(sa.insert(months).from_select(
            ["month", *keys, *sums],
            sa.select(month, *(days.c[k] for k in keys), *(sa.func.sum(days.c[n]) for n in sums))
            .where(days.c.day.between(first, end))
            .group_by(month, *(days.c[k] for k in keys)),
        ))  # fmt: skip


def refresh(conn: sa.Connection, *, before: date | None = None) -> int:
    """Rebuild the marked days (those before ``before``); returns how many days it rebuilt.

    The caller holds the transaction and the rebuilder's lock (:func:`refresh_now` does
    both). The days of the marked days' months that were never rolled up are rolled up too,
    empty ones included, so that whole months can be read from month rows.
    """
    t = ROLLUPS
    query = sa.select(t.dirty.c.id, t.dirty.c.day)
    if before is not None:
        query = query.where(t.dirty.c.day < before)
    marks = conn.execute(query).all()
    if not marks:
        return 0
    marked = {day for _id, day in marks}
    built = set(conn.scalars(sa.select(t.days.c.day)))
    todo = set(marked)
    for first in {day.replace(day=1) for day in marked}:
        end = next_month(first) if before is None else min(next_month(first), before)
        todo.update(first + timedelta(days=n) for n in range((end - first).days))
    todo -= built - marked
    for first, last in runs(todo):
        _rebuild_days(conn, first, last)
    for first in sorted({day.replace(day=1) for day in todo}):
        _rebuild_month(conn, first)
    new = sorted(todo - built)
    if new:
        conn.execute(sa.insert(t.days), [{"day": day} for day in new])
    ids = [i for i, _day in marks]
    for chunk in _chunks(ids):
        conn.execute(sa.delete(t.dirty).where(t.dirty.c.id.in_(chunk)))
    return len(todo)


@contextmanager
def _rebuilder(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A transaction that holds the rebuilder's lock, committed when the block ends."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            # The write lock before the first read: the marks read are the marks deleted.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK)))
        yield conn
        conn.commit()


def refresh_now(engine: sa.Engine, *, before: date | None) -> int:
    """:func:`refresh` in a transaction of its own, one rebuilder at a time; when nothing is
    marked it only reads."""
    probe = sa.select(ROLLUPS.dirty.c.id).limit(1)
    if before is not None:
        probe = probe.where(ROLLUPS.dirty.c.day < before)
    with engine.connect() as conn:
        if conn.scalar(probe) is None:
            return 0
    with _rebuilder(engine) as conn:
        return refresh(conn, before=before)


def rebuild_all(engine: sa.Engine) -> int:
    """Mark every day with calls or records and rebuild them (``telehub-hub db rollup``)."""
    with _rebuilder(engine) as conn:
        mark_all(conn)
        return refresh(conn)
