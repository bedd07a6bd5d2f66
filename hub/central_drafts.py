"""Unsigned drafts kept on the hub per nurse, so a draft is never stranded on one desk.

The repository behind ``/api/v1/drafts`` (hub/routes/records.py): it takes a Session and
never commits. A draft belongs to the principal who pushed it (``owner``, a participant id)
and only they see it; it is dropped once any signed-off version of the record is stored
(hub/central_store.py), and a draft pushed after that is answered ``closed`` and not kept.
Every write and read is audited (``record_audit_events``), with identifiers only.
"""

from __future__ import annotations

from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.central_store import CentralStore
from hub.contract.identity import Principal
from hub.contract.records_authority import MAX_DRAFTS
from hub.db import utcnow
from hub.models import CentralDraft, central_records
from records.schema import TriageRecord

__all__ = ["CentralDrafts", "TooManyDrafts"]


class TooManyDrafts(Exception):
    """The principal keeps MAX_DRAFTS drafts already (the route answers 422)."""


class CentralDrafts:
    def __init__(self, session: Session, principal: Principal) -> None:
        self._session = session
        self._owner = principal.participant_id
        self._audit = CentralStore(session, principal).audit

    def keep(self, draft: TriageRecord) -> bool:
        """Keep (or replace) the principal's draft; False when the record is signed off."""
        t = central_records
        if self._session.scalar(sa.select(t.c.uuid).where(t.c.uuid == draft.uuid)) is not None:
            self._audit("draft", [(draft.uuid, None, "closed")])
            return False
        row = self._session.get(CentralDraft, (self._owner, draft.uuid))
        if row is None:
            held = self._session.scalar(sa.select(sa.func.count()).select_from(CentralDraft)
                                        .where(CentralDraft.owner == self._owner))  # fmt: skip
            if (held or 0) >= MAX_DRAFTS:
                raise TooManyDrafts
            row = CentralDraft(owner=self._owner, record_uuid=draft.uuid)
            self._session.add(row)
        row.payload = draft.model_dump_json()
        row.updated_at = utcnow()
        self._audit("draft", [(draft.uuid, None, "kept")])
        return True

    def forget(self, record_uuid: UUID) -> None:
        gone = self._session.execute(sa.delete(CentralDraft).where(
            CentralDraft.owner == self._owner, CentralDraft.record_uuid == record_uuid))
        if gone.rowcount:  # type: ignore[attr-defined]
            self._audit("draft", [(record_uuid, None, "forgotten")])

    def mine(self) -> list[str]:
        """The principal's drafts' JSON, most recently changed first, audited as reads."""
        d = CentralDraft
        rows = self._session.execute(
            sa.select(d.record_uuid, d.payload).where(d.owner == self._owner)
            .order_by(d.updated_at.desc(), d.record_uuid)).all()  # fmt: skip
        self._audit("read", [(u, None, "draft") for u, _ in rows])
        return [payload for _, payload in rows]
