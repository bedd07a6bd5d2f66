"""Residents known to the hub, on a real hub (SQLite and PostgreSQL): each site's own,
versioned and audited, read by the nurse in a call's context; NHS numbers checked."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import sqlalchemy as sa

from hub.contract import signaling as p
from hub.contract.residents import ResidentOut
from hub.models import ResidentAuditEvent
from tests.helpers.hubserver import HubDatabase, Seeded, ThreadedHub
from tests.helpers.wsclient import HubClient


def bearer(who: Seeded) -> dict[str, str]:
    return {"Authorization": f"Bearer {who.token}"}


EDITH: dict[str, Any] = {
    "name": "Edith Brown", "nhs_number": "943 476 5919", "date_of_birth": "1936-04-02",
    "usual": {"observations": {"respiration_rate": 18, "spo2": 93, "on_oxygen": False,
                               "systolic_bp": 118, "pulse": 84, "consciousness": "A",
                               "temperature": 36.6},
              "taken_on": "2026-11-20", "taken_by": "Carer J. Okafor"},
    "respect": {"focus": "comfort", "cpr": "not_attempt",
                "treatments": "Antibiotics by mouth at the home; no hospital admission",
                "made_on": "2026-06-01", "made_by": "Dr A. Shah (GP)"},
    "dnacpr": {"decided_on": "2026-06-01", "source": "GP practice DNACPR form"},
}


def put(http: httpx.Client, who: Seeded, rid: str, base: int | None,
        details: dict[str, Any]) -> httpx.Response:
    return http.put(f"/residents/{rid}", headers=bearer(who),
                    json={"base_version": base, "details": details})


async def test_a_site_keeps_its_own_residents_versioned_and_a_nurse_reads_one_on_the_call(
        hub: ThreadedHub, hubdb: HubDatabase) -> None:
    beech, elm = hubdb.site("Beech House"), hubdb.site("Elm Lodge")
    nurse, manager = hubdb.staff("nina", "nurse"), hubdb.staff("max", "manager")
    admin = hubdb.staff("ada", "admin")
    rid = str(uuid.uuid4())
    with httpx.Client(base_url=f"{hub.http}/api/v1") as http:
        first = put(http, beech, rid, None, EDITH)
        assert first.status_code == 200, first.text
        v1 = ResidentOut.model_validate(first.json())
        assert (v1.version, v1.written_by, v1.details.nhs_number) == (1, "Beech House",
                                                                      "9434765919")
        assert v1.details.usual is not None and v1.details.usual.news2_total == 2  # SpO2 93
        # The next version starts from the current one; a write over an old one is a 409.
        moved = {**EDITH, "usual": {**EDITH["usual"], "taken_on": "2026-11-28"}}
        assert put(http, beech, rid, 1, moved).status_code == 200
        stale = put(http, beech, rid, 1, EDITH)
        assert stale.status_code == 409 and "version 2" in stale.text
        assert put(http, beech, rid, None, EDITH).status_code == 409  # not new any more
        # An NHS number with a wrong check digit is refused, naming the field, not the value.
        bad = put(http, beech, str(uuid.uuid4()), None, {**EDITH, "nhs_number": "9000000000"})
        assert bad.status_code == 422 and "nhs_number" in bad.text
        assert "9000000000" not in bad.text
        dup = put(http, beech, str(uuid.uuid4()), None, {"name": "Another", "nhs_number":
                                                         "9434765919"})
        assert dup.status_code == 409  # one resident per NHS number at a site

        versions = http.get(f"/residents/{rid}/versions", headers=bearer(beech)).json()
        assert [(v["version"], v["written_by"], v["details"]["usual"]["taken_on"])
                for v in versions] == [(1, "Beech House", "2026-11-20"),
                                       (2, "Beech House", "2026-11-28")]
        assert [r["id"] for r in http.get("/residents", headers=bearer(beech)).json()] == [rid]

        # Another site learns nothing of it and cannot write it; staff have no list at all.
        assert http.get("/residents", headers=bearer(elm)).json() == []
        for answer in (http.get(f"/residents/{rid}", headers=bearer(elm)),
                       http.get(f"/residents/{rid}/versions", headers=bearer(elm)),
                       put(http, elm, rid, 2, {"name": "Taken over"})):
            assert answer.status_code == 404, answer.request.url
            assert "Edith" not in answer.text
        for who in (nurse, manager, admin):
            assert http.get("/residents", headers=bearer(who)).status_code == 403
        assert http.get(f"/residents/{rid}", headers=bearer(beech)).json()["version"] == 2

    # The site calls about her: the nurse reads her usual values and plan in the call's context.
    caller = await HubClient.connect(hub.ws, beech.token)
    await caller.send(p.CallRequest(request_id="r1", reason="Breathless since lunch",
                                    patient=p.Patient(name="Edith Brown",
                                                      nhs_number="943-476-5919")))
    call_id = (await caller.expect(p.CallQueued)).call_id
    with httpx.Client(base_url=f"{hub.http}/api/v1") as http:
        seen = http.get(f"/calls/{call_id}/resident", headers=bearer(nurse))
        assert seen.status_code == 200, seen.text
        resident = ResidentOut.model_validate(seen.json())
        assert (resident.id, resident.version, resident.site_name) == (uuid.UUID(rid), 2,
                                                                       "Beech House")
        assert resident.details.respect is not None
        assert resident.details.respect.cpr == "not_attempt"
        assert resident.details.dnacpr is not None
        for who in (manager, admin, beech):
            assert http.get(f"/calls/{call_id}/resident", headers=bearer(who)).status_code == 403
        assert http.get("/calls/nope/resident", headers=bearer(nurse)).status_code == 404

    with hubdb.sessions() as s:
        audit = s.execute(sa.select(ResidentAuditEvent.actor, ResidentAuditEvent.action,
                                    ResidentAuditEvent.version, ResidentAuditEvent.detail)
                          .where(ResidentAuditEvent.resident_id == uuid.UUID(rid))
                          .order_by(ResidentAuditEvent.id)).all()
    writes = [(a, v) for a, act, v, _ in audit if act == "write"]
    assert writes == [(beech.principal.participant_id, 1), (beech.principal.participant_id, 2)]
    assert (nurse.principal.participant_id, "read", 2, f"call {call_id}") in audit


async def test_a_gold_line_patient_is_their_home_sites_resident(
        hub: ThreadedHub, hubdb: HubDatabase) -> None:
    nurse = hubdb.staff("nina", "nurse")
    with httpx.Client(base_url=f"{hub.http}/api/v1") as http:
        invited = http.post("/invitations", headers=bearer(nurse), json={
            "patient": {"name": "Margaret Ellis", "nhs_number": "900 000 0068"}})
        assert invited.status_code == 201, invited.text
        code = invited.json()["code"]
        home = http.post("/auth/invitation-login", json={"code": code}).json()
        home_seeded = Seeded(home["principal"], home["token"])
        mine = http.get("/residents", headers=bearer(home_seeded)).json()
        assert [(r["details"]["name"], r["details"]["nhs_number"], r["written_by"])
                for r in mine] == [("Margaret Ellis", "9000000068", "Nina")]
    caller = await HubClient.connect(hub.ws, home["token"])
    await caller.send(p.CallRequest(request_id="g1", reason="Pain",
                                    patient=p.Patient(name="Margaret Ellis")))
    call_id = (await caller.expect(p.CallQueued)).call_id
    seen = httpx.get(f"{hub.http}/api/v1/calls/{call_id}/resident", headers=bearer(nurse))
    assert seen.status_code == 200 and seen.json()["details"]["name"] == "Margaret Ellis"
