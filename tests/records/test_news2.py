"""NEWS2 scoring against REFERENCE.md: public vectors, every row edge on both scales, bands."""

from __future__ import annotations

from decimal import Decimal

import pytest

from records import news2
from records.news2 import PARAMETERS, ObservationError, Observations, score
from records.tables import load_table

NORMAL = {
    "respiration_rate": 16,
    "spo2": 97,
    "on_oxygen": False,
    "systolic_bp": 120,
    "pulse": 70,
    "consciousness": "A",
    "temperature": 37.0,
    "scale": 1,
}


def obs(**changes: object) -> Observations:
    return Observations(**{**NORMAL, **changes})  # type: ignore[arg-type]


# (RR, SpO2, oxygen, SBP, pulse, ACVPU, temperature, scale) -> total, band: REFERENCE.md
PUBLIC_VECTORS = [
    ((16, 97, False, 120, 70, "A", 37.0, 1), 0, "low"),
    ((21, 93, False, 120, 95, "A", 37.5, 1), 5, "medium"),
    ((25, 97, False, 120, 70, "A", 37.0, 1), 3, "low-medium"),
    ((16, 97, False, 120, 70, "C", 37.0, 1), 3, "low-medium"),
    ((11, 95, False, 110, 50, "A", 36.0, 1), 5, "medium"),
    ((22, 94, False, 105, 95, "A", 38.2, 1), 6, "medium"),
    ((8, 91, True, 90, 131, "U", 35.0, 1), 20, "high"),
    ((18, 93, True, 130, 80, "A", 37.0, 2), 3, "low"),
    ((18, 97, True, 130, 80, "A", 37.0, 2), 5, "medium"),
]


@pytest.mark.parametrize(("inputs", "total", "band"), PUBLIC_VECTORS)
def test_public_vectors(inputs: tuple[object, ...], total: int, band: str) -> None:
    result = score(Observations(*inputs))  # type: ignore[arg-type]
    assert result.total == total
    assert result.band == band
    assert result.complete
    assert sum(v for v in result.subscores.values() if v is not None) == total


def test_uk_core_example_error_is_not_copied() -> None:
    # The UK Core example bundle scores 37.5 as 1; REFERENCE.md says it is 0.
    assert score(obs(temperature=37.5)).subscores["temperature"] == 0


def test_subscores_are_keyed_by_chart_parameter() -> None:
    result = score(obs())
    assert tuple(result.subscores) == PARAMETERS
    names = "respiration_rate spo2 air_or_oxygen systolic_bp pulse consciousness temperature"
    assert set(PARAMETERS) == set(names.split())


# Both edges of every chart row: (parameter, value, expected sub-score).
EDGES_SCALE_1 = [
    ("respiration_rate", 0, 3), ("respiration_rate", 8, 3), ("respiration_rate", 9, 1),
    ("respiration_rate", 11, 1), ("respiration_rate", 12, 0), ("respiration_rate", 20, 0),
    ("respiration_rate", 21, 2), ("respiration_rate", 24, 2), ("respiration_rate", 25, 3),
    ("respiration_rate", 80, 3),
    ("spo2", 50, 3), ("spo2", 91, 3), ("spo2", 92, 2), ("spo2", 93, 2), ("spo2", 94, 1),
    ("spo2", 95, 1), ("spo2", 96, 0), ("spo2", 100, 0),
    ("systolic_bp", 40, 3), ("systolic_bp", 90, 3), ("systolic_bp", 91, 2),
    ("systolic_bp", 100, 2), ("systolic_bp", 101, 1), ("systolic_bp", 110, 1),
    ("systolic_bp", 111, 0), ("systolic_bp", 219, 0), ("systolic_bp", 220, 3),
    ("systolic_bp", 300, 3),
    ("pulse", 20, 3), ("pulse", 40, 3), ("pulse", 41, 1), ("pulse", 50, 1), ("pulse", 51, 0),
    ("pulse", 90, 0), ("pulse", 91, 1), ("pulse", 110, 1), ("pulse", 111, 2),
    ("pulse", 130, 2), ("pulse", 131, 3), ("pulse", 250, 3),
    ("temperature", 25.0, 3), ("temperature", 35.0, 3), ("temperature", 35.1, 1),
    ("temperature", 36.0, 1), ("temperature", 36.1, 0), ("temperature", 38.0, 0),
    ("temperature", 38.1, 1), ("temperature", 39.0, 1), ("temperature", 39.1, 2),
    ("temperature", 45.0, 2),
    ("consciousness", "A", 0), ("consciousness", "C", 3), ("consciousness", "V", 3),
    ("consciousness", "P", 3), ("consciousness", "U", 3),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "value", "expected", "scale"),
    [(*edge, 1) for edge in EDGES_SCALE_1]
    # Every parameter but SpO2 scores the same on scale 2; its scale-2 edges are below.
    + [(*edge, 2) for edge in EDGES_SCALE_1 if edge[0] != "spo2"],
)
def test_every_row_edge(name: str, value: object, expected: int, scale: int) -> None:
    spo2 = 90 if scale == 2 else 97  # both score 0 on their scale, whatever the oxygen
    result = score(obs(**{"spo2": spo2, "scale": scale, name: value}))
    assert result.subscores[name] == expected


