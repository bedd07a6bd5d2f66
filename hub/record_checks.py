"""Checks pushed triage records (validation, NEWS2, the stored form) apart from the switchboard.

Validating a 500-record batch is some 25 ms of pure Python. Run on a thread of the hub's
process it holds the interpreter lock that the switchboard's event loop needs for every
call frame, and it contends with the database writer for that lock between every row of its
inserts. So batches are checked in a process of their own (:class:`RecordChecker`), which
hands back only what the store writes: each version's stored JSON and its log row
(:class:`Checked`). One record (a PUT, a nurse signing off) is checked on a thread: the
round trip to another process would cost more than the check.

Nothing here imports FastAPI or the database: a checker process starts with little to load.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, NamedTuple
from uuid import UUID

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from hub.contract.rest import MAX_BATCH, BatchRequest
from records.avoided_log import log_row
from records.schema import TriageRecord

__all__ = ["Checked", "Invalid", "RecordChecker", "check_batch", "check_record", "checked"]

log = logging.getLogger("telehub.hub.records")

_ORPHAN_CHECK_S = 0.5


class Invalid(Exception):
    """The request body does not follow the contract; ``detail`` is FastAPI's error form."""

    def __init__(self, status_code: int, detail: Any) -> None:
        super().__init__(status_code)
        self.status_code = status_code
        self.detail = detail

    def __reduce__(self) -> tuple[type[Invalid], tuple[int, Any]]:
        # Raised in a checker process and re-raised here: pickled with both arguments.
        return (Invalid, (self.status_code, self.detail))


class Checked(NamedTuple):
    """One valid signed-off version, as the store writes it."""

    uuid: UUID
    version: int
    payload: str  # the version's JSON as stored and served (TriageRecord.model_dump_json)
    log: dict[str, Any]  # its row of the avoided-admission log (records.avoided_log.log_row)


def checked(record: TriageRecord) -> Checked:
    if record.status != "signed_off":
        raise Invalid(422, [{"type": "draft_record", "loc": ["body", "status"],
                             "msg": "only signed-off versions are stored"}])  # fmt: skip
    return Checked(record.uuid, record.version, record.model_dump_json(), log_row(record))


def _errors(exc: ValidationError) -> Any:
    # No "input": it may echo patient data into client logs and proxies.
    return json.loads(exc.json(include_input=False, include_url=False))


def check_record(body: bytes, path_uuid: UUID) -> Checked:
    """A PUT body: one signed-off TriageRecord whose uuid is the path's."""
    try:
        record = TriageRecord.model_validate_json(body)
    except ValidationError as exc:
        raise Invalid(422, _errors(exc)) from None
    if record.uuid != path_uuid:
        raise Invalid(422, [{"type": "uuid_mismatch", "loc": ["body", "uuid"],
                             "msg": "the body's uuid differs from the path's"}])  # fmt: skip
    return checked(record)


def check_batch(body: bytes) -> list[Checked]:
    """A batch body: ``{"records": [...]}``, 1 to MAX_BATCH signed-off records, all valid."""
    try:
        records = BatchRequest.model_validate_json(body).records
    except ValidationError as exc:
        if any(e["type"] == "too_long" and tuple(e["loc"]) == ("records",) for e in exc.errors()):
            raise Invalid(413, f"a batch holds at most {MAX_BATCH} records") from None
        raise Invalid(422, _errors(exc)) from None
    drafts = [n for n, r in enumerate(records) if r.status != "signed_off"]
    if drafts:
        raise Invalid(422, [{"type": "draft_record", "loc": ["body", "records", n, "status"],
                             "msg": "only signed-off versions are stored"} for n in drafts])
    return [checked(r) for r in records]


def _checker_started(hub_pid: int) -> None:
    """In a new checker process of the hub ``hub_pid``, once its modules are loaded."""
    # As in ``telehub-hub serve``: the imported modules live as long as the process, and a
    # batch allocates tens of thousands of objects that live until it is answered.
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)
    # A hub killed outright (SIGKILL, out of memory) cannot stop its checkers, and a checker
    # holds both ends of its own task queue, so it would wait for work forever, holding the
    # hub's log pipe open. It leaves within a second of being orphaned instead (the hub's
    # pid comes from the hub: killed while this process was still starting, the parent here
    # would already be whoever adopted it).
    def watch() -> None:
        while os.getppid() == hub_pid:
            time.sleep(_ORPHAN_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()


class RecordChecker:
    """Checks batches in ``processes`` checker processes (0: on a thread of this process).

    The processes start on the first batch, not with the hub (most hubs in tests and most
    hours in service never see a batch), and are spawned rather than forked: the hub is
    threaded, and a forked child could inherit a lock held by another thread.
    """

    def __init__(self, processes: int = 1) -> None:
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        """Start the checker processes now (they load their modules in the background)."""
        if self.processes > 0:
            pool = self._started()
            for _ in range(self.processes):
                pool.submit(int)  # a process is spawned for work: this is the work

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.processes, mp_context=multiprocessing.get_context("spawn"),
                initializer=_checker_started, initargs=(os.getpid(),),
            )  # fmt: skip
        return self._pool

    async def check_batch(self, body: bytes) -> list[Checked]:
        if self.processes <= 0:
            return await run_in_threadpool(check_batch, body)
        loop = asyncio.get_running_loop()
        pool = self._started()
        try:
            return await loop.run_in_executor(pool, check_batch, body)
        except BrokenProcessPool:
            # A checker died (killed, out of memory): start afresh and check this batch
            # once more; a batch that kills its checker twice fails (the desk retries).
            log.warning("a record checker process died; starting a new one")
            if self._pool is pool:
                self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            return await loop.run_in_executor(self._started(), check_batch, body)

    def close(self) -> None:
        """Stops the checker processes (waits for them; no batch is in progress by then)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
