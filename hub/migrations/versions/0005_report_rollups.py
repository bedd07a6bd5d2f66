"""report roll-ups: the manager's figures by day and month, and marks of changed days

Existing calls and records are not summed here: every day that has any is marked, and
``hub.schema.upgrade`` rebuilds marked days with records/rollup.py once at head (its
queries follow the tables of whatever revision is head; this one stays as written).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 04:05:14.780173
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('report_call_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('calls', sa.Integer(), nullable=False),
    sa.Column('answered', sa.Integer(), nullable=False),
    sa.Column('within_60s', sa.Integer(), nullable=False),
    sa.Column('within_5min', sa.Integer(), nullable=False),
    sa.Column('answer_s_total', sa.Float(), nullable=False),
    sa.Column('abandoned', sa.Integer(), nullable=False),
    sa.Column('abandoned_after_30s', sa.Integer(), nullable=False),
    sa.Column('caller_lost', sa.Integer(), nullable=False),
    sa.Column('open', sa.Integer(), nullable=False),
    sa.Column('no_record', sa.Integer(), nullable=False),
    sa.Column('wait_band_0', sa.Integer(), nullable=False),
    sa.Column('wait_band_1', sa.Integer(), nullable=False),
    sa.Column('wait_band_2', sa.Integer(), nullable=False),
    sa.Column('wait_band_3', sa.Integer(), nullable=False),
    sa.Column('wait_band_4', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'site_id')
    )
    op.create_table('report_call_months',
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('calls', sa.Integer(), nullable=False),
    sa.Column('answered', sa.Integer(), nullable=False),
    sa.Column('within_60s', sa.Integer(), nullable=False),
    sa.Column('within_5min', sa.Integer(), nullable=False),
    sa.Column('answer_s_total', sa.Float(), nullable=False),
    sa.Column('abandoned', sa.Integer(), nullable=False),
    sa.Column('abandoned_after_30s', sa.Integer(), nullable=False),
    sa.Column('caller_lost', sa.Integer(), nullable=False),
    sa.Column('open', sa.Integer(), nullable=False),
    sa.Column('no_record', sa.Integer(), nullable=False),
    sa.Column('wait_band_0', sa.Integer(), nullable=False),
    sa.Column('wait_band_1', sa.Integer(), nullable=False),
    sa.Column('wait_band_2', sa.Integer(), nullable=False),
    sa.Column('wait_band_3', sa.Integer(), nullable=False),
    sa.Column('wait_band_4', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('month', 'site_id')
    )
    op.create_table('report_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('day')
    )
    op.create_table('report_dirty_days',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('report_record_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('setting', sa.String(length=32), nullable=False),
    sa.Column('outcome', sa.String(length=32), nullable=True),
    sa.Column('records', sa.Integer(), nullable=False),
    sa.Column('admission_claimed', sa.Integer(), nullable=False),
    sa.Column('admission_confirmed', sa.Integer(), nullable=False),
    sa.Column('admission_withdrawn', sa.Integer(), nullable=False),
    sa.Column('ae_attendance_claimed', sa.Integer(), nullable=False),
    sa.Column('ae_attendance_confirmed', sa.Integer(), nullable=False),
    sa.Column('ae_attendance_withdrawn', sa.Integer(), nullable=False),
    sa.Column('prison_transfer_claimed', sa.Integer(), nullable=False),
    sa.Column('prison_transfer_confirmed', sa.Integer(), nullable=False),
    sa.Column('prison_transfer_withdrawn', sa.Integer(), nullable=False),
    sa.Column('ambulance_conveyance_claimed', sa.Integer(), nullable=False),
    sa.Column('ambulance_conveyance_confirmed', sa.Integer(), nullable=False),
    sa.Column('ambulance_conveyance_withdrawn', sa.Integer(), nullable=False)
    )
    with op.batch_alter_table('report_record_days', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_record_days_day'), ['day'], unique=False)

    op.create_table('report_record_months',
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('setting', sa.String(length=32), nullable=False),
    sa.Column('outcome', sa.String(length=32), nullable=True),
    sa.Column('records', sa.Integer(), nullable=False),
    sa.Column('admission_claimed', sa.Integer(), nullable=False),
    sa.Column('admission_confirmed', sa.Integer(), nullable=False),
    sa.Column('admission_withdrawn', sa.Integer(), nullable=False),
    sa.Column('ae_attendance_claimed', sa.Integer(), nullable=False),
    sa.Column('ae_attendance_confirmed', sa.Integer(), nullable=False),
    sa.Column('ae_attendance_withdrawn', sa.Integer(), nullable=False),
    sa.Column('prison_transfer_claimed', sa.Integer(), nullable=False),
    sa.Column('prison_transfer_confirmed', sa.Integer(), nullable=False),
    sa.Column('prison_transfer_withdrawn', sa.Integer(), nullable=False),
    sa.Column('ambulance_conveyance_claimed', sa.Integer(), nullable=False),
    sa.Column('ambulance_conveyance_confirmed', sa.Integer(), nullable=False),
    sa.Column('ambulance_conveyance_withdrawn', sa.Integer(), nullable=False)
    )
    with op.batch_alter_table('report_record_months', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_record_months_month'), ['month'], unique=False)

    # Every day with calls or records is marked changed (UTC days, as records/report.py counts).
    if op.get_bind().dialect.name == 'sqlite':
        days = ("SELECT DISTINCT substr(requested_at, 1, 10) FROM calls "
                "UNION SELECT DISTINCT substr(occurred_at, 1, 10) FROM central_records")
    else:
        days = ("SELECT DISTINCT CAST(timezone('UTC', requested_at) AS DATE) FROM calls "
                "UNION SELECT DISTINCT CAST(occurred_at AS DATE) FROM central_records")
    op.execute(f"INSERT INTO report_dirty_days (day) {days}")


def downgrade() -> None:
    with op.batch_alter_table('report_record_months', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_record_months_month'))

    op.drop_table('report_record_months')
    with op.batch_alter_table('report_record_days', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_record_days_day'))

    op.drop_table('report_record_days')
    op.drop_table('report_dirty_days')
    op.drop_table('report_days')
    op.drop_table('report_call_months')
    op.drop_table('report_call_days')
