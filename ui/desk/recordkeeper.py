"""The desk's side of the record: drafts as typed, sign-off, amendments, history and sync.

Every write runs on one serial worker thread (in the order typed) and is a committed
transaction before the UI hears "saved" (DESIGN.md: data that must never be lost). Sync runs
on a thread of its own with records.sync, and reports whether the hub's store is reachable
and how many records wait.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from PySide6.QtCore import QObject, Signal

from hub.client import HubClient
from records.photos import PhotoSync
from records.schema import FollowUp, TriageRecord
from records.store import RecordSummary, Store, SyncState
from records.sync import SyncRunner
from ui.desk.work import Pending, Workers

log = logging.getLogger("telehub.desk.records")


@dataclass(frozen=True)
class SyncStatus:
    reachable: bool
    pending: int
    conflict: int
    failed: int


def search_history(store: Store, text: str = "", status: str = "", sync: str = "",
                   since: datetime | None = None, limit: int = 500) -> list[RecordSummary]:
    """The history list's records (one read, its own unit of work; plain values out)."""
    with store.unit_of_work() as uow:
        return uow.records.search(text, status=status or None,
                                  sync=SyncState(sync) if sync else None, since=since,
                                  limit=limit)


class RecordKeeper(QObject):
    """Drafts, sign-off, amendments and sync for one signed-in nurse or specialist.

    Signals:
        saved(TriageRecord): a draft is committed (the "Saved" the nurse sees).
        saveFailed(str): a write was refused; plain words, no patient data.
        signedOff(TriageRecord): a record is signed off and queued for sync.
        syncChanged(SyncStatus): how the sync stands, after each sync round.
    """

    saved = Signal(TriageRecord)
    saveFailed = Signal(str)
    signedOff = Signal(TriageRecord)
    syncChanged = Signal(SyncStatus)

    def __init__(self, store: Store, actor: str, hub: HubClient | None,
                 parent: QObject | None = None, *, idle_interval: float = 5.0) -> None:
        super().__init__(parent)
        self.store = store
        self.actor = actor
        self._writer = Workers(1, "desk-records", self)
        self._readers = Workers(1, "desk-history", self)
        self._runner = SyncRunner(store, hub) if hub is not None else None
        # A photo's attachment follows its record to the store (records/photos.py).
        self._photos = PhotoSync(store, hub) if hub is not None else None
        self._idle = idle_interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._sync_thread: threading.Thread | None = None

    # --- writes (serial) ------------------------------------------------------------------

    def save_draft(self, record: TriageRecord) -> Pending:
        return self._writer.run(self._save, record, on_done=self.saved.emit,
                                on_failed=self._failed)

    def _save(self, record: TriageRecord) -> TriageRecord:
        with self.store.unit_of_work() as uow:
            if record.patient is not None and record.patient.nhs_number:
                known = uow.patients.by_nhs_number(record.patient.nhs_number)
                if known is not None and known.id != record.patient.id:
                    # The same person already has a row: use it, never a duplicate.
                    record = record.model_copy(update={
                        "patient": record.patient.model_copy(update={"id": known.id})})
            return uow.records.save_draft(record, self.actor)

    def sign_off(self, record: TriageRecord) -> Pending:
        def run() -> TriageRecord:
            self._save(record)
            with self.store.unit_of_work() as uow:
                return uow.records.sign_off(record.uuid, self.actor)

        pending = self._writer.run(run, on_done=self._signed, on_failed=self._failed)
        return pending

    def amend(self, record: TriageRecord, reason: str) -> Pending:
        def run() -> TriageRecord:
            with self.store.unit_of_work() as uow:
                return uow.records.amend(record, reason, self.actor)

        return self._writer.run(run, on_done=self._signed, on_failed=self._failed)

    def follow_up(self, record_uuid: UUID, check: FollowUp) -> Pending:
        def run() -> TriageRecord:
            with self.store.unit_of_work() as uow:
                return uow.records.record_follow_up(record_uuid, check, self.actor)

        return self._writer.run(run, on_done=self._signed, on_failed=self._failed)

    def _signed(self, record: object) -> None:
        self.signedOff.emit(record)
        self._wake.set()

    def _failed(self, exc: BaseException) -> None:
        # Type only: validation messages can echo what was typed (patient data).
        log.warning("record write refused: %s", type(exc).__name__)
        self.saveFailed.emit(_plain(exc))

    # --- reads ----------------------------------------------------------------------------

    def history(self, on_done: Callable[[list[RecordSummary]], None], text: str = "",
                status: str = "", sync: str = "", since: datetime | None = None) -> Pending:
        return self._readers.run(search_history, self.store, text, status, sync, since,
                                 on_done=on_done, on_failed=self._failed)

    def load(self, record_uuid: UUID, on_done: Callable[[TriageRecord], None]) -> Pending:
        def run() -> TriageRecord:
            with self.store.unit_of_work() as uow:
                return uow.records.get(record_uuid, self.actor)

        return self._readers.run(run, on_done=on_done, on_failed=self._failed)

    # --- sync -----------------------------------------------------------------------------

    def start_sync(self) -> None:
        if self._runner is None or self._sync_thread is not None:
            return
        self._sync_thread = threading.Thread(target=self._sync_loop, name="desk-sync",
                                             daemon=True)
        self._sync_thread.start()

    def sync_now(self) -> None:
        self._wake.set()

    def _sync_loop(self) -> None:
        assert self._runner is not None
        while not self._stop.is_set():
            self._wake.clear()
            try:
                result = self._runner.push_once()
                if self._photos is not None and not result.unavailable:
                    self._photos.push_once()
                with self.store.unit_of_work() as uow:
                    counts = uow.outbox.counts()
            except Exception as exc:  # a broken local database: say so, keep trying
                log.error("sync round failed: %s", type(exc).__name__)
                self._wake.wait(self._idle)
                continue
            self.syncChanged.emit(SyncStatus(
                reachable=not result.unavailable, pending=counts[SyncState.PENDING],
                conflict=counts[SyncState.CONFLICT], failed=counts[SyncState.FAILED]))
            if result.settled and not result.unavailable:
                continue  # more may be due
            wait = self._runner.retry_after if result.unavailable else self._idle
            self._wake.wait(wait)

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._sync_thread is not None:
            self._sync_thread.join(15)
        self._writer.shutdown()
        self._readers.shutdown()


def _plain(exc: BaseException) -> str:
    from pydantic import ValidationError

    from records.store import RecordClosed, RecordNotFound

    if isinstance(exc, ValidationError):
        fields = sorted({".".join(str(x) for x in e["loc"]) or "record" for e in exc.errors()})
        return "Not saved: check " + ", ".join(fields[:4]) + "."
    if isinstance(exc, RecordClosed | RecordNotFound | ValueError):
        return f"Not saved: {exc}"
    return f"Not saved: the local store failed ({type(exc).__name__})."
