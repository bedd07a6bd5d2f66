"""Builders of typical records for the records tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from records.schema import AvoidedFlags, ObservationSet, Patient, SbardNotes, TriageRecord
from records.store import Store


def make_record(**changes: object) -> TriageRecord:
    """A care-home draft with a test patient (9000000009 is a never-issued test number)."""
    base: dict[str, object] = {
        "call_id": "call-1",
        "requested_at": datetime(2025, 1, 6, 9, 0, tzinfo=UTC),
        "answered_at": datetime(2025, 1, 6, 9, 2, tzinfo=UTC),
        "site_id": "site-7",
        "setting": "care_home",
        "patient": Patient(
            nhs_number="900 000 0009",
            name="Test Resident",
            date_of_birth=date(1931, 5, 4),
            site_id="site-7",
            dnacpr=True,
            usual_news2=2,
        ),
        "presenting_problem": "More confused since this morning",
        "observations": ObservationSet(
            respiration_rate=21,
            spo2=95,
            on_oxygen=False,
            systolic_bp=118,
            pulse=96,
            consciousness="C",
            temperature=37.9,
        ),
        "soft_signs": ("change_in_confusion", "increased_tiredness"),
        "sbard": SbardNotes(situation="New confusion", decision="Review in 4 hours"),
        "intended_action": "ambulance_999",
        "nurse": "nurse-ann",
    }
    return TriageRecord.model_validate({**base, **changes})


def signed_off_claim(store: Store, actor: str, days_ago: float, **avoided: bool) -> TriageRecord:
    """A record signed off in ``store`` by ``actor`` whose call was ``days_ago``, claiming the
    ``avoided`` flags (confirmed by ``actor``); all of one test resident (one patient row)."""
    at = datetime.now(UTC) - timedelta(days=days_ago)
    draft = make_record(call_id=None, patient=_RESIDENT, requested_at=at, answered_at=at,
                        outcome="gp_referral", nurse=actor,
                        avoided=AvoidedFlags(**avoided, confirmed_by=actor, confirmed_at=at))
    with store.unit_of_work() as uow:
        uow.records.save_draft(draft, actor)
        return uow.records.sign_off(draft.uuid, actor)


_RESIDENT = make_record().patient
