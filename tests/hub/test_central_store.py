"""The central store in a real hub on loopback, on SQLite and PostgreSQL, fed by the real sync."""

from __future__ import annotations

import csv
import io
import json
import os
import random
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
import sqlalchemy as sa
from fhir.resources.R4B.bundle import Bundle

from hub.client import Backoff, HubClient
from hub.contract.rest import MAX_BATCH
from hub.models import CentralRecordVersion, RecordAuditEvent, central_records
from records.export import format_value
from records.schema import TriageRecord
from records.store import Store, SyncState
from records.sync import SyncRunner
from tests.helpers.hubserver import HubDatabase, ProcessHub, ThreadedHub, free_port
from tests.helpers.waiting import wait_until
from tests.records.builders import make_record

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
RESIDENT = make_record().patient  # one resident (test NHS number 9000000009) across calls


def signed(n: int = 0, **changes: Any) -> TriageRecord:
    """A signed-off version as a desk would push it (call n is requested n hours after T0)."""
    base: dict[str, Any] = {
        "call_id": f"call-{n}",
        "requested_at": T0 + timedelta(hours=n),
        "answered_at": T0 + timedelta(hours=n, minutes=2),
        "status": "signed_off",
        "outcome": "advice_managed_in_place",
        "signed_off_at": T0 + timedelta(hours=n, minutes=20),
        # The pushing nurse's own user name: the hub stamps who wrote a version
        # (hub/authorship.py), so a body naming anyone else would be stored otherwise.
        "nurse": "ann",
        "signed_off_by": "ann",
        "patient": RESIDENT,
    }
    return make_record(**{**base, **changes})


def amended(record: TriageRecord, **changes: Any) -> TriageRecord:
    data = record.model_dump(exclude={"news2"})
    return TriageRecord.model_validate({**data, "version": record.version + 1,
                                        "amendment_reason": "follow-up", **changes})  # fmt: skip


class Desk:
    """An HTTP client of the hub holding one principal's token."""

    def __init__(self, hub: ThreadedHub, token: str) -> None:
        self.http = httpx.Client(base_url=hub.http, timeout=10.0,
                                 headers={"Authorization": f"Bearer {token}"})  # fmt: skip

    def put(self, record: TriageRecord, path_uuid: UUID | None = None) -> httpx.Response:
        return self.http.put(f"/api/v1/records/{path_uuid or record.uuid}",
                             content=record.model_dump_json(),
                             headers={"Content-Type": "application/json"})  # fmt: skip

    def batch(self, records: list[TriageRecord]) -> httpx.Response:
        body = '{"records":[' + ",".join(r.model_dump_json() for r in records) + "]}"
        return self.http.post("/api/v1/records:batch", content=body,
                              headers={"Content-Type": "application/json"})  # fmt: skip


@pytest.fixture
def nurse(hub: ThreadedHub, hubdb: HubDatabase) -> Iterator[Desk]:
    desk = Desk(hub, hubdb.staff("ann", "nurse").token)
    yield desk
    desk.http.close()


@pytest.fixture
def manager(hub: ThreadedHub, hubdb: HubDatabase) -> Iterator[Desk]:
    desk = Desk(hub, hubdb.staff("meg", "manager").token)
    yield desk
    desk.http.close()


def table_counts(hubdb: HubDatabase) -> dict[str, int]:
    with hubdb.sessions() as s:
        return {
            name: int(s.scalar(sa.select(sa.func.count()).select_from(table)) or 0)
            for name, table in (
                ("records", central_records),
                ("versions", CentralRecordVersion.__table__),
                ("audit", RecordAuditEvent.__table__),
            )
        }


def audit(hubdb: HubDatabase, action: str | None = None) -> list[RecordAuditEvent]:
    with hubdb.sessions() as s:
        query = sa.select(RecordAuditEvent).order_by(RecordAuditEvent.id)
        if action is not None:
            query = query.where(RecordAuditEvent.action == action)
        return list(s.scalars(query))


# --- the real sync client against the real hub ----------------------------------------------


