"""The demo's synthetic callers: one real call engine per site, placing a bounded night.

Each site signs in to the hub with its own token and calls through the real call engine
(signaling, aiortc, the synthetic test pattern and tone), one call at a time per site, a call
every ``gap_s`` seconds across sites. The engines run on an asyncio loop in a thread of their
own (:class:`ui.engine.loop.EngineLoop`, no Qt); what happens comes back through
``on_change`` on that thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from calls.engine import CallEngine, EngineEvent
from calls.media import MediaSource
from calls.session import FINAL, CallState, StateChanged
from hub.contract import signaling as p
from hub.contract.identity import CallRole
from ui.demo.enrol import SignedInSite
from ui.demo.scenarios import Scenario
from ui.engine.loop import EngineLoop

log = logging.getLogger("telehub.demo.callers")


@dataclass
class PlacedCall:
    """One call of the night as its caller sees it."""

    number: int
    scenario: Scenario
    site_name: str
    call_id: str | None = None
    placed_at: float = 0.0  # time.monotonic()
    connected_at: float | None = None
    ended_at: float | None = None
    state: CallState = CallState.IDLE
    reason: str = ""


class SyntheticCallers:
    """Places ``plan`` as calls from ``sites``; :meth:`stop` hangs up and closes everything."""

    def __init__(self, ws_url: str, sites: dict[str, SignedInSite], plan: list[Scenario],
                 gap_s: float, on_change: Callable[[PlacedCall], None]) -> None:
        self.ws_url, self.sites, self.gap_s = ws_url, sites, gap_s
        self.calls = [PlacedCall(i + 1, s, sites[s.site].name) for i, s in enumerate(plan)]
        self.on_change = on_change
        self.engines: dict[str, CallEngine] = {}
        self.loop = EngineLoop("demo-callers")
        self._task: concurrent.futures.Future[None] | None = None
        self.problem: str | None = None

    def start(self) -> None:
        self.loop.start()
        self._task = self.loop.submit(self._night())

    @property
    def finished(self) -> bool:
        return all(c.state in FINAL for c in self.calls)

    async def _night(self) -> None:
        try:
            for key, site in self.sites.items():
                engine = CallEngine(self.ws_url, site.token, CallRole.CALLER,
                                    media=MediaSource.synthetic)
                await engine.start()
                self.engines[key] = engine
            free = {key: asyncio.Event() for key in self.sites}
            for ready in free.values():
                ready.set()
            for placed in self.calls:
                key = placed.scenario.site
                await free[key].wait()  # one call at a time per site
                free[key].clear()
                await self._place(self.engines[key], placed, free[key])
                await asyncio.sleep(self.gap_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a real fault: say it once, keep the rest running
            log.exception("the synthetic callers stopped")
            self.problem = f"the synthetic callers stopped ({type(exc).__name__}: {exc})"

    async def _place(self, engine: CallEngine, placed: PlacedCall, over: asyncio.Event
                     ) -> None:
        s = placed.scenario
        site = self.sites[s.site]
        patient = site.patient or p.Patient(nhs_number=s.resident.nhs_number,
                                            name=s.resident.name,
                                            date_of_birth=s.resident.date_of_birth)

        def watch(event: EngineEvent) -> None:
            if not isinstance(event, StateChanged) or event.new is placed.state:
                return
            if placed.call_id is not None and event.call_id not in (None, placed.call_id):
                return
            if placed.state in FINAL:
                return
            placed.call_id = placed.call_id or event.call_id
            placed.state, placed.reason = event.new, event.reason
            if event.new is CallState.IN_CALL and placed.connected_at is None:
                placed.connected_at = time.monotonic()
            if event.new in FINAL:
                placed.ended_at = time.monotonic()
                stop()
                over.set()
            self.on_change(placed)

        stop = engine.listen(watch)
        placed.placed_at = time.monotonic()
        placed.state = CallState.REQUESTING
        self.on_change(placed)
        session = await engine.request_call(
            s.reason, urgency=s.urgency, intended_action=s.intended_action,
            observations=s.observations, patient=patient, soft_signs=list(s.soft_signs))
        placed.call_id = session.call_id

    def stop(self, timeout: float = 15.0) -> None:
        async def close() -> None:
            if self._task is not None:
                self._task.cancel()
            for engine in self.engines.values():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(engine.close(), 10)

        if self.loop.thread.is_alive():
            with contextlib.suppress(Exception):
                self.loop.submit(close()).result(timeout)
        self.loop.stop(timeout)

