"""The avoided-admission log: its columns (REFERENCE.md "Log fields") and one row per record.

The central store keeps one flattened row per record (its latest version) in the table this
module describes (:func:`log_table`), so exports read columns instead of parsing JSON. The hub
builds its ``central_records`` table from :func:`log_table`; ``records`` never imports the
hub, which is why the table is described here, next to the fields it holds.

Column order is the export order. Times are UTC; booleans are true/false.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from records.models import UtcDateTime
from records.news2 import PARAMETERS
from records.schema import TriageRecord

__all__ = [
    "CENTRAL_RECORDS",
    "CENTRAL_VERSIONS",
    "EXPORT_FIELDS",
    "LOG_COLUMNS",
    "LogColumn",
    "log_row",
    "log_table",
    "occurred_at",
    "versions_table",
]

# Where the hub's central store keeps records; hub/models.py builds these tables.
CENTRAL_RECORDS = "central_records"
CENTRAL_VERSIONS = "central_record_versions"


@dataclass(frozen=True, slots=True)
class LogColumn:
    name: str
    kind: type  # str, int, bool or datetime: how exports write the value
    get: Callable[[TriageRecord], Any]
    length: int = 200  # for str columns
    required: bool = False  # NOT NULL in the table


def _sub(name: str) -> Callable[[TriageRecord], int | None]:
    return lambda r: None if r.news2 is None else r.news2.subscores.get(name)


def _last_follow_up(r: TriageRecord) -> str | None:
    if not r.follow_ups:
        return None
    last = r.follow_ups[-1]
    return "withdrawn" if last.claim_withdrawn else "confirmed"


LOG_COLUMNS: tuple[LogColumn, ...] = (
    LogColumn("call_id", str, lambda r: r.call_id),
    LogColumn("version", int, lambda r: r.version, required=True),
    LogColumn("requested_at", datetime, lambda r: r.requested_at),
    LogColumn("answered_at", datetime, lambda r: r.answered_at),
    LogColumn("ended_at", datetime, lambda r: r.ended_at),
    LogColumn("site_id", str, lambda r: r.site_id, required=True),
    LogColumn("setting", str, lambda r: r.setting, 32, required=True),
    LogColumn("nhs_number", str, lambda r: None if r.patient is None else r.patient.nhs_number, 10),
    LogColumn("presenting_problem", str, lambda r: r.presenting_problem, 10_000),
    LogColumn("news2_total", int, lambda r: None if r.news2 is None else r.news2.total),
    LogColumn("news2_complete", bool, lambda r: None if r.news2 is None else r.news2.complete),
    LogColumn("news2_band", str, lambda r: None if r.news2 is None else r.news2.band, 16),
    *(LogColumn(f"news2_{name}", int, _sub(name)) for name in PARAMETERS),
    LogColumn("consciousness", str,
              lambda r: None if r.observations is None else r.observations.consciousness, 1),
    LogColumn("soft_signs", str, lambda r: ";".join(r.soft_signs), 1000),
    LogColumn("dnacpr", bool, lambda r: None if r.patient is None else r.patient.dnacpr),
    LogColumn("respect_plan", str,
              lambda r: None if r.patient is None else r.patient.respect_plan, 10_000),
    LogColumn("intended_action", str, lambda r: r.intended_action, 32),
    LogColumn("outcome", str, lambda r: r.outcome, 32),
    LogColumn("referral_target", str, lambda r: r.referral_target, 32),
    LogColumn("nurse", str, lambda r: r.nurse, required=True),
    LogColumn("specialist", str, lambda r: r.specialist),
    LogColumn("admission_avoided", bool, lambda r: r.avoided.admission, required=True),
    LogColumn("ae_attendance_avoided", bool, lambda r: r.avoided.ae_attendance, required=True),
    LogColumn("prison_transfer_avoided", bool, lambda r: r.avoided.prison_transfer, required=True),
    LogColumn("gp_visit_avoided", bool, lambda r: r.avoided.gp_visit, required=True),
    LogColumn("avoided_confirmed_by", str, lambda r: r.avoided.confirmed_by),
    LogColumn("avoided_confirmed_at", datetime, lambda r: r.avoided.confirmed_at),
    LogColumn("follow_up_window", str,
              lambda r: r.follow_ups[-1].window if r.follow_ups else None, 8),
    LogColumn("follow_up_checked_at", datetime,
              lambda r: r.follow_ups[-1].checked_at if r.follow_ups else None),
    LogColumn("follow_up_result", str, _last_follow_up, 16),
    LogColumn("signed_off_at", datetime, lambda r: r.signed_off_at),
    LogColumn("signed_off_by", str, lambda r: r.signed_off_by),
)  # fmt: skip


# The exported columns: the record's UUID, then the log columns in order.
EXPORT_FIELDS: tuple[str, ...] = ("record_uuid", *(c.name for c in LOG_COLUMNS))


def occurred_at(record: TriageRecord) -> datetime:
    """When the call happened, for date-range queries: requested, else signed off, else edited."""
    return record.requested_at or record.signed_off_at or record.updated_at


def log_row(record: TriageRecord) -> dict[str, Any]:
    """The record's log row, keyed by column name (plus ``uuid`` and ``occurred_at``)."""
    row = {column.name: column.get(record) for column in LOG_COLUMNS}
    row["uuid"] = record.uuid
    row["occurred_at"] = occurred_at(record)
    return row


def _sa_type(column: LogColumn) -> sa.types.TypeEngine[Any]:
    if column.kind is datetime:
        return UtcDateTime()
    if column.kind is int:
        return sa.Integer()
    if column.kind is bool:
        return sa.Boolean()
    return sa.Text() if column.length > 1000 else sa.String(column.length)


def log_table(metadata: sa.MetaData) -> sa.Table:
    """The central store's flattened latest-version table: one row per record."""
    return sa.Table(
        CENTRAL_RECORDS,
        metadata,
        sa.Column("uuid", sa.Uuid, primary_key=True),
        sa.Column("occurred_at", UtcDateTime(), nullable=False, index=True),
        *(
            sa.Column(c.name, _sa_type(c), nullable=not c.required,
                      index=c.name in ("site_id", "nhs_number"))
            for c in LOG_COLUMNS
        ),
    )  # fmt: skip


def versions_table(metadata: sa.MetaData) -> sa.Table:
    """A reader's view of the hub's immutable versions (the hub's model has more columns)."""
    return sa.Table(
        CENTRAL_VERSIONS,
        metadata,
        sa.Column("record_uuid", sa.Uuid, primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("payload", sa.Text, nullable=False),
    )