SPO2_SCALE_2 = [
    (50, False, 3), (83, False, 3), (84, False, 2), (85, True, 2), (86, True, 1),
    (87, False, 1), (88, False, 0), (88, True, 0), (92, True, 0), (92, False, 0),
    (93, False, 0), (100, False, 0),
    (93, True, 1), (94, True, 1), (95, True, 2), (96, True, 2), (97, True, 3), (100, True, 3),
]  # fmt: skip


@pytest.mark.parametrize(("spo2", "on_oxygen", "expected"), SPO2_SCALE_2)
def test_spo2_scale_2_edges(spo2: int, on_oxygen: bool, expected: int) -> None:
    result = score(obs(spo2=spo2, on_oxygen=on_oxygen, scale=2))
    assert result.subscores["spo2"] == expected
    assert result.subscores["air_or_oxygen"] == (2 if on_oxygen else 0)


def test_scale_1_spo2_ignores_oxygen_but_oxygen_scores_2() -> None:
    on_air, on_oxygen = score(obs(spo2=97)), score(obs(spo2=97, on_oxygen=True))
    assert on_air.subscores["spo2"] == on_oxygen.subscores["spo2"] == 0
    assert on_oxygen.subscores["air_or_oxygen"] == 2
    assert on_oxygen.total == on_air.total + 2


def test_every_integer_reading_matches_exactly_one_row() -> None:
    # A gap or overlap in news2_chart.csv would raise; sweep the whole plausible range.
    ranges = {"respiration_rate": (0, 80), "spo2": (50, 100), "systolic_bp": (40, 300),
              "pulse": (20, 250)}  # fmt: skip
    for name, (low, high) in ranges.items():
        for value in range(low, high + 1):
            for scale in (1, 2):
                for oxygen in (False, True):
                    assert score(obs(**{name: value, "scale": scale, "on_oxygen": oxygen}))
    for tenth in range(250, 451):
        assert score(obs(temperature=tenth / 10)).subscores["temperature"] is not None


