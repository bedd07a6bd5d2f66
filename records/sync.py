"""Pushes the SyncOutbox to the hub's central store over HTTP, idempotently, with back-off.

The requests are :class:`hub.client.HubClient`'s ``put_record`` and ``put_records``; what
the runner makes of each answer is decided here.

The HTTP contract (the hub implements the server side of exactly this)
-------------------------------------------------------------------------
Every request carries ``Authorization: Bearer <token>``. Bodies are JSON; a record is
:class:`records.schema.TriageRecord` (``model_dump_json()``), identified by ``(uuid, version)``.
Only signed-off versions are pushed; the desk pushes a record's versions in order.

``PUT /api/v1/records/{uuid}`` -- body: one TriageRecord whose ``uuid`` equals the path's.

* ``201`` -- stored (the store did not hold this ``(uuid, version)``).
  Body: ``{"uuid": ..., "version": n, "status": "stored"}``
  (:class:`~hub.contract.rest.PutResponse`).
* ``200`` -- already held with identical content (a retry): nothing changes.
  Body: ``{"uuid": ..., "version": n, "status": "unchanged"}``.
* ``409`` -- conflict: the store holds a newer version of the record, or this version with
  different content. Nothing changes. Body: ``{"detail": "...", "held_version": m}``.
* ``422`` (or ``400``) -- invalid: the body does not validate, or the path and body UUIDs
  differ. Nothing changes. Body: ``{"detail": ...}`` (FastAPI's form).
* ``401`` / ``403`` -- no valid token / this principal may not write records.
* ``5xx``, ``408``, ``429`` or no answer -- unavailable: the desk retries later.

``POST /api/v1/records:batch`` -- body: ``{"records": [TriageRecord, ...]}``, 1 to 500
(:data:`~hub.contract.rest.MAX_BATCH`) records, applied in the order given.

* ``200`` -- body ``{"results": [{"uuid", "version", "status", "held_version"}...]}``
  (:class:`~hub.contract.rest.BatchResponse`), one result per record in request order, status
  ``"stored"``, ``"unchanged"`` or ``"conflict"`` with the meanings above.
* ``422`` -- any record is invalid: the whole batch changes nothing; the desk then sends
  that batch's records one by one with PUT to find the invalid one.
* ``413`` -- too many records; the desk falls back to PUT one by one.
* ``401`` / ``403`` / ``5xx`` / ``408`` / ``429`` as for PUT.

Sync state per outbox entry: ``pending`` until the store answers 200/201 (``synced``),
409 (``conflict``: never overwritten in either direction) or 4xx invalid (``failed``).
Error text kept in the outbox and logs holds status codes and error types only: the
store's validation messages may echo patient data.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal
from uuid import UUID

from hub.client import (
    Backoff,
    HubClient,
    HubConflict,
    HubError,
    HubFailed,
    HubNotFound,
    HubRefused,
    HubUnreachable,
)
from records.hub_versions import HubVersions
from records.store import DraftEntry, OutboxEntry, Store, SyncState

__all__ = ["PushResult", "RoundResult", "SyncRunner"]

log = logging.getLogger(__name__)

# Refusals that say "not now" to the desk rather than "never" to the record: a token that
# lapsed, or a principal the store does not (yet) let write. The entries wait.
_NOT_NOW = {401, 403}
_DRAFT_ROUNDS_S = 1.0  # how often drafts are looked at (each waits DRAFT_SETTLE anyway)


@dataclass(frozen=True, slots=True)
class PushResult:
    uuid: UUID
    version: int
    status: Literal["stored", "unchanged", "conflict", "invalid"]
    held_version: int | None = None
    error: str | None = None
    resolution: bool = False  # the answer to a resolution (its takes are held now)


@dataclass(frozen=True, slots=True)
class RoundResult:
    settled: int  # entries that left "pending" (synced, conflict or failed)
    unavailable: bool  # the store could not be reached; entries were postponed


class SyncRunner:
    """Drains the SyncOutbox into the central store; run it on its own thread.

    Each round reads due entries in one unit of work, pushes them, and records the answers
    in another. A crash between the two only means the next round pushes them again, which
    the store answers with 200 "unchanged": at-least-once delivery, stored exactly once.

    A backlog is drained as a pipeline (:meth:`run`, :meth:`run_until_idle`): two rounds are
    on the wire at once (``in_flight``), so the store validates one while it commits the
    other, and a desk thread reads the next round and records earlier answers meanwhile. The
    store must still see each record's versions in order, so a round read ahead stops before
    the first record that a round in flight holds. When the store turns out to be
    unreachable, the rounds in flight get their answers recorded (or are postponed too) and
    the round read ahead is dropped unsent; its entries simply stay pending.
    """

    def __init__(
        self,
        store: Store,
        hub: HubClient,
        *,
        batch_size: int = 200,
        backoff: Backoff | None = None,
        idle_interval: float = 5.0,
        in_flight: int = 2,
        probe_interval: float = 2.0,
    ) -> None:
        self._store = store
        self._hub = hub
        self._batch_size = batch_size
        self._backoff = backoff or Backoff(initial=1.0, maximum=300.0)
        self._idle_interval = idle_interval
        self._in_flight = max(1, in_flight)
        # While the hub is away, how often a cheap health check asks whether it is back: the
        # entries' own back-off may have grown to minutes, the outage may end in seconds.
        self.probe_interval = probe_interval
        self.failures = 0  # consecutive rounds the store was unreachable
        self.retry_after = 0.0  # seconds the last unreachable round postponed its entries
        self._unreachable = False  # the last failure had no answer at all (not a 5xx)
        self.away_checks = 0  # health checks that found the hub still away

    def _read(self, after_id: int = 0, busy: frozenset[UUID] = frozenset()) -> _Round:
        """The next round: due entries above ``after_id``, cut short before the first entry
        of a record in ``busy`` (a round still on the wire may hold its earlier version, and
        the store must see a record's versions in order). ``blocked`` says it was cut to
        nothing: the rounds in flight must settle before that record can go."""
        with self._store.unit_of_work() as uow:
            entries = uow.outbox.due(self._batch_size, after_id=after_id)
            for n, entry in enumerate(entries):
                if entry.record_uuid in busy:
                    entries = entries[:n]
                    break
            else:
                busy = frozenset()  # nothing cut: not blocked
            keys = [(e.record_uuid, e.version) for e in entries]
            payloads = uow.records.version_payloads(keys)
            takes = HubVersions(uow).takes(keys)
        return entries, payloads, bool(busy) and not entries, takes

    def _answers(self, entries: Sequence[OutboxEntry],
                 pushed: Callable[[], list[PushResult]]) -> _Marks | None:
        """A round's marks from its answers, or None (after postponing the round) when the
        store was unreachable. ``pushed`` returns the answers or raises a HubError."""
        try:
            results = pushed()
        except HubError as exc:
            self._failed(exc)
            with self._store.unit_of_work() as uow:
                uow.outbox.postpone(
                    [e.id for e in entries], timedelta(seconds=self.retry_after), exc.summary
                )
            log.info("central store unavailable (%s); %d records wait", exc.summary,
                     len(entries))  # fmt: skip
            return None
        self._reached()
        marks = _Marks()
        for entry, result in zip(entries, results, strict=True):
            if result.status in ("stored", "unchanged"):
                marks.append((entry.id, SyncState.SYNCED, None, None))
                if result.resolution:
                    marks.resolved.append((entry.record_uuid, entry.version))
            elif result.status == "conflict":
                marks.append((entry.id, SyncState.CONFLICT, "HTTP 409", result.held_version))
                marks.conflicts.append((entry.record_uuid, entry.version))
                log.warning("record %s v%d: store holds a newer version",
                            entry.record_uuid, entry.version)  # fmt: skip
            else:
                marks.append((entry.id, SyncState.FAILED, result.error, None))
                log.warning("record %s v%d refused by the store: %s",
                            entry.record_uuid, entry.version, result.error)  # fmt: skip
        return marks

    def _failed(self, exc: HubError) -> None:
        self.failures += 1
        self.retry_after = self._backoff.delay(self.failures - 1)
        self._unreachable = isinstance(exc, HubUnreachable)

    def _reached(self) -> None:
        """The hub answered: after an outage, everything waiting goes now (issue 13: not on
        each entry's own back-off, which had grown while the hub was away)."""
        if self.failures:
            self.release()
        self.failures = 0
        self._unreachable = False

    def release(self) -> None:
        """Every pending version and draft due now, whatever its back-off (the hub is back:
        its answer, or its WebSocket welcome at the desk, says so)."""
        with self._store.unit_of_work() as uow:
            released = uow.outbox.release()
            uow.drafts.release()
        if released:
            log.info("the hub is back; %d records go now", released)

    def probe(self) -> bool:
        """Whether the hub answers its health check; when it does after an outage, every
        waiting entry is released (:meth:`release`). Cheap: no token, no records."""
        try:
            self._hub.round_trip_ms()
        except HubUnreachable:
            self.away_checks += 1
            return False
        except HubFailed:
            # It answers, but fails (busy, or a 5xx): the entries keep their back-off.
            self._unreachable = False
            return False
        except HubError:
            pass  # it answered (a hub without the route, say): it is there
        self._reached()
        return True

    def wait_before_retry(self) -> float:
        """Seconds to wait after an unreachable round before asking again: the back-off,
        but no longer than :attr:`probe_interval` when the hub did not answer at all (a
        health check is cheap, and it releases every entry the moment the hub is back)."""
        if self._unreachable:
            return min(self.retry_after, self.probe_interval)
        return self.retry_after

    def _mark(self, marks: _Marks) -> None:
        with self._store.unit_of_work() as uow:
            # One statement for the round: a backlog of 500 is one UPDATE, not 500 round trips.
            uow.outbox.mark_many(marks)
            uow.outbox.hold_followers(marks.conflicts)
            versions = HubVersions(uow)
            for record_uuid, version in marks.resolved:
                versions.sent(record_uuid, version)

    def push_drafts(self, limit: int = 50) -> RoundResult:
        """Push the drafts whose latest content the hub does not keep yet (issue 13)."""
        with self._store.unit_of_work() as uow:
            entries = uow.drafts.due(limit)
            payloads = uow.records.draft_payloads([e.record_uuid for e in entries])
        if not entries:
            return RoundResult(0, unavailable=False)
        done: list[DraftEntry] = []
        try:
            for entry in entries:
                payload = payloads.get(entry.record_uuid)
                try:
                    if payload is not None:  # signed off meanwhile: nothing to keep
                        self._hub.put_draft(entry.record_uuid, payload)
                except (HubRefused, HubConflict, HubNotFound) as exc:
                    if exc.status in _NOT_NOW:
                        raise
                    # Not kept there (refused, or a hub without drafts): it stays on this
                    # desk as it is, and goes again when it next changes.
                    log.warning("a draft was not kept by the hub: %s", exc.summary)
                done.append(entry)
        except HubError as exc:
            return self._drafts_wait([e for e in entries if e not in done], exc, done)
        self._reached()
        with self._store.unit_of_work() as uow:
            uow.drafts.pushed(done)
        return RoundResult(len(done), unavailable=False)

    def _drafts_wait(self, entries: Sequence[DraftEntry], exc: HubError,
                     done: Sequence[DraftEntry] = ()) -> RoundResult:  # fmt: skip
        self._failed(exc)
        with self._store.unit_of_work() as uow:
            uow.drafts.pushed(done)
            uow.drafts.postpone(entries, timedelta(seconds=self.retry_after))
        return RoundResult(len(done), unavailable=True)

    def push_once(self) -> RoundResult:
        """One round, start to finish (read, push, record the answers)."""
        entries, payloads, _, takes = self._read()
        if not entries:
            return RoundResult(0, unavailable=False)
        marks = self._answers(entries, lambda: self._push(entries, payloads, takes))
        if marks is None:
            return RoundResult(0, unavailable=True)
        self._mark(marks)
        return RoundResult(len(entries), unavailable=False)

    def drain(
        self,
        max_rounds: int = 10_000,
        *,
        stop: threading.Event | None = None,
        on_round: Callable[[RoundResult], None] | None = None,
    ) -> RoundResult:
        """Push everything due, pipelined; ``settled`` counts the entries that left pending.

        Stops when nothing more is due, the store is unreachable (``unavailable``), after
        ``max_rounds`` or once ``stop`` is set. Every answer is recorded before it returns.
        """
        settled = 0
        unavailable = False
        # Rounds on the wire, oldest first; answers are recorded in this order.
        flight: deque[tuple[list[OutboxEntry], Future[list[PushResult]]]] = deque()
        with ThreadPoolExecutor(1, thread_name_prefix="sync-outbox") as desk, \
                ThreadPoolExecutor(self._in_flight, thread_name_prefix="sync-push") as wire:
            marking: Future[None] | None = None

            def settle_oldest(report: bool = True) -> None:
                """Record the oldest round's answers (or postpone it); ``report`` tells
                ``on_round``, which rounds settled after the store went unreachable skip."""
                nonlocal marking, settled, unavailable
                entries, pushing = flight.popleft()
                marks = self._answers(entries, pushing.result)
                if marks is None:
                    unavailable = True
                    if report and on_round is not None:
                        on_round(RoundResult(0, unavailable=True))
                    return
                if marking is not None:
                    marking.result()  # a failure to record answers stops the drain
                marking = desk.submit(self._mark, marks)
                settled += len(entries)
                if report and on_round is not None:
                    on_round(RoundResult(len(entries), unavailable=False))

            reading: Future[_Round] | None = None
            try:
                after, rounds = 0, 0
                reading = desk.submit(self._read)
                while not unavailable:
                    entries, payloads, blocked, takes = reading.result()
                    reading = None
                    if rounds >= max_rounds or (stop is not None and stop.is_set()):
                        break
                    if entries:
                        flight.append((entries, wire.submit(self._push, entries, payloads,
                                                            takes)))
                        rounds += 1
                        after = entries[-1].id
                        # Read ahead past the rounds in flight; their entries are still
                        # pending, and their records may not go again until they settle.
                        busy = frozenset(e.record_uuid for round_, _ in flight for e in round_)
                        reading = desk.submit(self._read, after, busy)
                        while len(flight) >= self._in_flight and not unavailable:
                            settle_oldest()
                    elif blocked:
                        while flight and not unavailable:
                            settle_oldest()
                        reading = desk.submit(self._read, after)
                    else:
                        break
                while flight and not unavailable:
                    settle_oldest()
            finally:
                # Rounds still on the wire when the store turned out unreachable (or on an
                # error) still get their answers recorded, or postponed like the failed one.
                while flight:
                    settle_oldest(report=False)
                if reading is not None:
                    reading.result()  # read ahead, dropped unsent; its entries stay pending
                if marking is not None:
                    marking.result()
        return RoundResult(settled, unavailable=unavailable)

    def _push(self, entries: Sequence[OutboxEntry], payloads: Sequence[str],
              takes: _Takes | None = None) -> list[PushResult]:  # fmt: skip
        """The store's answer for each entry; raises a HubError when the store is
        unavailable (every answer but one about the records themselves). A resolving
        version goes with its competing takes (``takes``) to the resolution route."""
        if takes:
            # Rare (a nurse resolved a conflict): each alone, the rest of the round as ever.
            out: dict[int, PushResult] = {}
            rest = [(e, p) for e, p in zip(entries, payloads, strict=True)
                    if (e.record_uuid, e.version) not in takes]
            for entry, payload in zip(entries, payloads, strict=True):
                competing = takes.get((entry.record_uuid, entry.version))
                if competing is not None:
                    out[entry.id] = self._resolve_one(entry, payload, competing)
            if rest:
                for (entry, _), result in zip(rest, self._push([e for e, _ in rest],
                                                               [p for _, p in rest]),
                                              strict=True):  # fmt: skip
                    out[entry.id] = result
            return [out[e.id] for e in entries]
        if len(entries) > 1:
            try:
                answer = self._hub.put_records(payloads)
            except (HubRefused, HubConflict) as exc:
                if exc.status in _NOT_NOW:
                    raise
                # Refused whole (an invalid record, too many): one by one finds the bad one.
            else:
                results = answer.results
                if [(r.uuid, r.version) for r in results] != [
                        (e.record_uuid, e.version) for e in entries]:  # fmt: skip
                    raise HubFailed("the store's answer does not match the batch sent",
                                    summary="batch response does not match the request")
                return [PushResult(r.uuid, r.version, r.status, r.held_version)
                        for r in results]  # fmt: skip
        return [self._put_one(e.record_uuid, e.version, p)
                for e, p in zip(entries, payloads, strict=True)]  # fmt: skip

    def _resolve_one(self, entry: OutboxEntry, payload: str, competing: list[str]) -> PushResult:
        try:
            r = self._hub.put_resolution(entry.record_uuid, entry.version - 1, competing,
                                         payload)  # fmt: skip
        except HubRefused as exc:
            if exc.status in _NOT_NOW:
                raise
            return PushResult(entry.record_uuid, entry.version, "invalid", error=exc.summary)
        return PushResult(r.uuid, r.version, r.status, r.held_version, resolution=True)

    def _put_one(self, record_uuid: UUID, version: int, payload: str) -> PushResult:
        try:
            r = self._hub.put_record(record_uuid, version, payload)
        except HubRefused as exc:
            if exc.status in _NOT_NOW:
                raise
            # The summary holds the status and the kinds of error only: the store's
            # validation messages may echo patient data.
            return PushResult(record_uuid, version, "invalid", error=exc.summary)
        return PushResult(r.uuid, r.version, r.status, r.held_version)

    def run(
        self, stop: threading.Event, *, on_round: Callable[[RoundResult], None] | None = None
    ) -> None:
        """Push until ``stop`` is set, backing off while the store is unreachable."""
        drafts_at = time.monotonic()  # the first look a second in: versions go first
        while not stop.is_set():
            result = self.drain(stop=stop, on_round=on_round)
            if time.monotonic() - drafts_at >= _DRAFT_ROUNDS_S:  # drafts wait to settle
                drafts_at = time.monotonic()
                self.push_drafts()
            if result.unavailable:
                # Ask whether the hub is back at least every probe_interval: when it is,
                # every entry waiting is released at once and drained in the next pass.
                while not stop.wait(self.wait_before_retry()):
                    if self.probe() or not self._unreachable:
                        break
            elif result.settled == 0:
                if on_round is not None:
                    on_round(result)
                stop.wait(self._idle_interval)

    def run_until_idle(self, max_rounds: int = 10_000) -> int:
        """Push everything due now (for tests and the command line); returns entries settled."""
        return self.drain(max_rounds).settled


_Takes = dict[tuple[UUID, int], list[str]]
_Round = tuple[list[OutboxEntry], list[str], bool, _Takes]


class _Marks(list[tuple[int, SyncState, str | None, int | None]]):
    """A round's marks (entry id, state, error, held version), and what follows from them:
    the (uuid, version) in conflict, whose later versions wait too, and the resolutions
    answered, whose takes the hub holds now."""

    def __init__(self) -> None:
        super().__init__()
        self.conflicts: list[tuple[UUID, int]] = []
        self.resolved: list[tuple[UUID, int]] = []
