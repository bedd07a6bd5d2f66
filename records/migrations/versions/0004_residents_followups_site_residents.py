"""A station's residents, synced with the hub (issue 13)

The site's residents are the hub's now (hub/routes/residents.py); the station keeps its copy
in ``site_residents`` so it works offline first and catches up (records/site_residents.py).
A station's residents kept before (``patients`` rows whose ``site_id`` is ``site:<n>``) are
carried over as changes waiting to be sent, so the hub gets them at the first sync: their
name, NHS number and date of birth (the old DNACPR flag and usual NEWS2 had no date or author,
which the hub's record needs: the staff enter them again in the resident form).

Revision ID: 0003_residents_followups
Revises: 0003_record_authority
Create Date: 2026-12-01 14:55:00
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0003_residents_followups"
down_revision: str | None = "0003_record_authority"  # after record-authority's (merged)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "site_residents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("hub_version", sa.Integer(), nullable=True),
        sa.Column("pending", sa.Boolean(), nullable=False),
        sa.Column("refused_details", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_residents")),
    )
    with op.batch_alter_table("site_residents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_site_residents_site_id"), ["site_id"], unique=False)
    bind = op.get_bind()
    patients = sa.table("patients", sa.column("id", sa.Uuid()), sa.column("name", sa.String()),
                        sa.column("nhs_number", sa.String()), sa.column("site_id", sa.String()),
                        sa.column("date_of_birth", sa.Date()))
    residents = sa.table("site_residents", sa.column("id", sa.Uuid()),
                         sa.column("site_id", sa.String()), sa.column("name", sa.String()),
                         sa.column("details", sa.Text()), sa.column("hub_version", sa.Integer()),
                         sa.column("pending", sa.Boolean()),
                         sa.column("updated_at", sa.DateTime()))
    rows = bind.execute(sa.select(patients.c.id, patients.c.name, patients.c.nhs_number,
                                  patients.c.site_id, patients.c.date_of_birth)
                        .where(patients.c.site_id.like("site:%"))).all()
    now = datetime.now(UTC).replace(tzinfo=None)  # the store's times are naive UTC
    if rows:
        op.bulk_insert(residents, [{
            "id": uuid.UUID(str(pid)) if not isinstance(pid, uuid.UUID) else pid,
            "site_id": site, "name": name[:200], "hub_version": None, "pending": True,
            "updated_at": now,
            "details": json.dumps({"name": name[:200], "nhs_number": nhs,
                                   "date_of_birth": dob.isoformat() if dob else None,
                                   "usual": None, "respect": None, "dnacpr": None})}
            for pid, name, nhs, site, dob in rows])


def downgrade() -> None:
    with op.batch_alter_table("site_residents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_site_residents_site_id"))
    op.drop_table("site_residents")
