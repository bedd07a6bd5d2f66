"""The report's roll-up tables, declared for hub/models.py (which builds them on its metadata).

Apart from report.py so that hub/models.py can declare them without importing the report
(which reads hub/models.py's tables).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from hub.contract.rest import CLAIMS, WAIT_BAND_LABELS

__all__ = ["CALL_SUMS", "RECORD_SUMS", "RollupTables", "rollup_tables"]

# The roll-ups' figures, in the order the live queries give them (hub/reporting/rollup.py rebuilds
# the roll-ups with those same queries): CallFigures' sums, then records and their claims.
CALL_SUMS: tuple[str, ...] = (
    "calls", "answered", "within_60s", "within_5min", "answer_s_total", "abandoned",
    "abandoned_after_30s", "caller_lost", "open", "no_record", "held", "held_s_total",
    *(f"wait_band_{n}" for n in range(len(WAIT_BAND_LABELS))),
)  # fmt: skip
RECORD_SUMS: tuple[str, ...] = (
    "records", *(f"{c}_{w}" for c in CLAIMS for w in ("claimed", "confirmed", "withdrawn")),
)  # fmt: skip


@dataclass(frozen=True)
class RollupTables:
    """The report's roll-ups in the hub database (migration 0005; hub/models.py builds them).

    Calls by day and site and by month and site; records by day and by month, setting and
    outcome (records name their site in free text, so one site's report stays live). ``days``
    lists the days rolled up, empty ones too; a row in ``dirty`` marks a day a write changed
    since (rows, not a flag, so concurrent writers never wait on each other): such a day is
    read live until hub/reporting/rollup.py rebuilds it. A month row holds the sums of its days'
    rows and is read only while every day of its month is rolled up and clean.
    """

    call_days: sa.Table
    call_months: sa.Table
    record_days: sa.Table
    record_months: sa.Table
    days: sa.Table
    dirty: sa.Table


def rollup_tables(metadata: sa.MetaData) -> RollupTables:
    def sums(names: Sequence[str]) -> list[sa.Column[Any]]:
        return [sa.Column(n, sa.Float if n.endswith("_s_total") else sa.Integer, nullable=False)
                for n in names]  # fmt: skip

    def calls(name: str, key: str) -> sa.Table:
        return sa.Table(name, metadata, sa.Column(key, sa.Date, primary_key=True),
                        sa.Column("site_id", sa.Integer, primary_key=True),
                        *sums(CALL_SUMS))  # fmt: skip

    def records(name: str, key: str) -> sa.Table:
        # No primary key: outcome may be NULL; a day's rows are replaced whole.
        return sa.Table(name, metadata, sa.Column(key, sa.Date, nullable=False, index=True),
                        sa.Column("setting", sa.String(32), nullable=False),
                        sa.Column("outcome", sa.String(32)), *sums(RECORD_SUMS))  # fmt: skip

    return RollupTables(
        call_days=calls("report_call_days", "day"),
        call_months=calls("report_call_months", "month"),  # month: its first day
        record_days=records("report_record_days", "day"),
        record_months=records("report_record_months", "month"),
        days=sa.Table("report_days", metadata, sa.Column("day", sa.Date, primary_key=True)),
        dirty=sa.Table("report_dirty_days", metadata,
                       sa.Column("id", sa.Integer, primary_key=True),
                       sa.Column("day", sa.Date, nullable=False)),
    )  # fmt: skip
