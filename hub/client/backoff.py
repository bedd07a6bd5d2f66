"""The one back-off of anything that retries the hub, and the spread-out one of sites."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Backoff:
    """Exponential back-off with jitter and a cap, for anything that retries the hub.

    Retry ``n`` (0 for the first) waits between ``1 - jitter`` and all of
    ``min(maximum, initial * factor**n)``: a fleet of desks and sites that lost the hub
    together does not come back in step, yet none retries sooner than half the back-off
    (with the default jitter). ``spread`` adds up to that many seconds, at random, to the
    first retry only, and ``busy_spread`` (if set) instead of it for a client that holds a
    call: see :func:`site_backoff`. ``rng`` is passed in so tests can make it deterministic.
    """

    initial: float = 0.5
    maximum: float = 15.0
    factor: float = 2.0
    jitter: float = 0.5
    spread: float = 0.0
    busy_spread: float | None = None
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def delay(self, attempt: int, busy: bool = False) -> float:
        """The wait before retry ``attempt``; ``busy``: the client holds a call (a caller
        waiting in the queue or a call in progress)."""
        try:
            grown = self.initial * self.factor ** max(0, attempt)
        except OverflowError:  # a client that has retried for days: long past the cap
            grown = self.maximum
        wait = min(self.maximum, grown) * (1.0 - self.jitter * self.rng.random())
        spread = self.busy_spread if busy and self.busy_spread is not None else self.spread
        if attempt <= 0 and spread > 0:
            wait += spread * self.rng.random()
        return wait


# A hub that dies drops hundreds or thousands of sites at once, and one other hub must sign
# them all in again (docs/cluster.md): sites spread their first retry over
# SITE_RECONNECT_SPREAD_S, so the few nurse desks, which retry at once, are not queued behind
# them. A site holding a call (a caller waiting keeps its place, a call in progress resumes
# its signaling) spreads over SITE_BUSY_SPREAD_S only, and one with something to send (a
# care home pressing "Call the hub") connects at once (``SignalingClient.hurry``).
# A wider spread was measured and is worse (bench/hub_cluster.py, 2026-12-02): over 10 s,
# half of 1,500 sites then signed in through the restarted hub while calls went on, each
# sign-in relayed to the dispatcher, and calls after the failover took a p50 of 23 ms
# against 9-16 ms with 3 s.
SITE_RECONNECT_SPREAD_S = 3.0
SITE_BUSY_SPREAD_S = 1.0


def site_backoff() -> Backoff:
    """The back-off of a site's station or caller page (see SITE_RECONNECT_SPREAD_S)."""
    return Backoff(spread=SITE_RECONNECT_SPREAD_S, busy_spread=SITE_BUSY_SPREAD_S)
