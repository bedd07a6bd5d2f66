"""A small hub history counted by hand, for the manager's report (tests/hub/test_reports.py).

Two sites and a home caller; eleven calls in January to March 2025: answered fast and slow,
abandoned before and after 30 s, a caller lost, one answered call with no record, one still
waiting, and one in March outside the reported range. Seven records, one amended twice by
follow-up checks (the latest withdraws its claim), one claim still pending.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

from hub.central_store import CentralStore
from hub.contract.identity import Principal
from hub.db import unit_of_work
from hub.models import Call
from records.schema import AvoidedFlags, FollowUp, TriageRecord
from tests.helpers.hubserver import HubDatabase

NS = UUID("7e1e4ab0-0000-4000-8000-000000000007")
T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


@dataclass
class History:
    sites: dict[str, int] = field(default_factory=dict)  # name -> id
    records: dict[str, UUID] = field(default_factory=dict)  # R1.. -> uuid


# (call, site, requested, answer after s or None, end after s or None, end reason, state)
CALLS: list[tuple[str, str, datetime, float | None, float | None, str | None, str]] = [
    ("c1", "Moor View", T0, 30, 600, "completed", "ended"),
    ("c2", "Moor View", T0 + timedelta(days=1), 90, 900, "completed", "ended"),
    ("c3", "Moor View", T0 + timedelta(days=2), 400, 1000, "completed", "ended"),
    ("c4", "Moor View", T0 + timedelta(days=3), None, 45, "abandoned", "ended"),
    ("c5", "Moor View", T0 + timedelta(days=4), None, 10, "abandoned", "ended"),
    ("c6", "Hawthorn Prison", T0 + timedelta(days=5), 20, 700, "completed", "ended"),
    ("c7", "Hawthorn Prison", T0 + timedelta(days=6), 50, 300, "caller_lost", "ended"),
    ("c8", "Gold Line 1", datetime(2025, 2, 10, 22, 0, tzinfo=UTC), 200, 800, "completed",
     "ended"),
    ("c9", "Gold Line 1", datetime(2025, 2, 28, 23, 59, tzinfo=UTC), None, None, None,
     "waiting"),
    ("c10", "Moor View", datetime(2025, 2, 1, 0, 0, tzinfo=UTC), 10, 400, "completed", "ended"),
    ("c11", "Moor View", datetime(2025, 3, 1, 0, 0, tzinfo=UTC), 10, 400, "completed", "ended"),
]  # fmt: skip

KINDS = {"Moor View": "care_home", "Hawthorn Prison": "prison", "Gold Line 1": "home"}

# (record, call, intended, outcome, claims, follow-ups as (window, withdrawn) in order)
RECORDS: list[tuple[str, str, str, str, tuple[str, ...], tuple[tuple[str, bool], ...]]] = [
    ("R1", "c1", "ambulance_999", "advice_managed_in_place", ("admission", "ae_attendance"),
     (("72h", False),)),
    ("R2", "c2", "ae", "gp_referral", ("ae_attendance",), (("72h", True),)),
    ("R3", "c6", "ae", "advice_managed_in_place", ("prison_transfer",), ()),
    ("R4", "c7", "nothing", "gp_referral", (), ()),
    ("R5", "c8", "ambulance_999", "hospital_admission", (), ()),
    ("R6", "c10", "ambulance_999", "advice_managed_in_place", ("admission",),
     (("72h", False), ("7d", True))),
    ("R7", "c11", "ae", "advice_managed_in_place", ("admission",), ()),
]  # fmt: skip


def _at(call: str) -> datetime:
    return next(c[2] for c in CALLS if c[0] == call)


def _call_uuid(call: str) -> str:
    return str(uuid5(NS, call))


def record_versions(name: str, call: str, site: str, intended: str, outcome: str,
                    claims: tuple[str, ...], follow_ups: tuple[tuple[str, bool], ...]
                    ) -> list[TriageRecord]:  # fmt: skip
    requested = _at(call)
    flags: dict[str, Any] = {c: True for c in claims}
    if claims:
        flags |= {"confirmed_by": "nina", "confirmed_at": requested + timedelta(minutes=20)}
    first = TriageRecord(
        uuid=uuid5(NS, name), version=1, status="signed_off", call_id=_call_uuid(call),
        requested_at=requested, answered_at=requested + timedelta(seconds=30),
        ended_at=requested + timedelta(minutes=10), site_id=site, setting=KINDS[site],
        presenting_problem="fall", intended_action=intended, outcome=outcome, nurse="nina",
        avoided=AvoidedFlags(**flags), signed_off_at=requested + timedelta(minutes=20),
        signed_off_by="nina",
    )  # fmt: skip
    versions = [first]
    done: tuple[FollowUp, ...] = ()
    for n, (window, withdrawn) in enumerate(follow_ups, start=2):
        done = (*done, FollowUp(window=window, checked_at=requested + timedelta(days=n),
                                checked_by="nina", unplanned_attendance=withdrawn,
                                unplanned_admission=False))
        versions.append(versions[-1].model_copy(update={
            "version": n, "follow_ups": done, "amendment_reason": f"follow-up {window}",
        }))  # fmt: skip
    return versions


def seed(db: HubDatabase) -> History:
    """Enrol the sites, write the calls and push every record version through the store."""
    history = History()
    for site, kind in KINDS.items():
        history.sites[site] = db.site(site, kind).principal.id
    with unit_of_work(db.sessions) as s:
        for call, site, requested, answer, end, reason, state in CALLS:
            s.add(Call(
                id=_call_uuid(call), site_id=history.sites[site], request_id=call,
                reason="fall", urgency="urgent", state=state, requested_at=requested,
                answered_at=None if answer is None else requested + timedelta(seconds=answer),
                ended_at=None if end is None else requested + timedelta(seconds=end),
                end_reason=reason,
            ))  # fmt: skip
    desk = Principal(kind="staff", id=1, name="Nina", role="nurse")
    for name, call, intended, outcome, claims, follow_ups in RECORDS:
        site = next(c[1] for c in CALLS if c[0] == call)
        history.records[name] = uuid5(NS, name)
        for version in record_versions(name, call, site, intended, outcome, claims, follow_ups):
            with unit_of_work(db.sessions) as s:
                CentralStore(s, desk).apply([version])
    return history


def call_id(name: str) -> str:
    return _call_uuid(name)
