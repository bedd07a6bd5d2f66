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
    first retry only: see :func:`site_backoff`. ``rng`` is passed in so tests can make it
    deterministic.
    """

    initial: float = 0.5
    maximum: float = 15.0
    factor: float = 2.0
    jitter: float = 0.5
    spread: float = 0.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def delay(self, attempt: int) -> float:
        try:
            grown = self.initial * self.factor ** max(0, attempt)
        except OverflowError:  # a client that has retried for days: long past the cap
            grown = self.maximum
        wait = min(self.maximum, grown) * (1.0 - self.jitter * self.rng.random())
        if attempt <= 0 and self.spread > 0:
            wait += self.spread * self.rng.random()
        return wait


# A hub that dies drops hundreds or thousands of sites at once, and one other hub must sign
# them all in again (docs/cluster.md): sites spread their first retry over this many seconds,
# so the few nurse desks, which retry at once, are not queued behind them. A caller waiting
# keeps its place meanwhile (the reconnect grace is 30 s).
SITE_RECONNECT_SPREAD_S = 3.0


def site_backoff() -> Backoff:
    """The back-off of a site's station or caller page (see SITE_RECONNECT_SPREAD_S)."""
    return Backoff(spread=SITE_RECONNECT_SPREAD_S)
