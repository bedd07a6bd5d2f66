"""The local store: drafts, sign-off, amendments, history, audit and sync state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from records.schema import AvoidedFlags, FollowUp, ObservationSet
from records.store import AuditAction, RecordClosed, RecordNotFound, Store, SyncState
from tests.records.builders import make_record

NOW = datetime(2025, 1, 6, 9, 30, tzinfo=UTC)


def test_sqlite_runs_in_wal_with_full_sync(store: Store) -> None:
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_draft_round_trips_and_news2_is_computed(store: Store) -> None:
    draft = make_record()
    with store.unit_of_work() as uow:
        saved = uow.records.save_draft(draft, "nurse-ann")
    assert saved.news2 is not None
    assert saved.news2.total == 2 + 1 + 3 + 1  # RR 21, SpO2 95, new confusion, pulse 96
    with store.unit_of_work() as uow:
        loaded = uow.records.get(draft.uuid, "nurse-ann")
    assert loaded == saved
    assert loaded.patient is not None and loaded.patient.nhs_number == "9000000009"
    assert loaded.status == "draft" and loaded.version == 1


def test_each_save_draft_is_committed_and_a_failed_action_saves_nothing(store: Store) -> None:
    draft = make_record()
    with store.unit_of_work() as uow:
        uow.records.save_draft(draft, "nurse-ann")
    typed = draft.model_copy(update={"presenting_problem": "Fell at 8am"})
    with pytest.raises(RuntimeError), store.unit_of_work() as uow:
        uow.records.save_draft(typed, "nurse-ann")
        raise RuntimeError("the desk crashed mid-action")
    with store.unit_of_work() as uow:
        assert uow.records.get(draft.uuid, "x").presenting_problem == draft.presenting_problem


def test_save_draft_recomputes_news2_after_model_copy(store: Store) -> None:
    draft = make_record()
    changed = draft.model_copy(
        update={"observations": ObservationSet(pulse=135, consciousness="A")}
    )
    with store.unit_of_work() as uow:
        saved = uow.records.save_draft(changed, "nurse-ann")
    assert saved.news2 is not None and saved.news2.subscores["pulse"] == 3
    assert not saved.news2.complete


def test_sign_off_closes_the_record_and_queues_it(store: Store) -> None:
    draft = make_record(outcome="advice_managed_in_place")
    with store.unit_of_work() as uow:
        uow.records.save_draft(draft, "nurse-ann")
        assert uow.outbox.state(draft.uuid) is None  # drafts are never synced
        signed = uow.records.sign_off(draft.uuid, "nurse-ann")
    assert signed.status == "signed_off" and signed.signed_off_by == "nurse-ann"
    with store.unit_of_work() as uow:
        assert uow.outbox.state(draft.uuid) is SyncState.PENDING
        with pytest.raises(RecordClosed):
            uow.records.save_draft(draft, "nurse-ann")
    with store.unit_of_work() as uow, pytest.raises(RecordClosed):
        uow.records.sign_off(draft.uuid, "nurse-ann")


def test_sign_off_needs_an_outcome(store: Store) -> None:
    draft = make_record()  # no outcome yet
    with store.unit_of_work() as uow:
        uow.records.save_draft(draft, "nurse-ann")
    with pytest.raises(ValidationError, match="outcome"), store.unit_of_work() as uow:
        uow.records.sign_off(draft.uuid, "nurse-ann")
    with store.unit_of_work() as uow:
        assert uow.outbox.state(draft.uuid) is None


def test_amendment_is_a_new_version_and_history_keeps_every_version(store: Store) -> None:
    draft = make_record(outcome="advice_managed_in_place")
    with store.unit_of_work() as uow:
        uow.records.save_draft(draft, "nurse-ann")
        v1 = uow.records.sign_off(draft.uuid, "nurse-ann")
    changed = v1.model_copy(update={"outcome": "gp_referral", "referral_target": "gp"})
    with store.unit_of_work() as uow, pytest.raises(ValueError, match="reason"):
        uow.records.amend(changed, "  ", "nurse-bob")
    with store.unit_of_work() as uow:
        v2 = uow.records.amend(changed, "GP asked to visit after all", "nurse-bob")
    assert (v2.version, v2.outcome, v2.amendment_reason) == (
        2,
        "gp_referral",
        "GP asked to visit after all",
    )
    with store.unit_of_work() as uow:
        history = uow.records.history(draft.uuid, "manager-meg")
        assert [h.version for h in history] == [1, 2]
        assert history[0] == v1 and history[1] == v2
        assert uow.records.get(draft.uuid, "x").version == 2
        assert [e.version for e in uow.outbox.entries()] == [1, 2]
    # Amending from a stale copy would silently drop version 2's changes.
    with store.unit_of_work() as uow, pytest.raises(RecordClosed, match="meanwhile"):
        uow.records.amend(v1, "late edit", "nurse-ann")


def test_a_draft_cannot_be_amended(store: Store) -> None:
    draft = make_record()
    with store.unit_of_work() as uow:
        uow.records.save_draft(draft, "nurse-ann")
    with store.unit_of_work() as uow, pytest.raises(RecordClosed):
        uow.records.amend(draft, "why not", "nurse-ann")


def test_follow_up_confirms_or_withdraws_the_claim_as_an_amendment(store: Store) -> None:
    avoided = AvoidedFlags(admission=True, ae_attendance=True, confirmed_by="nurse-ann",
                           confirmed_at=NOW)  # fmt: skip
    draft = make_record(outcome="advice_managed_in_place", avoided=avoided)
    with store.unit_of_work() as uow:
        uow.records.save_draft(draft, "nurse-ann")
        uow.records.sign_off(draft.uuid, "nurse-ann")
    check = FollowUp(window="72h", checked_at=NOW + timedelta(hours=72), checked_by="nurse-cat",
                     unplanned_attendance=True, unplanned_admission=False)  # fmt: skip
    with store.unit_of_work() as uow:
        after = uow.records.record_follow_up(draft.uuid, check, "nurse-cat")
    assert after.version == 2
    assert after.follow_ups == (check,)
    assert after.amendment_reason == "follow-up 72h: claim withdrawn"
    assert after.avoided == avoided  # the nurse's claim stays; the follow-up sits beside it


def test_avoided_flag_needs_the_confirming_nurse() -> None:
    with pytest.raises(ValidationError, match="confirming nurse"):
        AvoidedFlags(admission=True)


def test_audit_trail_names_who_did_what(store: Store) -> None:
    draft = make_record(outcome="gp_referral")
    with store.unit_of_work() as uow:
        uow.records.save_draft(draft, "nurse-ann")
    with store.unit_of_work() as uow:
        uow.records.save_draft(draft.model_copy(update={"specialist": "dr-dee"}), "nurse-ann")
        uow.records.sign_off(draft.uuid, "nurse-ann")
    with store.unit_of_work() as uow:
        uow.records.get(draft.uuid, "manager-meg")
        uow.audit.add("manager-meg", AuditAction.EXPORTED, draft.uuid, 1, "csv")
    with store.unit_of_work() as uow:
        events = [(e.actor, e.action) for e in uow.audit.events(draft.uuid)]
    assert events == [
        ("nurse-ann", AuditAction.CREATED),
        ("nurse-ann", AuditAction.CHANGED),
        ("nurse-ann", AuditAction.SIGNED_OFF),
        ("manager-meg", AuditAction.READ),
        ("manager-meg", AuditAction.EXPORTED),
    ]


def test_audit_and_outbox_hold_no_patient_data(store: Store, tmp_path: Path) -> None:
    draft = make_record(outcome="gp_referral")
    with store.unit_of_work() as uow:
        uow.records.save_draft(draft, "nurse-ann")
        uow.records.sign_off(draft.uuid, "nurse-ann")
    with store.engine.connect() as connection:
        for table in ("audit_events", "sync_outbox"):
            rows = connection.execute(sa.text(f"SELECT * FROM {table}")).all()
            text = repr(rows)
            assert rows and "9000000009" not in text and "Test Resident" not in text


def test_unknown_record(store: Store) -> None:
    with store.unit_of_work() as uow, pytest.raises(RecordNotFound):
        uow.records.get(make_record().uuid, "x")


def test_duplicate_nhs_number_for_another_patient_is_refused(store: Store) -> None:
    first = make_record()
    assert first.patient is not None
    other = first.patient.model_copy(update={"id": make_record().uuid, "name": "Someone Else"})
    with store.unit_of_work() as uow:
        uow.patients.save(first.patient)
    with pytest.raises(sa.exc.IntegrityError), store.unit_of_work() as uow:
        uow.patients.save(other)
    with store.unit_of_work() as uow:
        found = uow.patients.by_nhs_number("900-000-0009")
    assert found is not None and found.name == "Test Resident"


def test_invalid_codes_and_nhs_numbers_are_refused() -> None:
    with pytest.raises(ValidationError, match="outcomes"):
        make_record(outcome="teleported")
    with pytest.raises(ValidationError, match="soft_signs"):
        make_record(soft_signs=("grumpy",))
    with pytest.raises(ValidationError, match="NHS number"):
        make_record(patient={"name": "X", "nhs_number": "9000000000"})
    with pytest.raises(ValidationError, match="UTC offset"):
        make_record(requested_at=datetime(2025, 1, 6, 9, 0))
