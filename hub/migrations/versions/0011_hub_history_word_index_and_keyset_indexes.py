"""hub-history: the history's word index and its keyset indexes

``central_record_terms`` holds the words of each record's patient name and presenting problem
(hub/encounter_index.py), filled here for the records already held; composite indexes on
``central_records`` give the history's pages newest first by site, NHS number and outcome.

Revision ID: 0009_hub_history
Revises: 0009_residents_followups
Create Date: 2026-12-01 14:50:00
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

import hub.db

revision = '0009_hub_history'
down_revision = '0009_residents_followups'
branch_labels = None
depends_on = None

_BATCH = 5_000


def upgrade() -> None:
    op.create_table('central_record_terms',
    sa.Column('field', sa.String(length=8), nullable=False),
    sa.Column('term', sa.String(length=32).with_variant(sa.String(length=32, collation='C'), 'postgresql'), nullable=False),
    sa.Column('record_uuid', sa.Uuid(), nullable=False),
    sa.Column('occurred_at', hub.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('field', 'term', 'record_uuid')
    )
    _index_held_records()
    op.create_index('ix_central_record_terms_newest', 'central_record_terms', ['field', 'term', 'occurred_at', 'record_uuid'], unique=False)
    op.create_index('ix_central_record_terms_record', 'central_record_terms', ['record_uuid', 'field', 'term'], unique=False)
    with op.batch_alter_table('central_records', schema=None) as batch_op:
        batch_op.create_index('ix_central_records_newest', ['occurred_at', 'uuid'], unique=False)
        batch_op.create_index('ix_central_records_site_newest', ['site_id', 'occurred_at', 'uuid'], unique=False)
        batch_op.create_index('ix_central_records_nhs_newest', ['nhs_number', 'occurred_at', 'uuid'], unique=False)
        batch_op.create_index('ix_central_records_outcome_newest', ['outcome', 'occurred_at', 'uuid'], unique=False)


def _index_held_records() -> None:
    """The words of the records already held, a batch at a time (their latest versions)."""
    from hub.encounter_index import term_rows

    conn = op.get_bind()
    meta = sa.MetaData()
    records = sa.Table('central_records', meta, sa.Column('uuid', sa.Uuid),
                       sa.Column('version', sa.Integer),
                       sa.Column('occurred_at', hub.db.UTCDateTime(timezone=True)),
                       sa.Column('presenting_problem', sa.Text))
    versions = sa.Table('central_record_versions', meta, sa.Column('record_uuid', sa.Uuid),
                        sa.Column('version', sa.Integer), sa.Column('payload', sa.Text))
    terms = sa.Table('central_record_terms', meta, sa.Column('field', sa.String),
                     sa.Column('term', sa.String), sa.Column('record_uuid', sa.Uuid),
                     sa.Column('occurred_at', hub.db.UTCDateTime(timezone=True)))
    query = (sa.select(records.c.uuid, records.c.occurred_at, records.c.presenting_problem,
                       versions.c.payload)
             .join(versions, sa.and_(versions.c.record_uuid == records.c.uuid,
                                     versions.c.version == records.c.version))
             .order_by(records.c.uuid))
    last = None
    while True:
        page = query if last is None else query.where(records.c.uuid > last)
        rows = conn.execute(page.limit(_BATCH)).all()
        if not rows:
            return
        values = []
        for uuid, at, problem, payload in rows:
            name = (json.loads(payload).get('patient') or {}).get('name')
            values += term_rows(uuid, at, name, problem)
        if values:
            conn.execute(terms.insert(), values)
        last = rows[-1][0]


def downgrade() -> None:
    with op.batch_alter_table('central_records', schema=None) as batch_op:
        batch_op.drop_index('ix_central_records_outcome_newest')
        batch_op.drop_index('ix_central_records_nhs_newest')
        batch_op.drop_index('ix_central_records_site_newest')
        batch_op.drop_index('ix_central_records_newest')
    op.drop_index('ix_central_record_terms_record', table_name='central_record_terms')
    op.drop_index('ix_central_record_terms_newest', table_name='central_record_terms')
    op.drop_table('central_record_terms')