def test_sync_runner_pushes_a_backlog_to_the_hub_and_every_version_is_readable(
    hub: ThreadedHub, hubdb: HubDatabase, nurse: Desk, tmp_path: Path
) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'desk.db'}")
    token = hubdb.staff("bob", "nurse").token
    with store.unit_of_work() as uow:
        uuids = []
        for n in range(120):
            draft = make_record(call_id=f"call-{n}", patient=None, outcome="gp_referral",
                                nurse="bob")
            uow.records.save_draft(draft, "bob")
            uow.records.sign_off(draft.uuid, "bob")
            uuids.append(draft.uuid)
    with httpx.Client(base_url=hub.http, timeout=10) as http:
        runner = SyncRunner(store, HubClient(http, hub.http, token), batch_size=50,
                            backoff=Backoff(initial=0.05, maximum=0.2, rng=random.Random(1)))
        assert runner.run_until_idle() == 120
        # An amendment after sync is a new version, pushed alone with PUT.
        with store.unit_of_work() as uow:
            first = uow.records.get(uuids[0], "bob")
            uow.records.amend(first.model_copy(update={"presenting_problem": "Fell at 8"}),
                              "more history from the carer", "bob")  # fmt: skip
        assert runner.run_until_idle() == 1
        # The desk dies after the hub answered, before it marked the entries: pushed again.
        with store.unit_of_work() as uow:
            uow.session.execute(sa.text("UPDATE sync_outbox SET state = 'pending'"))
        assert runner.run_until_idle() == 121
    with store.unit_of_work() as uow:
        assert uow.outbox.counts()[SyncState.SYNCED] == 121
        local = {u: uow.records.history(u, "x") for u in uuids}
    store.close()

    for u in uuids[:5]:
        assert TriageRecord.model_validate_json(nurse.http.get(f"/api/v1/records/{u}").content) \
            == local[u][-1]  # fmt: skip
    got = nurse.http.get(f"/api/v1/records/{uuids[0]}", params={"version": 1})
    assert TriageRecord.model_validate_json(got.content) == local[uuids[0]][0]
    versions = nurse.http.get(f"/api/v1/records/{uuids[0]}/versions").json()
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[1]["amendment_reason"] == "more history from the carer"
    assert table_counts(hubdb)["versions"] == 121
    writes = audit(hubdb, "write")
    # Every push is audited with its answer: 120 + 1 stored, then 121 unchanged.
    assert sorted(e.detail or "" for e in writes).count("stored") == 121
    assert sorted(e.detail or "" for e in writes).count("unchanged") == 121
    assert {e.actor_name for e in writes} == {"Bob"}


def test_a_hub_killed_mid_backlog_is_caught_up_once_it_returns(
    hubdb: HubDatabase, tmp_path: Path
) -> None:
    """The hub process dies (SIGKILL) while a desk drains its backlog and comes back later on
    the same database and port: every version arrives, each stored exactly once."""
    store = Store.open(f"sqlite:///{tmp_path / 'desk.db'}")
    token = hubdb.staff("dee", "nurse").token
    with store.unit_of_work() as uow:
        for n in range(150):
            draft = make_record(call_id=f"call-{n}", patient=None, outcome="gp_referral")
            uow.records.save_draft(draft, "nurse-dee")
            signed_off = uow.records.sign_off(draft.uuid, "nurse-dee")
            if n % 10 == 0:  # some records carry a second version, pushed after the first
                uow.records.amend(signed_off.model_copy(update={"specialist": "dr-dee"}),
                                  "specialist joined", "nurse-dee")  # fmt: skip
    with store.unit_of_work() as uow:
        wanted = {(e.record_uuid, e.version) for e in uow.outbox.entries()}
    assert len(wanted) == 165

    def synced() -> int:
        with store.unit_of_work() as uow:
            return uow.outbox.counts()[SyncState.SYNCED]

    port = free_port()
    hub = ProcessHub(hubdb.url, "--port", str(port))
    http = httpx.Client(base_url=hub.http, timeout=5)
    runner = SyncRunner(store, HubClient(http, hub.http, token), batch_size=10,
                        backoff=Backoff(initial=0.05, maximum=0.4, rng=random.Random(3)),
                        idle_interval=0.05)  # fmt: skip
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,), name="desk-sync")
    thread.start()
    try:
        wait_until(lambda: synced() >= 30, 30, "the first batches to sync")
        hub.kill()  # mid-backlog, quite possibly mid-transaction or mid-answer
        hub.stop()
        assert synced() < len(wanted)
        wait_until(lambda: runner.failures >= 2, 30, "the desk to notice the hub was gone")
        assert synced() < len(wanted)  # nothing is marked synced while the hub is down
        hub = ProcessHub(hubdb.url, "--port", str(port))
        wait_until(lambda: synced() == len(wanted), 30, "the backlog to be caught up")
    finally:
        stop.set()
        thread.join(10)
        http.close()
        hub.stop()
        store.close()

    with hubdb.sessions() as s:
        v = CentralRecordVersion
        held = [(u, n) for u, n in s.execute(sa.select(v.record_uuid, v.version))]
        latest = dict(s.execute(sa.select(central_records.c.uuid, central_records.c.version)).all())
    assert len(held) == len(wanted) and set(held) == wanted
    assert latest == {u: n for u, n in sorted(wanted, key=lambda k: k[1])}
    writes = audit(hubdb, "write")
    # Stored once each; a batch committed just before the kill was pushed again: "unchanged".
    assert Counter((e.record_uuid, e.version) for e in writes if e.detail == "stored") == \
        Counter(wanted)  # fmt: skip
    assert {e.detail for e in writes} <= {"stored", "unchanged"}


