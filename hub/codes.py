"""Codes people type from paper: invitation codes and recovery codes, in one alphabet.

Crockford's base32 without the letters people misread (I, L, O, U): five bits a character,
in groups of four; what was typed is read back with case, spaces and dashes ignored and the
letters people confuse with digits read as those digits.
"""

from __future__ import annotations

import secrets

CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_LOOKALIKES = str.maketrans("OIL", "011")


def new_code(length: int) -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))
    return "-".join(raw[i:i + 4] for i in range(0, length, 4))


def normalise_code(text: str) -> str:
    """What was typed, as the canonical code."""
    raw = "".join(ch for ch in text.upper() if ch.isalnum())
    raw = raw.translate(_LOOKALIKES)
    return "-".join(raw[i:i + 4] for i in range(0, len(raw), 4))
