"""SIGKILL at random points while saving and syncing loses nothing and duplicates nothing."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from hub.client import HubClient
from records.store import Store, SyncState
from records.sync import SyncRunner
from tests.helpers.waiting import wait_until
from tests.records.central_store import TOKEN, CentralStoreDouble
from tests.records.crash_worker import record_uuid

ROOT = Path(__file__).resolve().parents[2]
KILLS = 15


@pytest.fixture
def central() -> Iterator[CentralStoreDouble]:
    double = CentralStoreDouble()
    yield double
    double.stop()


def run_and_kill(db_url: str, central_url: str, first: int, rng: random.Random) -> list[str]:
    """Start a desk, let it work for a random moment, SIGKILL it; return what it reported."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.records.crash_worker", db_url, central_url, str(first)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    assert child.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(child.stdout or ()), daemon=True)
    reader.start()
    # Past start-up and really saving (its first report), then a random moment of work.
    wait_until(lambda: lines or child.poll() is not None, 10, "the desk process to start",
               interval=0.005)
    assert lines, "the desk process did not start saving"
    time.sleep(rng.uniform(0.0, 0.25))  # the kill lands anywhere in its work, not a wait
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    reader.join(5)
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    return lines


@pytest.mark.slow
def test_sigkill_while_saving_and_syncing_loses_and_duplicates_nothing(
    tmp_path: Path, central: CentralStoreDouble
) -> None:
    rng = random.Random(20250106)
    db_url = f"sqlite:///{tmp_path / 'desk.db'}"
    reported: dict[int, set[str]] = {}
    first = 0
    for kill in range(KILLS):
        if kill % 5 == 4:
            central.stop()  # the store is also down for some of the runs
        for line in run_and_kill(db_url, central.url, first, rng):
            step, number = line.split()
            reported.setdefault(int(number), set()).add(step)
        if kill % 5 == 4:
            central.start()
        first = max(reported, default=-1)  # resume the record that may be half done

    store = Store.open(db_url)
    try:
        with store.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        with store.unit_of_work() as uow:
            for index, steps in reported.items():
                record = uow.records.get(record_uuid(index), "test")  # raises if lost
                if "typed" in steps:
                    assert record.presenting_problem == f"typed {index}"
                if "signed" in steps:
                    assert record.status == "signed_off"
                if "amended" in steps:
                    assert record.version == 2
            assert len(uow.records.uuids()) <= len(reported) + 1  # at most one unreported
            signed = [e for e in uow.records.uuids() if uow.records.get(e, "t").status != "draft"]
            versions = {
                (u, v) for u in signed for v in [h.version for h in uow.records.history(u, "t")]
            }
            entries = uow.outbox.entries()
            assert {(e.record_uuid, e.version) for e in entries} == versions
            assert len(entries) == len(versions)  # one outbox entry per version, no duplicates
        assert sum("signed" in s for s in reported.values()) >= KILLS  # the test did real work

        with httpx.Client(base_url=central.url) as http:
            SyncRunner(store, HubClient(http, central.url, TOKEN)).run_until_idle()
        with store.unit_of_work() as uow:
            counts = uow.outbox.counts()
            assert counts[SyncState.SYNCED] == len(versions)
            assert counts[SyncState.CONFLICT] == counts[SyncState.FAILED] == 0
            for record_key, version in versions:
                local = uow.records.history(record_key, "t")[version - 1]
                assert central.held[(record_key, version)] == local
        assert set(central.held) == versions  # nothing extra, nothing missing
        with store.engine.connect() as connection:
            audit = connection.execute(sa.text("SELECT count(*) FROM audit_events")).scalar()
            assert audit and audit > 0
    finally:
        store.close()