def test_put_is_idempotent_and_batch_answers_in_request_order(
    hubdb: HubDatabase, nurse: Desk
) -> None:
    a, b = signed(1), signed(2)
    first = nurse.put(a)
    assert first.status_code == 201
    assert first.json() == {"uuid": str(a.uuid), "version": 1, "status": "stored"}
    again = nurse.put(a)
    assert again.status_code == 200 and again.json()["status"] == "unchanged"
    answer = nurse.batch([b, a, amended(a)])
    assert answer.status_code == 200
    assert [(r["uuid"], r["version"], r["status"]) for r in answer.json()["results"]] == [
        (str(b.uuid), 1, "stored"), (str(a.uuid), 1, "unchanged"), (str(a.uuid), 2, "stored"),
    ]  # fmt: skip
    assert nurse.batch([b, a, amended(a)]).json()["results"][2]["status"] == "unchanged"
    assert table_counts(hubdb)["versions"] == 3
    latest = nurse.http.get(f"/api/v1/records/{a.uuid}").json()
    assert latest["version"] == 2


def test_conflicts_both_ways_never_overwrite(hubdb: HubDatabase, nurse: Desk) -> None:
    v1 = signed(1)
    v2 = amended(v1, presenting_problem="Worse since noon")
    assert nurse.batch([v1, v2]).status_code == 200
    # The store is ahead of this desk: an older version is refused.
    older = v1.model_copy(update={"presenting_problem": "changed offline"})
    late = nurse.put(older)
    assert late.status_code == 409 and late.json()["held_version"] == 2
    # The desk is ahead but its version clashes: same version, other content.
    clash = amended(v1, presenting_problem="Another desk's amendment")
    answer = nurse.put(clash)
    assert answer.status_code == 409 and answer.json()["held_version"] == 2
    results = nurse.batch([older, clash]).json()["results"]
    assert [(r["status"], r["held_version"]) for r in results] == [("conflict", 2)] * 2
    held = TriageRecord.model_validate_json(nurse.http.get(f"/api/v1/records/{v1.uuid}").content)
    assert held == v2
    first = nurse.http.get(f"/api/v1/records/{v1.uuid}", params={"version": 1})
    assert TriageRecord.model_validate_json(first.content) == v1
    assert table_counts(hubdb)["versions"] == 2
    details = [e.detail for e in audit(hubdb, "write")]
    assert details.count("conflict") == 4


def test_the_real_sync_marks_a_conflict_and_leaves_the_store_as_it_was(
    hub: ThreadedHub, hubdb: HubDatabase, nurse: Desk, tmp_path: Path
) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'desk.db'}")
    with store.unit_of_work() as uow:
        draft = make_record(outcome="gp_referral")
        uow.records.save_draft(draft, "nurse-ann")
        mine = uow.records.sign_off(draft.uuid, "nurse-ann")
    theirs = amended(mine.model_copy(update={"presenting_problem": "elsewhere"}))
    other = mine.model_copy(update={"presenting_problem": "someone else's take"})
    assert nurse.batch([other, theirs]).status_code == 200
    with httpx.Client(base_url=hub.http, timeout=10) as http:
        specialist = hubdb.staff("cy", "specialist").token
        assert SyncRunner(store, HubClient(http, hub.http, specialist)).run_until_idle() == 1
    with store.unit_of_work() as uow:
        [entry] = uow.outbox.entries()
    store.close()
    assert entry.state is SyncState.CONFLICT and entry.held_version == 2
    got = nurse.http.get(f"/api/v1/records/{mine.uuid}", params={"version": 1}).json()
    assert got["presenting_problem"] == "someone else's take"


