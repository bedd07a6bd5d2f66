"""The call queue in PostgreSQL: the ``calls`` rows are the queue, each decision one statement.

``PgCallQueue`` implements ``CallQueue`` (hub/live/queue.py) for several hubs on one database
(docs/cluster.md). A waiting call is a ``calls`` row in state ``waiting``; ``claim`` is one
conditional ``UPDATE ... WHERE state = 'waiting'``, so PostgreSQL gives a call to exactly one
claimant whichever process or hub asks; ``remove`` locks the row before it ends it, so a
claim and a removal racing each other see each other's outcome. The reads (``waiting``,
``position``) come from a local view kept from this queue's own decisions (a lost claim or
removal drops the call from it too) and re-read from the rows by :meth:`load`.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Json

from hub.contract import signaling as p
from hub.contract.identity import Principal
from hub.live.pg import connect
from hub.live.queue import QueuedCall, WaitingLine

# Every read of a call takes these, with its site's name and kind (a site is a principal).
_COLUMNS = """c.id, c.site_id, s.name AS site_name, s.kind AS site_kind, c.request_id,
    c.reason, c.urgency, c.intended_action, c.observations, c.patient, c.soft_signs,
    c.news2_total, c.news2_band, c.news2_complete, c.requested_at, c.requeued"""

_ADD = """
INSERT INTO calls (id, site_id, request_id, reason, urgency, intended_action, observations,
    patient, soft_signs, news2_total, news2_band, news2_complete, state, requeued,
    requested_at, queue_order)
VALUES (%(id)s, %(site_id)s, %(request_id)s, %(reason)s, %(urgency)s, %(intended_action)s,
    %(observations)s, %(patient)s, %(soft_signs)s, %(news2_total)s, %(news2_band)s,
    %(news2_complete)s, 'waiting', %(requeued)s, %(requested_at)s, nextval('call_queue_order'))
ON CONFLICT (id) DO NOTHING
RETURNING id"""

_CLAIM = f"""
UPDATE calls AS c SET state = 'connected', answered_by = %(desk)s
FROM sites AS s
WHERE c.id = %(id)s AND c.state = 'waiting' AND s.id = c.site_id
RETURNING {_COLUMNS}"""

_REQUEUE = f"""
UPDATE calls AS c SET state = 'waiting', requeued = true, answered_by = NULL
FROM sites AS s
WHERE c.id = %(id)s AND c.state = 'connected' AND s.id = c.site_id
RETURNING {_COLUMNS}"""

# The row is locked first: a claim holding it is waited for, and its outcome is what the
# lock then reads (READ COMMITTED re-reads a locked row), so exactly one of them wins. Why
# and by whom it ended go in the same statement: the call log's end (participants, rollup
# marks) is a second transaction, and a hub killed between the two must not leave an ended
# call with no reason, which no restarted hub would mend (it takes back open calls only).
_REMOVE = """
UPDATE calls AS c SET state = 'ended', ended_at = now(),
    end_reason = COALESCE(%(reason)s, c.end_reason), ended_by = COALESCE(%(by)s, c.ended_by)
FROM (SELECT id, state FROM calls WHERE id = %(id)s AND state <> 'ended' FOR UPDATE) AS was
WHERE c.id = was.id
RETURNING was.state"""

_WAITING = f"""
SELECT {_COLUMNS} FROM calls AS c JOIN sites AS s ON s.id = c.site_id
WHERE c.state = 'waiting'
ORDER BY c.queue_order NULLS FIRST, c.requested_at"""


def _row_of(call: QueuedCall) -> dict[str, Any]:
    news2 = call.news2
    return {
        "id": call.id, "site_id": call.site.id, "request_id": call.request_id,
        "reason": call.reason, "urgency": call.urgency.value,
        "intended_action": call.intended_action.value if call.intended_action else None,
        "observations": Json(call.observations.model_dump()) if call.observations else None,
        "patient": Json(call.patient.model_dump(exclude_none=True)) if call.patient else None,
        "soft_signs": Json(list(call.soft_signs)),
        "news2_total": news2.total if news2 else None,
        "news2_band": news2.band if news2 else None,
        "news2_complete": news2.complete if news2 else None,
        "requeued": call.requeued, "requested_at": call.requested_at,
    }


def queued_call(row: dict[str, Any]) -> QueuedCall:
    """A ``calls`` row (read with ``_COLUMNS``) as the queue holds it."""
    requested: datetime = row["requested_at"]
    return QueuedCall(
        id=row["id"],
        site=Principal(kind="site", id=row["site_id"], name=row["site_name"],
                       role=row["site_kind"]),
        request_id=row["request_id"], reason=row["reason"], urgency=p.Urgency(row["urgency"]),
        intended_action=(p.IntendedAction(row["intended_action"])
                         if row["intended_action"] else None),
        observations=(p.PreCallObservations(**row["observations"])
                      if row["observations"] else None),
        patient=p.Patient(**row["patient"]) if row["patient"] else None,
        soft_signs=tuple(row["soft_signs"] or ()),
        news2=(p.News2Summary(total=row["news2_total"], band=row["news2_band"] or "",
                              complete=bool(row["news2_complete"]))
               if row["news2_total"] is not None else None),
        requested_at=requested.astimezone(UTC), requeued=bool(row["requeued"]),
    )


class PgCallQueue:
    """The shared queue of every hub on one PostgreSQL database (see the module docstring).

    One connection, one statement at a time: each decision is a single short statement, and
    its order on this hub is the order it was asked in. A broken connection fails the
    decision in hand (the client is told to try again) and is opened anew for the next.
    """

    def __init__(self, db_url: str, name: str = "telehub-queue") -> None:
        self._db_url = db_url
        self._name = name
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()
        self._line = WaitingLine()

    async def load(self) -> None:
        """Re-read the waiting calls from the rows (at start, and after taking over)."""
        rows = await self._run(_WAITING, {})
        self._line.replace_all([queued_call(r) for r in rows])

    async def close(self) -> None:
        async with self._lock:
            if self._conn is not None:
                await self._conn.close()
                self._conn = None

    async def add(self, call: QueuedCall) -> bool:
        added = bool(await self._run(_ADD, _row_of(call)))
        if added:
            self._line.insert(call)
        return added

    async def claim(self, call_id: str, desk: Principal) -> QueuedCall | None:
        rows = await self._run(_CLAIM, {"id": call_id, "desk": desk.id})
        self._line.take(call_id)  # won or lost, it is not waiting any more
        return queued_call(rows[0]) if rows else None

    async def requeue(self, call_id: str) -> QueuedCall | None:
        rows = await self._run(_REQUEUE, {"id": call_id})
        if not rows:
            return None
        call = dataclasses.replace(queued_call(rows[0]), requeued=True)
        self._line.insert(call)
        return call

    async def remove(self, call_id: str, reason: str | None = None,
                     by: str | None = None) -> bool:
        rows = await self._run(_REMOVE, {"id": call_id, "reason": reason, "by": by})
        self._line.take(call_id)
        return bool(rows) and rows[0]["state"] == "waiting"

    def waiting(self) -> list[QueuedCall]:
        return self._line.calls()

    def position(self, call_id: str) -> int | None:
        return self._line.position(call_id)

    async def _run(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        async with self._lock:
            if self._conn is None or self._conn.closed:
                self._conn = await connect(self._db_url, name=self._name)
            try:
                async with self._conn.cursor(row_factory=dict_row) as cur:
                    await cur.execute(sql, params)
                    return await cur.fetchall() if cur.description else []
            except psycopg.OperationalError:
                await self._conn.close()
                self._conn = None
                raise
