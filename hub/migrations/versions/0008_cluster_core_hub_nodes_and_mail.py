"""cluster-core: hub leases and mail between hubs, and the shared queue's arrival order

Several hubs on one PostgreSQL database (docs/cluster.md): ``hub_nodes`` holds one lease row
per running hub, ``hub_mail`` the frames between hubs, ``calls.queue_order`` the arrival
order of calls of one instant (from the sequence ``call_queue_order``, PostgreSQL only).

Revision ID: 0008_cluster_core
Revises: 0007_sec_signin
Create Date: 2026-12-01 11:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.db

revision = '0008_cluster_core'
down_revision = '0007_sec_signin'  # chained after sec-signin's on merging main
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('hub_nodes',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('started_at', hub.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('seen_at', hub.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('hub_mail',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('box', sa.String(length=40), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_hub_mail_box'), 'hub_mail', ['box'], unique=False)
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('queue_order', sa.BigInteger(), nullable=True))
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('CREATE SEQUENCE call_queue_order')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP SEQUENCE call_queue_order')
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_column('queue_order')
    op.drop_index(op.f('ix_hub_mail_box'), table_name='hub_mail')
    op.drop_table('hub_mail')
    op.drop_table('hub_nodes')
