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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, TypeVar, cast
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from hub import encounter_index
from hub.authorship import Author, stamp
from hub.contract.identity import Principal, StaffRole
from hub.contract.records_authority import AuthoredVersionOut, CompetitorOut
from hub.db import insert_many, utcnow
from hub.models import (
    CallParticipant,
    CentralDraft,
    CentralRecordCompetitor,
    CentralRecordVersion,
    RecordAuditEvent,
    Staff,
    central_records,
)
from hub.record_checks import Checked, checked
from hub.reporting import rollup
from records import export
from records.schema import TriageRecord

__all__ = ["Applied", "CentralStore", "LostRace", "NotHeld", "Resolution", "VersionGap", "resolve",
           "write"]

log = logging.getLogger("telehub.hub.records")

_WRITE_RETRIES = 5  # a push that loses a race to a concurrent one decides again (write)

# Core tables for executemany inserts (no ORM or per-row parameter machinery).
_AUDIT = cast(sa.Table, RecordAuditEvent.__table__)
_VERSIONS = cast(sa.Table, CentralRecordVersion.__table__)

Status = Literal["stored", "unchanged", "conflict"]
AuditRow = tuple[UUID | None, int | None, str | None]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Applied:
    uuid: UUID
    version: int
    status: Status
    held_version: int | None


class LostRace(Exception):
    """The held state changed under a decision; the transaction is rolled back and redone."""


class VersionGap(Exception):
    """A pushed version is not the next one: ``position`` in the request, ``expected`` the
    version the store would take. Nothing is stored (the route answers 422)."""

    def __init__(self, position: int, expected: int) -> None:
        super().__init__(position, expected)
        self.position = position
        self.expected = expected


