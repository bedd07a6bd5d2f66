"""Who is at each end of the wire: principals (staff and sites) and their roles.

Part of the hub's wire contract (hub/contract): the hub, the call engine, the desk and the
station all read identities and roles from here, so there is one vocabulary of them.
"""

from __future__ import annotations

import enum
from typing import Literal

from pydantic import BaseModel, ConfigDict


class SiteKind(enum.StrEnum):
    CARE_HOME = "care_home"
    PRISON = "prison"
    HOME = "home"


class StaffRole(enum.StrEnum):
    NURSE = "nurse"
    SPECIALIST = "specialist"
    MANAGER = "manager"
    ADMIN = "admin"


class Principal(BaseModel):
    """Who is on the other end of a connection: a member of staff or a site."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["staff", "site"]
    id: int
    name: str
    role: str  # a StaffRole value for staff, a SiteKind value for sites

    @property
    def participant_id(self) -> str:
        return f"{self.kind}:{self.id}"