# Band edges: built from sub-scores that do not include a 3 unless stated.
@pytest.mark.parametrize(
    ("changes", "total", "band", "response"),
    [
        ({}, 0, "low", "Routine monitoring"),
        ({"pulse": 95}, 1, "low", "Registered nurse assesses"),
        (
            {"pulse": 95, "respiration_rate": 22, "temperature": 38.5},
            4,
            "low",
            "Registered nurse assesses",
        ),
        ({"consciousness": "V"}, 3, "low-medium", "Urgent ward-based review"),
        ({"consciousness": "V", "pulse": 95}, 4, "low-medium", "Urgent ward-based review"),
        (
            {"pulse": 115, "respiration_rate": 22, "temperature": 38.5},
            5,
            "medium",
            "Urgent response",
        ),
        ({"consciousness": "V", "respiration_rate": 22}, 5, "medium", "Urgent response"),
        (
            {"pulse": 115, "respiration_rate": 22, "temperature": 39.5},
            6,
            "medium",
            "Urgent response",
        ),
        (
            {"pulse": 115, "respiration_rate": 22, "temperature": 39.5, "spo2": 95},
            7,
            "high",
            "Emergency response",
        ),
        (
            {
                "consciousness": "U",
                "pulse": 131,
                "respiration_rate": 8,
                "systolic_bp": 90,
                "spo2": 91,
                "on_oxygen": True,
                "temperature": 35.0,
            },
            20,
            "high",
            "Emergency response",
        ),
    ],
)
def test_band_edges(changes: dict[str, object], total: int, band: str, response: str) -> None:
    result = score(obs(**changes))
    assert (result.total, result.band, result.response) == (total, band, response)


def test_band_table_names_its_source_and_every_band() -> None:
    rows = load_table("news2_bands")
    assert {row["band"] for row in rows} == {"low", "low-medium", "medium", "high"}
    assert all("REFERENCE.md" in row["source"] for row in rows)


@pytest.mark.parametrize(
    ("name", "typed", "expected"),
    [
        ("temperature", 36.05, 0),  # -> 36.1 (half up), not 36.0
        ("temperature", 36.04, 1),  # -> 36.0
        ("temperature", 35.05, 1),  # -> 35.1
        ("temperature", 35.04, 3),  # -> 35.0
        ("temperature", 38.05, 1),  # -> 38.1
        ("temperature", 39.05, 2),  # -> 39.1
        ("temperature", Decimal("38.04"), 0),
        ("pulse", 90.5, 1),  # -> 91
        ("pulse", 90.49, 0),
        ("respiration_rate", 20.5, 2),
        ("respiration_rate", 8.5, 1),
        ("systolic_bp", 90.5, 2),
        ("spo2", 95.5, 0),
    ],
)
def test_rounding_half_up(name: str, typed: object, expected: int) -> None:
    assert score(obs(**{name: typed})).subscores[name] == expected


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"pulse": 900}, "pulse"),
        ({"pulse": 19}, "pulse"),
        ({"respiration_rate": -1}, "respiration_rate"),
        ({"spo2": 101}, "spo2"),
        ({"spo2": 49}, "spo2"),
        ({"systolic_bp": 301}, "systolic_bp"),
        ({"temperature": 45.1}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"temperature": float("inf")}, "temperature"),
        ({"pulse": True}, "pulse"),
        ({"pulse": "80"}, "pulse"),
        ({"scale": 3}, "scale"),
        ({"scale": 0}, "scale"),
        ({"consciousness": "X"}, "consciousness"),
        ({"consciousness": "a"}, "consciousness"),
        ({"on_oxygen": "yes"}, "on_oxygen"),
    ],
)
def test_out_of_range_is_refused_naming_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ObservationError) as caught:
        obs(**changes)
    assert caught.value.field == field
    assert field in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_missing_observations_give_a_partial_score() -> None:
    result = score(obs(pulse=None, temperature=None, consciousness="V"))
    assert not result.complete
    assert result.subscores["pulse"] is None and result.subscores["temperature"] is None
    assert result.missing == ("pulse", "temperature")
    assert result.total == 3
    assert result.band == "low-medium"


def test_nothing_observed() -> None:
    result = score(Observations())
    assert not result.complete
    assert all(value is None for value in result.subscores.values())
    assert result.total == 0


def test_scale_2_high_spo2_without_oxygen_status_is_unscored() -> None:
    unknown = score(obs(spo2=95, on_oxygen=None, scale=2))
    assert unknown.subscores["spo2"] is None
    assert unknown.subscores["air_or_oxygen"] is None
    assert not unknown.complete
    # At 92 or below the scale-2 score does not depend on oxygen, so it is known.
    assert score(obs(spo2=85, on_oxygen=None, scale=2)).subscores["spo2"] == 2


