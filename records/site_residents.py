"""A station's residents: its copy of what the hub holds for its site, offline first.

The residents are the hub's (hub/routes/residents.py: scoped to the site, versioned, audited);
the station keeps a copy in its local store (``site_residents``) so its form works with the
hub away. A change is committed here first (``pending``), then :meth:`SiteResidents.sync`
pushes it over the version it started from and takes the hub's list back. If the hub moved
on meanwhile (another station of the site wrote the resident), the hub's version is taken and
the change made here is kept beside it (``refused``) for the staff to look at: never lost,
never silently written over the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID, uuid4

import sqlalchemy as sa

from hub.client import HubClient, HubConflict, HubError
from hub.contract.residents import ResidentDetails, ResidentWrite
from records.models import SiteResidentRow
from records.schema import utc_now
from records.store import Store

__all__ = ["LocalResident", "SiteResidents", "Synced"]


@dataclass(frozen=True, slots=True)
class LocalResident:
    id: UUID
    details: ResidentDetails
    hub_version: int | None  # None: never on the hub yet
    pending: bool  # changed here, not on the hub yet
    refused: ResidentDetails | None  # a change the hub refused: it had moved on meanwhile

    @property
    def name(self) -> str:
        return self.details.name

    @property
    def nhs_number(self) -> str | None:
        return self.details.nhs_number

    @property
    def date_of_birth(self) -> date | None:
        return self.details.date_of_birth


@dataclass(frozen=True, slots=True)
class Synced:
    """One sync: changes sent, residents taken from the hub, changes the hub refused."""

    sent: int
    received: int
    refused: int
    reachable: bool


def _value(row: SiteResidentRow) -> LocalResident:
    return LocalResident(
        row.id, ResidentDetails.model_validate_json(row.details), row.hub_version, row.pending,
        None if row.refused_details is None
        else ResidentDetails.model_validate_json(row.refused_details))


class SiteResidents:
    """The residents of one site (``site``: the station's site id, ``site:<n>``)."""

    def __init__(self, store: Store, site: str) -> None:
        self.store = store
        self.site = site

    def all(self) -> list[LocalResident]:
        with self.store.unit_of_work() as uow:
            rows = uow.session.scalars(
                sa.select(SiteResidentRow).where(SiteResidentRow.site_id == self.site)
                .order_by(SiteResidentRow.name, SiteResidentRow.id))
            return [_value(row) for row in rows]

    def save(self, details: ResidentDetails, resident_id: UUID | None = None) -> LocalResident:
        """Commit a new resident (no ``resident_id``) or a change, to be sent at the next sync.
        Refused with :class:`ValueError` when another resident here has the NHS number."""
        details = ResidentDetails.model_validate(details.model_dump())  # copies skip checks
        with self.store.unit_of_work() as uow:
            s = uow.session
            if details.nhs_number is not None:
                query = sa.select(SiteResidentRow.details).where(
                    SiteResidentRow.site_id == self.site)
                if resident_id is not None:
                    query = query.where(SiteResidentRow.id != resident_id)
                others = s.scalars(query)
                if any(ResidentDetails.model_validate_json(d).nhs_number == details.nhs_number
                       for d in others):
                    raise ValueError("another resident here has that NHS number")
            row = (s.get(SiteResidentRow, resident_id) if resident_id else None) or (
                SiteResidentRow(id=resident_id or uuid4(), site_id=self.site, hub_version=None))
            row.name, row.details = details.name, details.model_dump_json()
            row.pending, row.updated_at = True, utc_now()
            row.refused_details = None  # the staff have looked at it and saved anew
            s.add(row)
            s.flush()
            return _value(row)

    def sync(self, hub: HubClient) -> Synced:
        """Send the changes made here, then take the hub's list (one resident at a time: a
        change is committed as sent before the next goes)."""
        sent = refused = 0
        for resident in [r for r in self.all() if r.pending]:
            try:
                out = hub.put_resident(resident.id, ResidentWrite(
                    base_version=resident.hub_version, details=resident.details))
            except HubConflict:
                refused += 1
                self._refused(resident)
                continue
            except HubError:
                return Synced(sent, 0, refused, reachable=False)
            sent += 1
            self._take(resident.id, out.details, out.version, keep_pending=False)
        try:
            held = hub.residents()
        except HubError:
            return Synced(sent, 0, refused, reachable=False)
        for out in held:
            self._take(out.id, out.details, out.version)
        return Synced(sent, len(held), refused, reachable=True)

    def _refused(self, resident: LocalResident) -> None:
        """The hub moved on: keep this change beside its version (taken at the next list)."""
        with self.store.unit_of_work() as uow:
            row = uow.session.get(SiteResidentRow, resident.id)
            if row is not None:
                row.refused_details, row.pending = row.details, False

    def _take(self, resident_id: UUID, details: ResidentDetails, version: int,
              keep_pending: bool = True) -> None:
        """The hub's version, unless a change made here since waits to be sent."""
        with self.store.unit_of_work() as uow:
            s = uow.session
            row = s.get(SiteResidentRow, resident_id)
            if row is None:
                row = SiteResidentRow(id=resident_id, site_id=self.site, pending=False)
                s.add(row)
            elif keep_pending and row.pending:
                return
            row.name, row.details = details.name, details.model_dump_json()
            row.hub_version, row.pending, row.updated_at = version, False, utc_now()
