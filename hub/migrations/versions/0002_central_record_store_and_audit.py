"""the central record store (versions, latest-version log rows) and its audit trail

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 01:32:49.048259
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.db
import records.models

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('central_record_versions',
    sa.Column('record_uuid', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('stored_at', hub.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('stored_by', sa.String(length=40), nullable=False),
    sa.PrimaryKeyConstraint('record_uuid', 'version')
    )
    # The log columns are frozen here as they were at this revision; a change to
    # records/avoided_log.py needs a new revision.
    op.create_table('central_records',
    sa.Column('uuid', sa.Uuid(), nullable=False),
    sa.Column('occurred_at', records.models.UtcDateTime(), nullable=False),
    sa.Column('call_id', sa.String(length=200), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('requested_at', records.models.UtcDateTime(), nullable=True),
    sa.Column('answered_at', records.models.UtcDateTime(), nullable=True),
    sa.Column('ended_at', records.models.UtcDateTime(), nullable=True),
    sa.Column('site_id', sa.String(length=200), nullable=False),
    sa.Column('setting', sa.String(length=32), nullable=False),
    sa.Column('nhs_number', sa.String(length=10), nullable=True),
    sa.Column('presenting_problem', sa.Text(), nullable=True),
    sa.Column('news2_total', sa.Integer(), nullable=True),
    sa.Column('news2_complete', sa.Boolean(), nullable=True),
    sa.Column('news2_band', sa.String(length=16), nullable=True),
    sa.Column('news2_respiration_rate', sa.Integer(), nullable=True),
    sa.Column('news2_spo2', sa.Integer(), nullable=True),
    sa.Column('news2_air_or_oxygen', sa.Integer(), nullable=True),
    sa.Column('news2_systolic_bp', sa.Integer(), nullable=True),
    sa.Column('news2_pulse', sa.Integer(), nullable=True),
    sa.Column('news2_consciousness', sa.Integer(), nullable=True),
    sa.Column('news2_temperature', sa.Integer(), nullable=True),
    sa.Column('consciousness', sa.String(length=1), nullable=True),
    sa.Column('soft_signs', sa.String(length=1000), nullable=True),
    sa.Column('dnacpr', sa.Boolean(), nullable=True),
    sa.Column('respect_plan', sa.Text(), nullable=True),
    sa.Column('intended_action', sa.String(length=32), nullable=True),
    sa.Column('outcome', sa.String(length=32), nullable=True),
    sa.Column('referral_target', sa.String(length=32), nullable=True),
    sa.Column('nurse', sa.String(length=200), nullable=False),
    sa.Column('specialist', sa.String(length=200), nullable=True),
    sa.Column('admission_avoided', sa.Boolean(), nullable=False),
    sa.Column('ae_attendance_avoided', sa.Boolean(), nullable=False),
    sa.Column('prison_transfer_avoided', sa.Boolean(), nullable=False),
    sa.Column('gp_visit_avoided', sa.Boolean(), nullable=False),
    sa.Column('avoided_confirmed_by', sa.String(length=200), nullable=True),
    sa.Column('avoided_confirmed_at', records.models.UtcDateTime(), nullable=True),
    sa.Column('follow_up_window', sa.String(length=8), nullable=True),
    sa.Column('follow_up_checked_at', records.models.UtcDateTime(), nullable=True),
    sa.Column('follow_up_result', sa.String(length=16), nullable=True),
    sa.Column('signed_off_at', records.models.UtcDateTime(), nullable=True),
    sa.Column('signed_off_by', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('uuid')
    )
    with op.batch_alter_table('central_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_central_records_nhs_number'), ['nhs_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_central_records_occurred_at'), ['occurred_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_central_records_site_id'), ['site_id'], unique=False)

    op.create_table('record_audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', hub.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=40), nullable=False),
    sa.Column('actor_name', sa.String(length=120), nullable=False),
    sa.Column('actor_role', sa.String(length=16), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('record_uuid', sa.Uuid(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=True),
    sa.Column('detail', sa.String(length=500), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('record_audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_record_audit_events_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_record_audit_events_record_uuid'), ['record_uuid'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('record_audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_record_audit_events_record_uuid'))
        batch_op.drop_index(batch_op.f('ix_record_audit_events_at'))

    op.drop_table('record_audit_events')
    with op.batch_alter_table('central_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_central_records_site_id'))
        batch_op.drop_index(batch_op.f('ix_central_records_occurred_at'))
        batch_op.drop_index(batch_op.f('ix_central_records_nhs_number'))

    op.drop_table('central_records')
    op.drop_table('central_record_versions')
