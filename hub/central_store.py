"""The hub's central store of triage records: every signed-off version, its log row, its audit.

The repository behind hub/routes/records.py: it takes a Session and never commits (the
request's unit of work does). Every version is kept as pushed, never overwritten; a newer
held version, or the same version with other content, is a conflict. The decision is atomic
per record: concurrent pushes of one record are decided one at a time
(``CentralStore._lock_latest``), so a lower version never lands after a higher one.

Audit (table ``record_audit_events``): every write (one row per record pushed, with its
answer), every read (one row per record version returned, queries included) and every export
(one row with its date range, format, row count and the time it was taken; the versions are
immutable, so the exported set can be rebuilt from that). Refused requests change nothing,
audit included. Logs and audit details hold identifiers and counts, never patient data.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, cast
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from hub import encounter_index
from hub.contract.identity import Principal, StaffRole
from hub.contract.rest import VersionOut
from hub.db import insert_many, utcnow
from hub.models import CallParticipant, CentralRecordVersion, RecordAuditEvent, central_records
from hub.record_checks import Checked, checked
from hub.reporting import rollup
from records import export
from records.schema import TriageRecord

__all__ = ["Applied", "CentralStore", "LostRace", "write"]

log = logging.getLogger("telehub.hub.records")

_WRITE_RETRIES = 5  # a push that loses a race to a concurrent one decides again (write)

# Core tables for executemany inserts (no ORM or per-row parameter machinery).
_AUDIT = cast(sa.Table, RecordAuditEvent.__table__)
_VERSIONS = cast(sa.Table, CentralRecordVersion.__table__)

Status = Literal["stored", "unchanged", "conflict"]
AuditRow = tuple[UUID | None, int | None, str | None]


@dataclass(frozen=True, slots=True)
class Applied:
    uuid: UUID
    version: int
    status: Status
    held_version: int | None


class LostRace(Exception):
    """The held state changed under a decision; the transaction is rolled back and redone."""


class CentralStore:
    """The store's repository: takes a Session, never commits (the route's unit of work does)."""

    def __init__(self, session: Session, principal: Principal) -> None:
        self._session = session
        self._principal = principal

    def audit(self, action: str, rows: Sequence[AuditRow]) -> None:
        """Add audit events (record UUID, version, detail); details hold no patient data."""
        if not rows:
            return
        now = utcnow()
        p = self._principal
        insert_many(
            self._session.connection(), _AUDIT,
            [{"at": now, "actor": p.participant_id, "actor_name": p.name[:120],
              "actor_role": p.role, "action": action, "record_uuid": u, "version": v,
              "detail": d} for u, v, d in rows],
        )  # fmt: skip

    def _lock_latest(self, uuids: Sequence[UUID]) -> dict[UUID, int]:
        """The held latest version of each record, locked until this transaction ends.

        The decision (store or conflict) and the write must be one atomic step, or two
        versions pushed at once could both be stored, the lower one last. PostgreSQL: the
        latest rows are locked (``FOR UPDATE``, in UUID order so two batches cannot deadlock
        on them); a record not yet held has no row to lock, and there the primary key makes a
        concurrent first insert fail, which :func:`_write` answers by deciding again. SQLite:
        pysqlite would start its transaction only at the first write, after this read, so
        the write lock is taken first (``BEGIN IMMEDIATE``; other writers wait their turn).
        """
        conn = self._session.connection()
        sqlite = conn.dialect.name == "sqlite"
        if sqlite and not conn.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        t = central_records
        query = sa.select(t.c.uuid, t.c.version).where(t.c.uuid.in_(sorted(set(uuids))))
        if not sqlite:
            query = query.order_by(t.c.uuid).with_for_update()
        return {u: int(n) for u, n in self._session.execute(query)}

    def apply(self, records: Sequence[TriageRecord]) -> list[Applied]:
        """Store each signed-off record in order, in this transaction (see apply_checked)."""
        return self.apply_checked([checked(r) for r in records])

    def apply_checked(self, records: Sequence[Checked]) -> list[Applied]:
        """Store each checked version in order, in this transaction: stored, unchanged or
        conflict."""
        newest = self._lock_latest([r.uuid for r in records])
        keys = [(r.uuid, r.version) for r in records if r.uuid in newest]
        held: dict[tuple[UUID, int], str] = {}
        if keys:
            v = CentralRecordVersion
            for u, n, payload in self._session.execute(
                sa.select(v.record_uuid, v.version, v.payload).where(
                    sa.tuple_(v.record_uuid, v.version).in_(keys)
                )
            ):
                held[(u, n)] = payload
        known = set(newest)
        # Taken after the lock: versions' stored_at follows the order they were decided in.
        now, by = utcnow(), self._principal.participant_id
        versions: list[dict[str, Any]] = []
        heads: dict[UUID, Checked] = {}
        results: list[Applied] = []
        for record in records:
            key = (record.uuid, record.version)
            payload = record.payload
            top = newest.get(record.uuid)
            if key in held:
                state: Status = "unchanged" if held[key] == payload else "conflict"
            elif top is not None and top > record.version:
                state = "conflict"
            else:
                state = "stored"
                held[key] = payload
                newest[record.uuid] = record.version
                heads[record.uuid] = record
                versions.append({"record_uuid": record.uuid, "version": record.version,
                                 "payload": payload, "stored_at": now, "stored_by": by})
            results.append(Applied(record.uuid, record.version, state,
                                   newest[record.uuid] if state == "conflict" else None))
        if versions:
            insert_many(self._session.connection(), _VERSIONS, versions)
        inserts = [r.log for u, r in heads.items() if u not in known]
        updates = [r.log for u, r in heads.items() if u in known]
        # The report's roll-ups: mark the days these change (reads the held rows: first).
        rollup.mark_records(self._session, inserts, updates)
        # The history's word index follows the latest versions (hub/encounter_index.py).
        encounter_index.index(self._session, heads.values(), known)
        if inserts:
            insert_many(self._session.connection(), central_records, inserts)
        if updates:
            t = central_records
            columns = [c.name for c in t.c if c.name != "uuid"]
            moved = self._session.execute(
                sa.update(t)
                # Never move the latest row back; under the lock every row should match.
                .where(t.c.uuid == sa.bindparam("b_uuid"),
                       t.c.version < sa.bindparam("b_version"))
                .values({name: sa.bindparam(f"b_{name}") for name in columns}),
                [{f"b_{k}": v for k, v in row.items()} for row in updates],
            )
            if moved.rowcount != len(updates):  # type: ignore[attr-defined]
                raise LostRace("a newer version landed between the decision and the write")
        self.audit("write", [(r.uuid, r.version, r.status) for r in results])
        return results

    def _readable(self, record_uuid: UUID) -> bool:
        """Whether this principal may read the record: a specialist only the records of calls
        they took part in (the call log's participants); the route has checked the role."""
        if self._principal.role is not StaffRole.SPECIALIST:
            return True
        t = central_records
        calls_taken_part_in = sa.select(CallParticipant.call_id).where(
            CallParticipant.participant_id == self._principal.participant_id)
        return self._session.scalar(sa.select(t.c.uuid).where(
            t.c.uuid == record_uuid, t.c.call_id.in_(calls_taken_part_in))) is not None

    def get(self, record_uuid: UUID, version: int | None) -> str | None:
        """The version's payload (latest when ``version`` is None), audited as a read; None
        when there is none, or none this principal may read."""
        if not self._readable(record_uuid):
            return None
        v = CentralRecordVersion
        if version is None:
            version = self._session.scalar(
                sa.select(central_records.c.version).where(central_records.c.uuid == record_uuid)
            )
            if version is None:
                return None
        payload = self._session.scalar(
            sa.select(v.payload).where(v.record_uuid == record_uuid, v.version == version)
        )
        if payload is not None:
            self.audit("read", [(record_uuid, version, None)])
        return payload

    def versions(self, record_uuid: UUID) -> list[VersionOut]:
        if not self._readable(record_uuid):
            return []
        v = CentralRecordVersion
        rows = self._session.execute(
            sa.select(v.version, v.payload, v.stored_at, v.stored_by)
            .where(v.record_uuid == record_uuid)
            .order_by(v.version)
        ).all()
        out = []
        for number, payload, stored_at, stored_by in rows:
            record = json.loads(payload)
            out.append(VersionOut(
                version=number, stored_at=stored_at, stored_by=stored_by,
                signed_off_at=record.get("signed_off_at"),
                signed_off_by=record.get("signed_off_by"),
                amendment_reason=record.get("amendment_reason"),
            ))  # fmt: skip
        self.audit("read", [(record_uuid, o.version, "versions") for o in out])
        return out

    def query(
        self,
        *,
        site_id: str | None,
        start: date | None,
        end: date | None,
        nhs: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[str], bool]:
        """Latest versions matching the filters, oldest call first; and whether more follow."""
        t, v = central_records, CentralRecordVersion
        query = (
            sa.select(t.c.uuid, t.c.version, v.payload)
            .join(v, sa.and_(v.record_uuid == t.c.uuid, v.version == t.c.version))
            .where(*export.date_filter(t, start, end))
            .order_by(t.c.occurred_at, t.c.uuid)
            .limit(limit + 1)
            .offset(offset)
        )
        if site_id is not None:
            query = query.where(t.c.site_id == site_id)
        if nhs is not None:
            query = query.where(t.c.nhs_number == nhs)
        rows = self._session.execute(query).all()
        more = len(rows) > limit
        rows = rows[:limit]
        self.audit("read", [(u, n, "query") for u, n, _ in rows])
        return [payload for _, _, payload in rows], more


def _lost_race(exc: Exception) -> bool:
    """A concurrent write got there first (or PostgreSQL broke a deadlock): decide again."""
    if isinstance(exc, IntegrityError | LostRace):
        return True
    return isinstance(exc, OperationalError) and getattr(exc.orig, "sqlstate", None) in (
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
    )


def write(session: Session, principal: Principal, records: Sequence[Checked]) -> list[Applied]:
    """Store checked versions in the session's transaction, deciding again on a lost race."""
    store = CentralStore(session, principal)
    if session.get_bind().dialect.name == "sqlite":
        # BEGIN IMMEDIATE (CentralStore._lock_latest): writers take turns, none loses a race.
        return store.apply_checked(records)
    for attempt in range(_WRITE_RETRIES):
        try:
            # Each attempt in a savepoint: a lost race rolls back that attempt only.
            with session.begin_nested():
                return store.apply_checked(records)
        except Exception as exc:
            # E.g. another request stored the first version of a new record between our read
            # and our insert; the rolled-back retry sees it and answers unchanged/conflict.
            if not _lost_race(exc) or attempt == _WRITE_RETRIES - 1:
                raise
            log.info("records write by %s lost a race; deciding again",
                     principal.participant_id)  # fmt: skip
    raise AssertionError("unreachable")
