"""The queue as people see it: snapshots and numbered updates for the desks, positions and
estimated waits for the callers."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping

from hub.config import HubConfig
from hub.contract import signaling as p
from hub.contract.identity import SiteKind
from hub.live.call import LiveCall
from hub.live.presence import Presence
from hub.live.queue import CallQueue, QueuedCall


class WaitEstimate:
    """Estimated waits from the recent times to answer and to handle a call."""

    def __init__(self, config: HubConfig) -> None:
        self.config = config
        self._answer_s: deque[float] = deque(maxlen=20)
        self._handle_s: deque[float] = deque(maxlen=20)

    def learn(self, answer_s: Iterable[float], handle_s: Iterable[float]) -> None:
        self._answer_s.extend(answer_s)
        self._handle_s.extend(handle_s)

    def answered(self, seconds: float) -> None:
        self._answer_s.append(seconds)

    def handled(self, seconds: float) -> None:
        self._handle_s.append(seconds)

    def wait_s(self, pos: int, online: int, free: int) -> int:
        """The wait of the call at ``pos`` (1 = next), with ``online`` nurses, ``free`` idle.

        With a free nurse for everyone ahead, the wait is the recent time to answer; beyond
        that, each round of calls ahead takes one recent handling time per signed-in nurse.
        """
        answer = _mean(self._answer_s, self.config.default_answer_s)
        handle = _mean(self._handle_s, self.config.default_handle_s)
        if pos <= free:
            wait = answer
        else:
            rounds = math.ceil((pos - free) / max(online, 1))
            wait = answer + rounds * handle
        return round(wait)


class QueueBoard:
    def __init__(
        self, config: HubConfig, queue: CallQueue, calls: Mapping[str, LiveCall],
        presence: Presence,
    ) -> None:
        self.queue = queue
        self.estimate = WaitEstimate(config)
        self.seq = 0
        self._calls = calls
        self._presence = presence
        # Waiting calls no desk is shown yet: a clinic call ringing its specialist
        # (hub/live/clinic_ring.py); shown, and counted in positions, once it falls back.
        self.hidden: set[str] = set()

    def entry(self, call: QueuedCall, position: int) -> p.QueueEntry:
        live = self._calls.get(call.id)
        return p.QueueEntry(
            call_id=call.id, site_id=call.site.id, site_name=call.site.name,
            site_kind=SiteKind(call.site.role), urgency=call.urgency, reason=call.reason,
            intended_action=call.intended_action, requested_at=call.requested_at,
            position=position, requeued=call.requeued,
            caller_connected=live is not None and live.caller is not None, news2=call.news2,
            observations=call.observations, patient=call.patient,
            soft_signs=list(call.soft_signs),
        )

    def snapshot(self) -> p.QueueSnapshot:
        return p.QueueSnapshot(seq=self.seq, entries=[
            self.entry(c, i) for i, c in enumerate(self._waiting(), start=1)
        ])

    def _waiting(self) -> list[QueuedCall]:
        waiting = self.queue.waiting()
        if self.hidden:
            waiting = [c for c in waiting if c.id not in self.hidden]
        return waiting

    def broadcast(
        self, op: str, call: LiveCall, reason: str | None = None, claimed_by: str | None = None
    ) -> None:
        """Tell every desk watching the queue that ``call`` was added, updated or removed."""
        if call.id in self.hidden:
            return
        self.seq += 1
        update = p.QueueUpdate(
            seq=self.seq, op=op, call_id=call.id,
            entry=self.entry(call.request, self._position_of(call)) if op != "removed" else None,
            reason=reason, claimed_by=claimed_by,
        )
        self._presence.to_queue_watchers(update.to_json())  # serialised once for every desk

    def position(self, call: LiveCall) -> tuple[int, int]:
        """Position of a waiting call (1 = next) and its estimated wait in seconds."""
        if call.id in self.hidden:
            return 1, 0  # ringing its specialist
        pos = self._position_of(call)
        online, free = self._free_desks()
        return pos, self.estimate.wait_s(pos, online, free)

    def tell_positions(self, after: LiveCall | None = None) -> None:
        """Tell each waiting caller (behind ``after``, if given) its position and wait."""
        waiting = self._waiting()
        start = self._position_of(after) if after is not None and (
            after.id not in self.hidden) else 0
        online, free = self._free_desks()  # once for every caller told, not once each
        for i, queued in enumerate(waiting[start:], start=start + 1):
            call = self._calls.get(queued.id)
            if call is not None and call.caller is not None and call.saved_ok:
                call.caller.send(p.QueuePosition(
                    call_id=call.id, position=i,
                    estimated_wait_s=self.estimate.wait_s(i, online, free)))

    def _position_of(self, call: LiveCall) -> int:
        pos = self.queue.position(call.id)
        if pos is None:
            raise ValueError(f"call {call.id} is not waiting")
        if self.hidden:  # not behind a call no one is shown
            pos -= sum(1 for c in self.queue.waiting()[:pos - 1] if c.id in self.hidden)
        return pos

    def _free_desks(self) -> tuple[int, int]:
        nurses = self._presence.nurse_ids()
        busy = {c.desk.id for c in self._calls.values()
                if c.state == "connected" and c.desk is not None}
        return len(nurses), len(nurses - busy)


def _mean(values: deque[float], default: float) -> float:
    return sum(values) / len(values) if values else default
