"""record-authority: who wrote each version, competing takes kept aside, drafts on the hub

Issue 13. ``central_record_versions`` gains the author the hub saw (user name, display name,
role), what the version did, the competitors a resolution supersedes and the body fields
whose author was replaced; ``central_record_competitors`` keeps every pushed take of a
version the store did not take; ``central_drafts`` keeps each nurse's unsigned drafts.

Revision ID: 0009_record_authority
Revises: 0008_cluster_core
Create Date: 2026-12-01 14:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.db

revision = '0009_record_authority'
down_revision = '0008_cluster_core'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('central_record_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('author', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('author_name', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('author_role', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('action', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('supersedes', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('replaced', sa.JSON(), nullable=True))
    op.create_table('central_record_competitors',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_uuid', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('pushed_at', hub.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('pushed_by', sa.String(length=40), nullable=False),
    sa.Column('author', sa.String(length=64), nullable=True),
    sa.Column('author_name', sa.String(length=120), nullable=False),
    sa.Column('resolved_by', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_central_record_competitors_record', 'central_record_competitors',
                    ['record_uuid', 'version'], unique=False)
    op.create_table('central_drafts',
    sa.Column('owner', sa.String(length=40), nullable=False),
    sa.Column('record_uuid', sa.Uuid(), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('updated_at', hub.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('owner', 'record_uuid')
    )
    op.create_index(op.f('ix_central_drafts_record_uuid'), 'central_drafts', ['record_uuid'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_central_drafts_record_uuid'), table_name='central_drafts')
    op.drop_table('central_drafts')
    op.drop_index('ix_central_record_competitors_record', table_name='central_record_competitors')
    op.drop_table('central_record_competitors')
    with op.batch_alter_table('central_record_versions', schema=None) as batch_op:
        for name in ('replaced', 'supersedes', 'action', 'author_role', 'author_name', 'author'):
            batch_op.drop_column(name)
