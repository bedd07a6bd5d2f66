"""NEWS2 (RCP 2017) scoring for triage: sub-scores, total, band and response, from data tables.

NEWS2 is decision support for the nurse; it never chooses the outcome.

Rules this module states (the chart leaves them open):

* Rounding between chart rows: temperature is rounded to one decimal place and every other
  numeric observation to a whole number, both *round half up* on the decimal value as typed
  (36.05 -> 36.1 -> scores 0; 35.05 -> 35.1 -> scores 1; a pulse of 90.5 -> 91 -> scores 1).
  Rounding uses :class:`decimal.Decimal` on ``str(value)`` so binary floating point never
  turns 36.05 into 36.04999...
* Missing observations give a partial score: ``complete`` is False, the missing parameter's
  sub-score is None and ``total`` is the sum of the known sub-scores. ``band`` is then the
  band of the known sub-scores only, a floor: the true band can only be the same or higher.
  On scale 2 an SpO2 of 93 or more cannot be scored without knowing air or oxygen.
* Values outside the plausibility limits in ``data/news2_limits.csv`` (a pulse of 900, a
  negative rate, SpO2 over 100) are refused with :class:`ObservationError`, never scored.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from types import MappingProxyType
from typing import Literal, get_args

from records.tables import load_table

__all__ = [
    "ACVPU",
    "BANDS",
    "PARAMETERS",
    "Band",
    "Consciousness",
    "News2Score",
    "ObservationError",
    "Observations",
    "score",
]

Consciousness = Literal["A", "C", "V", "P", "U"]
#: The one ACVPU vocabulary: each level in the NEWS2 chart's order with what it means
#: (clinical/REFERENCE.md: Alert; new Confusion, Voice, Pain, Unresponsive). The hub's
#: messages, the record, the desk's triage form and the station's form all use it.
ACVPU: tuple[tuple[Consciousness, str], ...] = (
    ("A", "Alert"),
    ("C", "New confusion"),
    ("V", "Responds to voice"),
    ("P", "Responds to pain"),
    ("U", "Unresponsive"),
)
Band = Literal["low", "low-medium", "medium", "high"]
BANDS: tuple[Band, ...] = get_args(Band)
PARAMETERS = (
    "respiration_rate",
    "spo2",
    "air_or_oxygen",
    "systolic_bp",
    "pulse",
    "consciousness",
    "temperature",
)
_NUMERIC = ("respiration_rate", "spo2", "systolic_bp", "pulse", "temperature")
_ACVPU: tuple[str, ...] = tuple(level for level, _ in ACVPU)


class ObservationError(ValueError):
    """An observation cannot be scored: out of its plausible range or of the wrong kind.

    ``field`` names the offending observation so a form can point at it.
    """

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


@dataclass(frozen=True, slots=True)
class Observations:
    """One set of observations; any of them may be missing (None).

    ``scale`` is the SpO2 scale: 2 only for confirmed hypercapnic respiratory failure, chosen
    by a clinician; 1 otherwise. Construction checks every value (see :class:`ObservationError`).
    """

    respiration_rate: float | None = None
    spo2: float | None = None
    on_oxygen: bool | None = None
    systolic_bp: float | None = None
    pulse: float | None = None
    consciousness: Consciousness | None = None
    temperature: float | None = None
    scale: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.scale, bool) or self.scale not in (1, 2):
            raise ObservationError("scale", f"SpO2 scale must be 1 or 2, not {self.scale!r}")
        if self.on_oxygen is not None and not isinstance(self.on_oxygen, bool):
            raise ObservationError("on_oxygen", "must be True (oxygen), False (air) or None")
        if self.consciousness is not None and self.consciousness not in _ACVPU:
            raise ObservationError(
                "consciousness", f"must be one of A, C, V, P, U, not {self.consciousness!r}"
            )
        for name in _NUMERIC:
            _rounded(name, getattr(self, name))


@dataclass(frozen=True, slots=True)
class News2Score:
    """The result of :func:`score`; ``subscores`` is read-only and keyed by :data:`PARAMETERS`."""

    subscores: MappingProxyType[str, int | None]
    total: int
    complete: bool
    band: Band
    response: str
    single_three: bool = field(default=False)

    @property
    def missing(self) -> tuple[str, ...]:
        """The parameters that could not be scored, in chart order."""
        return tuple(name for name, value in self.subscores.items() if value is None)


@dataclass(frozen=True, slots=True)
class _Row:
    scale: int | None
    oxygen: bool | None
    value: str
    low: Decimal | None
    high: Decimal | None
    score: int

    def matches(self, reading: Decimal) -> bool:
        return (self.low is None or reading >= self.low) and (
            self.high is None or reading <= self.high
        )


@dataclass(frozen=True, slots=True)
class _BandRow:
    band: Band
    min_total: int
    max_total: int
    single_three: bool | None  # None: either
    response: str


@dataclass(frozen=True, slots=True)
class _Limit:
    minimum: Decimal
    maximum: Decimal
    quantum: Decimal


def _decimal_or_none(text: str) -> Decimal | None:
    return Decimal(text) if text.strip() else None


@functools.cache
def _chart() -> MappingProxyType[str, tuple[_Row, ...]]:
    rows: dict[str, list[_Row]] = {name: [] for name in PARAMETERS}
    for raw in load_table("news2_chart"):
        oxygen = {"": None, "air": False, "oxygen": True}[raw["oxygen"]]
        rows[raw["parameter"]].append(
            _Row(
                scale=int(raw["scale"]) if raw["scale"] else None,
                oxygen=oxygen,
                value=raw["value"],
                low=_decimal_or_none(raw["low"]),
                high=_decimal_or_none(raw["high"]),
                score=int(raw["score"]),
            )
        )
    return MappingProxyType({name: tuple(found) for name, found in rows.items()})


@functools.cache
def _bands() -> tuple[_BandRow, ...]:
    three = {"yes": True, "no": False, "any": None}
    result = []
    for raw in load_table("news2_bands"):
        band = raw["band"]
        if band not in BANDS:
            raise ValueError(f"news2_bands.csv: unknown band {band!r}")
        result.append(
            _BandRow(
                band=band,  # checked against BANDS just above
                min_total=int(raw["min_total"]),
                max_total=int(raw["max_total"]),
                single_three=three[raw["single_three"]],
                response=raw["response"],
            )
        )
    return tuple(result)


@functools.cache
def _limits() -> MappingProxyType[str, _Limit]:
    return MappingProxyType(
        {
            raw["parameter"]: _Limit(
                minimum=Decimal(raw["minimum"]),
                maximum=Decimal(raw["maximum"]),
                quantum=Decimal(1).scaleb(-int(raw["decimals"])),
            )
            for raw in load_table("news2_limits")
        }
    )


def _rounded(name: str, value: object) -> Decimal | None:
    """Check one numeric observation and round it per the module's stated rule."""
    if value is None:
        return None
    # bool is an int subclass; True as a pulse is a programming error, not a reading.
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ObservationError(name, f"must be a number, not {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ObservationError(name, f"must be a finite number, not {value!r}")
    limit = _limits()[name]
    kind = type(value)
    if kind is int or (kind is float and value.is_integer()):  # type: ignore[union-attr]
        # A whole number is its own rounding at any quantum (exactly: no str() round trip).
        reading = Decimal(int(value))
    else:
        try:
            reading = Decimal(str(value)).quantize(limit.quantum, rounding=ROUND_HALF_UP)
        except InvalidOperation as exc:
            raise ObservationError(name, f"cannot be read as a number: {value!r}") from exc
    if not limit.minimum <= reading <= limit.maximum:
        raise ObservationError(
            name, f"{value} is outside the plausible range {limit.minimum}-{limit.maximum}"
        )
    return reading


_ANY_LOW, _ANY_HIGH = Decimal("-Infinity"), Decimal("Infinity")
# A chart row as the lookup reads it: (low, high, oxygen, score), open ends as infinities.
_Span = tuple[Decimal, Decimal, bool | None, int]


@functools.cache
def _scale_rows(name: str, scale: int) -> tuple[_Span, ...]:
    """The chart rows of ``name`` that apply on SpO2 scale ``scale``, as spans."""
    return tuple(
        (
            _ANY_LOW if row.low is None else row.low,
            _ANY_HIGH if row.high is None else row.high,
            row.oxygen,
            row.score,
        )
        for row in _chart()[name]
        if row.scale in (None, scale)
    )


@functools.lru_cache(maxsize=8192)
def _lookup(name: str, reading: Decimal, scale: int, on_oxygen: bool | None) -> int | None:
    # Memoised: the chart is fixed and readings repeat (a pulse is one of some 200 whole
    # numbers), so a hub checking a backlog's NEWS2 reads each chart row once, not per record.
    # A chart error (AssertionError) is raised every time, never remembered.
    candidates = [row for row in _scale_rows(name, scale) if row[0] <= reading <= row[1]]
    if any(row[2] is not None for row in candidates):
        if on_oxygen is None:
            return None  # scale 2, SpO2 >= 93: the score depends on air or oxygen
        candidates = [row for row in candidates if row[2] in (None, on_oxygen)]
    if len(candidates) != 1:
        raise AssertionError(f"news2_chart.csv: {len(candidates)} rows match {name}={reading}")
    return candidates[0][3]


def _categorical(name: str, value: str | None) -> int | None:
    if value is None:
        return None
    for row in _chart()[name]:
        if row.value == value:
            return row.score
    raise AssertionError(f"news2_chart.csv: no row for {name}={value}")


@functools.lru_cache(maxsize=64)
def _band(total: int, single_three: bool) -> _BandRow:
    for row in _bands():
        if row.min_total <= total <= row.max_total and row.single_three in (None, single_three):
            return row
    raise AssertionError(f"news2_bands.csv: no band for total {total}, single 3 {single_three}")


def score(observations: Observations) -> News2Score:
    """Score ``observations``; missing ones give a partial score (``complete`` False)."""
    obs = observations
    subscores: dict[str, int | None] = {}
    for name in PARAMETERS:
        if name == "air_or_oxygen":
            oxygen = None if obs.on_oxygen is None else ("oxygen" if obs.on_oxygen else "air")
            subscores[name] = _categorical(name, oxygen)
        elif name == "consciousness":
            subscores[name] = _categorical(name, obs.consciousness)
        else:
            reading = _rounded(name, getattr(obs, name))
            subscores[name] = (
                None if reading is None else _lookup(name, reading, obs.scale, obs.on_oxygen)
            )
    known = [value for value in subscores.values() if value is not None]
    total = sum(known)
    single_three = 3 in known
    band = _band(total, single_three)
    return News2Score(
        subscores=MappingProxyType(subscores),
        total=total,
        complete=len(known) == len(PARAMETERS),
        band=band.band,
        response=band.response,
        single_three=single_three,
    )
