"""The staff password policy (NCSC style): long enough, not a common password, not the user's
own name; no composition rules. Checked wherever a password is set: enrol, reset, change.

NCSC's guidance ("Password administration for system owners"): no complexity requirements,
a minimum length, and a deny-list of the most common passwords. The deny-list is the 20,000
most-used passwords that Django ships (resources/passwords/README.md says where it comes
from). A refusal names the field and the rule, never the password.
"""

from __future__ import annotations

import gzip
import re
from functools import cache
from importlib.resources import files

from hub.contract.rest import MAX_PASSWORD, MIN_PASSWORD

__all__ = ["MAX_PASSWORD", "MIN_PASSWORD", "PasswordRefused", "check", "common_passwords"]

_NAME_PART = 4  # shorter parts of a name ("jo", "li") are too common in words to refuse
_NOT_ALNUM = re.compile(r"[\W_]+")


class PasswordRefused(ValueError):
    """A password the policy refuses: ``field`` is the body field, ``rule`` a short code
    (``too_short``, ``too_long``, ``too_common``, ``contains_name``), ``str()`` the sentence."""

    def __init__(self, field: str, rule: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.rule = field, rule


@cache
def common_passwords() -> frozenset[str]:
    """The deny-list, lower-cased (read once, ~1 MiB in memory)."""
    data = files("resources").joinpath("passwords/common-passwords.txt.gz").read_bytes()
    return frozenset(line.strip() for line in gzip.decompress(data).decode().splitlines()
                     if line.strip())  # fmt: skip


def _squashed(text: str) -> str:
    return _NOT_ALNUM.sub("", text.casefold())


def check(password: str, *names: str | None, field: str = "password") -> None:
    """Raise :class:`PasswordRefused` unless ``password`` may be set for an account whose
    user name and display name are ``names``."""
    if len(password) < MIN_PASSWORD:
        raise PasswordRefused(field, "too_short",
                              f"too short: use at least {MIN_PASSWORD} characters "
                              "(three random words make a good one)")
    if len(password) > MAX_PASSWORD:
        raise PasswordRefused(field, "too_long", f"too long: at most {MAX_PASSWORD} characters")
    deny = common_passwords()
    lowered = password.casefold().strip()
    if lowered in deny or lowered.replace(" ", "") in deny or _squashed(password) in deny:
        raise PasswordRefused(field, "too_common",
                              "too common: it is on the list of the 20,000 most-used "
                              "passwords; choose another")
    squashed = _squashed(password)
    for name in names:
        if not name:
            continue
        parts = {_squashed(name), *(_squashed(w) for w in re.split(r"[\s._-]+", name))}
        if any(len(part) >= _NAME_PART and part in squashed for part in parts) or (
                _squashed(name) and squashed == _squashed(name)):
            raise PasswordRefused(field, "contains_name",
                                  "it contains the account's own name; choose another")
