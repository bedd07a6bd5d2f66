"""Blocking work (HTTP, keyring, the local database) off the UI thread, answered by signals."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal


class Pending(QObject):
    """One piece of work on a worker thread.

    Signals:
        done(object): its result (whatever the work returns), delivered on the UI thread.
        failed(BaseException): the exception it raised, delivered on the UI thread.
    """

    done = Signal(object)
    failed = Signal(BaseException)


class Workers(QObject):
    """A small pool of worker threads; ``serial`` ones run jobs strictly in order (drafts
    must be committed in the order they were typed)."""

    def __init__(self, threads: int = 2, name: str = "desk",
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix=name)
        self._live: set[Pending] = set()
        self.closed = False

    def run(self, fn: Callable[..., Any], *args: Any,
            on_done: Callable[[Any], None] | None = None,
            on_failed: Callable[[BaseException], None] | None = None) -> Pending:
        pending = Pending(self)
        if on_done is not None:
            pending.done.connect(on_done)
        if on_failed is not None:
            pending.failed.connect(on_failed)
        self._live.add(pending)
        pending.done.connect(lambda _r: self._forget(pending))
        pending.failed.connect(lambda _e: self._forget(pending))
        if self.closed:
            # The desk is closing and has flushed its work already; late timers do nothing.
            return pending
        future = self._pool.submit(fn, *args)

        def finished(f: concurrent.futures.Future[Any]) -> None:
            exc = f.exception()
            if exc is not None:
                pending.failed.emit(exc)
            else:
                pending.done.emit(f.result())

        future.add_done_callback(finished)
        return pending

    def _forget(self, pending: Pending) -> None:
        self._live.discard(pending)
        pending.deleteLater()

    def shutdown(self) -> None:
        self.closed = True
        self._pool.shutdown(wait=True, cancel_futures=False)
