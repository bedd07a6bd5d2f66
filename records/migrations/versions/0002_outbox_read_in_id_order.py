"""SyncOutbox read in id order

The sync reads pending entries in id order, 500 at a time. On (state, next_attempt_at) that
meant finding every pending entry and sorting them all, each round (a backlog of n entries
cost n rounds x n rows), and the "earlier version still waiting" probe searched every
postponed entry instead of the record's own. On (state, id) a round is one range read that
stops at its limit, and the probe uses the (record_uuid, version) key.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 04:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sync_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_sync_outbox_due")
        batch_op.create_index("ix_sync_outbox_pending", ["state", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sync_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_sync_outbox_pending")
        batch_op.create_index("ix_sync_outbox_due", ["state", "next_attempt_at"], unique=False)
