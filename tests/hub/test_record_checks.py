"""Record batches checked in a checker process: same answers as on a thread, refusals carried
across intact, a dead checker replaced, no checker outliving its hub."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator

import httpx
import pytest

from hub.contract.rest import MAX_BATCH
from hub.record_checks import Checked, Invalid, RecordChecker, check_batch
from tests.helpers.hubserver import HubDatabase, ProcessHub
from tests.helpers.waiting import wait_until, wait_until_async
from tests.hub.test_central_store import signed


def body_of(*records: object) -> bytes:
    return json.dumps({"records": records}, default=str).encode()


def batch(count: int) -> bytes:
    return ('{"records":[' + ",".join(signed(n).model_dump_json() for n in range(count))
            + "]}").encode()  # fmt: skip


@pytest.fixture
async def checker() -> AsyncIterator[RecordChecker]:
    made = RecordChecker(processes=1)
    yield made
    await asyncio.to_thread(made.close)


async def test_a_checker_process_answers_as_a_thread_does(checker: RecordChecker) -> None:
    body = batch(40)
    in_process = await checker.check_batch(body)
    assert in_process == check_batch(body)
    assert [c.version for c in in_process] == [1] * 40
    first = in_process[0]
    assert isinstance(first, Checked) and first.log["call_id"] == "call-0"
    assert json.loads(first.payload)["uuid"] == str(first.uuid)


async def test_refusals_cross_the_process_boundary_intact(checker: RecordChecker) -> None:
    draft = signed(1).model_copy(update={"status": "draft"})
    cases = {
        b"{not json": 422,
        body_of({"uuid": "not-a-uuid"}): 422,
        ('{"records":[' + draft.model_dump_json() + "]}").encode(): 422,
        batch(MAX_BATCH + 1): 413,
    }
    for body, status in cases.items():
        with pytest.raises(Invalid) as refused:
            await checker.check_batch(body)
        assert refused.value.status_code == status
        with pytest.raises(Invalid) as on_thread:
            check_batch(body)
        assert refused.value.detail == on_thread.value.detail
    # The refusals left the checker working.
    assert len(await checker.check_batch(batch(3))) == 3


async def test_a_killed_checker_is_replaced(checker: RecordChecker) -> None:
    await checker.check_batch(batch(2))
    pool = checker._pool
    assert pool is not None
    [pid] = list(pool._processes)  # type: ignore[union-attr]
    os.kill(pid, signal.SIGKILL)
    await wait_until_async(lambda: pool._broken, 5,  # type: ignore[union-attr]
                           "the pool to notice its dead worker", interval=0.05)
    assert len(await checker.check_batch(batch(5))) == 5
    assert checker._pool is not pool and pid not in checker._pool._processes  # type: ignore[union-attr]


def stat(pid: int | str) -> list[str] | None:
    """/proc/<pid>/stat after the command name (state, parent, ...), None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def children_of(hub_pid: int) -> set[int]:
    """Processes whose parent is ``hub_pid`` (the record checker, spawn's resource tracker)."""
    return {int(e) for e in os.listdir("/proc") if e.isdigit()
            and (fields := stat(e)) is not None and int(fields[1]) == hub_pid}


def running(pid: int) -> bool:
    fields = stat(pid)
    return fields is not None and fields[0] != "Z"


def test_a_killed_hub_leaves_no_checker_behind(tmp_path: object) -> None:
    hubdb = HubDatabase(f"sqlite:///{tmp_path}/hub.db")
    token = hubdb.staff("ann", "nurse").token
    hub = ProcessHub(hubdb.url)
    try:
        answer = httpx.post(f"{hub.http}/api/v1/records:batch", content=batch(3),
                            headers={"Authorization": f"Bearer {token}"}, timeout=30)  # fmt: skip
        assert answer.status_code == 200
        children = children_of(hub.proc.pid)
        assert children, "the hub started no checker process"
        hub.kill()
        wait_until(lambda: not any(running(pid) for pid in children), 10,
                   lambda: "the checker processes to end with the hub: "
                           f"{[pid for pid in children if running(pid)]}", interval=0.1)
    finally:
        hub.stop()
        hubdb.dispose()
