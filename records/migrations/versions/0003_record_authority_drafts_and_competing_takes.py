"""record-authority: the draft outbox and competing takes moved aside by a resolution

Issue 13: a draft's latest content is pushed to the hub for its nurse (``draft_outbox``, one
row a draft), and a version the hub did not take is kept when the nurse resolves the
conflict (``competing_takes``), until the resolution has carried it to the hub.

Revision ID: 0003_record_authority
Revises: 0002
Create Date: 2026-12-01 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_record_authority"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "draft_outbox",
        sa.Column("record_uuid", sa.Uuid(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("pushed_revision", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["record_uuid"], ["triage_records.uuid"],
                                name=op.f("fk_draft_outbox_record_uuid_triage_records")),
        sa.PrimaryKeyConstraint("record_uuid", name=op.f("pk_draft_outbox")),
    )
    op.create_table(
        "competing_takes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("record_uuid", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("kept_at", sa.DateTime(), nullable=False),
        sa.Column("resolved_by", sa.Integer(), nullable=False),
        sa.Column("sent", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_competing_takes")),
    )
    op.create_index(op.f("ix_competing_takes_record_uuid"), "competing_takes",
                    ["record_uuid"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_competing_takes_record_uuid"), table_name="competing_takes")
    op.drop_table("competing_takes")
    op.drop_table("draft_outbox")
