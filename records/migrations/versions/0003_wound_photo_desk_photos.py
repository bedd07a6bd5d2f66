"""wound-photo: the photos a desk holds and their attachments waiting for sync

A photo from a call (issue 17) is kept in the desk's store as it arrived, so a desk that goes
offline still shows it and still attaches it to the record; the attachment syncs like the
record (records/photos.py).

Revision ID: 0003_wound_photo
Revises: 0002
Create Date: 2026-12-01 14:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_wound_photo"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wound_photos",
        sa.Column("photo_id", sa.Uuid(), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=16), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("consent", sa.String(length=16), nullable=False),
        sa.Column("consent_by_name", sa.String(length=120), nullable=False),
        sa.Column("taken_at", sa.DateTime(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("record_uuid", sa.Uuid(), nullable=True),
        sa.Column("attached_at", sa.DateTime(), nullable=True),
        sa.Column("sync_state", sa.String(length=16), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("photo_id", name=op.f("pk_wound_photos")),
    )
    with op.batch_alter_table("wound_photos", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wound_photos_call_id"), ["call_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_wound_photos_record_uuid"), ["record_uuid"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("wound_photos", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wound_photos_record_uuid"))
        batch_op.drop_index(batch_op.f("ix_wound_photos_call_id"))
    op.drop_table("wound_photos")
