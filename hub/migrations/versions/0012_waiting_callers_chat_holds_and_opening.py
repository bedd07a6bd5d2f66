"""waiting-callers: chat messages, holds, the hub's opening, and hold time in the report

``call_messages`` keeps every chat message of a call (to a waiting caller or in a call),
``call_holds`` every hold, ``calls.held_s`` the seconds a call spent on hold, ``hub_opening``
whether an administrator set the hub closed or suspended; the report's call roll-ups gain
``held`` (calls held at least once) and ``held_s_total``.

Revision ID: 0009_waiting_callers
Revises: 0008_cluster_core
Create Date: 2026-12-01 14:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.db

revision = '0009_waiting_callers'
down_revision = '0009_hub_history'
branch_labels = None
depends_on = None

ROLLUPS = ('report_call_days', 'report_call_months')


def upgrade() -> None:
    op.create_table('call_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.String(length=36), nullable=False),
    sa.Column('sent_at', hub.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sender', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_call_messages_call_id'), 'call_messages', ['call_id'], unique=False)
    op.create_table('call_holds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.String(length=36), nullable=False),
    sa.Column('started_at', hub.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', hub.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('held_by', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_call_holds_call_id'), 'call_holds', ['call_id'], unique=False)
    op.create_table('hub_opening',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('changed_at', hub.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('changed_by', sa.String(length=40), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('held_s', sa.Float(), nullable=True))
    for table in ROLLUPS:
        # Existing roll-up rows held no holds: 0, then the default goes (the model has none).
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('held', sa.Integer(), nullable=False,
                                          server_default='0'))
            batch_op.add_column(sa.Column('held_s_total', sa.Float(), nullable=False,
                                          server_default='0'))
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('held', server_default=None)
            batch_op.alter_column('held_s_total', server_default=None)


def downgrade() -> None:
    for table in ROLLUPS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('held_s_total')
            batch_op.drop_column('held')
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_column('held_s')
    op.drop_table('hub_opening')
    op.drop_index(op.f('ix_call_holds_call_id'), table_name='call_holds')
    op.drop_table('call_holds')
    op.drop_index(op.f('ix_call_messages_call_id'), table_name='call_messages')
    op.drop_table('call_messages')
