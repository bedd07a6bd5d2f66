"""The demo nurse at the real desk: it watches what happens there and, in ``--auto`` or
headless runs, answers, triages, ends and signs off each call by itself.

It works the desk through the same slots its buttons and keys call (answer, end, sign off)
and fills the same triage fields a person types into, so the record that reaches the hub is
made exactly as a nurse's would be. It also keeps the night's tally for the summary, and
saves screenshots of the real window.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import httpx
from PySide6.QtCore import QObject, QTimer, Signal, Slot

from records import codes
from records.schema import TriageRecord
from ui.demo.scenarios import Scenario
from ui.desk.triage import AVOIDED
from ui.desk.window import DeskWindow
from ui.desk.work import Workers

log = logging.getLogger("telehub.demo.nurse")


@dataclass
class DeskCall:
    """One call as the desk took it."""

    call_id: str
    site_name: str
    reason: str
    scenario: Scenario | None
    waited_s: float  # from the caller's request to the nurse answering
    record_uuid: UUID | None = None
    outcome: str | None = None
    synced: bool = False


class DemoNurse(QObject):
    """Tallies the night at ``window``; with ``auto`` it also does the nurse's work.

    Signals:
        said(str): a line for the terminal (a call answered, signed off, synced).
        finished(): every planned call is answered, signed off and in the hub's store.
    """

    said = Signal(str)
    finished = Signal()

    def __init__(self, window: DeskWindow, plan: list[Scenario], screenshots: Path | None,
                 *, auto: bool, hold_s: float = 2.0, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.window, self.plan, self.auto, self.hold_s = window, list(plan), auto, hold_s
        self.unused = list(plan)
        self.screenshots = screenshots
        self.saved: list[Path] = []
        self.calls: dict[str, DeskCall] = {}
        self._wired = False
        self._to_sign: str | None = None  # the call whose record the demo nurse signs next
        self._signing = False
        self._filled: set[str] = set()
        self._checking: set[UUID] = set()
        self._done = False
        self._history_at: float | None = None
        self.workers = Workers(1, "demo-nurse", self)
        self.http = httpx.Client(timeout=5)
        self.timer = QTimer(self)
        self.timer.setInterval(200)
        self.timer.timeout.connect(self.on_tick)
        self.timer.start()

    # --- the tally ----------------------------------------------------------------------------

    @property
    def answered(self) -> int:
        return len(self.calls)

    @property
    def signed(self) -> int:
        return sum(1 for c in self.calls.values() if c.record_uuid is not None)

    @property
    def synced(self) -> int:
        return sum(1 for c in self.calls.values() if c.synced)

    def _wire(self) -> None:
        w = self.window
        assert w.keeper is not None
        w.keeper.signedOff.connect(self.on_signed_off)
        w.queue.answerRequested.connect(self.on_answering)
        self._wired = True

    @Slot(str)
    def on_answering(self, call_id: str) -> None:
        entry = self.window.queue.entry(call_id)
        busy_elsewhere = self.window.busy and self.window.current != call_id
        if entry is None or call_id in self.calls or busy_elsewhere:
            return
        scenario = next((s for s in self.unused if s.reason == entry.reason), None)
        if scenario is not None:
            self.unused.remove(scenario)
        waited = (datetime.now(UTC) - entry.requested_at).total_seconds()
        self.calls[call_id] = DeskCall(call_id, entry.site_name, entry.reason, scenario,
                                       max(0.0, waited))
        self.said.emit(f"call answered after {waited:.1f} s: {entry.site_name} — "
                       f"{entry.reason}")

    @Slot(object)
    def on_signed_off(self, record: object) -> None:
        if not isinstance(record, TriageRecord) or record.call_id not in self.calls:
            return
        call = self.calls[record.call_id]
        if call.record_uuid is None:
            outcome = codes.outcomes()[record.outcome].label if record.outcome else "?"
            news = f"NEWS2 {record.news2.total} ({record.news2.band})" if record.news2 else \
                "no NEWS2"
            self.said.emit(f"record signed off: {call.site_name} · {news} · {outcome}")
        call.record_uuid, call.outcome = record.uuid, record.outcome
        if record.call_id == self._to_sign:
            self._to_sign, self._signing = None, False

    # --- the work -----------------------------------------------------------------------------

    @Slot()
    def on_tick(self) -> None:
        w = self.window
        if w.keeper is None or w.bridge is None or not w.hub_up:
            return
        if not self._wired:
            self._wire()
        self._check_synced()
        if w.queue.model.rowCount() >= 2:
            self.screenshot("desk-queue.png", once=True)
        if not self.auto:
            if self._all_done() and not self._done:
                self._done = True
                self.said.emit(f"all {len(self.plan)} calls answered, signed off and synced: "
                               "close the desk (or press Ctrl+C here) to end the demo")
            return
        if w.busy:
            self._in_call()
        elif self._to_sign is not None:
            self._sign()
        elif w.queue.model.entries and len(self.calls) < len(self.plan):
            self._answer()
        elif self._all_done():
            self._finish()

    def _answer(self) -> None:
        entries = self.window.queue.model.entries
        entry = entries[0]
        if not self.calls and len(entries) < min(3, len(self.plan)):
            # The first call waits a moment for a fuller queue, for the queue's screenshot.
            waited = (datetime.now(UTC) - entry.requested_at).total_seconds()
            if waited < 4.0:
                return
        self.screenshot("desk-queue.png", once=True)
        self.on_answering(entry.call_id)
        self.window.on_answer(entry.call_id)

    def _in_call(self) -> None:
        w = self.window
        call_id = w.current
        if call_id is None or w.call.started_at is None:
            return
        if call_id not in self._filled:
            self._fill(call_id)
        if time.monotonic() - w.call.started_at < self.hold_s or w.call.remote.painted < 5:
            return
        self.screenshot("desk-call.png", once=True)
        self._to_sign = call_id
        w.on_end()

    def _fill(self, call_id: str) -> None:
        """What the nurse types during the call: SBARD, the outcome, the avoided flags."""
        self._filled.add(call_id)
        call = self.calls.get(call_id)
        form = self.window.triage
        s = call.scenario if call is not None else None
        if s is None or form.context is None:
            return
        if not form.dob.text():
            form.dob.setText(s.resident.date_of_birth)
        for name in ("situation", "assessment", "recommendation", "decision"):
            form.sbard[name].setPlainText(getattr(s, name))
        form.outcome.setCurrentIndex(max(0, form.outcome.findData(s.outcome)))
        form.referral.setCurrentIndex(max(0, form.referral.findData(s.referral)))
        intended = form.intended.currentData()
        if intended:
            flags = codes.suggested_avoided(intended, s.outcome, form.context.setting)
            for attr, flag, _label in AVOIDED:
                form.avoided[attr].setChecked(flag in flags)

    def _sign(self) -> None:
        form = self.window.triage
        if self._signing or form.context is None or form.context.call_id != self._to_sign:
            return
        if not form.outcome.currentData():  # a call the plan does not know: a safe default
            form.outcome.setCurrentIndex(max(0, form.outcome.findData(
                "advice_managed_in_place")))
        if not form.intended.currentData():
            form.intended.setCurrentIndex(max(0, form.intended.findData("nothing")))
        self._signing = True
        form.on_sign_off()
        if form.sign_error.text():
            log.warning("sign-off refused: %s", form.sign_error.text())
            self._signing = False

    def _all_done(self) -> bool:
        return (len(self.calls) == len(self.plan) and self._to_sign is None
                and all(c.synced for c in self.calls.values()))

    def _finish(self) -> None:
        w = self.window
        if self._history_at is None:
            w.tabs.setCurrentWidget(w.history)  # refreshes the list
            self._history_at = time.monotonic()
            return
        if time.monotonic() - self._history_at < 1.0 or self._done:
            return
        self.screenshot("desk-history.png", once=True)
        self._done = True
        self.timer.stop()
        self.finished.emit()

    # --- sync and screenshots -----------------------------------------------------------------

    def _check_synced(self) -> None:
        """Asks the hub's central store for each signed record until it is there."""
        session = self.window.session
        if session is None:
            return
        for call in self.calls.values():
            uuid = call.record_uuid
            if uuid is None or call.synced or uuid in self._checking:
                continue
            self._checking.add(uuid)
            url = f"{session.hub_url}/api/v1/records/{uuid}"

            def ask(url: str = url) -> bool:
                r = self.http.get(url, headers={"Authorization": f"Bearer {session.token}"})
                return r.status_code == 200

            def answer(found: object, call: DeskCall = call, uuid: UUID = uuid) -> None:
                self._checking.discard(uuid)
                if found is True and not call.synced:
                    call.synced = True
                    self.said.emit(f"record in the hub's central store: {call.site_name}")

            def failed(_exc: BaseException, uuid: UUID = uuid) -> None:
                self._checking.discard(uuid)  # the hub is busy or away: ask again next tick

            self.workers.run(ask, on_done=answer, on_failed=failed)

    def screenshot(self, name: str, *, once: bool = False) -> Path | None:
        if self.screenshots is None:
            return None
        path = self.screenshots / name
        if once and path in self.saved:
            return None
        self.screenshots.mkdir(parents=True, exist_ok=True)
        if self.window.grab().save(str(path), "PNG"):
            self.saved.append(path)
            return path
        log.warning("could not save %s", path)
        return None

    def close(self) -> None:
        self.timer.stop()
        self.workers.shutdown()
        self.http.close()
