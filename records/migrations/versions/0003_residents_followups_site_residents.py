"""A station's residents, synced with the hub (issue 13)

The site's residents are the hub's now (hub/routes/residents.py); the station keeps its copy
in ``site_residents`` so it works offline first and catches up (records/site_residents.py).

Revision ID: 0003_residents_followups
Revises: 0003_record_authority
Create Date: 2026-12-01 14:55:00
"""

from __future__ import annotations

from collections.abc import Sequence

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


def downgrade() -> None:
    with op.batch_alter_table("site_residents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_site_residents_site_id"))
    op.drop_table("site_residents")
