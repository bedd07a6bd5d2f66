"""report indexes: calls and central records by time, for the manager's figures

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 02:12:22.739391
"""

from __future__ import annotations

from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.create_index('ix_calls_report', ['requested_at', 'site_id', 'answered_at', 'ended_at', 'end_reason', 'state', 'id'], unique=False)

    with op.batch_alter_table('central_records', schema=None) as batch_op:
        batch_op.create_index('ix_central_records_call_id', ['call_id'], unique=False)
        batch_op.create_index('ix_central_records_report', ['occurred_at', 'setting', 'outcome', 'site_id', 'intended_action', 'admission_avoided', 'ae_attendance_avoided', 'prison_transfer_avoided', 'follow_up_result'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('central_records', schema=None) as batch_op:
        batch_op.drop_index('ix_central_records_report')
        batch_op.drop_index('ix_central_records_call_id')

    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index('ix_calls_report')

