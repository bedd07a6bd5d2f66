"""The hub-wide history and the context of a call, through a real hub (SQLite and PostgreSQL):
two desks with their own local stores; what one signs off the other finds by every search
field, a keyset page at a time; a desk offline shows its own records and says so; the context
of a call is its patient's and its site's; roles, bad input and the audit of reads."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from hub.client import HubClient
from hub.contract import signaling as p
from hub.contract.history import FollowUpState, HistoryQuery
from hub.models import RecordAuditEvent
from records.hub_history import fetch
from records.schema import AvoidedFlags, Patient, SbardNotes, TriageRecord
from records.store import SyncState
from tests.helpers.hubserver import HubDatabase, Seeded, ThreadedHub, free_port
from tests.helpers.record_desk import Desk
from tests.helpers.wsclient import HubClient as WsClient
from tests.records.builders import make_record

pytestmark = pytest.mark.slow

EDITH = Patient(nhs_number="943 476 5919", name="Edith Brown", site_id="Beech House",
                dnacpr=True, respect_plan="Comfort first; no hospital admission",
                usual_news2=2)
NOW = datetime.now(UTC).replace(microsecond=0)
RESIDENT = {"name": "Edith Brown", "nhs_number": "9434765919",
            "usual": {"news2_total": 3, "taken_on": "2026-11-20", "taken_by": "Carer J. Okafor"},
            "dnacpr": {"decided_on": "2026-06-01", "source": "GP practice DNACPR form"}}


def record(n: int, **changes: object) -> TriageRecord:
    at = NOW - timedelta(hours=n)
    base: dict[str, object] = dict(
        call_id=f"call-{n}", requested_at=at, answered_at=at + timedelta(minutes=1),
        site_id="Oak Lodge", patient=Patient(name=f"Resident {n}", site_id="Oak Lodge"),
        presenting_problem="Chest infection, more breathless", outcome="gp_referral")
    return make_record(**{**base, **changes})


def bearer(who: Seeded) -> dict[str, str]:
    return {"Authorization": f"Bearer {who.token}"}


def test_a_record_made_at_one_desk_is_found_at_another_by_every_field_paged_and_guarded(
        hub: ThreadedHub, hubdb: HubDatabase, tmp_path: Path, desks: list[Desk]) -> None:
    nina, nora = hubdb.staff("nina", "nurse"), hubdb.staff("nora", "nurse")
    a, b = Desk(tmp_path, hub, nina), Desk(tmp_path, hub, nora)
    desks += [a, b]
    edith = a.sign_off(record(30, site_id="Beech House", patient=EDITH,
                              presenting_problem="Fall in the night, hip pain",
                              outcome="advice_managed_in_place", intended_action="ae",
                              avoided=AvoidedFlags(ae_attendance=True, confirmed_by="nina",
                                                   confirmed_at=NOW - timedelta(hours=29)),
                              sbard=SbardNotes(decision="Paracetamol; GP tomorrow")))
    others = [a.sign_off(record(n)) for n in range(1, 8)]
    a.sync()
    day = (NOW - timedelta(hours=30)).date()

    def found(**fields: object) -> list[str]:
        result = fetch(b.hub, b.store, HistoryQuery.model_validate(fields))
        assert result.reachable, result.problem
        return [r.patient for r in result.rows]

    # Each search field finds Edith at desk B, and only her.
    for fields in ({"name": "edith"}, {"name": "BRO ed"}, {"nhs_number": "9434765919"},
                   {"nhs_number": "943 476 5919"}, {"site": "Beech House"},
                   {"problem": "hip"}, {"problem": "fall night"},
                   {"outcome": "advice_managed_in_place"},
                   {"start": day, "end": day, "name": "edith"}):
        assert found(**fields) == ["Edith Brown"], fields
    assert found(name="edith", problem="chest") == []
    assert found(start=date(2020, 1, 1), end=date(2020, 1, 2)) == []
    assert found(site="Oak Lodge") == [f"Resident {n}" for n in range(1, 8)]  # newest first
    (row,) = fetch(b.hub, b.store, HistoryQuery(name="edith")).rows
    assert (row.uuid, row.version, row.on_hub, row.sync) == (edith.uuid, 1, True, None)
    assert row.follow_up is FollowUpState.DUE  # an A&E attendance claimed, no check yet
    assert row.news2_total == edith.news2.total  # type: ignore[union-attr]

    # Pages of three, newest first, each starting after the last; none repeated or lost.
    seen: list[str] = []
    query = HistoryQuery(limit=3)
    sizes = []
    while True:
        page = b.hub.history(query)
        sizes.append(len(page.encounters))
        seen += [e.patient_name or "" for e in page.encounters]
        if page.next_cursor is None:
            break
        query = query.model_copy(update={"cursor": page.next_cursor})
    assert sizes == [3, 3, 2]
    assert seen == [f"Resident {n}" for n in range(1, 8)] + ["Edith Brown"]

    # Desk B's own versions the hub has not got yet come first, marked; its newer version
    # of a hub record replaces the hub's.
    draft = make_record(site_id="Beech House", patient=EDITH, presenting_problem="Fall again",
                        requested_at=NOW - timedelta(minutes=5), nurse="nora")
    with b.store.unit_of_work() as uow:
        uow.records.save_draft(draft, "nora")
    result = fetch(b.hub, b.store, HistoryQuery(name="edith"))
    assert [(r.problem, r.on_hub, r.status) for r in result.rows] == [
        ("Fall again", False, "draft"), ("Fall in the night, hip pain", True, "signed_off")]
    assert result.local_only == 1
    amended = a.store
    with amended.unit_of_work() as uow:
        newer = uow.records.amend(others[0].model_copy(update={"outcome": "discharged_home"}),
                                  "GP visited", "nina")
    result = fetch(a.hub, a.store, HistoryQuery(site="Oak Lodge", limit=3))
    top = result.rows[0]
    assert (top.uuid, top.version, top.on_hub, top.sync) == (newer.uuid, 2, False,
                                                             SyncState.PENDING)
    assert [r.uuid for r in result.rows] == [o.uuid for o in others[:3]]  # in its place

    # Offline: the desk's own records, and it says what it cannot reach.
    unreachable = HubClient(b.http, f"http://127.0.0.1:{free_port()}", nora.token)
    offline = fetch(unreachable, b.store, HistoryQuery(name="edith"))
    assert not offline.reachable and "cannot be reached" in (offline.problem or "")
    assert [(r.problem, r.on_hub) for r in offline.rows] == [("Fall again", False)]

    # Bad values are 422 naming the field, never echoing the value; other roles are refused.
    site, sam = hubdb.site("Beech House"), hubdb.staff("sam", "specialist")
    admin, manager = hubdb.staff("ada", "admin"), hubdb.staff("max", "manager")
    with httpx.Client(base_url=f"{hub.http}/api/v1", headers=bearer(nina)) as http:
        for params, field in (({"cursor": "not-a-cursor"}, "cursor"),
                              ({"nhs_number": "9434765910"}, "nhs_number"),
                              ({"outcome": "=HYPERLINK()"}, "outcome"),
                              ({"limit": "101"}, "limit"), ({"from": "2025-02-01",
                                                            "to": "2025-01-01"}, "to"),
                              ({"name": "x" * 121}, "name"), ({"from": "0001-01-01"}, "from")):
            r = http.get("/history", params=params)
            assert r.status_code == 422, (params, r.text)
            assert field in r.text
            for value in params.values():
                assert value not in r.text or value in ("101",)
    # A specialist's history holds only the calls they took part in (none here).
    assert httpx.get(f"{hub.http}/api/v1/history", headers=bearer(sam)).json() == {
        "encounters": [], "next_cursor": None}
    for who in (admin, manager, site):
        r = httpx.get(f"{hub.http}/api/v1/history", headers=bearer(who))
        assert r.status_code == 403 and "Edith" not in r.text
    assert httpx.get(f"{hub.http}/api/v1/history").status_code == 401

    # Every encounter returned was audited as a read, by who read it.
    with hubdb.sessions() as s:
        reads = s.execute(sa.select(RecordAuditEvent.actor, RecordAuditEvent.record_uuid)
                          .where(RecordAuditEvent.detail == "history")).all()
    assert (nora.principal.participant_id, edith.uuid) in reads


async def test_the_context_of_a_call_is_its_patients_and_its_sites(
        hub: ThreadedHub, hubdb: HubDatabase, tmp_path: Path, desks: list[Desk]) -> None:
    site = hubdb.site("Beech House")
    nina, nora = hubdb.staff("nina", "nurse"), hubdb.staff("nora", "nurse")
    sam = hubdb.staff("sam", "specialist")
    a = Desk(tmp_path, hub, nina)
    desks.append(a)
    first = a.sign_off(record(50, site_id="Beech House", patient=EDITH, call_id="old-1",
                              presenting_problem="Chest infection"))
    second = a.sign_off(record(20, site_id="Beech House", patient=EDITH, call_id="old-2",
                               presenting_problem="Fall, hip pain",
                               observations=None, news2=None))
    neighbour = a.sign_off(record(10, site_id="Beech House", call_id="old-3",
                                  patient=Patient(name="Arthur Green")))
    a.sign_off(record(5, site_id="Oak Lodge", patient=Patient(name="Edith Brown")))
    a.sync()

    caller = await WsClient.connect(hub.ws, site.token)
    await caller.send(p.CallRequest(
        request_id="r1", reason="Breathless", patient=p.Patient(nhs_number="9434765919",
                                                                name="Edith Brown"),
        observations=p.PreCallObservations(respiration_rate=24, spo2=93, on_oxygen=False,
                                           systolic_bp=110, pulse=105, consciousness="A",
                                           temperature=38.1)))
    call_id = (await caller.expect(p.CallQueued)).call_id

    ctx = HubClient(a.http, hub.http, nora.token).context(call_id)  # waiting: any nurse
    assert (ctx.site, ctx.matched_by, ctx.patient and ctx.patient.name) == (
        "Beech House", "nhs_number", "Edith Brown")
    assert [e.uuid for e in ctx.patient_encounters] == [second.uuid, first.uuid]
    assert [e.uuid for e in ctx.site_encounters] == [neighbour.uuid, second.uuid, first.uuid]
    assert [(t.total, t.now) for t in ctx.news2_trend] == [
        (first.news2.total, False), (ctx.news2_trend[-1].total, True)]  # type: ignore[union-attr]
    assert ctx.news2_trend[-1].total >= 5
    # The site has recorded nothing of her: what her latest earlier record carried.
    assert ctx.resident is None and ctx.last_recorded is not None
    assert (ctx.last_recorded.dnacpr, ctx.last_recorded.usual_news2,
            ctx.last_recorded.respect_plan) == (True, 2, "Comfort first; no hospital admission")
    # Once the site records her (residents-followups' register), the context carries it.
    written = httpx.put(f"{hub.http}/api/v1/residents/{uuid.uuid4()}", headers=bearer(site),
                        json={"base_version": None, "details": RESIDENT})
    assert written.status_code == 200, written.text
    held = HubClient(a.http, hub.http, nora.token).context(call_id).resident
    assert held is not None and held.details.dnacpr is not None
    assert held.details.usual is not None and held.details.usual.news2_total == 3

    # Once nina has the call, it is hers: nora, no longer able to see it on the queue, is
    # told nothing; nina still is. A specialist gets no context; an unknown call is a 404.
    desk = await WsClient.connect(hub.ws, nina.token)
    await desk.send(p.CallClaim(call_id=call_id))
    await desk.expect(p.CallConnected)
    with httpx.Client(base_url=f"{hub.http}/api/v1") as http:
        assert http.get("/context", params={"call_id": call_id},
                        headers=bearer(nina)).status_code == 200
        refused = http.get("/context", params={"call_id": call_id}, headers=bearer(nora))
        assert refused.status_code == 404 and "Edith" not in refused.text
        assert http.get("/context", params={"call_id": call_id},
                        headers=bearer(sam)).status_code == 403
        assert http.get("/context", params={"call_id": "no-such-call"},
                        headers=bearer(nina)).status_code == 404
        assert http.get("/context", headers=bearer(nina)).status_code == 422
        assert http.get("/context", params={"call_id": call_id},
                        headers=bearer(site)).status_code == 403
    with hubdb.sessions() as s:
        audited = set(s.execute(sa.select(RecordAuditEvent.actor, RecordAuditEvent.record_uuid)
                                .where(RecordAuditEvent.detail == f"context {call_id}")))
    assert (nora.principal.participant_id, first.uuid) in audited
    assert (nina.principal.participant_id, neighbour.uuid) in audited


NAMES = ["Harold Brownley", "Brownley Harold", "Haroldine Brownley", "Harold James Brownley",
         "Harold Smith", "Arthur Brownley", "Harold Wright", "Harold Evans", "Edith Brownley",
         "Joan Brownley", "Harold Brownleyson", "Harry Brownley", "Harold Brown",
         "Harold Brownleyfotheringhamshirewood"]  # its pairs are cut at 32 characters


def test_a_full_name_is_found_through_its_word_pairs_exactly_as_the_rule_matches(
        hubdb: HubDatabase) -> None:
    """Each name word is commoner than the pair (so the pair leads); a record with only one
    of the words is never found, one with both in any order or place is, and the hub's
    answer is the rule the desk applies (words_match). The migration's one-statement
    backfill writes the same pair rows as the index does on each write."""
    from importlib import import_module

    from hub.central_store import CentralStore
    from hub.contract.history import words_match
    from hub.db import unit_of_work
    from hub.encounter_index import TERMS
    from hub.encounter_search import EncounterSearch

    nina = hubdb.staff("nina", "nurse").principal
    made = {name: record(n, patient=Patient(name=name, site_id="Oak Lodge"), status="signed_off",
                         nurse="nina", signed_off_by="nina", signed_off_at=NOW)
            for n, name in enumerate(NAMES, start=1)}
    with unit_of_work(hubdb.sessions) as s:
        CentralStore(s, nina).apply(list(made.values()))

    def found(name: str, limit: int = 50) -> list[str]:
        names: list[str] = []
        query = HistoryQuery(name=name, limit=limit)
        while True:
            with unit_of_work(hubdb.sessions) as s:
                page = EncounterSearch(s, nina).page(query, now=NOW)
            names += [e.patient_name or "" for e in page.encounters]
            if page.next_cursor is None:
                return names
            query = query.model_copy(update={"cursor": page.next_cursor})

    for typed in ("Harold Brownley", "brownley harold", "HAROLD brown", "har brownley",
                  "harold brownley harold", "harold harold", "hilda brownley",
                  "harold brownleyfotheringhamshirewoodx", "harold brownleyfotheringhamshire"):
        want = [n for n in NAMES if words_match(typed, n)]  # newest first: NAMES' order
        assert found(typed) == want, typed
        assert found(typed, limit=2) == want, typed  # keyset pages through the pair lead
    assert found("Harold Brownley") == ["Harold Brownley", "Brownley Harold",
                                        "Haroldine Brownley", "Harold James Brownley",
                                        "Harold Brownleyson",
                                        "Harold Brownleyfotheringhamshirewood"]
    assert "Harold Smith" not in found("harold brownley")
    assert "Arthur Brownley" not in found("harold brownley")

    # A new version's name replaces its pairs.
    smith = made["Harold Smith"]
    with unit_of_work(hubdb.sessions) as s:
        CentralStore(s, nina).apply([smith.model_copy(update={
            "version": 2, "amendment_reason": "name spelt wrong",
            "patient": Patient(name="Harold Brownley", site_id="Oak Lodge")})])
    assert found("harold brownley").count("Harold Brownley") == 2
    assert "Harold Brownley" not in found("harold smith")

    # The migration's backfill, from the name words held, gives the rows the index wrote.
    backfill = import_module("hub.migrations.versions.0014_history_names_name_pairs").BACKFILL
    pairs = sa.select(TERMS.c.field, TERMS.c.term, TERMS.c.record_uuid,
                      TERMS.c.occurred_at).where(TERMS.c.field == "pair")
    with unit_of_work(hubdb.sessions) as s:
        written = set(s.execute(pairs).all())
        s.execute(sa.delete(TERMS).where(TERMS.c.field == "pair"))
        s.execute(sa.text(backfill))
        assert set(s.execute(pairs).all()) == written
        assert len(written) == 2 * len(NAMES) + 4  # "Harold James Brownley": 6 pairs
