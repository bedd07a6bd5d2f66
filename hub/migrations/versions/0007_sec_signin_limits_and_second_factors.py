"""sign-in limits per account and address, their audit, and staff second factors (TOTP)

Revision ID: 0007_sec_signin
Revises: 0006_sec_accounts
Create Date: 2026-12-01 11:36:30.199589
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.db

revision = '0007_sec_signin'
down_revision = '0006_sec_accounts'  # chained after sec-accounts' on merging it
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('signin_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', hub.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('route', sa.String(length=16), nullable=False),
    sa.Column('account', sa.String(length=120), nullable=True),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('outcome', sa.String(length=24), nullable=False),
    sa.Column('detail', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('signin_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signin_events_at'), ['at'], unique=False)

    op.create_table('signin_throttle',
    sa.Column('scope', sa.String(length=8), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_attempt_at', hub.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('locked_until', hub.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('refused', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('scope', 'key')
    )
    with op.batch_alter_table('signin_throttle', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signin_throttle_last_attempt_at'), ['last_attempt_at'], unique=False)

    op.create_table('staff_recovery_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('used_at', hub.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('staff_recovery_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_recovery_codes_staff_id'), ['staff_id'], unique=False)

    op.create_table('staff_second_factors',
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('secret', sa.String(length=255), nullable=False),
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('created_at', hub.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('confirmed_at', hub.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_step', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('staff_id')
    )


def downgrade() -> None:
    op.drop_table('staff_second_factors')
    with op.batch_alter_table('staff_recovery_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_recovery_codes_staff_id'))

    op.drop_table('staff_recovery_codes')
    with op.batch_alter_table('signin_throttle', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signin_throttle_last_attempt_at'))

    op.drop_table('signin_throttle')
    with op.batch_alter_table('signin_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signin_events_at'))

    op.drop_table('signin_events')
