"""Lookups in batches: what is asked while one query runs shares the next one.

A storm of sign-ins (a hub's clients moving to another after it died, docs/cluster.md) or a
burst of messages that each need their session checked costs a query or two, not one each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

MAX_BATCH = 500  # keys per query: well under any database's limit on bound parameters


class Batched(Generic[K, V]):
    """``await get(key)``: the value ``query`` finds for ``key``, or None. One query runs at a
    time; the keys asked for meanwhile wait together for the next."""

    def __init__(self, query: Callable[[set[K]], Awaitable[dict[K, V]]]) -> None:
        self._query = query
        self._next: tuple[set[K], asyncio.Future[dict[K, V]]] | None = None
        self._one_at_a_time = asyncio.Lock()
        self._flushing: set[asyncio.Task[None]] = set()

    async def get(self, key: K) -> V | None:
        batch = self._next
        if batch is None or len(batch[0]) >= MAX_BATCH:
            batch = (set(), asyncio.get_running_loop().create_future())
            self._next = batch
            task = asyncio.create_task(self._flush(batch), name="hub-batched-lookup")
            self._flushing.add(task)
            task.add_done_callback(self._flushing.discard)
        batch[0].add(key)
        found = await asyncio.shield(batch[1])
        return found.get(key)

    async def _flush(self, batch: tuple[set[K], asyncio.Future[dict[K, V]]]) -> None:
        keys, answer = batch
        async with self._one_at_a_time:  # the batch fills while the one before is queried
            if self._next is batch:
                self._next = None  # what is asked from now on goes in the next batch
            try:
                answer.set_result(await self._query(keys))
            except Exception as exc:
                answer.set_exception(exc)