def _contenders(base: TriageRecord, held: bool) -> list[TriageRecord]:
    """Four different pushes of one record: two clashing takes of one version, and two of
    the version after it (versions are contiguous: one that arrives before its predecessor
    is held is refused as a gap)."""
    first = amended(base) if held else base
    clash = first.model_copy(update={"presenting_problem": "the other desk's take"})
    later = amended(first, presenting_problem="worse")
    return [first, clash, later, later.model_copy(update={"presenting_problem": "worse still"})]


def test_concurrent_versions_of_one_record_are_decided_one_at_a_time(
    hub: ThreadedHub, hubdb: HubDatabase
) -> None:
    """Four desks push versions of one record at the same instant, many times over.

    The decision (store or conflict) and the write must be one atomic step: a lower version
    never lands after a higher one, every loser is told 409/conflict with the newer version,
    and what the store holds is exactly what it answered "stored" for.
    """
    token = hubdb.staff("cas", "nurse").token
    desks = [Desk(hub, token) for _ in range(4)]
    barrier = threading.Barrier(len(desks))

    def push(desk: Desk, record: TriageRecord, as_batch: bool) -> tuple[int, str, int | None]:
        barrier.wait(10)
        if as_batch:  # both routes share the decision; half the desks use each
            answer = desk.batch([record])
            if answer.status_code == 422:  # its predecessor was not held yet
                assert answer.json()["detail"][0]["type"] == "version_gap", answer.text
                return record.version, "gap", None
            assert answer.status_code == 200, answer.text
            [result] = answer.json()["results"]
            return record.version, result["status"], result["held_version"]
        answer = desk.put(record)
        assert answer.status_code in (201, 409, 422), answer.text
        if answer.status_code == 422:
            assert answer.json()["detail"][0]["type"] == "version_gap", answer.text
            return record.version, "gap", None
        status = "stored" if answer.status_code == 201 else "conflict"
        return record.version, status, answer.json().get("held_version")

    rounds = 16
    try:
        with ThreadPoolExecutor(len(desks)) as pool:
            for n in range(rounds):
                base = signed(n)
                held = n % 2 == 0  # even rounds: v1 is held already; odd: a brand-new record
                if held:
                    assert desks[0].put(base).status_code == 201
                contenders = _contenders(base, held)
                answers = list(pool.map(push, desks, contenders, [k % 2 == 1 for k in range(4)]))
                stored = sorted(v for v, status, _ in answers if status == "stored")
                with hubdb.sessions() as s:
                    v = CentralRecordVersion
                    landed = [number for (number,) in s.execute(
                        sa.select(v.version).where(v.record_uuid == base.uuid)
                        .order_by(v.stored_at, v.version))]  # fmt: skip
                    latest = s.scalar(sa.select(central_records.c.version)
                                      .where(central_records.c.uuid == base.uuid))  # fmt: skip
                # Held exactly what was answered "stored", and each landed after every lower one.
                assert landed == sorted(([1] if held else []) + stored), (n, answers, landed)
                assert latest == landed[-1]
                assert len(stored) == len(set(stored))  # one take of a clashing version at most
                for version, status, held_version in answers:
                    if status == "conflict":
                        assert held_version is not None and held_version >= version, answers
                        assert held_version in landed
    finally:
        for desk in desks:
            desk.http.close()
    writes = [e.detail for e in audit(hubdb, "write")]
    # Every push audited once with its answer (a gap is refused whole: no audit, nothing
    # stored): 4 contenders a round, plus the held v1s.
    assert writes.count("stored") + writes.count("conflict") <= rounds * 4 + rounds // 2
    assert writes.count("stored") >= rounds + rounds // 2  # one take of each first version


