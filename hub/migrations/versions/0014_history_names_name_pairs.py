"""history-names: the pairs of each name's words in the history's word index

``central_record_terms`` gains, for each record, a ``pair`` row for each ordered pair of the
distinct words of its patient's name (hub/contract/history.py, ``name_pairs``), so a search by
a full name is one selective range of the index. The records already held get theirs here in
one statement, from the name words the index holds already (the same words, paired).

Revision ID: 0014_history_names
Revises: 0009_wound_photo
Create Date: 2026-12-01 16:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014_history_names'
down_revision = '0009_wound_photo'
branch_labels = None
depends_on = None

# Each ordered pair of a record's distinct name words, cut at MAX_TERM (32) characters like
# every term; two pairs cut to one term are one row. A name of more than MAX_PAIR_WORDS words
# gets all its pairs here (the index rewrites them when the record next changes).
BACKFILL = """
INSERT INTO central_record_terms (field, term, record_uuid, occurred_at)
SELECT DISTINCT 'pair', substr(a.term || ' ' || b.term, 1, 32), a.record_uuid, a.occurred_at
FROM central_record_terms a
JOIN central_record_terms b
  ON b.record_uuid = a.record_uuid AND b.field = 'name' AND b.term <> a.term
WHERE a.field = 'name'
ON CONFLICT DO NOTHING
"""


def upgrade() -> None:
    op.execute(sa.text(BACKFILL))


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM central_record_terms WHERE field = 'pair'"))
