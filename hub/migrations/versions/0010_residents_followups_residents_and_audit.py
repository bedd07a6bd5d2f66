"""residents-followups: the residents known to the hub, their versions and audit

Each site's residents (and each Gold Line patient) with what RESTORE2 asks a home to record:
``residents`` holds the current version of each, ``resident_versions`` every version as
written (who, when), ``resident_audit_events`` every write and read (no patient data).

Revision ID: 0009_residents_followups
Revises: 0009_record_authority
Create Date: 2026-12-01 14:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.db

revision = '0009_residents_followups'
down_revision = '0009_record_authority'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('residents',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('nhs_number', sa.String(length=10), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('date_of_birth', sa.String(length=10), nullable=True),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_residents_site_nhs', 'residents', ['site_id', 'nhs_number'], unique=True)
    op.create_index(op.f('ix_residents_site_id'), 'residents', ['site_id'], unique=False)
    op.create_table('resident_versions',
    sa.Column('resident_id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('details', sa.Text(), nullable=False),
    sa.Column('written_at', hub.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('written_by', sa.String(length=40), nullable=False),
    sa.Column('written_by_name', sa.String(length=120), nullable=False),
    sa.ForeignKeyConstraint(['resident_id'], ['residents.id'], ),
    sa.PrimaryKeyConstraint('resident_id', 'version')
    )
    op.create_table('resident_audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', hub.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=40), nullable=False),
    sa.Column('actor_name', sa.String(length=120), nullable=False),
    sa.Column('actor_role', sa.String(length=16), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('resident_id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=True),
    sa.Column('detail', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_resident_audit_events_at'), 'resident_audit_events', ['at'], unique=False)
    op.create_index(op.f('ix_resident_audit_events_resident_id'), 'resident_audit_events', ['resident_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_resident_audit_events_resident_id'), table_name='resident_audit_events')
    op.drop_index(op.f('ix_resident_audit_events_at'), table_name='resident_audit_events')
    op.drop_table('resident_audit_events')
    op.drop_table('resident_versions')
    op.drop_index(op.f('ix_residents_site_id'), table_name='residents')
    op.drop_index('ix_residents_site_nhs', table_name='residents')
    op.drop_table('residents')
