"""The call queue: waiting calls in answering order (urgency, then arrival), and the atomic claim.

``CallQueue`` is the interface the rest of the live side uses; ``MemoryCallQueue`` is the
one-process implementation. It is shaped so that a second implementation can keep the
queue in PostgreSQL, shared by several hubs, with no change to presence or escalation:

- **Decisions are the queue's, one statement each.** ``add`` is idempotent by call id
  (``INSERT ... ON CONFLICT DO NOTHING``: a restarted or second hub may take back a call the
  queue already holds). ``claim`` turns a waiting call into a claimed one and returns it to
  exactly one claimant (``UPDATE calls SET state = 'connected', answered_by = :desk WHERE
  id = :id AND state = 'waiting' RETURNING ...``); every other claimant gets None. It takes
  the desk so that the same statement can record who answered. ``requeue`` only succeeds
  on a call that is still claimed (its desk was lost; a call ended meanwhile stays ended),
  and ``remove`` says whether the call was still waiting, so exactly one remover tells the
  desks it left the queue.
- **Writes are coroutines, reads are not.** A shared queue waits on the database for each
  decision; the in-memory one never suspends inside them, so on the hub's one event loop
  each is atomic with no lock. ``waiting`` and ``position`` are for showing the queue
  (snapshots, positions, wait estimates), not for deciding: they may come from a local view
  that a shared implementation keeps from its own writes and from LISTEN/NOTIFY wake-ups,
  re-reading the rows after a reconnect (NOTIFY does not replay what a listener missed). A
  desk that saw a call waiting still has to win ``claim``.
- **Plain data in and out.** A ``QueuedCall`` is frozen and holds what the queue orders by
  and what a desk is shown, so it can be a row; connections stay with presence, the leg
  state of a call (who is connected to it) with the dispatch, and the durable call log
  with its writer.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from hub.contract import signaling as p
from hub.contract.identity import Principal


@dataclass(frozen=True)
class QueuedCall:
    """What the queue holds of one call: the site's request and the call's place in the queue."""

    id: str
    site: Principal
    request_id: str
    reason: str
    urgency: p.Urgency
    intended_action: p.IntendedAction | None
    observations: p.PreCallObservations | None
    patient: p.Patient | None
    soft_signs: tuple[str, ...]
    news2: p.News2Summary | None
    requested_at: datetime
    requeued: bool = False  # its desk was lost: it goes before others of its urgency

    def sort_key(self) -> tuple[int, int, datetime]:
        return (self.urgency.rank, 0 if self.requeued else 1, self.requested_at)


class CallQueue(Protocol):
    """The waiting calls of the hub and their claims (see the module docstring for why so)."""

    async def add(self, call: QueuedCall) -> bool:
        """Put a new call in the queue, waiting; False (and no change) if the id is known."""
        ...

    async def claim(self, call_id: str, desk: Principal) -> QueuedCall | None:
        """Take a waiting call for ``desk``: the call for exactly one claimant, None for the
        rest (claimed already, removed, or never queued)."""
        ...

    async def requeue(self, call_id: str) -> QueuedCall | None:
        """A claimed call goes back to waiting, marked requeued (before the others of its
        urgency); the call as it now waits, or None if it was not claimed."""
        ...

    async def remove(self, call_id: str, reason: str | None = None,
                     by: str | None = None) -> bool:
        """The call leaves the queue for good (cancelled, ended, not saved), whether waiting
        or claimed; True only if it was waiting. ``reason`` and ``by``: why and by whom it
        ended, kept with the decision where the queue is rows (the call log's end follows)."""
        ...

    def waiting(self) -> list[QueuedCall]:
        """The waiting calls in answering order: urgency, then requeued first, then arrival."""
        ...

    def position(self, call_id: str) -> int | None:
        """1 for the next call to be answered; None if the call is not waiting."""
        ...


class WaitingLine:
    """The waiting calls in answering order, with their positions: the in-memory queue's
    state, and a shared queue's local view of the rows (hub/live/pg_queue.py)."""

    def __init__(self) -> None:
        self._calls: list[QueuedCall] = []  # in answering order
        self._ids: set[str] = set()

    def __contains__(self, call_id: object) -> bool:
        return call_id in self._ids

    def calls(self) -> list[QueuedCall]:
        return list(self._calls)

    def position(self, call_id: str) -> int | None:
        if call_id not in self._ids:
            return None
        return next(i for i, c in enumerate(self._calls, start=1) if c.id == call_id)

    def insert(self, call: QueuedCall) -> None:
        """Put ``call`` in its place, behind every call of an equal key already there."""
        self.take(call.id)
        # From the back: a new call usually goes last, and equal keys keep arrival order.
        key = call.sort_key()
        i = len(self._calls)
        while i > 0 and self._calls[i - 1].sort_key() > key:
            i -= 1
        self._calls.insert(i, call)
        self._ids.add(call.id)

    def take(self, call_id: str) -> QueuedCall | None:
        """Take ``call_id`` out of the line; None if it was not in it."""
        if call_id not in self._ids:
            return None
        i = next(i for i, c in enumerate(self._calls) if c.id == call_id)
        self._ids.discard(call_id)
        return self._calls.pop(i)

    def replace_all(self, calls: list[QueuedCall]) -> None:
        """The line becomes ``calls`` (given in arrival order), in answering order."""
        self._calls = sorted(calls, key=QueuedCall.sort_key)  # stable: arrival order kept
        self._ids = {c.id for c in calls}


class MemoryCallQueue:
    """The queue of one hub process, in memory, used only from the hub's event loop."""

    def __init__(self) -> None:
        self._line = WaitingLine()
        self._claimed: dict[str, QueuedCall] = {}

    async def add(self, call: QueuedCall) -> bool:
        if call.id in self._line or call.id in self._claimed:
            return False
        self._line.insert(call)
        return True

    async def claim(self, call_id: str, desk: Principal) -> QueuedCall | None:
        # No await in here: on one event loop the check and the change cannot interleave.
        call = self._line.take(call_id)
        if call is not None:
            self._claimed[call_id] = call
        return call

    async def requeue(self, call_id: str) -> QueuedCall | None:
        call = self._claimed.pop(call_id, None)
        if call is None:
            return None
        call = dataclasses.replace(call, requeued=True)
        self._line.insert(call)
        return call

    async def remove(self, call_id: str, reason: str | None = None,
                     by: str | None = None) -> bool:
        if self._line.take(call_id) is not None:
            return True
        self._claimed.pop(call_id, None)
        return False

    def waiting(self) -> list[QueuedCall]:
        return self._line.calls()

    def position(self, call_id: str) -> int | None:
        return self._line.position(call_id)