# --- who may do what ------------------------------------------------------------------------


def test_roles(hub: ThreadedHub, hubdb: HubDatabase, nurse: Desk, manager: Desk) -> None:
    record = signed(1)
    assert nurse.put(record).status_code == 201
    before = table_counts(hubdb)
    site = Desk(hub, hubdb.site("Oak House").token)
    admin = Desk(hub, hubdb.staff("root", "admin").token)
    specialist = Desk(hub, hubdb.staff("sam", "specialist").token)
    anonymous = httpx.Client(base_url=hub.http)
    read = f"/api/v1/records/{record.uuid}"
    export = "/api/v1/records:export?from=2025-01-01&to=2025-12-31"
    for who in (site, admin):
        assert who.http.get(read).status_code == 403
        assert who.http.get(f"{read}/versions").status_code == 403
        assert who.http.get("/api/v1/records").status_code == 403
        assert who.http.get(export).status_code == 403
        assert who.put(signed(2)).status_code == 403
        assert who.batch([signed(2)]).status_code == 403
    assert manager.put(signed(3)).status_code == 403
    assert specialist.http.get("/api/v1/records").status_code == 403
    assert nurse.http.get(export).status_code == 403
    assert anonymous.get(read).status_code == 401
    assert anonymous.put(read, content=record.model_dump_json()).status_code == 401
    assert table_counts(hubdb) == before  # refusals change nothing, audit included
    # A specialist reads only the records of calls they took part in (this one they were
    # not in: as if it did not exist); tests/hub/test_least_privilege.py has the rest.
    assert specialist.http.get(read).status_code == 404
    assert manager.http.get(read).status_code == 200
    assert manager.http.get("/api/v1/records").status_code == 200
    assert specialist.put(signed(4)).status_code == 201
    for c in (site.http, admin.http, specialist.http, anonymous):
        c.close()


def test_reads_queries_and_exports_are_audited_without_patient_data(
    hubdb: HubDatabase, nurse: Desk, manager: Desk
) -> None:
    records = [signed(n) for n in range(3)]
    nurse.batch(records)
    nurse.http.get(f"/api/v1/records/{records[0].uuid}")
    manager.http.get("/api/v1/records", params={"nhs_number": "900 000 0009"})
    assert manager.http.get("/api/v1/records:export",
                            params={"from": "2025-01-06", "to": "2025-01-06"}).status_code == 200
    reads = audit(hubdb, "read")
    assert [(e.actor_name, e.actor_role, e.record_uuid, e.version, e.detail) for e in reads] == [
        ("Ann", "nurse", records[0].uuid, 1, None),
        *(("Meg", "manager", r.uuid, 1, "query") for r in records),
    ]  # fmt: skip
    [exported] = audit(hubdb, "export")
    assert exported.actor_name == "Meg" and exported.detail is not None
    assert "records=3" in exported.detail and "format=csv" in exported.detail
    assert all(e.at <= datetime.now(UTC) for e in reads)
    for event in audit(hubdb):
        assert "9000000009" not in (event.detail or "")
        assert "Test Resident" not in (event.detail or "")


def test_query_by_site_date_range_and_patient_in_pages(nurse: Desk) -> None:
    assert RESIDENT is not None
    other = RESIDENT.model_copy(update={"id": uuid4(), "nhs_number": "9434765919"})
    records = [signed(n * 24, site_id="site-7" if n % 2 else "site-9",
                      patient=other if n == 3 else RESIDENT) for n in range(6)]  # fmt: skip
    assert nurse.batch(records).status_code == 200

    def query(**params: Any) -> list[UUID]:
        answer = nurse.http.get("/api/v1/records", params=params)
        assert answer.status_code == 200, answer.text
        return [UUID(r["uuid"]) for r in answer.json()["records"]]

    assert query() == [r.uuid for r in records]
    assert query(site_id="site-7") == [records[1].uuid, records[3].uuid, records[5].uuid]
    assert query(**{"from": "2025-01-07", "to": "2025-01-08"}) == [records[1].uuid,
                                                                  records[2].uuid]  # fmt: skip
    assert query(nhs_number="943-476-5919") == [records[3].uuid]
    assert query(nhs_number="9434765919", site_id="site-9") == []
    page = nurse.http.get("/api/v1/records", params={"limit": 4}).json()
    assert page["next_offset"] == 4
    rest = nurse.http.get("/api/v1/records", params={"limit": 4, "offset": 4}).json()
    assert rest["next_offset"] is None and len(rest["records"]) == 2
    assert nurse.http.get("/api/v1/records", params={"nhs_number": "1234567890"}
                          ).status_code == 422  # fmt: skip
    assert nurse.http.get("/api/v1/records", params={"from": "2025-02-01", "to": "2025-01-01"}
                          ).status_code == 422  # fmt: skip
    assert nurse.http.get(f"/api/v1/records/{uuid4()}").status_code == 404


