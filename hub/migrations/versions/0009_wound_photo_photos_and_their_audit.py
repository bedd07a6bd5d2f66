"""wound-photo: photos from calls, kept with the record, and their audit trail

``wound_photos`` holds each still a site sent during a call (issue 17): the image, its
size, who confirmed consent, and the triage record the nurse attached it to;
``wound_photo_events`` who uploaded, attached or viewed which photo and when (hub/photos.py).

Revision ID: 0009_wound_photo
Revises: 0008_cluster_core
Create Date: 2026-12-01 14:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hub.db

revision = '0009_wound_photo'
down_revision = '0008_cluster_core'  # the lead chains it after the other 0009s
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('wound_photos',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('call_id', sa.String(length=36), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('content_type', sa.String(length=16), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('consent', sa.String(length=16), nullable=False),
    sa.Column('consent_by', sa.String(length=40), nullable=False),
    sa.Column('consent_by_name', sa.String(length=120), nullable=False),
    sa.Column('taken_at', hub.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('record_uuid', sa.Uuid(), nullable=True),
    sa.Column('attached_by', sa.String(length=40), nullable=True),
    sa.Column('attached_at', hub.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], ),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('wound_photos', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wound_photos_call_id'), ['call_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_wound_photos_record_uuid'), ['record_uuid'],
                              unique=False)

    op.create_table('wound_photo_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', hub.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('photo_id', sa.Uuid(), nullable=False),
    sa.Column('actor', sa.String(length=40), nullable=False),
    sa.Column('actor_name', sa.String(length=120), nullable=False),
    sa.Column('actor_role', sa.String(length=16), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('wound_photo_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wound_photo_events_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_wound_photo_events_photo_id'), ['photo_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('wound_photo_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wound_photo_events_photo_id'))
        batch_op.drop_index(batch_op.f('ix_wound_photo_events_at'))
    op.drop_table('wound_photo_events')
    with op.batch_alter_table('wound_photos', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wound_photos_record_uuid'))
        batch_op.drop_index(batch_op.f('ix_wound_photos_call_id'))
    op.drop_table('wound_photos')
