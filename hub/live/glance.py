"""The hub at a glance: nurses free and in a call, calls waiting by urgency against the
answering standard, and how many were answered within it today; pushed to every nurse and
manager desk as ``hub_glance``.

Cheap by construction: one pass over the waiting calls and the connections once a tick
(at most a second), and a push only when something a desk shows has changed. The longest
wait is sent as of the push; a desk adds the time since it arrived, so a wait growing
second by second costs the hub nothing. "Today" is the UTC day; the count is read back from
the call log when the hub starts (or takes over dispatch), then kept as calls are answered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.contract import signaling as p
from hub.contract.identity import CallRole, StaffRole
from hub.db import unit_of_work, utcnow
from hub.live.call import LiveCall
from hub.live.presence import Presence
from hub.live.queue import CallQueue
from hub.models import Call

# Service levels (shared/clinical/REFERENCE.md, "Service levels worth beating"): the Airedale
# hub answers within 5 minutes; NHS 111 answers 95% of calls within 60 s, the standard an
# emergency is held to here.
ANSWER_STANDARD_S: Mapping[p.Urgency, int] = {
    p.Urgency.EMERGENCY: 60, p.Urgency.URGENT: 300, p.Urgency.ROUTINE: 300,
}


def within_standard(urgency: p.Urgency, waited_s: float) -> bool:
    return waited_s <= ANSWER_STANDARD_S[urgency]


def answered_on(sessions: sessionmaker[Session], day: date) -> tuple[int, int]:
    """Calls first answered on ``day`` (UTC), and how many of them within their standard."""
    start = datetime.combine(day, time(), UTC)
    with unit_of_work(sessions) as s:
        # By the request's day first (the report index leads with it): a call answered today
        # was asked for today or, past midnight, yesterday.
        rows = s.execute(select(Call.urgency, Call.requested_at, Call.answered_at)
                         .where(Call.requested_at >= start - timedelta(days=1),
                                Call.answered_at >= start)).all()
    answered = inside = 0
    for urgency, requested, answered_at in rows:
        if answered_at is None:
            continue
        answered += 1
        waited = (answered_at - requested).total_seconds()
        if within_standard(p.Urgency(urgency), waited):
            inside += 1
    return answered, inside


class Glance:
    """Computes the glance and pushes it to the queue watchers when it changes."""

    def __init__(self, calls: Mapping[str, LiveCall], queue: CallQueue, presence: Presence,
                 hidden: Callable[[], Iterable[str]] = tuple) -> None:
        self._calls = calls
        self._queue = queue
        self._presence = presence
        self._hidden = hidden  # waiting calls no nurse is shown (a clinic ringing)
        self.day = utcnow().date()
        self.answered_today = 0
        self.in_standard_today = 0
        self._last_key: object = None
        self.last: p.HubGlance | None = None

    def learn(self, day: date, answered: int, inside: int) -> None:
        if day == self.day:
            self.answered_today, self.in_standard_today = answered, inside

    def answered(self, urgency: p.Urgency, waited_s: float) -> None:
        self._roll()
        self.answered_today += 1
        if within_standard(urgency, waited_s):
            self.in_standard_today += 1

    def _roll(self) -> None:
        today = utcnow().date()
        if today != self.day:
            self.day, self.answered_today, self.in_standard_today = today, 0, 0

    def compute(self) -> tuple[p.HubGlance, object]:
        """The glance as of now, and the key it is compared by (no ever-growing waits)."""
        self._roll()
        now = utcnow()
        nurses = self._presence.nurses()
        in_call = {c.desk.id for c in self._calls.values()
                   if c.state == "connected" and c.desk is not None
                   and c.desk.role is StaffRole.NURSE} & nurses.keys()
        hidden = set(self._hidden())
        counts = dict.fromkeys(p.Urgency, 0)
        oldest: dict[p.Urgency, tuple[datetime, str]] = {}
        for call in self._queue.waiting():
            if call.id in hidden:
                continue
            counts[call.urgency] += 1
            seen = oldest.get(call.urgency)
            if seen is None or call.requested_at < seen[0]:
                oldest[call.urgency] = (call.requested_at, call.id)
        waits = []
        for urgency in p.Urgency:
            first = oldest.get(urgency)
            longest = max(0, int((now - first[0]).total_seconds())) if first else 0
            standard = ANSWER_STANDARD_S[urgency]
            waits.append(p.UrgencyWait(urgency=urgency, waiting=counts[urgency],
                                       longest_wait_s=longest, standard_s=standard,
                                       breached=longest > standard))
        free = sorted((who for i, who in nurses.items() if i not in in_call),
                      key=lambda who: (who.name, who.id))
        glance = p.HubGlance(
            nurses_signed_in=len(nurses), nurses_free=len(free), nurses_in_call=len(in_call),
            free_nurses=[p.Participant(participant_id=who.participant_id, name=who.name,
                                       role=CallRole.NURSE) for who in free],
            waiting=waits, answered_today=self.answered_today,
            answered_in_standard_today=self.in_standard_today)
        key = (tuple(who.id for who in free), len(in_call), self.answered_today,
               self.in_standard_today,
               tuple((u, counts[u], oldest[u][1] if u in oldest else None,
                      w.breached) for u, w in zip(p.Urgency, waits, strict=True)))
        return glance, key

    def tick(self) -> None:
        """Push the glance to every queue watcher if it changed since the last push."""
        glance, key = self.compute()
        if key != self._last_key:
            self._last_key, self.last = key, glance
            self._presence.to_queue_watchers(glance.to_json())  # serialised once for all

    def show(self, conn_send: Callable[[p._Message], None]) -> None:
        """A desk just signed in: the glance as of now."""
        glance, _key = self.compute()
        conn_send(glance)