def test_result_is_read_only() -> None:
    result = score(obs())
    with pytest.raises(TypeError):
        result.subscores["pulse"] = 3  # type: ignore[index]
    with pytest.raises(AttributeError):
        result.total = 9  # type: ignore[misc]


def test_a_record_scores_the_observations_it_holds_never_a_remembered_score() -> None:
    """Scores are memoised by value; a changed copy of an observation set is scored anew."""
    from pydantic import ValidationError

    from records.schema import TriageRecord
    from tests.records.builders import make_record

    record = make_record()
    assert record.observations is not None and record.news2 is not None
    worse = record.observations.model_copy(update={"pulse": 135.0})  # skips validation
    data = {**record.model_dump(exclude={"news2"}), "observations": worse}
    rescored = TriageRecord.model_validate(data)
    assert rescored.news2 is not None and rescored.news2.subscores["pulse"] == 3
    assert rescored.news2.total == record.news2.total + 3 - record.news2.subscores["pulse"]
    with pytest.raises(ValidationError, match="news2 does not match"):
        TriageRecord.model_validate({**data, "news2": record.news2})


@pytest.mark.parametrize(
    "name", ["respiration_rate", "spo2", "systolic_bp", "pulse", "temperature"]
)
def test_whole_numbers_score_as_their_decimal_text_does(name: str) -> None:
    """Whole numbers skip the str()/quantize round trip; they must land in the same row."""
    limit = next(row for row in load_table("news2_limits") if row["parameter"] == name)
    for value in range(int(Decimal(limit["minimum"])), int(Decimal(limit["maximum"])) + 1):
        as_int, as_float = score(obs(**{name: value})), score(obs(**{name: float(value)}))
        as_text = score(obs(**{name: Decimal(f"{value}.04")}))  # rounds down to the same value
        assert as_int.subscores == as_float.subscores == as_text.subscores, value
    with pytest.raises(ObservationError):
        obs(**{name: float(int(Decimal(limit["maximum"])) + 1)})
    with pytest.raises(ObservationError):
        obs(**{name: 10**30})


def test_a_record_from_the_wire_without_news2_gets_it_from_its_observations() -> None:
    from pydantic import ValidationError

    from records.schema import TriageRecord
    from tests.records.builders import make_record

    record = make_record()
    assert record.observations is not None and record.news2 is not None
    wire = record.model_dump_json(exclude={"news2"})
    derived = TriageRecord.model_validate_json(wire)
    assert derived.news2 == record.news2
    assert derived.model_dump_json() == record.model_dump_json()
    bad = record.news2.model_copy(update={"total": record.news2.total + 1})
    with pytest.raises(ValidationError, match="news2 does not match"):
        TriageRecord.model_validate_json(record.model_copy(update={"news2": bad}).model_dump_json())
    with pytest.raises(ValidationError, match="news2 does not match"):
        TriageRecord.model_validate_json(
            record.model_copy(update={"observations": None}).model_dump_json()
        )


def test_one_acvpu_vocabulary_serves_the_record_the_wire_and_the_fhir_codes() -> None:
    from pydantic import ValidationError

    from hub.contract.signaling import PreCallObservations
    from records.schema import ObservationSet

    levels = [level for level, _ in news2.ACVPU]
    assert levels == ["A", "C", "V", "P", "U"]
    snomed = {row["parameter"] for row in load_table("news2_snomed")}
    for level in levels:
        assert PreCallObservations(consciousness=level).consciousness == level
        assert ObservationSet(consciousness=level).consciousness == level
        assert f"acvpu_{level}" in snomed  # every level exports with its SNOMED code
    for bad in ("X", "a", ""):
        with pytest.raises(ValidationError, match="consciousness"):
            PreCallObservations.model_validate({"consciousness": bad})
        with pytest.raises(ValidationError, match="consciousness"):
            ObservationSet.model_validate({"consciousness": bad})
