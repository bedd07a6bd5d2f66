"""A desk without its window, for tests of what desks share through the hub: its own local
store, its HubClient and its sync runner (the window's own parts, minus Qt)."""

from __future__ import annotations

from pathlib import Path

import httpx

from hub.client import HubClient
from records.schema import TriageRecord
from records.store import Store, SyncState
from records.sync import SyncRunner
from tests.helpers.hubserver import Seeded, ThreadedHub

__all__ = ["Desk"]


class Desk:
    """A desk without its window: its own store, its HubClient, its sync runner."""

    def __init__(self, folder: Path, hub: ThreadedHub | str, who: Seeded) -> None:
        self.store = Store.open(f"sqlite:///{folder / f'desk-{who.principal.name}.db'}")
        self.http = httpx.Client(timeout=10)
        url = hub if isinstance(hub, str) else hub.http
        self.hub = HubClient(self.http, url, who.token)
        self.name = who.principal.name

    def sign_off(self, record: TriageRecord) -> TriageRecord:
        with self.store.unit_of_work() as uow:
            uow.records.save_draft(record, self.name)
            return uow.records.sign_off(record.uuid, self.name)

    def sync(self) -> None:
        runner = SyncRunner(self.store, self.hub)
        for _ in range(20):
            if not runner.push_once().settled:
                break
        with self.store.unit_of_work() as uow:
            assert uow.outbox.counts()[SyncState.PENDING] == 0

    def close(self) -> None:
        self.store.close()
        self.http.close()



