"""Builders of typical records for the records tests."""

from __future__ import annotations

from datetime import UTC, date, datetime

from records.schema import ObservationSet, Patient, SbardNotes, TriageRecord


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
