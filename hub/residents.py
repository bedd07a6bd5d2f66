"""The residents known to the hub: each site's own, versioned and audited (hub/routes/residents.py).

A repository over ``residents``, ``resident_versions`` and ``resident_audit_events``: it takes
a Session and never commits (the request's unit of work does). A write names the version it
started from; it lands only on that version (a conditional UPDATE), so two writers of one
version cannot both succeed and nothing is overwritten unseen. Who wrote each version is the
authenticated principal, never a name in the body. Reads in a call's context are audited.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import cast

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.contract.identity import Principal, SiteKind
from hub.contract.residents import ResidentDetails, ResidentOut, ResidentVersionOut
from hub.db import insert_many, utcnow
from hub.models import Call, Resident, ResidentAuditEvent, ResidentVersion, Site

__all__ = ["NotTheSites", "ResidentConflict", "ResidentRegister", "StaleVersion"]

_AUDIT = cast(sa.Table, ResidentAuditEvent.__table__)


class ResidentConflict(Exception):
    """The write cannot land: another resident of the site has that NHS number (or a
    concurrent write of the same resident got there first)."""


class NotTheSites(Exception):
    """The resident belongs to another site."""


@dataclass
class StaleVersion(Exception):
    """The resident is at another version than the one the writer started from."""

    held_version: int | None


class ResidentRegister:
    """The residents of the hub's sites, as one principal sees them."""

    def __init__(self, session: Session, principal: Principal) -> None:
        self._session = session
        self._principal = principal

    def _audit(self, action: str, rows: list[tuple[uuid.UUID, int | None, str | None]]) -> None:
        if not rows:
            return
        p, now = self._principal, utcnow()
        insert_many(self._session.connection(), _AUDIT, [
            {"at": now, "actor": p.participant_id, "actor_name": p.name[:120],
             "actor_role": p.role, "action": action, "resident_id": rid, "version": v,
             "detail": d} for rid, v, d in rows])  # fmt: skip

    def _out(self, resident: Resident, version: ResidentVersion, site_name: str) -> ResidentOut:
        return ResidentOut(
            id=resident.id, site_id=resident.site_id, site_name=site_name,
            version=resident.version,
            details=ResidentDetails.model_validate_json(version.details),
            written_at=version.written_at, written_by=version.written_by_name)

    def _current(self, where: sa.ColumnElement[bool]) -> list[ResidentOut]:
        rows = self._session.execute(
            sa.select(Resident, ResidentVersion, Site.name)
            .join(ResidentVersion, sa.and_(ResidentVersion.resident_id == Resident.id,
                                           ResidentVersion.version == Resident.version))
            .join(Site, Site.id == Resident.site_id)
            .where(where).order_by(Resident.name, Resident.id)).all()
        return [self._out(r, v, name) for r, v, name in rows]

    def of_site(self, site_id: int) -> list[ResidentOut]:
        """Every resident of the site, at their current version (audited as one read each)."""
        found = self._current(Resident.site_id == site_id)
        self._audit("read", [(r.id, r.version, "list") for r in found])
        return found

    def get(self, resident_id: uuid.UUID, site_id: int) -> ResidentOut | None:
        """One resident of the site; None when there is none (or it is another site's)."""
        found = self._current(sa.and_(Resident.id == resident_id, Resident.site_id == site_id))
        self._audit("read", [(r.id, r.version, None) for r in found])
        return found[0] if found else None

    def versions(self, resident_id: uuid.UUID, site_id: int) -> list[ResidentVersionOut]:
        """Every version of the site's resident, oldest first; [] when not the site's."""
        rows = self._session.scalars(
            sa.select(ResidentVersion)
            .join(Resident, Resident.id == ResidentVersion.resident_id)
            .where(Resident.id == resident_id, Resident.site_id == site_id)
            .order_by(ResidentVersion.version)).all()
        out = [ResidentVersionOut(version=v.version,
                                  details=ResidentDetails.model_validate_json(v.details),
                                  written_at=v.written_at, written_by=v.written_by_name)
               for v in rows]  # fmt: skip
        self._audit("read", [(resident_id, v.version, "versions") for v in out])
        return out

    def write(self, resident_id: uuid.UUID, site_id: int, base_version: int | None,
              details: ResidentDetails) -> ResidentOut:
        """Write the next version of the site's resident (a new one when ``base_version`` is
        None). Raises :class:`NotTheSites` for another site's resident (the route answers
        404: it does not exist for this site), :class:`StaleVersion` when the resident is at
        another version, :class:`ResidentConflict` for a second resident of one NHS number
        (or a concurrent write that got there first; the request then rolls back whole)."""
        session = self._session
        held = session.execute(sa.select(Resident.site_id, Resident.version)
                               .where(Resident.id == resident_id)).first()
        if held is not None and held.site_id != site_id:
            raise NotTheSites()
        if (held.version if held is not None else None) != base_version:
            raise StaleVersion(None if held is None else held.version)
        if details.nhs_number is not None and session.scalar(
                sa.select(Resident.id).where(Resident.site_id == site_id,
                                             Resident.nhs_number == details.nhs_number,
                                             Resident.id != resident_id)) is not None:
            raise ResidentConflict()
        number = 1 if base_version is None else base_version + 1
        columns = {"nhs_number": details.nhs_number, "name": details.name,
                   "date_of_birth": None if details.date_of_birth is None
                   else details.date_of_birth.isoformat()}  # fmt: skip
        p = self._principal
        try:
            if base_version is None:
                session.add(Resident(id=resident_id, site_id=site_id, version=1, **columns))
                session.flush()
            else:
                # Conditional: lands only on the version the writer started from, so of two
                # writers of one version exactly one succeeds.
                moved = session.execute(
                    sa.update(Resident)
                    .where(Resident.id == resident_id, Resident.version == base_version)
                    .values(version=number, **columns))
                if moved.rowcount != 1:  # type: ignore[attr-defined]
                    raise StaleVersion(None)
            session.add(ResidentVersion(
                resident_id=resident_id, version=number, details=details.model_dump_json(),
                written_at=utcnow(), written_by=p.participant_id, written_by_name=p.name[:120]))
            session.flush()
        except IntegrityError:
            raise ResidentConflict() from None
        self._audit("write", [(resident_id, number, None)])
        out = self.get_unaudited(resident_id)
        assert out is not None
        return out

    def get_unaudited(self, resident_id: uuid.UUID) -> ResidentOut | None:
        found = self._current(Resident.id == resident_id)
        return found[0] if found else None

    def for_call(self, call: Call) -> ResidentOut | None:
        """The resident a call is about, found in the calling site's residents: by NHS number,
        else by name and date of birth; a home site's (Gold Line) one patient. Audited as a
        read in the call's context."""
        patient = call.patient or {}
        site = self._session.get(Site, call.site_id)
        candidates = [Resident.site_id == call.site_id]
        if site is not None and site.kind == SiteKind.HOME.value:
            match: sa.ColumnElement[bool] = sa.true()
        elif patient.get("nhs_number"):
            match = Resident.nhs_number == patient["nhs_number"]
        elif patient.get("name"):
            match = sa.and_(sa.func.lower(Resident.name) == str(patient["name"]).lower(),
                            Resident.date_of_birth == patient.get("date_of_birth")
                            if patient.get("date_of_birth") else sa.true())
        else:
            return None
        found = self._current(sa.and_(*candidates, match))
        if len(found) != 1:
            return None  # none, or two residents of one name: the nurse asks, not guesses
        self._audit("read", [(found[0].id, found[0].version, f"call {call.id}"[:200])])
        return found[0]
