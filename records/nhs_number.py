"""NHS number rules: the modulus 11 check digit and the 3-3-4 display form (REFERENCE.md)."""

from __future__ import annotations

import re

__all__ = ["InvalidNhsNumber", "format", "is_valid", "normalise"]

# Exactly 10 digits, either run together or grouped 3-3-4 with one kind of separator
# throughout (spaces or hyphens); nothing else, so "943-476 5919" or "94 34765919" is refused.
_SHAPE = re.compile(r"(\d{10})|(\d{3})([ -])(\d{3})\3(\d{4})")
_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)


class InvalidNhsNumber(ValueError):
    """The text is not a valid NHS number (wrong shape or check digit)."""


def _digits(text: object) -> str | None:
    if not isinstance(text, str):
        return None
    # ASCII only: str.isdigit() and \d would accept Arabic-Indic or full-width digits.
    if not text.isascii():
        return None
    match = _SHAPE.fullmatch(text)
    if match is None:
        return None
    digits = match.group(1) or match.group(2) + match.group(4) + match.group(5)
    total = sum(int(d) * w for d, w in zip(digits[:9], _WEIGHTS, strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    if check == 10 or check != int(digits[9]):
        return None
    return digits


def is_valid(text: object) -> bool:
    """True when ``text`` is an NHS number: 10 digits, optionally spaced or hyphenated 3-3-4."""
    return _digits(text) is not None


def normalise(text: str) -> str:
    """The 10 digits of a valid NHS number, as stored; raises :class:`InvalidNhsNumber`."""
    digits = _digits(text)
    if digits is None:
        raise InvalidNhsNumber("not a valid NHS number")  # the value itself is never echoed
    return digits


def format(text: str) -> str:  # shadows the builtin: the name is issue 3's fixed interface
    """The display form "943 476 5919"; raises :class:`InvalidNhsNumber` (a ValueError)."""
    digits = normalise(text)
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}"
