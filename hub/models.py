"""The hub's tables: staff, sites, bearer tokens, the call log, and the central record store."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.db import Base, UTCDateTime
from hub.reporting.tables import rollup_tables
from records.avoided_log import CENTRAL_VERSIONS, log_table


class Staff(Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Site(Base):
    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    # SHA-256 of a 256-bit random credential: a slow KDF adds nothing for a secret that
    # cannot be guessed, and it keeps 300 sites signing in at once cheap.
    credential_hash: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set once when an administrator retires the site: it never signs in again, and its name
    # stays taken so the call log's history keeps pointing at one site.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuthToken(Base):
    """A bearer token; only its SHA-256 is stored, so a copy of the database grants nothing."""

    __tablename__ = "auth_tokens"
    # Revoking every token of one account (disabled, password reset, credential rotated).
    __table_args__ = (Index("ix_auth_tokens_principal", "principal_kind", "principal_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    principal_kind: Mapped[str] = mapped_column(String(8))
    principal_id: Mapped[int] = mapped_column(Integer)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class Call(Base):
    """One call from request to end: the call log, and the queue's durable copy."""

    __tablename__ = "calls"
    __table_args__ = (Index("ix_calls_state_requested", "state", "requested_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    request_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    urgency: Mapped[str] = mapped_column(String(16))
    intended_action: Mapped[str | None] = mapped_column(String(16))
    observations: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    patient: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    soft_signs: Mapped[list[str] | None] = mapped_column(JSON)
    news2_total: Mapped[int | None] = mapped_column(Integer)
    news2_band: Mapped[str | None] = mapped_column(String(16))
    news2_complete: Mapped[bool | None] = mapped_column(Boolean)
    # waiting -> connected -> ended; a call whose desk is lost goes back to waiting.
    state: Mapped[str] = mapped_column(String(16))
    requeued: Mapped[bool] = mapped_column(Boolean, default=False)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(16))
    ended_by: Mapped[str | None] = mapped_column(String(40))
    answered_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    # Arrival order among calls of one instant, from a sequence, on a shared queue
    # (hub/live/pg_queue.py); a single hub keeps that order in memory and leaves it empty.
    queue_order: Mapped[int | None] = mapped_column(BigInteger)

    participants: Mapped[list[CallParticipant]] = relationship(
        back_populates="call", order_by="CallParticipant.id"
    )


class CallParticipant(Base):
    """Who took part in a call, and when they joined and left."""

    __tablename__ = "call_participants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"), index=True)
    participant_id: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(16))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    left_reason: Mapped[str | None] = mapped_column(String(32))

    call: Mapped[Call] = relationship(back_populates="participants")


# --- several hubs on one PostgreSQL database (docs/cluster.md) ----------------------------


class HubNode(Base):
    """One running hub's lease: renewed every heartbeat interval; a stale one is a dead hub."""

    __tablename__ = "hub_nodes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class HubMail(Base):
    """A frame from one hub to another (a box per hub, and ``dispatch``), taken in id order."""

    __tablename__ = "hub_mail"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True)
    box: Mapped[str] = mapped_column(String(40), index=True)
    body: Mapped[str] = mapped_column(Text)


# --- the central store of triage records (hub/central_store.py) ----------------------------

# One row per record: its latest version flattened into the avoided-admission log's columns,
# so queries and exports read columns; records/avoided_log.py defines it for both ends.
central_records = log_table(Base.metadata)


class CentralRecordVersion(Base):
    """One signed-off version exactly as the desk pushed it; never updated or deleted."""

    __tablename__ = CENTRAL_VERSIONS

    record_uuid: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    payload: Mapped[str] = mapped_column(Text)  # canonical TriageRecord JSON
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime)
    stored_by: Mapped[str] = mapped_column(String(40))  # participant id of the pushing desk


class RecordAuditEvent(Base):
    """Who wrote, read, queried or exported which record, and when. No patient data."""

    __tablename__ = "record_audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(40))  # participant id, e.g. "staff:3"
    actor_name: Mapped[str] = mapped_column(String(120))
    actor_role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))  # write, read, export
    record_uuid: Mapped[UUID | None] = mapped_column(Uuid, index=True)
    version: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(String(500))


class AccountEvent(Base):
    """Who did what to which account, and when (hub/lifecycle.py). Never a password, a
    credential or a token: only the kind of change."""

    __tablename__ = "account_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(40))  # participant id ("staff:3") or "cli:<user>"
    actor_name: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(32))  # disable, enable, reset_password, ...
    subject: Mapped[str] = mapped_column(String(40), index=True)  # "staff:5", "site:2"
    subject_name: Mapped[str] = mapped_column(String(120))