# --- bad payloads change nothing ------------------------------------------------------------


def test_bad_payloads_are_refused_with_4xx_and_change_nothing(
    hubdb: HubDatabase, nurse: Desk
) -> None:
    good = signed(1)
    assert nurse.put(good).status_code == 201
    before = table_counts(hubdb)
    body = json.loads(good.model_dump_json())
    fresh = signed(2)
    url = f"/api/v1/records/{fresh.uuid}"
    json_headers = {"Content-Type": "application/json"}

    def put_raw(content: bytes | str, path: str = url) -> httpx.Response:
        return nurse.http.put(path, content=content, headers=json_headers)

    cases: list[tuple[str, httpx.Response, int]] = [
        ("malformed JSON", put_raw('{"uuid": '), 422),
        ("not an object", put_raw("[1, 2]"), 422),
        ("wrong type", put_raw(json.dumps({**json.loads(fresh.model_dump_json()),
                                           "version": "two"})), 422),
        ("unknown field", put_raw(json.dumps({**json.loads(fresh.model_dump_json()),
                                              "favourite_colour": "blue"})), 422),
        ("uuid mismatch", nurse.put(fresh, path_uuid=uuid4()), 422),
        ("a draft", nurse.put(make_record()), 422),
        ("bad NHS number", put_raw(fresh.model_dump_json().replace("9000000009", "9000000000")),
         422),
        ("news2 not matching", put_raw(json.dumps({**json.loads(fresh.model_dump_json()),
                                                   "news2": {**body["news2"], "total": 0}})),
         422),
        ("oversized", put_raw(b'{"presenting_problem": "' + b"x" * (1024 * 1024 + 10) + b'"}'),
         413),
        ("batch not JSON", nurse.http.post("/api/v1/records:batch", content=b"\xff\xfe",
                                           headers=json_headers), 422),
        ("batch with one bad record", nurse.http.post(
            "/api/v1/records:batch", headers=json_headers,
            content=json.dumps({"records": [json.loads(fresh.model_dump_json()),
                                            {**body, "setting": "moon_base"}]})), 422),
        ("empty batch", nurse.batch([]), 422),
        ("batch too big", nurse.http.post(
            "/api/v1/records:batch", headers=json_headers,
            content=json.dumps({"records": [{}] * (MAX_BATCH + 1)})), 413),
    ]  # fmt: skip
    for name, response, expected in cases:
        assert response.status_code == expected, (name, response.text)
        assert "detail" in response.json(), name
    # Error details name the problem but do not echo the patient data back.
    mismatch = put_raw(fresh.model_dump_json().replace("9000000009", "9000000000"))
    assert "9000000000" not in mismatch.text
    assert table_counts(hubdb) == before
    assert nurse.put(fresh).status_code == 201  # and the hub still works


# --- exports ------------------------------------------------------------------------------


def _two_months() -> list[TriageRecord]:
    records = [signed(n * 12, outcome=random.Random(n).choice(
        ["advice_managed_in_place", "gp_referral", "ae_referral"])) for n in range(40)]  # fmt: skip
    records[3] = signed(36, intended_action="ae", outcome="advice_managed_in_place",
                        avoided={"ae_attendance": True, "confirmed_by": "nurse-ann",
                                 "confirmed_at": T0}, specialist="dr-who")  # fmt: skip
    return records


