"""Who is at each end of the wire: principals (staff and sites) and their roles.

Part of the hub's wire contract (hub/contract): the hub, the call engine, the desk and the
station all read identities and roles from here, so there is one vocabulary of them:
:class:`StaffRole` and :class:`SiteKind` say who a principal is, :class:`CallRole` what part
they take in a call.
"""

from __future__ import annotations

import enum
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator


class SiteKind(enum.StrEnum):
    CARE_HOME = "care_home"
    PRISON = "prison"
    HOME = "home"


class StaffRole(enum.StrEnum):
    NURSE = "nurse"
    SPECIALIST = "specialist"
    MANAGER = "manager"
    ADMIN = "admin"


class CallRole(enum.StrEnum):
    """A party's part in a call: the site that called, the nurse who answered it, or a
    specialist the nurse invited in. Managers and administrators take no part in calls."""

    CALLER = "caller"
    NURSE = "nurse"
    SPECIALIST = "specialist"

    @classmethod
    def of(cls, principal: Principal) -> CallRole | None:
        """The part ``principal`` takes in calls, or None for one who takes none."""
        return _CALL_ROLES.get(principal.role)


class Principal(BaseModel):
    """Who is on the other end of a connection: a member of staff or a site.

    ``role`` is a :class:`StaffRole` for staff and a :class:`SiteKind` for a site; on the
    wire it is the plain value (``"nurse"``, ``"care_home"``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["staff", "site"]
    id: int
    name: str
    role: StaffRole | SiteKind

    @model_validator(mode="after")
    def _role_fits_kind(self) -> Principal:
        wanted = StaffRole if self.kind == "staff" else SiteKind
        if not isinstance(self.role, wanted):
            raise ValueError(f"role: a {self.kind} has a {wanted.__name__}, not {self.role!r}")
        return self

    @property
    def participant_id(self) -> str:
        return f"{self.kind}:{self.id}"

    @property
    def call_role(self) -> CallRole | None:
        """The part this principal takes in calls (see :meth:`CallRole.of`)."""
        return CallRole.of(self)


_CALL_ROLES: dict[StaffRole | SiteKind, CallRole] = {
    SiteKind.CARE_HOME: CallRole.CALLER, SiteKind.PRISON: CallRole.CALLER,
    SiteKind.HOME: CallRole.CALLER, StaffRole.NURSE: CallRole.NURSE,
    StaffRole.SPECIALIST: CallRole.SPECIALIST,
}
