"""One role vocabulary: the part a principal takes in calls, and roles typed on the wire."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hub.contract.identity import CallRole, Principal, SiteKind, StaffRole


@pytest.mark.parametrize(("kind", "role", "part"), [
    ("site", "care_home", CallRole.CALLER), ("site", "prison", CallRole.CALLER),
    ("site", "home", CallRole.CALLER), ("staff", "nurse", CallRole.NURSE),
    ("staff", "specialist", CallRole.SPECIALIST), ("staff", "manager", None),
    ("staff", "admin", None),
])
def test_each_principal_takes_its_part_in_calls(kind: str, role: str,
                                                part: CallRole | None) -> None:
    principal = Principal.model_validate({"kind": kind, "id": 1, "name": "x", "role": role})
    assert principal.role is (StaffRole(role) if kind == "staff" else SiteKind(role))
    assert CallRole.of(principal) is part and principal.call_role is part


def test_the_role_is_typed_but_the_wire_is_the_same() -> None:
    wire = '{"kind":"staff","id":3,"name":"Ada Lovelace","role":"nurse"}'
    principal = Principal.model_validate_json(wire)
    assert principal.role is StaffRole.NURSE
    assert principal.model_dump_json() == wire


def test_a_role_that_does_not_fit_the_kind_is_refused() -> None:
    with pytest.raises(ValidationError, match="role"):
        Principal(kind="site", id=1, name="Beech House", role=StaffRole.NURSE)
    with pytest.raises(ValidationError):
        Principal.model_validate({"kind": "staff", "id": 1, "name": "x", "role": "caller"})
