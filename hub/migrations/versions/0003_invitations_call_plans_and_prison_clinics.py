"""invitations for home callers (the browser page), call plans, booked prison clinics

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 01:48:35.318132
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.db

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('clinic_bookings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('specialist_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', hub.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('minutes', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=120), nullable=False),
    sa.Column('patient', sa.JSON(), nullable=True),
    sa.Column('booked_by', sa.Integer(), nullable=False),
    sa.Column('cancelled', sa.Boolean(), nullable=False),
    sa.Column('call_id', sa.String(length=36), nullable=True),
    sa.Column('transfer_avoided', sa.Boolean(), nullable=True),
    sa.Column('outcome_by', sa.String(length=40), nullable=True),
    sa.Column('outcome_at', hub.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['booked_by'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ),
    sa.ForeignKeyConstraint(['specialist_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('clinic_bookings', schema=None) as batch_op:
        batch_op.create_index('ix_clinic_bookings_site_starts', ['site_id', 'starts_at'], unique=False)

    op.create_table('invitations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('patient', sa.JSON(), nullable=False),
    sa.Column('issued_by', sa.Integer(), nullable=False),
    sa.Column('issued_at', hub.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', hub.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', hub.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', hub.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['issued_by'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code_hash')
    )
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invitations_site_id'), ['site_id'], unique=False)

    op.create_table('call_plans',
    sa.Column('call_id', sa.String(length=36), nullable=False),
    sa.Column('decision', sa.Text(), nullable=False),
    sa.Column('call_again', sa.Text(), nullable=True),
    sa.Column('written_by', sa.String(length=40), nullable=False),
    sa.Column('written_by_name', sa.String(length=120), nullable=False),
    sa.Column('written_at', hub.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], ),
    sa.PrimaryKeyConstraint('call_id')
    )


def downgrade() -> None:
    op.drop_table('call_plans')
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invitations_site_id'))

    op.drop_table('invitations')
    with op.batch_alter_table('clinic_bookings', schema=None) as batch_op:
        batch_op.drop_index('ix_clinic_bookings_site_starts')

    op.drop_table('clinic_bookings')
