"""The desk's sync outboxes: signed-off versions and unsigned drafts on their way to the hub.

Repositories of the local store (records/store.py): they take a Session and never commit.
:class:`SyncOutbox` holds one row per signed-off version; :class:`DraftOutbox` one row per
draft whose latest content the hub should keep for its nurse (issue 13), coalesced: a draft
typed a hundred times is pushed once. records/sync.py drains both.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Session

from records.models import DraftOutboxRow, OutboxRow
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
    revision: int  # how many times the draft changed: a push settles only the one it read
    attempts: int


DRAFT_SETTLE = timedelta(seconds=2)


class DraftOutbox:
    """Drafts whose latest content the hub should keep for their nurse, one row a record."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def touch(self, record_uuid: UUID) -> None:
        """The draft changed: push its content (again) within DRAFT_SETTLE of the first
        change not yet pushed. Not at once: a draft is written at every keystroke, and most
        are signed off within minutes (then the version goes instead); the sync's writes
        would only contend with the nurse's for the store."""
        row = self._session.get(DraftOutboxRow, record_uuid)
        due = utc_now() + DRAFT_SETTLE
        if row is None:
            self._session.add(DraftOutboxRow(record_uuid=record_uuid, revision=1,
                                             pushed_revision=0, attempts=0,
                                             next_attempt_at=due))  # fmt: skip
        else:
            if row.revision == row.pushed_revision:  # nothing waiting: this change starts it
                row.next_attempt_at = due
            row.revision += 1

    def drop(self, record_uuid: UUID) -> None:
        """The draft is signed off (the hub drops its copy when the version lands)."""
        self._session.execute(sa.delete(DraftOutboxRow)
                              .where(DraftOutboxRow.record_uuid == record_uuid))  # fmt: skip

    def due(self, limit: int = 50, now: datetime | None = None) -> list[DraftEntry]:
        d = DraftOutboxRow
        rows = self._session.execute(
            sa.select(d.record_uuid, d.revision, d.attempts)
            .where(d.revision > d.pushed_revision, d.next_attempt_at <= (now or utc_now()))
            .order_by(d.next_attempt_at).limit(limit)).all()  # fmt: skip
        return [DraftEntry(u, r, a) for u, r, a in rows]

    def pushed(self, entries: Sequence[DraftEntry]) -> None:
        """The hub answered for these revisions (a later change is still to go)."""
        d = DraftOutboxRow
        for entry in entries:
            self._session.execute(
                sa.update(d).where(d.record_uuid == entry.record_uuid,
                                   d.pushed_revision < entry.revision)
                .values(pushed_revision=entry.revision, attempts=0))  # fmt: skip

    def postpone(self, entries: Sequence[DraftEntry], delay: timedelta) -> None:
        when = utc_now() + delay
        d = DraftOutboxRow
        for entry in entries:
            self._session.execute(sa.update(d).where(d.record_uuid == entry.record_uuid)
                                  .values(next_attempt_at=when, attempts=d.attempts + 1))

    def release(self, now: datetime | None = None) -> None:
        now = now or utc_now()
        d = DraftOutboxRow
        self._session.execute(sa.update(d).where(d.revision > d.pushed_revision,
                                                 d.next_attempt_at > now)
                              .values(next_attempt_at=now))  # fmt: skip

    def waiting(self) -> int:
        d = DraftOutboxRow
        return int(self._session.scalar(sa.select(sa.func.count()).select_from(d)
                                        .where(d.revision > d.pushed_revision)) or 0)
