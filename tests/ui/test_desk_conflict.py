"""The conflict screen at the desk, driven through the window against a real hub: two nurses
amend one version, the second sees both takes side by side in History's Amend and signs the
version that supersedes both (issue 13)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QPlainTextEdit, QWidget

from hub.client import HubClient
from records.hub_versions import HubVersions, fetch_current
from records.schema import TriageRecord
from records.store import Store, SyncState
from records.sync import SyncRunner
from tests.helpers.fixtures import SHOTS, People
from tests.helpers.hubserver import ThreadedHub
from tests.helpers.waiting import wait_until
from tests.ui.conftest import signed_in
from tests.ui.test_desk_history import signed_off_record
from ui.desk.conflict import ConflictDialog

pytestmark = pytest.mark.slow


def _state(store: Store) -> list[tuple[int, SyncState]]:
    with store.unit_of_work() as uow:
        return [(e.version, e.state) for e in uow.outbox.entries()]


def test_two_takes_side_by_side_and_a_version_that_supersedes_both(
        qtbot: Any, hub: ThreadedHub, people: People, desk_factory: Any, tmp_path: Any
) -> None:
    desk = desk_factory()
    signed_in(qtbot, desk, hub, "nina")
    record = signed_off_record(desk)
    desk.keeper.sync_now()
    qtbot.waitUntil(lambda: _state(desk.store) == [(1, SyncState.SYNCED)], timeout=10_000)

    # Nora, at her own desk, amends the hub's version 1 first.
    nora_store = Store.open(f"sqlite:///{tmp_path / 'nora.db'}")
    with httpx.Client(timeout=5) as http:
        nora_hub = HubClient(http, hub.http, people.nurse2.token)
        with nora_store.unit_of_work() as uow:
            base = HubVersions(uow).open(record.uuid, fetch_current(nora_hub, record.uuid),
                                         "nora").record
            assert base is not None
            uow.records.amend(base.model_copy(update={
                "presenting_problem": "Chest infection; the carer says worse overnight"}),
                "the night carer rang", "nora")  # fmt: skip
        assert SyncRunner(nora_store, nora_hub).run_until_idle() == 1
    nora_store.close()

    # Nina amended her copy of version 1 meanwhile (the hub was out of reach, say).
    with desk.store.unit_of_work() as uow:
        mine = uow.records.get(record.uuid, "nina")
        uow.records.amend(mine.model_copy(update={"outcome": "gp_referral"}),
                          "GP agreed to visit", "nina")
    desk.keeper.sync_now()
    qtbot.waitUntil(lambda: _state(desk.store)[-1] == (2, SyncState.CONFLICT), timeout=10_000)

    # History > Amend opens both takes side by side, not the amend form.
    qtbot.keyClick(desk, Qt.Key.Key_H, Qt.KeyboardModifier.AltModifier)
    history = desk.history
    qtbot.waitUntil(lambda: history.model.rowCount() == 1, timeout=5_000)
    history.table.selectRow(0)
    qtbot.mouseClick(history.amend, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), ConflictDialog),
                    timeout=10_000)
    dialog = QApplication.activeModalWidget()
    assert isinstance(dialog, ConflictDialog)
    assert dialog.windowTitle() == "Resolve a conflict (the hub holds version 2)"
    assert [c.field.label for c in dialog.choices] == ["Presenting problem", "Outcome"]
    problem, outcome = dialog.choices
    shown = {w.accessibleName(): w.toPlainText() for w in dialog.findChildren(QPlainTextEdit)}
    assert shown["Presenting problem, on the hub (nora)"].startswith("Chest infection; the")
    assert shown["Presenting problem, yours"] == "Chest infection, more breathless"
    assert shown["Outcome, yours"] == "Referred to GP"
    # Every control is named and reachable by Tab.
    for widget in dialog.findChildren(QWidget):
        if widget.focusPolicy() & Qt.FocusPolicy.TabFocus and widget.isVisibleTo(dialog):
            assert widget.accessibleName(), type(widget).__name__

    # Keep Nora's problem text and add to it; keep Nina's outcome; a reason; sign.
    assert problem.text is not None
    problem.text.setFocus()
    qtbot.keyClick(problem.text, Qt.Key.Key_End, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(problem.text, "; GP visiting today")
    outcome.pick.setFocus()
    qtbot.keyClick(outcome.pick, Qt.Key.Key_Down)
    assert outcome.pick.currentData() == "mine"
    qtbot.mouseClick(dialog.sign, Qt.MouseButton.LeftButton)
    assert "reason" in dialog.error.text() and dialog.isVisible()
    qtbot.keyClicks(dialog.reason, "merged both desks' amendments")
    dialog.resize(1100, 640)
    qtbot.wait(50)
    assert dialog.grab().save(str(SHOTS / "desk-conflict-resolved.png"))
    qtbot.keyClick(dialog.reason, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: QApplication.activeModalWidget() is None, timeout=5_000)

    # Written here first, then synced with both takes; on the hub: 1, Nora's 2, and 3.
    qtbot.waitUntil(lambda: _state(desk.store) == [(1, SyncState.SYNCED),
                                                   (3, SyncState.SYNCED)], timeout=10_000)
    with httpx.Client(timeout=5) as http:
        nina_hub = HubClient(http, hub.http, people.nurse.token)
        final = TriageRecord.model_validate_json(nina_hub.record_payload(record.uuid))
        history_of = nina_hub.record_versions(record.uuid)
        [take] = nina_hub.competitors(record.uuid)
    assert final.version == 3 and final.outcome == "gp_referral"
    assert final.presenting_problem == ("Chest infection; the carer says worse overnight; "
                                        "GP visiting today")
    assert [(v.version, v.author, v.action) for v in history_of] == [
        (1, "nina", "signed_off"), (2, "nora", "amended"), (3, "nina", "resolved")]
    assert history_of[2].supersedes == [take.id] and take.resolved_by == 3
    assert take.record.outcome == "gp_referral" and take.author == "nina"
    wait_until(lambda: history.model.rowCount() == 1 and history.model.rows[0].version == 3,
               5, "History to show the resolution", pause=qtbot.wait)
