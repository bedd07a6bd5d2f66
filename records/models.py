"""SQLAlchemy models of the desk's local store: patients, records, versions, audit, outbox."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "AuditEventRow",
    "Base",
    "OutboxRow",
    "PatientRow",
    "TriageRecordRow",
    "TriageVersionRow",
    "UtcDateTime",
    "WoundPhotoRow",
]


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no offset, so store naive UTC)."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError("naive datetime given to the store; use an aware UTC time")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    """The one declarative base of the records package (the hub has its own)."""

    metadata = sa.MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        dict[str, Any]: sa.JSON(),
    }


class PatientRow(Base):
    __tablename__ = "patients"

    id: Mapped[UUID] = mapped_column(sa.Uuid, primary_key=True)
    nhs_number: Mapped[str | None] = mapped_column(sa.String(10), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    date_of_birth: Mapped[date | None] = mapped_column(sa.Date)
    site_id: Mapped[str | None] = mapped_column(sa.String(200))
    dnacpr: Mapped[bool | None] = mapped_column(sa.Boolean)
    respect_plan: Mapped[str | None] = mapped_column(sa.Text)
    usual_news2: Mapped[int | None] = mapped_column(sa.SmallInteger)
    updated_at: Mapped[datetime]

    records: Mapped[list[TriageRecordRow]] = relationship(back_populates="patient")


class TriageRecordRow(Base):
    """The working copy of a record: the draft as typed, or its latest signed-off version."""

    __tablename__ = "triage_records"

    uuid: Mapped[UUID] = mapped_column(sa.Uuid, primary_key=True)
    version: Mapped[int]
    status: Mapped[str] = mapped_column(sa.String(16))
    call_id: Mapped[str | None] = mapped_column(sa.String(200), index=True)
    requested_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    site_id: Mapped[str] = mapped_column(sa.String(200), index=True)
    setting: Mapped[str] = mapped_column(sa.String(32))
    patient_id: Mapped[UUID | None] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    presenting_problem: Mapped[str] = mapped_column(sa.Text)
    # Observations as typed (None: not taken) and the NEWS2 computed from them.
    respiration_rate: Mapped[float | None]
    spo2: Mapped[float | None]
    on_oxygen: Mapped[bool | None]
    systolic_bp: Mapped[float | None]
    pulse: Mapped[float | None]
    consciousness: Mapped[str | None] = mapped_column(sa.String(1))
    temperature: Mapped[float | None]
    spo2_scale: Mapped[int | None] = mapped_column(sa.SmallInteger)
    news2_subscores: Mapped[dict[str, Any] | None]
    news2_total: Mapped[int | None] = mapped_column(sa.SmallInteger)
    news2_band: Mapped[str | None] = mapped_column(sa.String(16))
    news2_complete: Mapped[bool | None]
    soft_signs: Mapped[dict[str, Any]]  # {"signs": [...]}: JSON on every backend
    sbard_situation: Mapped[str] = mapped_column(sa.Text)
    sbard_background: Mapped[str] = mapped_column(sa.Text)
    sbard_assessment: Mapped[str] = mapped_column(sa.Text)
    sbard_recommendation: Mapped[str] = mapped_column(sa.Text)
    sbard_decision: Mapped[str] = mapped_column(sa.Text)
    intended_action: Mapped[str | None] = mapped_column(sa.String(32))
    outcome: Mapped[str | None] = mapped_column(sa.String(64))
    referral_target: Mapped[str | None] = mapped_column(sa.String(64))
    nurse: Mapped[str] = mapped_column(sa.String(200))
    specialist: Mapped[str | None] = mapped_column(sa.String(200))
    admission_avoided: Mapped[bool]
    ae_attendance_avoided: Mapped[bool]
    prison_transfer_avoided: Mapped[bool]
    gp_visit_avoided: Mapped[bool]
    avoided_confirmed_by: Mapped[str | None] = mapped_column(sa.String(200))
    avoided_confirmed_at: Mapped[datetime | None]
    follow_ups: Mapped[dict[str, Any]]  # {"checks": [FollowUp...]}
    signed_off_at: Mapped[datetime | None]
    signed_off_by: Mapped[str | None] = mapped_column(sa.String(200))
    amendment_reason: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    patient: Mapped[PatientRow | None] = relationship(back_populates="records")

    __table_args__ = (
        sa.CheckConstraint("status IN ('draft', 'signed_off')", name="status"),
        sa.CheckConstraint("version >= 1", name="version"),
    )


class TriageVersionRow(Base):
    """An immutable signed-off version: the exact wire form that was signed and synced."""

    __tablename__ = "triage_record_versions"

    record_uuid: Mapped[UUID] = mapped_column(
        sa.ForeignKey("triage_records.uuid"), primary_key=True
    )
    version: Mapped[int] = mapped_column(primary_key=True)
    payload: Mapped[str] = mapped_column(sa.Text)  # TriageRecord JSON, byte-stable for sync
    signed_off_at: Mapped[datetime]
    signed_off_by: Mapped[str] = mapped_column(sa.String(200))
    amendment_reason: Mapped[str | None] = mapped_column(sa.Text)


class AuditEventRow(Base):
    """Who did what to which record, when. Holds no patient data, only identifiers."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)  # fmt: skip
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(sa.String(200))
    action: Mapped[str] = mapped_column(sa.String(32))
    record_uuid: Mapped[UUID | None] = mapped_column(sa.Uuid, index=True)
    version: Mapped[int | None]
    detail: Mapped[str | None] = mapped_column(sa.String(500))


class OutboxRow(Base):
    """SyncOutbox: one row per signed-off version to push to the central store."""

    __tablename__ = "sync_outbox"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)  # fmt: skip
    record_uuid: Mapped[UUID] = mapped_column(sa.Uuid)
    version: Mapped[int]
    state: Mapped[str] = mapped_column(sa.String(16))
    attempts: Mapped[int]
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    held_version: Mapped[int | None]
    created_at: Mapped[datetime]
    synced_at: Mapped[datetime | None]

    __table_args__ = (
        sa.UniqueConstraint("record_uuid", "version", name="uq_sync_outbox_record_version"),
        sa.ForeignKeyConstraint(
            ["record_uuid", "version"],
            ["triage_record_versions.record_uuid", "triage_record_versions.version"],
        ),
        sa.CheckConstraint("state IN ('pending', 'synced', 'conflict', 'failed')", name="state"),
        # Rounds read pending entries in id order (see migration 0002).
        sa.Index("ix_sync_outbox_pending", "state", "id"),
    )


class WoundPhotoRow(Base):
    """A photo the desk holds (records/photos.py): kept as it arrived, so a desk that goes
    offline still shows it and still attaches it; its attachment waits here for sync."""

    __tablename__ = "wound_photos"

    photo_id: Mapped[UUID] = mapped_column(sa.Uuid, primary_key=True)
    call_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    request_id: Mapped[str] = mapped_column(sa.String(64))
    content_type: Mapped[str] = mapped_column(sa.String(16))
    width: Mapped[int]
    height: Mapped[int]
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)
    consent: Mapped[str] = mapped_column(sa.String(16))
    consent_by_name: Mapped[str] = mapped_column(sa.String(120))
    taken_at: Mapped[datetime]
    received_at: Mapped[datetime]
    record_uuid: Mapped[UUID | None] = mapped_column(sa.Uuid, index=True)
    attached_at: Mapped[datetime | None]
    # None until attached; then pending -> synced, or failed (the hub refused it for good)
    sync_state: Mapped[str | None] = mapped_column(sa.String(16))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.String(200))
