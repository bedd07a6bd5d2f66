"""The hub-wide follow-up worklist, read from the central store (hub/routes/followups.py).

Reads only what the central store holds: the claimed records' latest versions (the log's
columns pick them, their payloads give every check), so no table of its own and nothing a
desk could write around; a follow-up is a new version of the record, pushed through the
desk's outbox like any other. The windows' hours come from records/data/follow_up_windows.csv.
Takes a Session and never commits; the records listed are audited as reads.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hub.central_store import CentralStore
from hub.contract.followups import (
    MAX_WORKLIST,
    FollowUpCounts,
    FollowUpItem,
    FollowUpState,
    Worklist,
)
from hub.contract.identity import Principal
from hub.db import utcnow
from hub.models import CentralRecordVersion, Staff, central_records
from records import codes

__all__ = ["windows", "worklist"]

_CLAIMS = (("admission", "admission_avoided"), ("ae_attendance", "ae_attendance_avoided"),
           ("prison_transfer", "prison_transfer_avoided"))


def windows() -> list[tuple[str, timedelta, timedelta]]:
    """Each window's code, and when it is due and overdue after the call (the data table)."""
    table = codes.follow_up_windows()
    return [(code, timedelta(hours=float(table[code].extra["due_after_hours"])),
             timedelta(hours=float(table[code].extra["overdue_after_hours"])))
            for code in table.codes]  # fmt: skip


def _checks(record: dict[str, Any], call_at: datetime, now: datetime,
            names: dict[str, str]) -> list[FollowUpItem]:
    """The record's check of each window: done (by whom), or due, overdue or upcoming."""
    done: dict[str, dict[str, Any]] = {}
    for check in record.get("follow_ups") or ():
        done.setdefault(check["window"], check)  # the first check of a window decides it
    claims = tuple(name for name, _ in _CLAIMS if (record.get("avoided") or {}).get(name))
    patient = record.get("patient") or {}
    items: list[FollowUpItem] = []
    spans = windows()
    for i, (window, due, overdue) in enumerate(spans):
        check = done.get(window)
        if check is None:
            if any(w in done for w, _, _ in spans[i + 1:]):
                continue  # a later window was checked: it covers this one
            if any(c["unplanned_attendance"] or c["unplanned_admission"] for c in done.values()):
                continue  # the claim is withdrawn already: no later check is needed
        state = (FollowUpState.DONE if check is not None else
                 FollowUpState.OVERDUE if now >= call_at + overdue else
                 FollowUpState.DUE if now >= call_at + due else FollowUpState.UPCOMING)
        withdrawn = check is not None and (check["unplanned_attendance"]
                                           or check["unplanned_admission"])
        items.append(FollowUpItem(
            record_uuid=record["uuid"], version=record["version"], call_id=record.get("call_id"),
            site_id=record["site_id"], setting=record["setting"],
            patient=patient.get("name") or "", nhs_number=patient.get("nhs_number"),
            problem=(record.get("presenting_problem") or "")[:200], claims=claims,
            call_at=call_at, window=window, due_at=call_at + due,
            overdue_at=call_at + overdue, state=state,
            done_at=check["checked_at"] if check else None,
            done_by=names.get(check["checked_by"], check["checked_by"]) if check else None,
            result=None if check is None else "withdrawn" if withdrawn else "confirmed"))
    return items


def worklist(session: Session, principal: Principal, done_days: int,
             now: datetime | None = None) -> Worklist:
    """Due and overdue checks, most overdue first, then those done in the last ``done_days``."""
    now = now or utcnow()
    t, v = central_records, CentralRecordVersion
    claimed = sa.or_(*(t.c[column] for _, column in _CLAIMS))
    # Closed: withdrawn, or the last window checked. Closed long ago: not on the list.
    closed = sa.or_(t.c.follow_up_result == "withdrawn",
                    t.c.follow_up_window == windows()[-1][0])
    recent = t.c.follow_up_checked_at >= now - timedelta(days=done_days)
    rows = session.execute(
        sa.select(t.c.uuid, t.c.version, t.c.occurred_at, v.payload)
        .join(v, sa.and_(v.record_uuid == t.c.uuid, v.version == t.c.version))
        .where(claimed, sa.or_(sa.not_(closed), t.c.follow_up_result.is_(None), recent))
        .order_by(t.c.occurred_at, t.c.uuid).limit(MAX_WORKLIST)).all()
    records = [(json.loads(payload), occurred) for _, _, occurred, payload in rows]
    checkers = sorted({c["checked_by"] for r, _ in records for c in r.get("follow_ups") or ()})
    names: dict[str, str] = {u: n for u, n in session.execute(
        sa.select(Staff.username, Staff.display_name).where(Staff.username.in_(checkers)))
    } if checkers else {}
    items = [item for record, occurred in records
             for item in _checks(record, occurred, now, names)]
    items = [i for i in items if i.state is not FollowUpState.DONE or i.done_at is None
             or i.done_at >= now - timedelta(days=done_days)]
    counts = FollowUpCounts(**{state.value: sum(i.state is state for i in items)
                               for state in FollowUpState})
    order = {FollowUpState.OVERDUE: 0, FollowUpState.DUE: 1, FollowUpState.DONE: 2}
    def rank(item: FollowUpItem) -> tuple[int, float]:
        # The most overdue first; then the most recently done.
        if item.state is FollowUpState.DONE:
            return 2, -(item.done_at or now).timestamp()
        return order[item.state], item.due_at.timestamp()

    listed = sorted((i for i in items if i.state in order), key=rank)
    CentralStore(session, principal).audit(
        "read", [(u, n, "follow-ups") for u, n, _, _ in rows])
    return Worklist(as_of=now, items=listed, counts=counts)
