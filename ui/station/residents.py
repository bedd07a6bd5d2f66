"""The site's residents, kept in the station's local record store (records.store).

The hub has no residents list yet, so each station keeps its own: patients in the local
store's ``patients`` table with ``site_id`` set to the station's site. ``records.store``
saves and finds patients but has no listing, so this reads the table directly.
"""

from __future__ import annotations

import sqlalchemy as sa

from records.models import PatientRow
from records.schema import Patient
from records.store import Store


class ResidentList:
    def __init__(self, store: Store, site: str) -> None:
        self.store = store
        self.site = site

    def all(self) -> list[Patient]:
        with self.store.unit_of_work() as uow:
            rows = uow.session.scalars(
                sa.select(PatientRow.id).where(PatientRow.site_id == self.site)
                .order_by(PatientRow.name))
            return [uow.patients.get(pid) for pid in rows.all()]

    def add(self, patient: Patient) -> Patient:
        """Save a new resident (the NHS number is checked by the record's own rules)."""
        with self.store.unit_of_work() as uow:
            return uow.patients.save(patient.model_copy(update={"site_id": self.site}))
