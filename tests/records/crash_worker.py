"""A desk process for the SIGKILL test: types, signs off and syncs records until it is killed.

Usage: python -m tests.records.crash_worker DB_URL CENTRAL_URL FIRST_INDEX

After each committed step it prints "<step> <index>" and flushes, so the parent knows what
the desk had reported as saved when it was killed. It resumes a half-done record.
"""

from __future__ import annotations

import random
import sys
import threading
import uuid

import httpx

from hub.client import Backoff, HubClient
from records.store import Store
from records.sync import SyncRunner
from tests.records.builders import make_record
from tests.records.central_store import TOKEN

NAMESPACE = uuid.UUID("6f1c1d1e-7d0a-4d53-9b7a-3f0e2a3c9a10")


def record_uuid(index: int) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, str(index))


def main() -> None:
    db_url, central_url, first = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = Store.open(db_url)
    runner = SyncRunner(
        store,
        HubClient(httpx.Client(timeout=2.0), central_url, TOKEN),
        batch_size=7,
        backoff=Backoff(initial=0.01, maximum=0.05),
        idle_interval=0.005,
    )
    threading.Thread(target=runner.run, args=(threading.Event(),), daemon=True).start()
    for index in range(first, first + 100_000):
        key = record_uuid(index)
        with store.unit_of_work() as uow:
            existing = key in uow.records.uuids()
            if not existing:
                draft = make_record(uuid=key, call_id=f"call-{index}", patient=None)
                uow.records.save_draft(draft, "nurse-ann")
        print(f"draft {index}", flush=True)
        with store.unit_of_work() as uow:
            current = uow.records.get(key, "nurse-ann")
            if current.status == "draft":
                typed = current.model_copy(
                    update={"presenting_problem": f"typed {index}", "outcome": "gp_referral"}
                )
                uow.records.save_draft(typed, "nurse-ann")
        print(f"typed {index}", flush=True)
        with store.unit_of_work() as uow:
            if uow.records.get(key, "nurse-ann").status == "draft":
                uow.records.sign_off(key, "nurse-ann")
        print(f"signed {index}", flush=True)
        if random.random() < 0.2:
            with store.unit_of_work() as uow:
                current = uow.records.get(key, "nurse-ann")
                if current.version == 1:
                    changed = current.model_copy(update={"specialist": "dr-dee"})
                    uow.records.amend(changed, "specialist joined", "nurse-ann")
            print(f"amended {index}", flush=True)


if __name__ == "__main__":
    main()
