"""TriageRecords.search: the history list's one query (text, status, sync state, dates)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from records.schema import Patient, TriageRecord
from records.store import RecordSummary, Store, SyncState
from tests.records.builders import make_record

DAY = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def save(store: Store, record: TriageRecord, *, sign: bool = False) -> TriageRecord:
    with store.unit_of_work() as uow:
        saved = uow.records.save_draft(record, "nurse-ann")
        if sign:
            saved = uow.records.sign_off(record.uuid, "nurse-ann")
    return saved


@pytest.fixture
def three(store: Store) -> tuple[TriageRecord, TriageRecord, TriageRecord]:
    """A signed-off record with the test patient (day 0), a draft at another home with
    nobody named (day 2), and a signed-off one about "100% oxygen_mask" (day 5)."""
    first = save(store, make_record(outcome="discharged_home"), sign=True)
    second = save(store, make_record(
        call_id="call-2", site_id="Oak Lodge", patient=None, requested_at=DAY + timedelta(2),
        answered_at=DAY + timedelta(2), presenting_problem="Fall in the lounge"))
    third = save(store, make_record(
        call_id="call-3", site_id="site-9", requested_at=DAY + timedelta(5),
        answered_at=DAY + timedelta(5),
        patient=Patient(nhs_number="943 476 5919", name="Edith Test"),
        presenting_problem="Needs 100% oxygen_mask", outcome="gp_referral"), sign=True)
    return first, second, third


def uuids(rows: list[RecordSummary]) -> list[object]:
    return [r.uuid for r in rows]


def test_everything_newest_change_first_with_its_sync_state(
        store: Store, three: tuple[TriageRecord, ...]) -> None:
    first, second, third = three
    with store.unit_of_work() as uow:
        rows = uow.records.search()
    assert uuids(rows) == [third.uuid, second.uuid, first.uuid]
    by = {r.uuid: r for r in rows}
    assert by[first.uuid].sync is SyncState.PENDING and by[second.uuid].sync is None
    assert by[first.uuid].patient == "Test Resident" and by[second.uuid].patient == ""
    assert by[first.uuid].nhs_number == "9000000009"
    assert by[second.uuid].call_at == DAY + timedelta(2)
    assert by[third.uuid].news2_total is not None and by[third.uuid].outcome == "gp_referral"


def test_text_matches_site_problem_patient_outcome_and_nhs_number(
        store: Store, three: tuple[TriageRecord, ...]) -> None:
    first, second, third = three
    with store.unit_of_work() as uow:
        search = uow.records.search
        assert uuids(search("oak lodge")) == [second.uuid]  # case aside
        assert uuids(search("LOUNGE")) == [second.uuid]
        assert uuids(search("edith")) == [third.uuid]
        assert uuids(search("discharged")) == [first.uuid]
        assert uuids(search("943 476 5919")) == [third.uuid]  # as typed, spaced
        assert uuids(search("943-476")) == [third.uuid]
        assert uuids(search("100%")) == [third.uuid]  # a typed % is not a wildcard
        assert search("n_eds") == []  # nor is _
        assert search("nothing like it") == []


def test_status_sync_and_dates_filter(store: Store,
                                      three: tuple[TriageRecord, ...]) -> None:
    first, second, third = three
    with store.unit_of_work() as uow:
        uow.outbox.mark(uow.outbox.due(10)[0].id, SyncState.SYNCED)
    with store.unit_of_work() as uow:
        search = uow.records.search
        assert uuids(search(status="draft")) == [second.uuid]
        assert uuids(search(status="signed_off")) == [third.uuid, first.uuid]
        synced = search(sync=SyncState.SYNCED)
        assert len(synced) == 1 and synced[0].sync is SyncState.SYNCED
        pending = search(sync=SyncState.PENDING)
        assert uuids(pending) == [u for u in (third.uuid, first.uuid) if u != synced[0].uuid]
        assert uuids(search(since=DAY + timedelta(1))) == [third.uuid, second.uuid]
        assert uuids(search(until=DAY + timedelta(2))) == [first.uuid]  # until excluded
        assert uuids(search(since=DAY + timedelta(2), until=DAY + timedelta(3))) == [
            second.uuid]
        assert uuids(search("test", status="signed_off", since=DAY + timedelta(1))) == [
            third.uuid]
        assert len(search(limit=2)) == 2


def test_an_amended_record_shows_its_latest_version_and_that_versions_sync(
        store: Store, three: tuple[TriageRecord, ...]) -> None:
    first = three[0]
    with store.unit_of_work() as uow:
        for entry in uow.outbox.due(10):
            uow.outbox.mark(entry.id, SyncState.SYNCED)
    with store.unit_of_work() as uow:
        current = uow.records.get(first.uuid, "nurse-ann")
        uow.records.amend(current.model_copy(update={"outcome": "gp_referral"}),
                          "GP visit arranged", "nurse-ann")
    with store.unit_of_work() as uow:
        row = next(r for r in uow.records.search() if r.uuid == first.uuid)
    assert (row.version, row.outcome, row.sync) == (2, "gp_referral", SyncState.PENDING)
