"""The coded vocabularies: sources named, SNOMED codes as REFERENCE.md gives them, shared values."""

from __future__ import annotations

import pytest

from hub.contract.identity import SiteKind
from hub.contract.signaling import IntendedAction
from records import codes
from records.tables import TableError, load_table

TABLES = ["outcomes", "intended_actions", "referral_targets", "soft_signs", "settings",
          "avoided_rules", "news2_chart", "news2_bands", "news2_limits"]  # fmt: skip


@pytest.mark.parametrize("name", TABLES)
def test_every_row_names_its_source(name: str) -> None:
    rows = load_table(name)
    assert rows
    assert all(row["source"].strip() for row in rows)


def test_missing_table_is_a_clear_error() -> None:
    with pytest.raises(TableError, match="no_such_table"):
        load_table("no_such_table")


def test_intended_actions_match_the_calls_protocol() -> None:
    assert set(codes.intended_actions().codes) == {action.value for action in IntendedAction}


def test_settings_match_the_calls_protocol_site_kinds() -> None:
    assert set(codes.settings().codes) == {kind.value for kind in SiteKind}


def test_outcome_snomed_codes_are_those_in_reference() -> None:
    table = codes.outcomes()
    assert table["gp_referral"].snomed_code == "183561008"
    assert table["specialist_referral"].snomed_code == "103696004"
    assert table["ae_referral"].snomed_code == "306104004"
    assert table["palliative_referral"].snomed_code == "306237005"
    assert table["hospital_admission"].snomed_code == "32485007"
    assert table["discharged_home"].snomed_code == "306689006"
    # REFERENCE.md gives no code for advice or an ambulance: marked, not invented.
    for code in ("advice_managed_in_place", "ambulance_requested"):
        assert table[code].snomed_code is None
        assert table[code].extra["snomed_status"] == "unverified"


def test_every_code_without_snomed_is_marked_unverified() -> None:
    for table in (codes.outcomes(), codes.referral_targets()):
        for code in table.codes:
            entry = table[code]
            if entry.snomed_code is None:
                assert entry.extra["snomed_status"] in ("unverified", "not applicable"), code


def test_soft_signs_from_reference() -> None:
    assert len(codes.soft_signs().codes) == 11
    assert "new_shortness_of_breath" in codes.soft_signs()


def test_unknown_code_is_refused() -> None:
    with pytest.raises(codes.UnknownCode, match="outcomes"):
        codes.outcomes().require("teleported")


@pytest.mark.parametrize(
    ("intended", "outcome", "setting", "expected"),
    [
        ("ambulance_999", "advice_managed_in_place", "care_home",
         {"admission_avoided", "ae_attendance_avoided"}),
        ("ae", "gp_referral", "prison",
         {"admission_avoided", "ae_attendance_avoided", "prison_transfer_avoided"}),
        ("ambulance_999", "hospital_admission", "prison", set()),
        ("ae", "ambulance_requested", "care_home", set()),
        ("gp", "advice_managed_in_place", "home", {"gp_visit_avoided"}),
        ("gp", "gp_referral", "home", set()),
        ("nothing", "advice_managed_in_place", "care_home", set()),
        ("nhs_111", "advice_managed_in_place", "care_home", set()),
    ],
)  # fmt: skip
def test_suggested_avoided_flags(
    intended: str, outcome: str, setting: str, expected: set[str]
) -> None:
    assert codes.suggested_avoided(intended, outcome, setting) == expected
