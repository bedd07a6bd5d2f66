"""History at the desk, driven through the window: amend a signed-off record (a reason, a
new version, history kept) and record a follow-up check, each in its dialog."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QCheckBox, QComboBox, QDialog, QDialogButtonBox

from records.schema import TriageRecord
from tests.helpers.fixtures import People
from tests.helpers.hubserver import ThreadedHub
from tests.ui.conftest import signed_in
from ui.desk.triage import TriageForm

pytestmark = pytest.mark.slow


def signed_off_record(desk: Any) -> TriageRecord:
    record = TriageRecord(call_id="call-9", requested_at=datetime.now(UTC),
                          site_id="Beech House", setting="care_home",
                          presenting_problem="Chest infection, more breathless",
                          intended_action="gp", outcome="discharged_home", nurse="nina")
    with desk.store.unit_of_work() as uow:
        uow.records.save_draft(record, "nina")
        return uow.records.sign_off(record.uuid, "nina")


def modal(kind: type[QDialog] = QDialog) -> QDialog | None:
    widget = QApplication.activeModalWidget()
    return widget if isinstance(widget, kind) else None


def test_amend_and_follow_up_through_their_dialogs(
        qtbot: Any, hub: ThreadedHub, people: People, desk_factory: Any) -> None:
    desk = desk_factory()
    signed_in(qtbot, desk, hub, "nina")
    record = signed_off_record(desk)
    assert desk.tabs.tabText(desk.tabs.indexOf(desk.worklist)) == "&Worklist"  # every nurse's
    qtbot.keyClick(desk, Qt.Key.Key_H, Qt.KeyboardModifier.AltModifier)  # &History
    qtbot.waitUntil(lambda: desk.tabs.currentWidget() is desk.history, timeout=2_000)
    history = desk.history
    qtbot.waitUntil(lambda: history.model.rowCount() == 1, timeout=5_000)
    history.table.selectRow(0)

    # Amend: the dialog holds the record's form; sign-off needs a reason.
    qtbot.mouseClick(history.amend, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: modal() is not None, timeout=5_000)
    dialog = modal()
    assert dialog is not None and dialog.windowTitle() == "Amend record (now version 1)"
    form = dialog.findChild(TriageForm)
    assert form is not None and form.reason.isVisible() and form.reason.hasFocus()
    assert form.problem.text() == "Chest infection, more breathless"
    form.outcome.setCurrentIndex(form.outcome.findData("gp_referral"))
    qtbot.mouseClick(form.sign_button, Qt.MouseButton.LeftButton)
    assert "reason for the amendment" in form.sign_error.text() and dialog.isVisible()
    qtbot.keyClicks(form.reason, "GP agreed to visit today")
    qtbot.keyClick(form.reason, Qt.Key.Key_S,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: modal() is None, timeout=5_000)
    qtbot.waitUntil(lambda: history.model.rowCount() == 1
                    and history.model.rows[0].version == 2, timeout=5_000)
    assert history.model.rows[0].outcome == "gp_referral"
    with desk.store.unit_of_work() as uow:
        versions = uow.records.history(record.uuid, "test")
    assert [(v.version, v.outcome) for v in versions] == [(1, "discharged_home"),
                                                         (2, "gp_referral")]
    assert versions[1].amendment_reason == "GP agreed to visit today"

    # Cancel leaves the record as it was.
    history.table.selectRow(0)
    qtbot.mouseClick(history.follow, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: modal() is not None, timeout=5_000)
    cancelled = modal()
    assert cancelled is not None and cancelled.windowTitle() == "Follow-up check"
    cancelled.findChild(QDialogButtonBox).button(
        QDialogButtonBox.StandardButton.Cancel).click()
    qtbot.waitUntil(lambda: modal() is None, timeout=2_000)

    # The 7-day check: an unplanned admission since the call withdraws the claim.
    history.table.selectRow(0)
    qtbot.mouseClick(history.follow, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: modal() is not None, timeout=5_000)
    check = modal()
    assert check is not None
    window = check.findChild(QComboBox)
    window.setCurrentIndex(window.findData("7d"))
    boxes = {b.text(): b for b in check.findChildren(QCheckBox)}
    qtbot.mouseClick(boxes["Unplanned admission since the call"], Qt.MouseButton.LeftButton)
    check.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Save).click()
    qtbot.waitUntil(lambda: modal() is None, timeout=2_000)
    qtbot.waitUntil(lambda: history.model.rows[0].version == 3, timeout=5_000)
    with desk.store.unit_of_work() as uow:
        latest = uow.records.get(record.uuid, "test")
        versions = uow.records.history(record.uuid, "test")
    assert len(versions) == 3 and latest.amendment_reason == "follow-up 7d: claim withdrawn"
    (follow,) = latest.follow_ups
    assert (follow.window, follow.unplanned_admission, follow.unplanned_attendance,
            follow.checked_by) == ("7d", True, False, "nina")
