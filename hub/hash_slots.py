"""A bounded place to check passwords: so many argon2 hashes at once, so many waiting, and a
"busy" answer beyond that instead of a queue that grows with the attackers.

argon2id as the hub uses it takes 64 MiB and most of a core for each check; forty sign-ins
at once on FastAPI's thread pool took the hub to 1 GiB. Here at most ``slots`` run (on
threads of their own, off the event loop) and ``queue`` more wait; the rest are refused at
once with :class:`HashSlotsFull`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class HashSlotsFull(Exception):
    """Every slot is taken and the queue is full: try again in a moment."""

    retry_after_s = 1


class HashSlots:
    def __init__(self, slots: int, queue: int) -> None:
        if slots < 1 or queue < 0:
            raise ValueError("password_hash_slots must be at least 1 and the queue at least 0")
        self._executor = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="hub-hash")
        self._limit = slots + queue
        self._taken = 0
        self._lock = threading.Lock()  # released from the executor's threads
        self.peak = 0  # most checks running or waiting at once, for tests and benchmarks

    async def run(self, check: Callable[[], T]) -> T:
        """Run ``check`` (which hashes a password) in a slot, or raise :class:`HashSlotsFull`.

        The slot is held until ``check`` has returned, even when the request that asked for
        it has gone: a client that hangs up cannot free a slot its check still uses.
        """
        with self._lock:
            if self._taken >= self._limit:
                raise HashSlotsFull()
            self._taken += 1
            self.peak = max(self.peak, self._taken)
        try:
            future: Future[T] = self._executor.submit(check)
        except BaseException:
            self._release(None)
            raise
        future.add_done_callback(self._release)
        return await asyncio.wrap_future(future)

    def _release(self, _future: object) -> None:
        with self._lock:
            self._taken -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