class NotHeld(LookupError):
    """The store holds no version of the record (nothing to resolve)."""


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a resolving version supersedes: competitor ids and their stamped JSON."""

    ids: tuple[int, ...]
    competing: tuple[str, ...]


class CentralStore:
    """The store's repository: takes a Session, never commits (the route's unit of work does)."""

    def __init__(self, session: Session, principal: Principal) -> None:
        self._session = session
        self._principal = principal
        self._author: Author | None = None

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

    def author(self) -> Author:
        """The pushing principal as attribution names it (its user name, looked up once)."""
        if self._author is None:
            p = self._principal
            username = None
            if p.kind == "staff":
                username = self._session.scalar(sa.select(Staff.username).where(Staff.id == p.id))
            self._author = Author(username or p.participant_id, p.role is StaffRole.NURSE)
        return self._author

    def apply(self, records: Sequence[TriageRecord]) -> list[Applied]:
        """Store each signed-off record in order, in this transaction (see apply_checked)."""
        return self.apply_checked([checked(r) for r in records])

    def apply_checked(self, records: Sequence[Checked], *, resolution: Resolution | None = None
                      ) -> list[Applied]:  # fmt: skip
        """Store each checked version in order, in this transaction: stored, unchanged or
        conflict (the pushed take kept aside as a competitor, never lost).

        Versions are contiguous: version n is stored only while n - 1 is the newest held
        (1 for a record not held); a version further ahead raises :class:`VersionGap` (the
        route answers 422 and the transaction stores nothing). Each version's attribution is
        the pushing principal's (hub/authorship.py). ``resolution``: the one record is a
        resolution superseding the competitors named (POST /records/{uuid}/resolution).
        """
        newest = self._lock_latest([r.uuid for r in records])
        # What the decision and the attribution read: each pushed key and the one before.
        keys = {(r.uuid, n) for r in records if r.uuid in newest
                for n in (r.version, r.version - 1)}  # fmt: skip
        held: dict[tuple[UUID, int], str] = {}
        if keys:
            v = CentralRecordVersion
            # Not a row-value IN: the record's key column first (see the desk's outbox).
            for u, n, payload in self._session.execute(
                sa.select(v.record_uuid, v.version, v.payload).where(
                    v.record_uuid.in_({u for u, _ in keys}), v.version.in_({n for _, n in keys})
                )
            ):
                if (u, n) in keys:
                    held[(u, n)] = payload
        known = set(newest)
        author = self.author()
        # Taken after the lock: versions' stored_at follows the order they were decided in.
        now, by = utcnow(), self._principal.participant_id
        versions: list[dict[str, Any]] = []
        heads: dict[UUID, Checked] = {}
        results: list[Applied] = []
        reattributed: list[AuditRow] = []
        earlier = resolution.competing if resolution is not None else ()
        # Records whose take in this request was a conflict: their later versions were built
        # on that take, so they are not stored over the held one (kept aside as well).
        conflicted: set[UUID] = set()
        for position, pushed in enumerate(records):
            key = (pushed.uuid, pushed.version)
            top = newest.get(pushed.uuid, 0)
            if pushed.version > top + 1 and pushed.uuid not in conflicted:
                raise VersionGap(position, top + 1)
            stamped = stamp(pushed, author, held.get((pushed.uuid, pushed.version - 1)),
                            earlier)
            record = stamped.record
            if key in held:
                state: Status = "unchanged" if held[key] == record.payload else "conflict"
            elif pushed.uuid in conflicted:
                state = "conflict"
            else:
                state = "stored"
                held[key] = record.payload
                newest[record.uuid] = record.version
                heads[record.uuid] = record
                action = ("resolved" if resolution is not None else
                          "signed_off" if record.version == 1 else "amended")
                versions.append({
                    "record_uuid": record.uuid, "version": record.version,
                    "payload": record.payload, "stored_at": now, "stored_by": by,
                    "author": author.username, "author_name": self._principal.name[:120],
                    "author_role": str(self._principal.role), "action": action,
                    "supersedes": list(resolution.ids) if resolution is not None else None,
                    "replaced": list(stamped.replaced) or None,
                })  # fmt: skip
                if stamped.replaced:
                    reattributed.append((record.uuid, record.version,
                                         ",".join(stamped.replaced)))
            if state == "conflict":
                conflicted.add(record.uuid)
                self.keep_competitor(record, now)
            results.append(Applied(record.uuid, record.version, state,
                                   newest[record.uuid] if state == "conflict" else None))
        if versions:
            insert_many(self._session.connection(), _VERSIONS, versions)
            # A record signed off has no draft any more, whoever kept one (issue 13).
            self._session.execute(sa.delete(CentralDraft).where(
                CentralDraft.record_uuid.in_({v["record_uuid"] for v in versions})))
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
        # Field names only: which attribution the body had wrong, never what it said.
        self.audit("reattributed", reattributed)
        return results

    def keep_competitor(self, record: Checked, now: datetime | None = None) -> int:
        """Keep a take of a version the store did not take (once per distinct content)."""
        c = CentralRecordCompetitor
        same = self._session.scalar(sa.select(c.id).where(
            c.record_uuid == record.uuid, c.version == record.version,
            c.payload == record.payload))  # fmt: skip
        if same is not None:
            return same
        row = CentralRecordCompetitor(
            record_uuid=record.uuid, version=record.version, payload=record.payload,
            pushed_at=now or utcnow(), pushed_by=self._principal.participant_id,
            author=self.author().username, author_name=self._principal.name[:120])
        self._session.add(row)
        self._session.flush()
        return row.id

    def resolve(self, record_uuid: UUID, supersedes_version: int,
                competing: Sequence[Checked], resolved: Checked) -> tuple[Applied, list[int]]:
        """Keep the desk's competing takes and store ``resolved`` (version
        ``supersedes_version + 1``) as superseding them and the held version; when the held
        version has moved on meanwhile, the takes are still kept and the answer is conflict."""
        newest = self._lock_latest([record_uuid])
        if record_uuid not in newest:
            raise NotHeld(record_uuid)
        author, now = self.author(), utcnow()
        ids: list[int] = []
        stamped: list[str] = []
        for take in competing:
            previous = self.get_payload(record_uuid, take.version - 1)
            fixed = stamp(take, author, previous).record
            stamped.append(fixed.payload)
            if self.get_payload(record_uuid, take.version) != fixed.payload:
                ids.append(self.keep_competitor(fixed, now))
        [applied] = self.apply_checked([resolved], resolution=Resolution(tuple(ids),
                                                                         tuple(stamped)))
        if applied.status == "stored":
            c = CentralRecordCompetitor
            self._session.execute(sa.update(c).where(c.id.in_(ids), c.resolved_by.is_(None))
                                  .values(resolved_by=applied.version))  # fmt: skip
        return applied, ids

    def get_payload(self, record_uuid: UUID, version: int) -> str | None:
        """A held version's JSON for the store's own decisions (not a read: no audit)."""
        v = CentralRecordVersion
        return self._session.scalar(
            sa.select(v.payload).where(v.record_uuid == record_uuid, v.version == version))

    def competitors(self, record_uuid: UUID) -> list[CompetitorOut]:
        """The record's competing takes, oldest first, audited as reads."""
        if not self._readable(record_uuid):
            return []
        c = CentralRecordCompetitor
        rows = self._session.scalars(sa.select(c).where(c.record_uuid == record_uuid)
                                     .order_by(c.id)).all()  # fmt: skip
        out = [CompetitorOut(id=r.id, version=r.version, pushed_at=r.pushed_at,
                             pushed_by=r.pushed_by, author=r.author, author_name=r.author_name,
                             resolved_by=r.resolved_by,
                             record=TriageRecord.model_validate_json(r.payload))
               for r in rows]  # fmt: skip
        self.audit("read", [(record_uuid, o.version, f"competitor {o.id}") for o in out])
        return out

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

    def versions(self, record_uuid: UUID) -> list[AuthoredVersionOut]:
        """Every held version, oldest first, with who wrote it as the hub saw them."""
        if not self._readable(record_uuid):
            return []
        v = CentralRecordVersion
        rows = self._session.scalars(
            sa.select(v).where(v.record_uuid == record_uuid).order_by(v.version)
        ).all()
        out = []
        for row in rows:
            record = json.loads(row.payload)
            out.append(AuthoredVersionOut(
                version=row.version, stored_at=row.stored_at, stored_by=row.stored_by,
                signed_off_at=record.get("signed_off_at"),
                signed_off_by=record.get("signed_off_by"),
                amendment_reason=record.get("amendment_reason"),
                author=row.author, author_name=row.author_name, author_role=row.author_role,
                action=row.action, supersedes=row.supersedes or [],
                replaced=row.replaced or [],
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


def _decided(session: Session, principal: Principal,
             decide: Callable[[CentralStore], T]) -> T:  # fmt: skip
    """Run ``decide`` in the session's transaction, deciding again on a lost race."""
    store = CentralStore(session, principal)
    if session.get_bind().dialect.name == "sqlite":
        # BEGIN IMMEDIATE (CentralStore._lock_latest): writers take turns, none loses a race.
        return decide(store)
    for attempt in range(_WRITE_RETRIES):
        try:
            # Each attempt in a savepoint: a lost race rolls back that attempt only.
            with session.begin_nested():
                return decide(store)
        except Exception as exc:
            # E.g. another request stored the first version of a new record between our read
            # and our insert; the rolled-back retry sees it and answers unchanged/conflict.
            if not _lost_race(exc) or attempt == _WRITE_RETRIES - 1:
                raise
            log.info("records write by %s lost a race; deciding again",
                     principal.participant_id)  # fmt: skip
    raise AssertionError("unreachable")


def write(session: Session, principal: Principal, records: Sequence[Checked]) -> list[Applied]:
    """Store checked versions in the session's transaction, deciding again on a lost race."""
    return _decided(session, principal, lambda store: store.apply_checked(records))


def resolve(session: Session, principal: Principal, record_uuid: UUID, supersedes_version: int,
            competing: Sequence[Checked], resolved: Checked) -> tuple[Applied, list[int]]:
    """:meth:`CentralStore.resolve` in the session's transaction, deciding again on a race."""
    return _decided(session, principal, lambda store: store.resolve(
        record_uuid, supersedes_version, competing, resolved))
