"""The desk's sync outboxes: signed-off versions and unsigned drafts on their way to the hub.

Repositories of the local store (records/store.py): they take a Session and never commit.
:class:`SyncOutbox` holds one row per signed-off version; :class:`DraftOutbox` finds the
drafts whose latest content the hub should keep for their nurse (issue 13), coalesced: a
draft typed a hundred times is pushed once, and nothing is written while the nurse types.
records/sync.py drains both.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Session

from records.models import DraftOutboxRow, OutboxRow, TriageRecordRow
from records.schema import utc_now

__all__ = ["DraftEntry", "DraftOutbox", "OutboxEntry", "RecordNotFound", "SyncOutbox",
           "SyncState"]


class RecordNotFound(LookupError):
    """No record has that UUID (or no such version)."""


class SyncState(enum.StrEnum):
    """Where a signed-off version is on its way to the central store."""

    PENDING = "pending"
    SYNCED = "synced"
    CONFLICT = "conflict"  # the store holds a newer version; never overwritten
    FAILED = "failed"  # the store refused it as invalid; needs a person to look


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    id: int
    record_uuid: UUID
    version: int
    state: SyncState
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    held_version: int | None


class SyncOutbox:
    """Signed-off versions waiting for the central store, with their sync state."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def enqueue(self, record_uuid: UUID, version: int) -> None:
        now = utc_now()
        self._session.add(
            OutboxRow(
                record_uuid=record_uuid,
                version=version,
                state=SyncState.PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
        self._session.flush()

    def due(
        self, limit: int, now: datetime | None = None, *, after_id: int = 0
    ) -> list[OutboxEntry]:
        """Pending entries whose back-off has passed, oldest first (ids above ``after_id``).

        An entry waits while an earlier version of the same record is still pending, so the
        store never sees version 2 before version 1 (it would then refuse 1 as a conflict).
        ``after_id`` lets the sync read the next round while the one before is on the wire.
        """
        now = now or utc_now()
        earlier = sa.orm.aliased(OutboxRow)
        blocked = (
            sa.select(earlier.id)
            .where(
                earlier.record_uuid == OutboxRow.record_uuid,
                earlier.version < OutboxRow.version,
                earlier.state == SyncState.PENDING,
                earlier.next_attempt_at > now,
            )
            .exists()
        )
        o = OutboxRow
        # Columns, not ORM objects: a sync round reads 500 of them (ORM loading was most of
        # the desk's time per record while draining a backlog).
        rows = self._session.execute(
            sa.select(o.id, o.record_uuid, o.version, o.state, o.attempts, o.next_attempt_at,
                      o.last_error, o.held_version)
            .where(
                o.state == SyncState.PENDING,
                o.next_attempt_at <= now,
                o.id > after_id,
                ~blocked,
            )
            .order_by(o.id)
            .limit(limit)
        )  # fmt: skip
        return [OutboxEntry(i, u, v, SyncState(st), a, at, err, held)
                for i, u, v, st, a, at, err, held in rows]

    def mark(
        self,
        entry_id: int,
        state: SyncState,
        *,
        error: str | None = None,
        held_version: int | None = None,
    ) -> None:
        row = self._session.get(OutboxRow, entry_id)
        if row is None:
            raise RecordNotFound(f"no outbox entry {entry_id}")
        row.state = state
        row.attempts += 1
        row.last_error = error
        row.held_version = held_version
        if state is SyncState.SYNCED:
            row.synced_at = utc_now()

    def mark_many(
        self, marks: Sequence[tuple[int, SyncState, str | None, int | None]]
    ) -> None:
        """:meth:`mark` for many entries (id, state, error, held version) in one statement."""
        if not marks:
            return
        now = utc_now()
        t = cast(sa.Table, OutboxRow.__table__)
        self._session.execute(
            sa.update(t)
            .where(t.c.id == sa.bindparam("b_id"))
            .values(
                state=sa.bindparam("b_state"),
                attempts=t.c.attempts + 1,
                last_error=sa.bindparam("b_error"),
                held_version=sa.bindparam("b_held"),
                synced_at=sa.bindparam("b_synced"),
            ),
            [
                {"b_id": entry_id, "b_state": str(state), "b_error": error, "b_held": held,
                 "b_synced": now if state is SyncState.SYNCED else None}
                for entry_id, state, error, held in marks
            ],
        )  # fmt: skip

    def postpone(self, entry_ids: Sequence[int], delay: timedelta, error: str) -> None:
        """Leave entries pending and try them again after ``delay`` (the store was unreachable)."""
        when = utc_now() + delay
        for entry_id in entry_ids:
            row = self._session.get(OutboxRow, entry_id)
            if row is not None:
                row.attempts += 1
                row.next_attempt_at = when
                row.last_error = error

    def state(self, record_uuid: UUID) -> SyncState | None:
        """The sync state of the record's latest signed-off version; None while a draft."""
        row = self._session.scalar(
            sa.select(OutboxRow)
            .where(OutboxRow.record_uuid == record_uuid)
            .order_by(OutboxRow.version.desc())
            .limit(1)
        )
        return None if row is None else SyncState(row.state)

    def entries(self, state: SyncState | None = None) -> list[OutboxEntry]:
        query = sa.select(OutboxRow).order_by(OutboxRow.id)
        if state is not None:
            query = query.where(OutboxRow.state == state)
        return [_entry(row) for row in self._session.scalars(query)]

    def counts(self) -> dict[SyncState, int]:
        result = dict.fromkeys(SyncState, 0)
        for state, count in self._session.execute(
            sa.select(OutboxRow.state, sa.func.count()).group_by(OutboxRow.state)
        ):
            result[SyncState(state)] = count
        return result


    def release(self, now: datetime | None = None) -> int:
        """Every pending entry due now, whatever its back-off: the hub is back (issue 13:
        what was signed off during an outage goes at once, not on its own back-off)."""
        now = now or utc_now()
        o = OutboxRow
        done = self._session.execute(
            sa.update(o).where(o.state == SyncState.PENDING, o.next_attempt_at > now)
            .values(next_attempt_at=now))  # fmt: skip
        return int(done.rowcount or 0)  # type: ignore[attr-defined]

    def hold_followers(self, conflicts: Sequence[tuple[UUID, int]]) -> None:
        """Later pending versions of records whose version (uuid, n) is in conflict: in
        conflict too, never pushed. They were built on a take the hub did not hold, so
        stored after the hub's version they would hide it; the nurse resolves instead."""
        o = OutboxRow
        for record_uuid, version in conflicts:
            self._session.execute(
                sa.update(o).where(o.record_uuid == record_uuid, o.version > version,
                                   o.state == SyncState.PENDING)
                .values(state=SyncState.CONFLICT, attempts=o.attempts + 1,
                        last_error="follows a version in conflict"))  # fmt: skip

    def unsettled(self, record_uuid: UUID) -> list[OutboxEntry]:
        """The record's entries not yet synced (pending, conflict or failed), in order."""
        o = OutboxRow
        return [_entry(row) for row in self._session.scalars(
            sa.select(o).where(o.record_uuid == record_uuid, o.state != SyncState.SYNCED)
            .order_by(o.version))]  # fmt: skip

    def remove(self, entry_ids: Sequence[int]) -> None:
        """Drop entries whose versions were moved aside (a resolution carries them)."""
        if entry_ids:
            self._session.execute(sa.delete(OutboxRow).where(OutboxRow.id.in_(entry_ids)))


def _entry(row: OutboxRow) -> OutboxEntry:
    return OutboxEntry(
        id=row.id,
        record_uuid=row.record_uuid,
        version=row.version,
        state=SyncState(row.state),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        held_version=row.held_version,
    )


@dataclass(frozen=True, slots=True)
class DraftEntry:
    record_uuid: UUID
    updated_at: datetime  # the draft's content to push: its last change
    attempts: int


DRAFT_SETTLE = timedelta(seconds=2)


class DraftOutbox:
    """Drafts whose latest content the hub should keep for their nurse.

    Nothing is written while the nurse types: a draft is due when it changed after the
    content last pushed (``draft_outbox.pushed_at``) and has rested DRAFT_SETTLE since (a
    draft is written at every keystroke, and most are signed off within minutes: then the
    version goes instead). Only the sync writes here, after the hub answered.
    """

    def __init__(self, session: Session) -> None:
        self._session = session

    def due(self, limit: int = 50, now: datetime | None = None) -> list[DraftEntry]:
        now = now or utc_now()
        r, d = TriageRecordRow, DraftOutboxRow
        rows = self._session.execute(
            sa.select(r.uuid, r.updated_at, sa.func.coalesce(d.attempts, 0))
            .outerjoin(d, d.record_uuid == r.uuid)
            .where(r.status == "draft", r.updated_at <= now - DRAFT_SETTLE,
                   sa.or_(d.record_uuid.is_(None),
                          sa.and_(d.pushed_at < r.updated_at, d.next_attempt_at <= now)))
            .order_by(r.updated_at).limit(limit)).all()  # fmt: skip
        return [DraftEntry(u, at, n) for u, at, n in rows]

    def _upsert(self, record_uuid: UUID, **values: object) -> None:
        t = cast(sa.Table, DraftOutboxRow.__table__)
        changed = self._session.execute(sa.update(t).where(t.c.record_uuid == record_uuid)
                                        .values(**values))  # fmt: skip
        if not changed.rowcount:  # type: ignore[attr-defined]
            row = {"pushed_at": _NEVER, "attempts": 0, "next_attempt_at": utc_now(), **values}
            self._session.execute(sa.insert(t).values(record_uuid=record_uuid, **row))

    def pushed(self, entries: Sequence[DraftEntry]) -> None:
        """The hub answered for these drafts' content (a later change is still to go)."""
        for entry in entries:
            self._upsert(entry.record_uuid, pushed_at=entry.updated_at, attempts=0)

    def postpone(self, entries: Sequence[DraftEntry], delay: timedelta) -> None:
        when = utc_now() + delay
        for entry in entries:
            self._upsert(entry.record_uuid, next_attempt_at=when, attempts=entry.attempts + 1)

    def release(self, now: datetime | None = None) -> None:
        d = DraftOutboxRow
        self._session.execute(sa.update(d).where(d.next_attempt_at > (now or utc_now()))
                              .values(next_attempt_at=now or utc_now()))  # fmt: skip

    def drop(self, record_uuid: UUID) -> None:
        """Forget what was pushed of a draft (it is signed off, or moved aside)."""
        self._session.execute(sa.delete(DraftOutboxRow)
                              .where(DraftOutboxRow.record_uuid == record_uuid))  # fmt: skip


_NEVER = datetime(1970, 1, 1, tzinfo=UTC)
