"""The desk's reads of the hub's record, off the UI thread: History pages and call contexts.

A History page is the hub's page merged with this desk's own versions not yet on the hub
(records/hub_history.py). A call's context is fetched as soon as the call rings, so that it
is there when the nurse answers; the hub may not have stored a call it has just queued (desks
see a call before it is durable: hub/live/dispatch.py), so a 404 is asked again a few times.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from hub.client import HubClient, HubError, HubNotFound
from hub.contract.history import HistoryQuery, PatientContext
from records.hub_history import HistoryResult, fetch
from records.store import Store
from ui.desk.work import Pending, Workers

_NOT_YET = (0.2, 0.4, 0.8, 1.6)  # seconds before asking again for a call not stored yet
_KEPT = 50  # contexts kept (the calls of a busy queue)


def fetch_context(hub: HubClient, call_id: str,
                  pauses: tuple[float, ...] = _NOT_YET) -> PatientContext:
    """The call's context (blocking), asked again while the hub has not stored the call."""
    for pause in pauses:
        try:
            return hub.context(call_id)
        except HubNotFound:
            time.sleep(pause)
    return hub.context(call_id)


class HubReads(QObject):
    """History pages and call contexts for one signed-in desk.

    Signals:
        contextReady(str, object): a call's id and its ``PatientContext``.
        contextFailed(str, str): a call's id and why its context could not be had, in
            plain words (no patient data).
    """

    contextReady = Signal(str, object)
    contextFailed = Signal(str, str)

    def __init__(self, hub: HubClient | None, store: Store,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.hub = hub
        self.store = store
        # Two: a History search never waits behind a context, nor a context behind a search.
        self._workers = Workers(2, "desk-hub-reads", self)
        self.contexts: dict[str, PatientContext] = {}
        self._asked: set[str] = set()

    def history(self, query: HistoryQuery,
                on_done: Callable[[HistoryResult], None]) -> Pending:
        return self._workers.run(fetch, self.hub, self.store, query, on_done=on_done)

    def prefetch(self, call_id: str) -> None:
        """Fetch the call's context now (once per call), for when it is answered."""
        if self.hub is None or call_id in self._asked:
            return
        self._asked.add(call_id)
        hub = self.hub

        def done(context: object) -> None:
            if isinstance(context, PatientContext):
                self.contexts[call_id] = context
                while len(self.contexts) > _KEPT:
                    self.contexts.pop(next(iter(self.contexts)))
                self.contextReady.emit(call_id, context)

        def failed(exc: BaseException) -> None:
            self._asked.discard(call_id)  # asked again on answer
            words = str(exc) if isinstance(exc, HubError) else type(exc).__name__
            self.contextFailed.emit(call_id, words)

        self._workers.run(fetch_context, hub, call_id, on_done=done, on_failed=failed)

    def context(self, call_id: str) -> PatientContext | None:
        """The call's context if it has come; else it is asked for (contextReady follows)."""
        found = self.contexts.get(call_id)
        if found is None:
            self.prefetch(call_id)
        return found

    def close(self) -> None:
        self._workers.shutdown()
