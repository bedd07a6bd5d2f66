"""The coded vocabularies of a triage record (outcomes, referrals, soft signs), from data tables."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from records.tables import load_table

__all__ = [
    "AVOIDED_FLAGS",
    "Code",
    "CodeTable",
    "UnknownCode",
    "cpr_recommendations",
    "follow_up_windows",
    "intended_actions",
    "outcomes",
    "referral_targets",
    "respect_focus",
    "settings",
    "soft_signs",
    "suggested_avoided",
]

AVOIDED_FLAGS = (
    "admission_avoided",
    "ae_attendance_avoided",
    "prison_transfer_avoided",
    "gp_visit_avoided",
)


class UnknownCode(ValueError):
    """A code is not in its table (a typo, or a table that changed under a stored record)."""


@dataclass(frozen=True, slots=True)
class Code:
    """One row of a code table; ``extra`` holds the table's other columns (SNOMED code...)."""

    code: str
    label: str
    source: str
    extra: Mapping[str, str]

    @property
    def snomed_code(self) -> str | None:
        """The SNOMED CT code, or None where the table has none (marked unverified)."""
        return self.extra.get("snomed_code") or None


class CodeTable:
    """A read-only vocabulary: code -> :class:`Code`, in the table's order."""

    def __init__(self, name: str, rows: Iterable[Mapping[str, str]]) -> None:
        self.name = name
        entries: dict[str, Code] = {}
        for row in rows:
            extra = {k: v for k, v in row.items() if k not in ("code", "label", "source")}
            entries[row["code"]] = Code(
                row["code"], row["label"], row["source"], MappingProxyType(extra)
            )
        self._entries = MappingProxyType(entries)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def __contains__(self, code: object) -> bool:
        return code in self._entries

    def __getitem__(self, code: str) -> Code:
        try:
            return self._entries[code]
        except KeyError:
            raise UnknownCode(f"{code!r} is not in the {self.name} table") from None

    def require(self, code: str) -> str:
        """Return ``code`` if it is in the table, else raise :class:`UnknownCode`."""
        self[code]
        return code


@functools.cache
def outcomes() -> CodeTable:
    """Coded outcomes of a call (what actually happened), with SNOMED codes where known."""
    return CodeTable("outcomes", load_table("outcomes"))


@functools.cache
def intended_actions() -> CodeTable:
    """What the caller would have done without the hub (the avoided-admission baseline)."""
    return CodeTable("intended_actions", load_table("intended_actions"))


@functools.cache
def referral_targets() -> CodeTable:
    return CodeTable("referral_targets", load_table("referral_targets"))


@functools.cache
def soft_signs() -> CodeTable:
    return CodeTable("soft_signs", load_table("soft_signs"))


@functools.cache
def settings() -> CodeTable:
    """Where the patient is: care home, prison or home (the contract's SiteKind)."""
    return CodeTable("settings", load_table("settings"))


@functools.cache
def respect_focus() -> CodeTable:
    """Where a ReSPECT plan sits between life-sustaining treatment and comfort (unverified)."""
    return CodeTable("respect_focus", load_table("respect_focus"))


@functools.cache
def cpr_recommendations() -> CodeTable:
    """A ReSPECT plan's recommendation on CPR (unverified wording, ours)."""
    return CodeTable("cpr_recommendations", load_table("cpr_recommendations"))


@functools.cache
def follow_up_windows() -> CodeTable:
    """The follow-up checks of an avoided claim (72h, 7d): when each is due and overdue, in
    hours after the call (``due_after_hours``, ``overdue_after_hours``; unverified)."""
    return CodeTable("follow_up_windows", load_table("follow_up_windows"))


def _matches(rule: str, actual: str) -> bool:
    return not rule or rule == actual


def suggested_avoided(intended_action: str, outcome: str, setting: str) -> frozenset[str]:
    """Avoided flags the intended/actual pair suggests; only a suggestion the nurse confirms.

    The rules live in data/avoided_rules.csv (unverified: a clinical safety officer confirms).
    """
    intended = intended_actions()[intended_action].extra
    actual = outcomes()[outcome].extra
    settings().require(setting)
    flags = set()
    for rule in load_table("avoided_rules"):
        if (
            _matches(rule["intended_attends_hospital"], intended["attends_hospital"])
            and _matches(rule["intended_sees_gp"], intended["sees_gp"])
            and _matches(rule["outcome_attends_hospital"], actual["attends_hospital"])
            and _matches(rule["outcome_sees_gp"], actual["sees_gp"])
            and _matches(rule["setting"], setting)
        ):
            flags.add(rule["flag"])
    return frozenset(flags)
