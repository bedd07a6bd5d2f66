"""The hub's record at the desk, through the window's real widgets: when a call rings its
patient's context is fetched, and shown beside the triage form on answer; History finds what
another desk signed off by each search field, a page at a time, and offline shows this desk's
own records and says what it cannot reach."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import QApplication, QDialog, QDialogButtonBox

from hub.contract import signaling as p
from records.schema import Patient, SbardNotes
from records.store import SyncState
from tests.helpers.fixtures import SHOTS, People
from tests.helpers.hubserver import ThreadedHub
from tests.helpers.record_desk import Desk
from tests.records.builders import make_record
from tests.ui.conftest import PRE_CALL, SiteCaller, signed_in

pytestmark = pytest.mark.slow

NOW = datetime.now(UTC).replace(microsecond=0)
RESIDENT: dict[str, Any] = {
    "name": "Edith Brown", "nhs_number": "943 476 5919",
    "usual": {"news2_total": 2, "taken_on": "2026-11-20", "taken_by": "Carer J. Okafor"},
    "respect": {"focus": "comfort", "cpr": "not_attempt",
                "treatments": "Antibiotics by mouth at the home; no hospital admission",
                "made_on": "2026-06-01", "made_by": "Dr A. Shah (GP)"},
    "dnacpr": {"decided_on": "2026-06-01", "source": "GP practice DNACPR form"},
}
EDITH = Patient(nhs_number="9434765919", name="Edith Brown", site_id="Beech House",
                dnacpr=True, respect_plan="Comfort first; no hospital admission",
                usual_news2=2)


def shot(widget: Any, name: str) -> None:
    image = widget.grab().toImage()
    assert not image.isNull() and image.width() > 600
    image.save(str(SHOTS / f"{name}.png"))
    keep = os.environ.get("TELEHUB_SCREENSHOTS")
    if keep:
        image.save(str(Path(keep) / f"{name}.png"))


def _held(desk: Any, record_uuid: uuid.UUID) -> bool:
    with desk.store.unit_of_work() as uow:
        return record_uuid in uow.records.uuids()


def test_context_on_answer_and_history_from_another_desk(
        qtbot: Any, hub: ThreadedHub, people: People, site_caller: SiteCaller,
        desk_factory: Any, desks: list[Desk], tmp_path: Path) -> None:
    # Desk A (Nora's, its own store) signed off Edith's earlier call and a few others.
    other = Desk(tmp_path, hub, people.nurse2)
    desks.append(other)
    earlier = other.sign_off(make_record(
        call_id="old-1", site_id="Beech House", patient=EDITH, nurse="nora",
        requested_at=NOW - timedelta(days=3), answered_at=NOW - timedelta(days=3),
        presenting_problem="Fall in the night, hip pain", outcome="advice_managed_in_place",
        sbard=SbardNotes(decision="Paracetamol; GP to review tomorrow")))
    for n in range(5):
        other.sign_off(make_record(
            call_id=f"old-{n + 2}", site_id="Beech House", nurse="nora",
            requested_at=NOW - timedelta(hours=n + 1), outcome="gp_referral",
            patient=Patient(name=f"Resident {n}"), presenting_problem="Chest infection"))
    other.sync()
    # What Beech House has recorded about Edith (held by the hub: hub/residents.py).
    written = httpx.put(f"{hub.http}/api/v1/residents/{uuid.uuid4()}",
                        headers={"Authorization": f"Bearer {people.site.token}"},
                        json={"base_version": None, "details": RESIDENT})
    assert written.status_code == 200, written.text

    # Desk B, Nina's window: the call rings, its context is fetched before she answers.
    desk = desk_factory()
    desk.resize(1440, 900)
    signed_in(qtbot, desk, hub, "nina")
    site_caller.request("Breathless since this morning", urgency=p.Urgency.URGENT,
                        intended_action=p.IntendedAction.AMBULANCE_999, observations=PRE_CALL,
                        patient=p.Patient(nhs_number="9434765919", name="Edith Brown"))
    qtbot.waitUntil(lambda: desk.queue.model.rowCount() == 1, timeout=10_000)
    call_id = desk.queue.model.entries[0].call_id
    assert desk.reads is not None
    qtbot.waitUntil(lambda: call_id in desk.reads.contexts, timeout=10_000)  # before answer
    qtbot.keyClick(desk.queue.table, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: desk.call.started_at is not None, timeout=15_000)
    panel = desk.context
    assert panel is not None and desk.call.context is panel and panel.isVisible()
    qtbot.waitUntil(lambda: panel.theirs.rowCount() == 1, timeout=5_000)
    cells = [panel.theirs.index(0, c).data() for c in range(panel.theirs.columnCount())]
    assert cells[1:] == ["Fall in the night, hip pain",
                         f"{earlier.news2.total} {earlier.news2.band}",  # type: ignore[union-attr]
                         "Advice given; managed where the patient is",
                         "Paracetamol; GP to review tomorrow", "—"]
    assert panel.site.rowCount() == 6
    assert "found by NHS number" in panel.who.text()
    notes = panel.resident.text().splitlines()
    assert notes[:3] == [
        "Usual NEWS2 (normal for them): 2, taken 20 Nov 2026 by Carer J. Okafor",
        "ReSPECT: Prioritise comfort; CPR not to be attempted; Antibiotics by mouth at the "
        "home; no hospital admission (by Dr A. Shah (GP), 01 Jun 2026)",
        "DNACPR: in place (GP practice DNACPR form, 01 Jun 2026)"]
    total = earlier.news2.total  # type: ignore[union-attr]
    assert panel.trend.text().startswith(f"NEWS2 trend: {total} (")
    assert panel.trend.text().endswith("5 now; usual for them 2")
    for widget in (panel.theirs_table, panel.site_table, panel.lists):
        assert widget.accessibleName() and widget.focusPolicy() & Qt.FocusPolicy.TabFocus
    qtbot.waitUntil(lambda: desk.call.remote.painted >= 5, timeout=15_000)
    shot(desk, "desk-call-context")

    qtbot.keyClick(desk.call.end, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: desk.current is None, timeout=10_000)

    def drafts() -> int:
        with desk.store.unit_of_work() as uow:
            return len(uow.records.search(status="draft"))

    qtbot.waitUntil(lambda: drafts() == 1, timeout=5_000)  # the call's end is written

    # History: what desk A signed off is found here by each search field.
    history = desk.history
    history.page_size = 4
    qtbot.keyClick(desk, Qt.Key.Key_H, Qt.KeyboardModifier.AltModifier)
    # This call's draft (only on this desk) comes first, then the hub's newest four.
    qtbot.waitUntil(lambda: history.model.rowCount() == 5, timeout=5_000)
    draft = history.model.rows[0]
    assert (draft.problem, draft.status, draft.on_hub) == ("Breathless since this morning",
                                                          "draft", False)
    assert history.model.index(0, 7).data() == "draft: this desk only"

    def patients() -> list[str]:
        return [row.patient for row in history.model.rows]

    def search(edit: Any, text: str, expected: list[str]) -> None:
        edit.setFocus()
        qtbot.keyClicks(edit, text)
        qtbot.keyClick(edit, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: patients() == expected, timeout=5_000)
        edit.clear()

    search(history.name, "edi bro", ["Edith Brown", "Edith Brown"])  # the draft and A's
    search(history.nhs, "943 476 5919", ["Edith Brown", "Edith Brown"])
    search(history.problem, "hip", ["Edith Brown"])
    history.outcome.setCurrentIndex(history.outcome.findData("advice_managed_in_place"))
    qtbot.waitUntil(lambda: patients() == ["Edith Brown"], timeout=5_000)
    history.outcome.setCurrentIndex(0)
    day = (NOW - timedelta(days=3)).astimezone()
    history.start.setDate(QDate(day.year, day.month, day.day))
    history.end.setDate(QDate(day.year, day.month, day.day))
    qtbot.waitUntil(lambda: patients() == ["Edith Brown"], timeout=5_000)
    row = history.model.rows[0]
    assert (row.on_hub, row.sync, history.model.index(0, 7).data()) == (True, None,
                                                                      "on the hub")
    # Another desk's record is followed up here: the hub's version is fetched and adopted,
    # and the check becomes its next version in this desk's store (synced from here).
    history.table.selectRow(0)
    qtbot.mouseClick(history.follow, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), QDialog),
                    timeout=5_000)
    check = QApplication.activeModalWidget()
    assert check is not None and check.windowTitle() == "Follow-up check"
    check.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Save).click()

    def followed() -> int:
        with desk.store.unit_of_work() as uow:
            return len(uow.records.get(earlier.uuid, "test").follow_ups)

    qtbot.waitUntil(lambda: _held(desk, earlier.uuid) and followed() == 1, timeout=5_000)

    def pending() -> int:
        with desk.store.unit_of_work() as uow:
            return uow.outbox.counts()[SyncState.PENDING]

    qtbot.waitUntil(lambda: pending() == 0, timeout=10_000)  # version 2 is the hub's now
    history.start.setDate(history.start.minimumDate())
    history.end.setDate(history.end.minimumDate())

    # A page at a time, newest first: 4, then the 2 older; Newer goes back.
    search(history.site, "Beech House", ["Edith Brown"] + [f"Resident {n}" for n in range(4)])
    history.site.setText("Beech House")
    qtbot.keyClick(history.site, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: history.older.isEnabled(), timeout=5_000)
    assert not history.newer.isEnabled()
    qtbot.mouseClick(history.older, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: patients() == ["Resident 4", "Edith Brown"], timeout=5_000)
    assert history.newer.isEnabled() and not history.older.isEnabled()
    assert history.count.text().startswith("Page 2: 2 records from the hub")
    shot(desk, "desk-history-hub")
    qtbot.mouseClick(history.newer, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: patients() == ["Edith Brown"] + [f"Resident {n}"
                                                              for n in range(4)], timeout=5_000)

    # Nina signs off this call's record; then the hub goes away: History shows what this
    # desk holds and says what it cannot reach.
    form = desk.triage
    form.outcome.setCurrentIndex(form.outcome.findData("gp_referral"))
    form.on_sign_off()
    qtbot.waitUntil(lambda: form.closed, timeout=5_000)
    # Signed off, the desk goes back to the queue (on the keeper's signal: wait for it).
    qtbot.waitUntil(lambda: desk.tabs.currentWidget() is desk.queue, timeout=5_000)
    hub.stop()
    history.site.clear()
    desk.tabs.setCurrentWidget(history)
    history.search()
    qtbot.waitUntil(lambda: history.notice.isVisible(), timeout=10_000)
    assert "cannot be reached" in history.notice.text()
    assert "records kept on this desk" in history.notice.text()
    # What desk B holds: this call's record and the one it followed up.
    assert [r.problem for r in history.model.rows] == ["Breathless since this morning",
                                                       "Fall in the night, hip pain"]
    assert not history.older.isEnabled() and not history.newer.isEnabled()
    shot(desk, "desk-history-offline-hub")
