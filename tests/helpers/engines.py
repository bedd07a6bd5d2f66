"""Driving real call engines in tests: an engine's event log to await, frames a sink receives,
and an asyncio loop on its own thread for engines a Qt test drives beside the GUI."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import av

from calls.engine import CallEngine, EngineEvent
from calls.media import VideoSink, read_pattern
from calls.session import CallState, StateChanged
from ui.engine.loop import EngineLoop

T = TypeVar("T")


async def frame_where(sink: VideoSink, fits: Callable[[av.VideoFrame], bool],
                      within: float = 5.0) -> av.VideoFrame:
    """The next frame the sink receives for which ``fits`` is true (waits at most ``within``)."""
    found: asyncio.Future[av.VideoFrame] = asyncio.get_running_loop().create_future()

    def listen(frame: av.VideoFrame) -> None:
        if not found.done() and fits(frame):
            found.set_result(frame)

    sink.listeners.append(listen)
    try:
        return await asyncio.wait_for(found, within)
    finally:
        sink.listeners.remove(listen)


class EventLog:
    """Every event of one engine, kept in order; ``wait`` awaits one that fits."""

    def __init__(self, engine: CallEngine) -> None:
        self.events: list[EngineEvent] = []
        self._waiters: list[tuple[Callable[[EngineEvent], bool], asyncio.Future[EngineEvent]]]
        self._waiters = []
        engine.listen(self._on)

    def _on(self, event: EngineEvent) -> None:
        self.events.append(event)
        for fits, fut in list(self._waiters):
            if not fut.done() and fits(event):
                fut.set_result(event)

    def mark(self) -> int:
        """A point in the log: ``wait(..., since=mark)`` ignores events before it."""
        return len(self.events)

    async def wait(self, fits: Callable[[EngineEvent], bool], within: float = 10.0,
                   since: int = 0) -> EngineEvent:
        for event in self.events[since:]:
            if fits(event):
                return event
        fut: asyncio.Future[EngineEvent] = asyncio.get_running_loop().create_future()
        entry = (fits, fut)
        self._waiters.append(entry)
        try:
            return await asyncio.wait_for(fut, within)
        finally:
            self._waiters.remove(entry)

    async def state(self, state: CallState, within: float = 10.0, since: int = 0,
                    ) -> StateChanged:
        event = await self.wait(lambda e: isinstance(e, StateChanged) and e.new is state,
                                within, since)
        assert isinstance(event, StateChanged)
        return event


def stamps_of(sink: VideoSink) -> list[int]:
    """Collects the pattern's frame counters of every frame the sink receives from now on."""
    seen: list[int] = []

    def listen(frame: av.VideoFrame) -> None:
        stamp = read_pattern(frame)
        if stamp is not None:
            seen.append(stamp.counter)

    sink.listeners.append(listen)
    return seen


class LoopThread(EngineLoop):
    """The programs' engine loop (ui/engine/loop.py), for engines a test drives (a site, a
    nurse's desk)."""

    def __init__(self, name: str = "test-engines") -> None:
        super().__init__(name)
        self.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
        return self.submit(coro).result(timeout)
