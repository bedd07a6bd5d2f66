"""The desk's local store: engine setup, Alembic upgrade, units of work and the repositories.

Repositories take a :class:`~sqlalchemy.orm.Session` and never commit; :meth:`Store.unit_of_work`
commits once per user action (rolls back on error), so "saved" means committed. Everything
they return is a frozen :mod:`records.schema` model or dataclass, never a live ORM object.

SQLite runs in WAL mode with ``synchronous=FULL``: NORMAL would be faster, but in WAL mode it
can lose the last committed transactions on power loss, and the desk shows "Saved" only for
what will survive that (DESIGN.md: data that must never be lost).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from records import codes
from records.data_home import private_database
from records.models import (
    AuditEventRow,
    OutboxRow,
    PatientRow,
    TriageRecordRow,
    TriageVersionRow,
)
from records.schema import (
    AvoidedFlags,
    FollowUp,
    News2Result,
    ObservationSet,
    Patient,
    SbardNotes,
    TriageRecord,
    utc_now,
)

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "ALEMBIC_VERSION_TABLE",
    "AuditAction",
    "AuditEvent",
    "AuditLog",
    "OutboxEntry",
    "Patients",
    "RecordClosed",
    "RecordNotFound",
    "RecordSummary",
    "Store",
    "SyncOutbox",
    "SyncState",
    "TriageRecords",
    "alembic_config",
    "create_engine",
]

# Its own version table, so records and hub migrations can share one database.
ALEMBIC_VERSION_TABLE = "records_alembic_version"


class RecordNotFound(LookupError):
    """No record has that UUID (or no such version)."""


class RecordClosed(RuntimeError):
    """The record is signed off: a change must be an amendment with a reason."""


class AuditAction(enum.StrEnum):
    CREATED = "created"
    READ = "read"
    CHANGED = "changed"
    SIGNED_OFF = "signed_off"
    AMENDED = "amended"
    EXPORTED = "exported"


class SyncState(enum.StrEnum):
    """Where a signed-off version is on its way to the central store."""

    PENDING = "pending"
    SYNCED = "synced"
    CONFLICT = "conflict"  # the store holds a newer version; never overwritten
    FAILED = "failed"  # the store refused it as invalid; needs a person to look


@dataclass(frozen=True, slots=True)
class AuditEvent:
    at: datetime
    actor: str
    action: AuditAction
    record_uuid: UUID | None
    version: int | None
    detail: str | None


@dataclass(frozen=True, slots=True)
class RecordSummary:
    """One record as a history list shows it: its latest version and where its sync is."""

    uuid: UUID
    version: int
    status: str
    updated_at: datetime
    call_at: datetime  # when the call was made (requested; else answered; else last change)
    site_id: str
    setting: str
    patient: str
    nhs_number: str | None
    problem: str
    news2_total: int | None
    news2_band: str | None
    news2_complete: bool | None
    outcome: str | None
    sync: SyncState | None  # of the latest version queued (None: never signed off)


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


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # why FULL: see the module docstring
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")  # the sync thread writes too
    finally:
        cursor.close()


def create_engine(url: str | sa.URL, **kwargs: Any) -> sa.Engine:
    """An engine for the local store; on SQLite, WAL and FULL sync are set at every connect.

    SQL parameters are hidden from error messages: they hold patient data, and errors get logged.
    An SQLite file (the hub's and every desk's and station's) is made private first: its
    folder ``0700``, the file and its -wal/-shm ``0600`` (``records.data_home``).
    """
    engine = sa.create_engine(url, **{"hide_parameters": True, **kwargs})
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            private_database(Path(database))
        sa.event.listen(engine, "connect", _set_sqlite_pragmas)
    return engine


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """Alembic configuration for records/migrations, built in code (no ini file to ship)."""
    # Alembic is imported when a store is opened, not with this module: the desk imports
    # records.store before its window shows, and alembic (with the dialects it loads) is
    # ~0.2 s of that start.
    from alembic.config import Config

    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("records").joinpath("migrations"))
    )
    config.attributes["connection"] = connection
    return config


class Store:
    """The local store: give it an engine, upgrade it, then open a unit of work per action."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str | sa.URL, *, upgrade: bool = True) -> Store:
        store = cls(create_engine(url))
        if upgrade:
            store.upgrade()
        return store

    def upgrade(self, revision: str = "head") -> None:
        from alembic import command

        with self.engine.begin() as connection:
            command.upgrade(alembic_config(connection), revision)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        """One user action: commits on success, rolls back on error, always closes
        (SQLAlchemy's ``sessionmaker.begin()`` does all three)."""
        with self._sessions.begin() as session:
            yield UnitOfWork(session)


class UnitOfWork:
    """The repositories of one transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.audit = AuditLog(session)
        self.patients = Patients(session)
        self.outbox = SyncOutbox(session)
        self.records = TriageRecords(session, self.audit, self.patients, self.outbox)


class AuditLog:
    def __init__(self, session: Session) -> None:
        self._session = session

    def add(
        self,
        actor: str,
        action: AuditAction,
        record_uuid: UUID | None = None,
        version: int | None = None,
        detail: str | None = None,
    ) -> None:
        """Record an event; ``detail`` must hold no patient data (identifiers and counts only)."""
        self._session.add(
            AuditEventRow(
                at=utc_now(),
                actor=actor,
                action=str(action),
                record_uuid=record_uuid,
                version=version,
                detail=detail,
            )
        )

    def events(self, record_uuid: UUID | None = None) -> list[AuditEvent]:
        query = sa.select(AuditEventRow).order_by(AuditEventRow.id)
        if record_uuid is not None:
            query = query.where(AuditEventRow.record_uuid == record_uuid)
        return [
            AuditEvent(
                row.at,
                row.actor,
                AuditAction(row.action),
                row.record_uuid,
                row.version,
                row.detail,
            )
            for row in self._session.scalars(query)
        ]


class Patients:
    def __init__(self, session: Session) -> None:
        self._session = session

    def save(self, patient: Patient) -> Patient:
        """Insert or update the patient (keyed by ``patient.id``)."""
        patient = Patient.model_validate(patient.model_dump())  # model_copy skips validation
        row = self._session.get(PatientRow, patient.id) or PatientRow(id=patient.id)
        for name in Patient.model_fields:
            if name != "id":
                setattr(row, name, getattr(patient, name))
        row.updated_at = utc_now()
        self._session.add(row)
        self._session.flush()  # surfaces a duplicate NHS number here, not at commit
        return patient

    def get(self, patient_id: UUID) -> Patient:
        row = self._session.get(PatientRow, patient_id)
        if row is None:
            raise RecordNotFound(f"no patient {patient_id}")
        return _patient_value(row)

    def by_nhs_number(self, number: str) -> Patient | None:
        from records.nhs_number import normalise

        row = self._session.scalar(
            sa.select(PatientRow).where(PatientRow.nhs_number == normalise(number))
        )
        return None if row is None else _patient_value(row)


def _patient_value(row: PatientRow) -> Patient:
    return Patient.model_validate({name: getattr(row, name) for name in Patient.model_fields})


_SBARD = ("situation", "background", "assessment", "recommendation", "decision")
_OBSERVATIONS = ("respiration_rate", "spo2", "on_oxygen", "systolic_bp", "pulse")
_AVOIDED = ("admission", "ae_attendance", "prison_transfer", "gp_visit")
_PLAIN = (
    "version",
    "status",
    "call_id",
    "requested_at",
    "answered_at",
    "ended_at",
    "site_id",
    "setting",
    "presenting_problem",
    "intended_action",
    "outcome",
    "referral_target",
    "nurse",
    "specialist",
    "signed_off_at",
    "signed_off_by",
    "amendment_reason",
    "updated_at",
)


def _write_row(row: TriageRecordRow, record: TriageRecord) -> None:
    for name in _PLAIN:
        setattr(row, name, getattr(record, name))
    row.patient_id = None if record.patient is None else record.patient.id
    obs = record.observations
    for name in (*_OBSERVATIONS, "consciousness", "temperature"):
        setattr(row, name, None if obs is None else getattr(obs, name))
    row.spo2_scale = None if obs is None else obs.scale
    result = record.news2
    row.news2_subscores = None if result is None else dict(result.subscores)
    row.news2_total = None if result is None else result.total
    row.news2_band = None if result is None else result.band
    row.news2_complete = None if result is None else result.complete
    row.soft_signs = {"signs": list(record.soft_signs)}
    for name in _SBARD:
        setattr(row, f"sbard_{name}", getattr(record.sbard, name))
    for name in _AVOIDED:
        setattr(row, f"{name}_avoided", getattr(record.avoided, name))
    row.avoided_confirmed_by = record.avoided.confirmed_by
    row.avoided_confirmed_at = record.avoided.confirmed_at
    row.follow_ups = {"checks": [f.model_dump(mode="json") for f in record.follow_ups]}


def _read_row(row: TriageRecordRow) -> TriageRecord:
    data: dict[str, Any] = {name: getattr(row, name) for name in _PLAIN}
    data["uuid"] = row.uuid
    data["patient"] = None if row.patient is None else _patient_value(row.patient)
    if row.spo2_scale is not None:
        data["observations"] = ObservationSet(
            **{name: getattr(row, name) for name in (*_OBSERVATIONS, "temperature")},
            consciousness=row.consciousness,
            scale=row.spo2_scale,
        )
        data["news2"] = News2Result(
            subscores=row.news2_subscores or {},
            total=row.news2_total or 0,
            complete=bool(row.news2_complete),
            band=row.news2_band,
        )
    data["soft_signs"] = tuple(row.soft_signs["signs"])
    data["sbard"] = SbardNotes(**{name: getattr(row, f"sbard_{name}") for name in _SBARD})
    data["avoided"] = AvoidedFlags(
        **{name: getattr(row, f"{name}_avoided") for name in _AVOIDED},
        confirmed_by=row.avoided_confirmed_by,
        confirmed_at=row.avoided_confirmed_at,
    )
    data["follow_ups"] = tuple(FollowUp.model_validate(f) for f in row.follow_ups["checks"])
    return TriageRecord.model_validate(data)


class TriageRecords:
    """Drafts, sign-off, amendments and history of triage records."""

    def __init__(
        self, session: Session, audit: AuditLog, patients: Patients, outbox: SyncOutbox
    ) -> None:
        self._session = session
        self._audit = audit
        self._patients = patients
        self._outbox = outbox

    def _row(self, record_uuid: UUID) -> TriageRecordRow:
        row = self._session.get(TriageRecordRow, record_uuid)
        if row is None:
            raise RecordNotFound(f"no triage record {record_uuid}")
        return row

    def save_draft(self, record: TriageRecord, actor: str) -> TriageRecord:
        """Write the draft as typed (one row update); refused once the record is signed off."""
        # Re-validate: callers build drafts with model_copy(update=...), which skips validation
        # and would leave NEWS2 stale.
        data = record.model_dump(exclude={"news2", "updated_at"})
        record = TriageRecord.model_validate({**data, "updated_at": utc_now()})
        if record.status != "draft":
            raise RecordClosed("save_draft takes drafts; use sign_off or amend")
        if record.version != 1:
            raise RecordClosed("a draft is always version 1; later versions are amendments")
        if record.patient is not None:
            self._patients.save(record.patient)
        row = self._session.get(TriageRecordRow, record.uuid)
        if row is None:
            row = TriageRecordRow(uuid=record.uuid, created_at=record.updated_at)
            _write_row(row, record)
            self._session.add(row)
            self._audit.add(actor, AuditAction.CREATED, record.uuid, record.version)
        elif row.status != "draft":
            raise RecordClosed(f"record {record.uuid} is signed off; amend it with a reason")
        else:
            _write_row(row, record)
            self._audit.add(actor, AuditAction.CHANGED, record.uuid, record.version)
        self._session.flush()
        return record

    def get(self, record_uuid: UUID, actor: str) -> TriageRecord:
        """The record's working copy (audited as a read)."""
        row = self._row(record_uuid)
        self._audit.add(actor, AuditAction.READ, record_uuid, row.version)
        return _read_row(row)

    def sign_off(self, record_uuid: UUID, actor: str) -> TriageRecord:
        """Close the draft as version 1 and queue it for sync."""
        row = self._row(record_uuid)
        if row.status != "draft":
            raise RecordClosed(f"record {record_uuid} is already signed off")
        now = utc_now()
        data = _read_row(row).model_dump(exclude={"news2"})
        signed = TriageRecord.model_validate(
            {
                **data,
                "status": "signed_off",
                "signed_off_at": now,
                "signed_off_by": actor,
                "updated_at": now,
            }
        )
        self._close(row, signed, actor, AuditAction.SIGNED_OFF)
        return signed

    def amend(self, record: TriageRecord, reason: str, actor: str) -> TriageRecord:
        """Sign ``record``'s changes as the next version, keeping every earlier one."""
        if not reason.strip():
            raise ValueError("an amendment needs a reason")
        row = self._row(record.uuid)
        if row.status != "signed_off":
            raise RecordClosed("a draft is changed with save_draft, not amended")
        if record.version != row.version:
            raise RecordClosed(
                f"record {record.uuid} was amended meanwhile (now version {row.version})"
            )
        now = utc_now()
        data = record.model_dump(exclude={"news2"})
        amended = TriageRecord.model_validate(
            {
                **data,
                "version": row.version + 1,
                "status": "signed_off",
                "signed_off_at": now,
                "signed_off_by": actor,
                "amendment_reason": reason,
                "updated_at": now,
            }
        )
        if amended.patient is not None:
            self._patients.save(amended.patient)
        self._close(row, amended, actor, AuditAction.AMENDED)
        return amended

    def record_follow_up(self, record_uuid: UUID, follow_up: FollowUp, actor: str) -> TriageRecord:
        """Add a 72-hour or 7-day check: an amendment, since it confirms or withdraws a claim."""
        current = _read_row(self._row(record_uuid))
        reason = f"follow-up {follow_up.window}: claim " + (
            "withdrawn" if follow_up.claim_withdrawn else "confirmed"
        )
        changed = current.model_copy(update={"follow_ups": (*current.follow_ups, follow_up)})
        return self.amend(changed, reason, actor)

    def adopt(self, record: TriageRecord, actor: str) -> bool:
        """Take the hub's current signed-off version as this desk's copy, so an amendment or
        a follow-up made here starts from it (issue 13: any nurse finishes what another
        started). Kept as synced: it came from the store. Nothing changes when this desk
        holds that version or a later one already (its own, perhaps not synced yet); returns
        whether it was adopted."""
        if record.status != "signed_off":
            raise RecordClosed("only a signed-off version is adopted")
        row = self._session.get(TriageRecordRow, record.uuid)
        if row is not None and row.version >= record.version:
            return False
        patient = record.patient
        if patient is not None:
            known = (self._patients.by_nhs_number(patient.nhs_number)
                     if patient.nhs_number else None)
            if known is not None and known.id != patient.id:
                # The same person has a row here already: use it, never a duplicate.
                patient = patient.model_copy(update={"id": known.id})
                record = record.model_copy(update={"patient": patient})
            self._patients.save(patient)
        if row is None:
            row = TriageRecordRow(uuid=record.uuid, created_at=record.updated_at)
            self._session.add(row)
        _write_row(row, record)
        assert record.signed_off_at is not None and record.signed_off_by is not None
        self._session.add(TriageVersionRow(
            record_uuid=record.uuid, version=record.version, payload=record.model_dump_json(),
            signed_off_at=record.signed_off_at, signed_off_by=record.signed_off_by,
            amendment_reason=record.amendment_reason))
        self._session.flush()
        self._outbox.enqueue(record.uuid, record.version)
        self._outbox.mark_adopted(record.uuid, record.version)
        self._audit.add(actor, AuditAction.READ, record.uuid, record.version, "adopted")
        return True

    def _close(
        self, row: TriageRecordRow, record: TriageRecord, actor: str, action: AuditAction
    ) -> None:
        if record.outcome is not None:
            codes.outcomes().require(record.outcome)
        _write_row(row, record)
        assert record.signed_off_at is not None and record.signed_off_by is not None
        self._session.add(
            TriageVersionRow(
                record_uuid=record.uuid,
                version=record.version,
                payload=record.model_dump_json(),
                signed_off_at=record.signed_off_at,
                signed_off_by=record.signed_off_by,
                amendment_reason=record.amendment_reason,
            )
        )
        self._session.flush()
        self._outbox.enqueue(record.uuid, record.version)
        self._audit.add(actor, action, record.uuid, record.version)

    def history(self, record_uuid: UUID, actor: str) -> list[TriageRecord]:
        """Every signed-off version, oldest first (audited as a read)."""
        rows = self._session.scalars(
            sa.select(TriageVersionRow)
            .where(TriageVersionRow.record_uuid == record_uuid)
            .order_by(TriageVersionRow.version)
        ).all()
        if not rows and self._session.get(TriageRecordRow, record_uuid) is None:
            raise RecordNotFound(f"no triage record {record_uuid}")
        self._audit.add(actor, AuditAction.READ, record_uuid, detail="history")
        return [TriageRecord.model_validate_json(row.payload) for row in rows]

    def version_payload(self, record_uuid: UUID, version: int) -> str:
        """The signed-off version's wire JSON exactly as it was signed (no audit: sync use)."""
        row = self._session.get(TriageVersionRow, (record_uuid, version))
        if row is None:
            raise RecordNotFound(f"no version {version} of record {record_uuid}")
        return row.payload

    def version_payloads(self, keys: Sequence[tuple[UUID, int]]) -> list[str]:
        """Many signed-off versions' wire JSON in one query, in the order of ``keys``."""
        if not keys:
            return []
        v = TriageVersionRow
        found = {
            (u, n): payload
            for u, n, payload in self._session.execute(
                # Not a row-value IN over (uuid, version): SQLite answers that by scanning
                # every version ever stored, each round. IN on the key's first column is a
                # search of the primary key; a few other versions may come back, unused.
                sa.select(v.record_uuid, v.version, v.payload).where(
                    v.record_uuid.in_({u for u, _ in keys}),
                    v.version.in_({n for _, n in keys}),
                )
            )
        }
        missing = [key for key in keys if key not in found]
        if missing:
            raise RecordNotFound(f"no version {missing[0][1]} of record {missing[0][0]}")
        return [found[key] for key in keys]

    def uuids(self) -> list[UUID]:
        return list(self._session.scalars(sa.select(TriageRecordRow.uuid)))

    def search(
        self,
        text: str = "",
        *,
        status: str | None = None,
        sync: SyncState | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 500,
    ) -> list[RecordSummary]:
        """Records for a history list, most recently changed first, in one statement.

        ``text`` matches the site, the problem, the patient's name and the outcome (case
        aside) and the NHS number (spaces and dashes aside); ``status`` is ``draft`` or
        ``signed_off``; ``sync`` the state of the latest version queued; ``since`` (included)
        and ``until`` (excluded) bound when the call was made. A read: nothing is audited.
        """
        r, pt, ob = TriageRecordRow, PatientRow, OutboxRow
        latest = (sa.select(ob.record_uuid, sa.func.max(ob.version).label("v"))
                  .group_by(ob.record_uuid).subquery())
        state = (sa.select(ob.record_uuid, ob.state)
                 .join(latest, sa.and_(ob.record_uuid == latest.c.record_uuid,
                                       ob.version == latest.c.v)).subquery())
        call_at = sa.func.coalesce(r.requested_at, r.answered_at, r.updated_at)
        query = (sa.select(r.uuid, r.version, r.status, r.updated_at, call_at, r.site_id,
                           r.setting, pt.name, pt.nhs_number, r.presenting_problem,
                           r.news2_total, r.news2_band, r.news2_complete, r.outcome,
                           state.c.state)
                 .outerjoin(pt, r.patient_id == pt.id)
                 .outerjoin(state, state.c.record_uuid == r.uuid)
                 .order_by(r.updated_at.desc(), r.uuid).limit(limit))
        if status:
            query = query.where(r.status == status)
        if sync is not None:
            query = query.where(state.c.state == sync.value)
        if since is not None:
            query = query.where(call_at >= since)
        if until is not None:
            query = query.where(call_at < until)
        words = text.strip()
        if words:
            like = "%" + _escape_like(words) + "%"
            matches = [column.ilike(like, escape="\\") for column in (
                r.site_id, r.presenting_problem, pt.name, r.outcome)]
            digits = "".join(ch for ch in words if ch not in " -")
            if digits.isdigit():
                matches.append(pt.nhs_number.like(f"%{digits}%"))
            query = query.where(sa.or_(*matches))
        return [RecordSummary(row[0], row[1], row[2], row[3], row[4], row[5], row[6],
                              row[7] or "", row[8], row[9], row[10], row[11], row[12], row[13],
                              SyncState(row[14]) if row[14] else None)
                for row in self._session.execute(query).all()]


def _escape_like(text: str) -> str:
    """``text`` matched literally by LIKE: a typed % or _ is not a wildcard."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


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

    def mark_adopted(self, record_uuid: UUID, version: int) -> None:
        """The version came from the central store: synced from the start, never pushed."""
        now = utc_now()
        self._session.execute(
            sa.update(OutboxRow)
            .where(OutboxRow.record_uuid == record_uuid, OutboxRow.version == version)
            .values(state=SyncState.SYNCED, synced_at=now)
        )

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
