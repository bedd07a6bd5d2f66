"""Who wrote a pushed version, as the hub saw them: the body's attribution fields stamped.

A nurse's token could otherwise store a record "signed off by" someone else. The central
store decides attribution from the authenticated principal and from the versions it already
holds, never from the body (DESIGN.md, "the record is the hub's"):

* ``signed_off_by`` is the pushing principal: every version is signed off (or amended, or
  resolved) by whoever pushes it.
* ``nurse`` (who took the call) is the pushing nurse on version 1, and on later versions
  what the version before said: an amendment does not change who took the call.
* ``avoided.confirmed_by``: an avoided-admission claim carried unchanged from an earlier
  version (same flags, same time) keeps its confirming nurse; a new or changed claim was
  confirmed by the pusher.
* ``follow_ups[].checked_by``: a follow-up already held (same window, time and findings)
  keeps who checked it; a new one (it confirms or withdraws the claim) is the pusher's.

A body that says otherwise is not refused (a desk's outbox must not be stranded by it): its
fields are replaced, and the version row names the fields replaced (hub/central_store.py).
An honest desk writes exactly these values, so its payload is stored byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hub.record_checks import Checked
from records.avoided_log import log_row
from records.schema import TriageRecord

__all__ = ["Author", "Stamped", "stamp"]

_CLAIM = ("admission", "ae_attendance", "prison_transfer", "gp_visit", "confirmed_at")
_CHECK = ("window", "checked_at", "unplanned_attendance", "unplanned_admission")


@dataclass(frozen=True, slots=True)
class Author:
    """The pushing principal as attribution names it: its user name and whether a nurse."""

    username: str
    nurse: bool


@dataclass(frozen=True, slots=True)
class Stamped:
    record: Checked  # the version as stored (the pushed one when nothing was replaced)
    replaced: tuple[str, ...]  # attribution fields whose value named someone else


def _claim(avoided: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(avoided.get(name) for name in _CLAIM)


def _check(follow_up: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(follow_up.get(name) for name in _CHECK)


def stamp(record: Checked, author: Author, previous: str | None,
          earlier: Sequence[str] = ()) -> Stamped:  # fmt: skip
    """``record`` with its attribution from ``author`` and the held ``previous`` version's
    JSON (None for version 1); ``earlier`` are other takes whose follow-ups and claims were
    already attributed (a resolution's competing takes)."""
    body = json.loads(record.payload)
    before = json.loads(previous) if previous is not None else None
    others = [json.loads(p) for p in earlier]
    sources = ([before] if before is not None else []) + others
    replaced: list[str] = []

    def put(where: dict[str, Any], name: str, value: Any, field: str) -> None:
        if where.get(name) != value:
            where[name] = value
            if field not in replaced:
                replaced.append(field)

    put(body, "signed_off_by", author.username, "signed_off_by")
    if before is not None:
        put(body, "nurse", before.get("nurse"), "nurse")
    elif author.nurse:
        put(body, "nurse", author.username, "nurse")
    avoided = body.get("avoided") or {}
    if avoided.get("confirmed_by") is not None:
        claim = _claim(avoided)
        carried = next((s["avoided"]["confirmed_by"] for s in sources
                        if s.get("avoided", {}).get("confirmed_by") is not None
                        and _claim(s["avoided"]) == claim), None)  # fmt: skip
        put(avoided, "confirmed_by", carried or author.username, "avoided.confirmed_by")
    held_checks = {_check(f): f.get("checked_by") for s in reversed(sources)
                   for f in s.get("follow_ups") or ()}  # fmt: skip
    for follow_up in body.get("follow_ups") or ():
        put(follow_up, "checked_by", held_checks.get(_check(follow_up)) or author.username,
            "follow_ups.checked_by")
    if not replaced:
        return Stamped(record, ())
    fixed = TriageRecord.model_validate(body)
    return Stamped(Checked(fixed.uuid, fixed.version, fixed.model_dump_json(), log_row(fixed)),
                   tuple(replaced))
