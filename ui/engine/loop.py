"""An asyncio loop on a thread of its own, where a program's call engine runs.

PySide6's QtAsyncio cannot run aiortc (DESIGN.md), so the engine lives on a loop in a thread
of its own. The UI sends it work with :meth:`EngineLoop.submit` (never waiting for it) and
gets its events back as Qt signals, which Qt queues across threads.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class EngineLoop:
    """An asyncio loop running in a daemon thread until :meth:`stop`."""

    def __init__(self, name: str = "call-engine") -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def start(self) -> EngineLoop:
        self.thread.start()
        return self

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, fn: Callable[[], object]) -> None:
        self.loop.call_soon_threadsafe(fn)

    def stop(self, timeout: float = 10.0) -> None:
        """Cancels what is left on the loop, closes its executor, stops it and joins."""
        if not self.thread.is_alive():
            if not self.loop.is_running() and not self.loop.is_closed():
                self.loop.close()
            return

        async def drain() -> None:
            me = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not me]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.loop.shutdown_default_executor()

        with contextlib.suppress(Exception):
            self.submit(drain()).result(timeout)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout)
        if not self.thread.is_alive():
            self.loop.close()
