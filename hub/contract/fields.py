"""The bounded value types every REST body, query and WebSocket message is built from.

A value the databases cannot hold must be refused where it enters, naming the field, not
fail deep inside a write as a 500: PostgreSQL's ``integer`` ends at 2**31 - 1 (SQLite's at
2**63 - 1), date arithmetic overflows near year 1 and 9999, PostgreSQL refuses a NUL
character in text, and a lone UTF-16 surrogate (``"\\ud800"`` is valid JSON) cannot be
encoded as UTF-8 at all. Both ends validate with these types, so a client learns of a bad
value before it sends it. Refusals never repeat the value (it may be a patient's name).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, TypeVar

from annotated_types import Interval
from pydantic import AfterValidator, Field

from records import nhs_number

__all__ = [
    "FIRST_DAY",
    "LAST_DAY",
    "MAX_INT",
    "Count",
    "Day",
    "Moment",
    "NhsNumber",
    "RowId",
    "Text",
    "in_range",
]

MAX_INT = 2**31 - 1  # PostgreSQL's integer, the narrowest integer column of the hub
# Days and times outside these years are refused: no patient, call or report is there, and
# inside them every date computation (a day after, a zone shift) stays in range.
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2199, 12, 31)


D = TypeVar("D", bound=date)


def in_range(value: D) -> D:
    """``value`` (a date or a time) if its day lies in FIRST_DAY..LAST_DAY; else a ValueError."""
    day = value.date() if isinstance(value, datetime) else value
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(f"must be between {FIRST_DAY} and {LAST_DAY}")
    return value


# An id of a row (site, staff, booking, invitation, version): a positive database integer.
RowId = Annotated[int, Interval(ge=1, le=MAX_INT)]
# A count, offset or limit: a non-negative database integer.
Count = Annotated[int, Interval(ge=0, le=MAX_INT)]
Day = Annotated[date, AfterValidator(in_range)]
Moment = Annotated[datetime, AfterValidator(in_range)]
# Any text: add the length with ``Annotated[Text, Field(max_length=...)]``. The pattern, run
# by pydantic-core itself (no Python call per string), refuses a NUL; any constraint on a
# string makes pydantic-core refuse a lone surrogate too ("unable to parse raw data as a
# unicode string"), and a JSON body's parser refuses one before that.
Text = Annotated[str, Field(pattern=r"^[^\x00]*$")]


def _nhs_number(value: str) -> str:
    # normalise raises InvalidNhsNumber, a ValueError worded without the value: pydantic
    # reports it as "Value error, not a valid NHS number" at the field's place.
    return nhs_number.normalise(value)


# An NHS number wherever one enters (a call request, a resident, an invitation): 10 digits,
# run together or grouped 3-3-4, with a valid modulus 11 check digit; kept as its 10 digits.
NhsNumber = Annotated[Text, Field(max_length=16), AfterValidator(_nhs_number)]
