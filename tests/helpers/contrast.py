"""WCAG 2.x contrast: the relative luminance of an sRGB colour and the ratio of two, for
tests that measure text, borders and focus rings (4.5:1 for text, 3:1 for the rest)."""

from __future__ import annotations

import re


def rgb(colour: str) -> tuple[int, int, int]:
    """``#rrggbb``, ``#rgb`` or CSS ``rgb(r, g, b)`` / ``rgba(...)`` as three 0-255 ints."""
    colour = colour.strip()
    if colour.startswith("#"):
        digits = colour[1:]
        if len(digits) == 3:
            digits = "".join(d * 2 for d in digits)
        return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)
    found = re.match(r"rgba?\(\s*(\d+)[,\s]+(\d+)[,\s]+(\d+)", colour)
    if found is None:
        raise ValueError(f"not a colour: {colour!r}")
    r, g, b = (int(x) for x in found.groups())
    return r, g, b


def luminance(colour: str | tuple[int, int, int]) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = rgb(colour) if isinstance(colour, str) else colour
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str | tuple[int, int, int], b: str | tuple[int, int, int]) -> float:
    """The WCAG contrast ratio of two colours, 1 to 21."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)