# --- home callers, call plans and prison clinics (issue 6) ---------------------------------


class Invitation(Base):
    """A per-patient invitation to call the hub from the browser page (the Gold Line).

    Signing in with its code yields a token for ``site_id``, a site of kind ``home`` made
    for this invitation; revoking it disables that site, so every token it issued stops.
    """

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of the code
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    patient: Mapped[dict[str, Any]] = mapped_column(JSON)
    issued_by: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CallPlan(Base):
    """The plan agreed on a call (the SBARD decision and when to call again), for the caller."""

    __tablename__ = "call_plans"

    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"), primary_key=True)
    decision: Mapped[str] = mapped_column(Text)
    call_again: Mapped[str | None] = mapped_column(Text)
    written_by: Mapped[str] = mapped_column(String(40))  # participant id, e.g. "staff:3"
    written_by_name: Mapped[str] = mapped_column(String(120))
    written_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ClinicBooking(Base):
    """A booked specialist clinic at a prison, joined by the site station at its time."""

    __tablename__ = "clinic_bookings"
    __table_args__ = (Index("ix_clinic_bookings_site_starts", "site_id", "starts_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    specialist_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    minutes: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(120))
    patient: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    booked_by: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    call_id: Mapped[str | None] = mapped_column(String(36))
    transfer_avoided: Mapped[bool | None] = mapped_column(Boolean)
    outcome_by: Mapped[str | None] = mapped_column(String(40))
    outcome_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# --- the manager's report (hub/reporting/report.py, issue 7) -------------------------------------

# Covering indexes: the report's GROUP BY queries read these instead of the wide rows, and
# "answered with no record" is an index probe per call.
Index("ix_calls_report", Call.requested_at, Call.site_id, Call.answered_at, Call.ended_at,
      Call.end_reason, Call.state, Call.id)  # fmt: skip
Index("ix_central_records_report", central_records.c.occurred_at, central_records.c.setting,
      central_records.c.outcome, central_records.c.site_id, central_records.c.intended_action,
      central_records.c.admission_avoided, central_records.c.ae_attendance_avoided,
      central_records.c.prison_transfer_avoided, central_records.c.follow_up_result)  # fmt: skip
Index("ix_central_records_call_id", central_records.c.call_id)

# Roll-ups of the report's figures by day and month (hub/reporting/rollup.py keeps them exact:
# writers in hub/calllog.py and hub/central_store.py mark the days they change).
report_rollups = rollup_tables(Base.metadata)


# --- sign-in limits and the second factor (issue 16: hub/signin_limits.py, hub/mfa.py) ------


class SignInThrottle(Base):
    """Recent failed sign-ins of one account or one client address, and its lock.

    ``key`` is a SHA-256 of the user name (a password typed into the name field is not
    kept readable) or the address itself; ``failures`` also counts attempts being checked.
    """

    __tablename__ = "signin_throttle"

    scope: Mapped[str] = mapped_column(String(8), primary_key=True)  # account, address
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refused: Mapped[int] = mapped_column(Integer)  # attempts refused while locked


class SignInEvent(Base):
    """A failed sign-in, a lock, or a change to a second factor. Never a secret."""

    __tablename__ = "signin_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    route: Mapped[str] = mapped_column(String(16))  # staff, site, invitation, mfa, admin
    account: Mapped[str | None] = mapped_column(String(120))  # a known account's name only
    address: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(24))  # wrong_password, locked, ...
    detail: Mapped[str | None] = mapped_column(String(200))


class StaffSecondFactor(Base):
    """A member of staff's TOTP secret, encrypted (hub/mfa.py); pending until confirmed."""

    __tablename__ = "staff_second_factors"

    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), primary_key=True)
    secret: Mapped[str] = mapped_column(String(255))  # AES-GCM: nonce + ciphertext, base64
    key_id: Mapped[str] = mapped_column(String(16))  # which key file encrypted it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The TOTP time step of the last code accepted: no code of it or before works again.
    last_step: Mapped[int | None] = mapped_column(Integer)


class StaffRecoveryCode(Base):
    """One single-use recovery code; only its SHA-256 is kept (80 random bits each)."""

    __tablename__ = "staff_recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# Issue 17: the photos kept with the record, and their audit (their module holds their repository).
from hub import photos as _photos  # noqa: E402,F401
