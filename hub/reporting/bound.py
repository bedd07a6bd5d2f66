"""The report's clauses with the filters' values as bound parameters, for queries built once.

The report's queries are large (a CASE per figure), and building one costs far more than the
database takes to answer it on a hub's figures. So report.py and drill.py build each query once
per shape (the dialect, how many spans, which filters) and bind the values given here; SQLAlchemy
then also keeps its cache key and compiled form, so a report costs what its queries cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

import sqlalchemy as sa

from hub.contract.rest import Filters
from hub.models import Site, central_records

__all__ = [
    "STATEMENTS",
    "Shape",
    "Span",
    "bound_day_within",
    "bound_record_site_clause",
    "bound_site_clause",
    "bound_within",
    "filter_params",
    "midnight",
    "span_params",
]

SITES = cast(sa.Table, Site.__table__)
LOG = central_records
Span = tuple[date, date]  # UTC days, first and last included


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


STATEMENTS = 512  # shapes kept: a year's range makes at most a few dozen spans


def bound_within(col: Any, n: int) -> Any:
    """:func:`within` of ``n`` spans, bound by :func:`span_params`."""
    return sa.or_(*(sa.and_(col >= sa.bindparam(f"span_lo{i}"), col < sa.bindparam(f"span_hi{i}"))
                    for i in range(n)))  # fmt: skip


def bound_day_within(col: Any, n: int) -> Any:
    """:func:`day_within` of ``n`` spans, bound by :func:`span_params` with ``days``."""
    return sa.or_(*(col.between(sa.bindparam(f"span_lo{i}"), sa.bindparam(f"span_hi{i}"))
                    for i in range(n)))  # fmt: skip


def span_params(spans: Sequence[Span], *, days: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, (a, b) in enumerate(spans):
        out[f"span_lo{i}"], out[f"span_hi{i}"] = (
            (a, b) if days else (midnight(a), midnight(b + timedelta(days=1)))
        )
    return out


@dataclass(frozen=True)
class Shape:
    """Which of the filters' clauses a query has (their values are its parameters)."""

    by_site: bool
    by_kind: bool

    @classmethod
    def of(cls, filters: Filters) -> Shape:
        return cls(filters.site_id is not None, filters.site_kind is not None)


def bound_site_clause(shape: Shape, site_col: Any) -> list[Any]:
    """:func:`site_clause`, bound by :func:`filter_params`."""
    out: list[Any] = []
    if shape.by_site:
        out.append(site_col == sa.bindparam("f_site_id"))
    if shape.by_kind:
        out.append(
            site_col.in_(sa.select(SITES.c.id).where(SITES.c.kind == sa.bindparam("f_site_kind")))
        )
    return out


def bound_record_site_clause(shape: Shape) -> list[Any]:
    """:func:`record_site_clause`, bound by :func:`filter_params` with ``records``."""
    out: list[Any] = []
    if shape.by_site:
        out.append(LOG.c.site_id.in_(sa.bindparam("f_site_names", expanding=True)))
    if shape.by_kind:
        out.append(LOG.c.setting == sa.bindparam("f_site_kind"))
    return out


_SITE_NAME = sa.select(SITES.c.name).where(SITES.c.id == sa.bindparam("f_site_id"))


def filter_params(conn: sa.Connection | None, filters: Filters) -> dict[str, Any]:
    """The filters' values for the bound clauses; with ``conn``, the records' site names too."""
    out: dict[str, Any] = {"f_site_id": filters.site_id, "f_site_kind": filters.site_kind}
    if conn is not None and filters.site_id is not None:
        name = conn.scalar(_SITE_NAME, out)
        out["f_site_names"] = [n for n in (name, str(filters.site_id)) if n]
    return out
