"""The hub's versions in the desk's store: adopt the current one before amending, resolve a
conflict into a version that supersedes both takes, and take in the nurse's hub drafts.

Issue 13: the record is the hub's. A desk amends from the version the hub holds, fetched
first and adopted here (its JSON kept exactly as the hub served it), so an amendment made at
desk B of a record written at desk A starts from A's latest. When two desks amended one
version, the second desk's take is in conflict: :meth:`HubVersions.conflict` gives both
takes, and :meth:`HubVersions.resolve` moves this desk's unsynced takes aside
(``competing_takes``) and writes the resolving version, which records/sync.py pushes with
them (``POST /records/{uuid}/resolution``). Every change is one unit of work: nothing is
lost, and "saved" means committed. A repository: it takes a Session and never commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.client import HubClient, HubError, HubNotFound
from records.models import CompetingTakeRow, TriageRecordRow, TriageVersionRow
from records.outbox import RecordNotFound, SyncState
from records.schema import TriageRecord, utc_now
from records.store import AuditAction, RecordClosed, UnitOfWork, read_row, write_row

__all__ = ["Conflict", "HubVersions", "Opened", "Takes", "fetch_current"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Conflict:
    """Both takes of a record side by side: the hub's current version and this desk's own
    latest take the hub did not hold (``mine``)."""

    hub: TriageRecord
    mine: TriageRecord


@dataclass(frozen=True, slots=True)
class Opened:
    """A record opened to amend: the version to amend from (the hub's, adopted into this
    desk's store, or this desk's own when the hub is away), or both takes of a conflict.
    ``hub_payload`` is the hub's current version as served (what a resolution supersedes);
    ``note`` says in plain words where the version came from."""

    record: TriageRecord | None
    conflict: Conflict | None
    hub_payload: str | None
    note: str


def fetch_current(hub: HubClient | None, record_uuid: UUID) -> str | None:
    """The hub's current version of the record as served; "" when the hub holds none, None
    when the hub cannot be asked (offline: the desk amends its own copy)."""
    if hub is None:
        return None
    try:
        return hub.record_payload(record_uuid)
    except HubNotFound:
        return ""
    except HubError as exc:
        log.info("record not fetched from the hub: %s", exc.summary)
        return None


@dataclass(frozen=True, slots=True)
class Takes:
    """What a resolution carries to the hub: the superseded version and the competing takes."""

    record_uuid: UUID
    version: int  # the resolving version
    competing: list[str]  # JSON of this desk's takes, oldest first


class HubVersions:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self._session: Session = uow.session

    def _unsettled(self, record_uuid: UUID) -> list[int]:
        return [e.version for e in self._uow.outbox.unsettled(record_uuid)]

    def conflict(self, record_uuid: UUID, hub_payload: str) -> Conflict | None:
        """Both takes when this desk's latest version is one the hub does not hold: in
        conflict, or waiting to sync under a number the hub holds with other content."""
        hub = TriageRecord.model_validate_json(hub_payload)
        row = self._session.get(TriageRecordRow, record_uuid)
        if row is None or row.status != "signed_off":
            return None
        state = self._uow.outbox.state(record_uuid)
        if state is SyncState.CONFLICT or (state is SyncState.PENDING and (
                row.version < hub.version or (row.version == hub.version and
                                              self._payload(record_uuid, row.version)
                                              != hub_payload))):  # fmt: skip
            return Conflict(hub, read_row(row))
        return None

    def open(self, record_uuid: UUID, hub_payload: str | None, actor: str) -> Opened:
        """Open the record to amend, given what :func:`fetch_current` answered."""
        if not hub_payload:
            note = ("The hub cannot be reached: amending this desk's copy." if
                    hub_payload is None else "Not on the hub yet: this desk's copy.")
            return Opened(self._uow.records.get(record_uuid, actor), None, None, note)
        conflict = self.conflict(record_uuid, hub_payload)
        if conflict is not None:
            return Opened(None, conflict, hub_payload,
                          f"The hub holds version {conflict.hub.version} by "
                          f"{conflict.hub.signed_off_by}; yours was not taken.")
        record = self.adopt(hub_payload, actor)
        return Opened(record, None, hub_payload, f"Version {record.version} from the hub.")

    def _payload(self, record_uuid: UUID, version: int) -> str | None:
        return self._session.scalar(sa.select(TriageVersionRow.payload).where(
            TriageVersionRow.record_uuid == record_uuid, TriageVersionRow.version == version))

    def adopt(self, hub_payload: str, actor: str) -> TriageRecord:
        """The hub's current version as this desk's working copy, to amend from.

        Taken only when this desk has nothing of the record the hub lacks: a version still
        waiting to sync or in conflict means :meth:`conflict` first (RecordClosed here); a
        local draft of a record the hub holds signed off is kept aside, never dropped.
        """
        hub = TriageRecord.model_validate_json(hub_payload)
        row = self._session.get(TriageRecordRow, hub.uuid)
        if row is not None and row.status == "signed_off" and (
                row.version > hub.version or self._unsettled(hub.uuid)):
            if self.conflict(hub.uuid, hub_payload) is not None:
                raise RecordClosed(f"record {hub.uuid} is in conflict with the hub's version; "
                                   "resolve the conflict first")
            if row.version >= hub.version:
                return read_row(row)  # this desk's, the same or ahead and on its way
            raise RecordClosed(f"record {hub.uuid} has a version the hub refused; it needs "
                               "a person to look at it")
        if row is not None and row.status == "draft":
            # Kept here only (version 0: a draft, never sent): signed off elsewhere since.
            self._keep_aside(hub.uuid, 0, read_row(row).model_dump_json(), hub.version,
                             sent=True)
            self._uow.drafts.drop(hub.uuid)
        if hub.patient is not None:
            known = (self._uow.patients.by_nhs_number(hub.patient.nhs_number)
                     if hub.patient.nhs_number else None)  # fmt: skip
            patient = hub.patient if known is None else hub.patient.model_copy(
                update={"id": known.id})
            self._uow.patients.save(patient)
            hub_local = hub.model_copy(update={"patient": patient})
        else:
            hub_local = hub
        if row is None:
            row = TriageRecordRow(uuid=hub.uuid, created_at=utc_now())
            self._session.add(row)
        write_row(row, hub_local)
        self.adopt_version(hub, hub_payload)
        self._uow.audit.add(actor, AuditAction.ADOPTED, hub.uuid, hub.version)
        return hub_local

    def _keep_aside(self, record_uuid: UUID, version: int, payload: str, by: int, *,
                    sent: bool = False) -> None:
        self._session.add(CompetingTakeRow(record_uuid=record_uuid, version=version,
                                           payload=payload, kept_at=utc_now(),
                                           resolved_by=by, sent=sent))  # fmt: skip

    def resolve(self, hub_payload: str, resolved: TriageRecord, reason: str,
                actor: str) -> TriageRecord:
        """Write ``resolved`` (the nurse's merge of both takes) as the version after the
        hub's, superseding it and this desk's unsynced takes, which move aside to go with it.
        """
        if not reason.strip():
            raise ValueError("a resolution needs a reason")
        hub = TriageRecord.model_validate_json(hub_payload)
        if resolved.uuid != hub.uuid:
            raise RecordNotFound("the resolution is of another record")
        version = hub.version + 1
        entries = self._uow.outbox.unsettled(hub.uuid)
        if not entries and not self._earlier_takes(hub.uuid):
            raise RecordClosed(f"record {hub.uuid} has no take in conflict")
        payloads = self._uow.records.version_payloads([(hub.uuid, e.version) for e in entries])
        # Moved aside first: the resolving version may take the number of one of them.
        for entry, payload in zip(entries, payloads, strict=True):
            self._keep_aside(hub.uuid, entry.version, payload, version)
        self._uow.outbox.remove([e.id for e in entries])
        self._session.flush()
        self._session.execute(sa.delete(TriageVersionRow).where(
            TriageVersionRow.record_uuid == hub.uuid,
            TriageVersionRow.version.in_([e.version for e in entries])))  # fmt: skip
        # Takes kept by an earlier resolution the hub then refused go with this one.
        c = CompetingTakeRow
        self._session.execute(sa.update(c).where(c.record_uuid == hub.uuid, c.sent.is_(False))
                              .values(resolved_by=version))  # fmt: skip
        self._session.flush()
        self.adopt_version(hub, hub_payload)
        now = utc_now()
        data = resolved.model_dump(exclude={"news2"})
        record = TriageRecord.model_validate({
            **data, "version": version, "status": "signed_off", "signed_off_at": now,
            "signed_off_by": actor, "amendment_reason": reason, "updated_at": now,
        })  # fmt: skip
        if record.patient is not None:
            self._uow.patients.save(record.patient)
        row = self._uow.records.row(hub.uuid)
        self._uow.records.close(row, record, actor, AuditAction.RESOLVED)
        return record

    def _earlier_takes(self, record_uuid: UUID) -> bool:
        c = CompetingTakeRow
        return self._session.scalar(sa.select(c.id).where(
            c.record_uuid == record_uuid, c.sent.is_(False)).limit(1)) is not None

    def adopt_version(self, hub: TriageRecord, hub_payload: str) -> None:
        """Keep the hub's version ``hub.version`` as this desk's copy of it (a synced copy
        that differs is replaced: the hub stamped who wrote it, and its word stands)."""
        held = self._session.get(TriageVersionRow, (hub.uuid, hub.version))
        if held is None:
            assert hub.signed_off_at is not None and hub.signed_off_by is not None
            self._session.add(TriageVersionRow(
                record_uuid=hub.uuid, version=hub.version, payload=hub_payload,
                signed_off_at=hub.signed_off_at, signed_off_by=hub.signed_off_by,
                amendment_reason=hub.amendment_reason))  # fmt: skip
        else:
            held.payload = hub_payload
        self._session.flush()

    def takes(self, keys: list[tuple[UUID, int]]) -> dict[tuple[UUID, int], list[str]]:
        """For the sync: the competing takes that go with each resolving version in ``keys``."""
        if not keys:
            return {}
        c = CompetingTakeRow
        out: dict[tuple[UUID, int], list[str]] = {}
        for u, n, payload in self._session.execute(
            sa.select(c.record_uuid, c.resolved_by, c.payload)
            .where(c.record_uuid.in_({u for u, _ in keys}), c.sent.is_(False), c.version > 0)
            .order_by(c.id)):  # fmt: skip
            if (u, n) in keys:
                out.setdefault((u, n), []).append(payload)
        return out

    def sent(self, record_uuid: UUID, version: int) -> None:
        """The hub answered for the resolution: its takes are held there."""
        c = CompetingTakeRow
        self._session.execute(sa.update(c).where(c.record_uuid == record_uuid,
                                                 c.resolved_by == version)
                              .values(sent=True))  # fmt: skip

    def take_drafts(self, payloads: list[str], actor: str) -> int:
        """The nurse's drafts kept on the hub, into this desk's store: a draft this desk
        lacks, or holds older, is taken; a record signed off here is left alone."""
        taken = 0
        for payload in payloads:
            draft = TriageRecord.model_validate_json(payload)
            row = self._session.get(TriageRecordRow, draft.uuid)
            if row is not None and (row.status != "draft" or row.updated_at >= draft.updated_at):
                continue
            patient = draft.patient
            if patient is not None:
                known = (self._uow.patients.by_nhs_number(patient.nhs_number)
                         if patient.nhs_number else None)  # fmt: skip
                if known is not None:
                    patient = patient.model_copy(update={"id": known.id})
                    draft = draft.model_copy(update={"patient": patient})
                self._uow.patients.save(patient)
            if row is None:
                row = TriageRecordRow(uuid=draft.uuid, created_at=draft.updated_at)
                self._session.add(row)
            write_row(row, draft)
            self._session.flush()
            self._uow.audit.add(actor, AuditAction.ADOPTED, draft.uuid, None, "hub draft")
            taken += 1
        return taken
