"""NHS number validation and display against the examples in REFERENCE.md and malformed input."""

from __future__ import annotations

import pytest

from records import nhs_number

VALID = ["9434765919", "9000000009", "9876543210", "4000000632"]
INVALID_CHECK = ["9000000000", "1234567890", "1000000010"]


@pytest.mark.parametrize("number", VALID)
def test_reference_valid_numbers_in_every_accepted_form(number: str) -> None:
    spaced = f"{number[:3]} {number[3:6]} {number[6:]}"
    hyphened = spaced.replace(" ", "-")
    for form in (number, spaced, hyphened):
        assert nhs_number.is_valid(form)
        assert nhs_number.format(form) == spaced
        assert nhs_number.normalise(form) == number


def test_display_form() -> None:
    assert nhs_number.format("9434765919") == "943 476 5919"


@pytest.mark.parametrize("number", INVALID_CHECK)
def test_reference_invalid_numbers(number: str) -> None:
    assert not nhs_number.is_valid(number)
    with pytest.raises(ValueError):
        nhs_number.format(number)


def test_check_digit_of_ten_is_invalid() -> None:
    # Any nine-digit prefix whose check value is 10 has no valid tenth digit at all.
    prefix = next(
        f"{n:09d}"
        for n in range(1000)
        if 11 - sum(int(d) * w for d, w in zip(f"{n:09d}", range(10, 1, -1), strict=True)) % 11
        == 10
    )
    assert not any(nhs_number.is_valid(prefix + str(d)) for d in range(10))


def test_check_digit_eleven_becomes_zero() -> None:
    assert nhs_number.is_valid("0000000000")  # sum 0 -> 11 -> 0
    assert not nhs_number.is_valid("0000000001")


def test_every_single_digit_error_is_caught() -> None:
    number = "9434765919"
    for position in range(10):
        for digit in "0123456789":
            if digit != number[position]:
                changed = number[:position] + digit + number[position + 1 :]
                assert not nhs_number.is_valid(changed), changed


@pytest.mark.parametrize(
    "text",
    [
        "",
        "943476591",
        "94347659190",
        " 9434765919",
        "9434765919 ",
        "943 476 5919\n",
        "943-476 5919",
        "943  476 5919",
        "9434 765 919",
        "94 34765919",
        "943.476.5919",
        "943_476_5919",
        "943476591X",
        "９４３４７６５９１９",  # full-width digits
        "٩٤٣٤٧٦٥٩١٩",  # Arabic-Indic digits
    ],
)
def test_malformed_text_is_refused(text: str) -> None:
    assert not nhs_number.is_valid(text)
    with pytest.raises(nhs_number.InvalidNhsNumber):
        nhs_number.format(text)


@pytest.mark.parametrize("value", [None, 9434765919, b"9434765919"])
def test_non_text_is_invalid(value: object) -> None:
    assert not nhs_number.is_valid(value)


def test_error_does_not_echo_the_number() -> None:
    with pytest.raises(ValueError) as caught:
        nhs_number.format("9000000000")
    assert "9000000000" not in str(caught.value)