def test_hub_export_csv_reads_back_as_the_records_it_holds(
    hubdb: HubDatabase, nurse: Desk, manager: Desk
) -> None:
    records = _two_months()
    nurse.batch(records)
    v2 = amended(records[5], outcome="gp_referral")
    nurse.put(v2)
    answer = manager.http.get("/api/v1/records:export",
                              params={"from": "2025-01-06", "to": "2025-01-15"})  # fmt: skip
    assert answer.status_code == 200
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    expected = [v2 if r.uuid == v2.uuid else r for r in records if r.requested_at
                and r.requested_at.date() <= date(2025, 1, 15)]  # fmt: skip
    assert int(answer.headers["X-Record-Count"]) == len(expected) == len(rows)
    for row, record in zip(rows, expected, strict=True):
        assert row["record_uuid"] == str(record.uuid)
        assert row["version"] == str(record.version)
        assert row["outcome"] == record.outcome
        assert row["requested_at"] == format_value(record.requested_at)
        assert row["nhs_number"] == "9000000009"
        assert row["news2_total"] == str(record.news2.total)  # type: ignore[union-attr]
        assert row["ae_attendance_avoided"] == format_value(record.avoided.ae_attendance)
        assert row["soft_signs"] == ";".join(record.soft_signs)
    assert rows[3]["specialist"] == "dr-who" and rows[3]["intended_action"] == "ae"


def test_hub_export_fhir_validates_and_xlsx_opens(nurse: Desk, manager: Desk) -> None:
    from openpyxl import load_workbook

    records = _two_months()[:10]
    nurse.batch(records)
    params = {"from": "2025-01-01", "to": "2025-01-31"}
    fhir = manager.http.get("/api/v1/records:export", params={**params, "format": "fhir"})
    bundle = Bundle.model_validate_json(fhir.content)
    kinds = [e.resource.get_resource_type() for e in bundle.entry or [] if e.resource]
    assert kinds.count("Encounter") == 10 and kinds.count("Patient") == 1
    xlsx = manager.http.get("/api/v1/records:export", params={**params, "format": "xlsx"})
    sheet = load_workbook(io.BytesIO(xlsx.content), read_only=True).active
    values = list(sheet.iter_rows(values_only=True))
    assert len(values) == 11 and values[1][0] == str(records[0].uuid)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hub.export_cli", *args],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})  # fmt: skip


def test_telehub_export_from_the_hub_and_from_the_database_agree(
    hub: ThreadedHub, hubdb: HubDatabase, nurse: Desk, tmp_path: Path
) -> None:
    records = _two_months()
    nurse.batch(records)
    token = hubdb.staff("meg", "manager").token
    period = ("--from", "2025-01-01", "--to", "2025-02-28")
    via_hub, via_db = tmp_path / "hub.csv", tmp_path / "db.csv"
    done = _cli(*period, "--hub", hub.http, "--out", str(via_hub), "--progress",
                env={"TELEHUB_TOKEN": token})  # fmt: skip
    assert done.returncode == 0, done.stderr
    done = _cli(*period, "--db", hubdb.url, "--out", str(via_db), "--progress")
    assert done.returncode == 0, done.stderr
    assert "100%" in done.stderr and f"{len(records)}/{len(records)}" in done.stderr
    assert via_hub.read_bytes() == via_db.read_bytes()
    assert len(list(csv.DictReader(io.StringIO(via_db.read_text())))) == len(records)
    fhir = tmp_path / "db.json"
    assert _cli(*period, "--db", hubdb.url, "--format", "fhir", "--out", str(fhir)).returncode == 0
    Bundle.model_validate_json(fhir.read_bytes())
    # Refused (a nurse may not export) or unreachable: a message, and no file at all.
    refused = tmp_path / "refused.csv"
    done = _cli(*period, "--hub", hub.http, "--out", str(refused),
                env={"TELEHUB_TOKEN": hubdb.staff("nel", "nurse").token})  # fmt: skip
    assert done.returncode == 1 and "manager" in done.stderr
    done = _cli(*period, "--hub", "http://127.0.0.1:9", "--out", str(refused),
                env={"TELEHUB_TOKEN": token})  # fmt: skip
    assert done.returncode == 1 and "cannot reach" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("hub.db")) == [
        "db.csv", "db.json", "hub.csv"]  # fmt: skip


def test_migrations_to_head_match_the_models(hubdb: HubDatabase) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    import hub.models  # noqa: F401  (the tables on Base.metadata)
    from hub.db import Base

    with hubdb.sessions.kw["bind"].connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
