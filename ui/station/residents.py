"""The site's residents at the station: the hub's, with a copy in the station's local store.

The hub holds each site's residents (hub/routes/residents.py); the station works on its copy
(records/site_residents.py) and syncs it with the site's token, so it works offline first and
catches up. This is that copy as the station's pages use it.
"""

from __future__ import annotations

from hub.contract.residents import ResidentDetails
from records.site_residents import LocalResident, SiteResidents

__all__ = ["LocalResident", "ResidentList"]


class ResidentList(SiteResidents):
    def add(self, name: str, nhs_number: str | None = None,
            date_of_birth: str | None = None) -> LocalResident:
        """Save a new resident from the quick line (the NHS number is checked, modulus 11)."""
        return self.save(ResidentDetails.model_validate(
            {"name": name, "nhs_number": nhs_number, "date_of_birth": date_of_birth}))
