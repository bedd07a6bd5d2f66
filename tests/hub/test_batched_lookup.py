"""Lookups in batches (hub/live/batching.py): a storm of sign-ins or session checks costs a
query per batch, every asker gets its own answer, and a failed query fails only its batch."""

from __future__ import annotations

import asyncio

import pytest

from hub.live.batching import MAX_BATCH, Batched


async def test_a_burst_of_lookups_shares_a_few_queries_and_each_gets_its_own_answer() -> None:
    queries: list[set[int]] = []

    async def query(keys: set[int]) -> dict[int, str]:
        queries.append(set(keys))
        await asyncio.sleep(0.01)  # a round trip to the database
        return {k: f"principal {k}" for k in keys if k % 7 != 0}  # multiples of 7: unknown

    batched: Batched[int, str] = Batched(query)
    asked = range(1, 1201)
    answers = await asyncio.gather(*(batched.get(k) for k in asked))
    assert answers == [None if k % 7 == 0 else f"principal {k}" for k in asked]
    assert len(queries) <= 4  # 1,200 sign-ins, at most MAX_BATCH each
    assert all(len(q) <= MAX_BATCH for q in queries)
    assert set().union(*queries) == set(asked)


async def test_a_failed_query_fails_its_own_batch_and_the_next_one_is_asked_again() -> None:
    calls = 0

    async def query(keys: set[str]) -> dict[str, bool]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("the database went away")
        return dict.fromkeys(keys, True)

    batched: Batched[str, bool] = Batched(query)
    with pytest.raises(ConnectionError):
        await asyncio.gather(batched.get("a"), batched.get("b"))
    assert await batched.get("a") is True
    assert calls == 2
