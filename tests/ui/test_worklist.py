"""The follow-up worklist at a nurse's desk (real widgets, a real hub, two local stores): a claim
made at desk A is listed at desk B, recorded there through its dialog and its outbox, and
shows as done by that nurse at both; the manager view counts the overdue ones."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from hub.client import HubClient
from hub.contract.followups import FollowUpState
from records.store import Store
from records.sync import SyncRunner
from tests.helpers.contrast import contrast
from tests.helpers.fixtures import SHOTS, People
from tests.helpers.hubserver import HubDatabase, Seeded, ThreadedHub
from tests.records.builders import signed_off_claim
from ui.desk.manager.dashboard import ManagerView
from ui.desk.recordkeeper import RecordKeeper
from ui.desk.work import Workers
from ui.desk.worklist import STATE_COLOURS, WAITING, WorklistView

pytestmark = pytest.mark.slow


class Desk:
    """One nurse's worklist on its own local store, syncing to the hub."""

    def __init__(self, qtbot: Any, hub: ThreadedHub, who: Seeded, name: str,
                 folder: Path) -> None:
        self.http, self.sync_http = httpx.Client(timeout=10), httpx.Client(timeout=10)
        self.store = Store.open(f"sqlite:///{folder / f'{name}.db'}")
        self.keeper = RecordKeeper(self.store, name, HubClient(self.sync_http, hub.http,
                                                               who.token), idle_interval=0.3)
        self.workers = Workers(2, f"{name}-test")
        self.view = WorklistView(HubClient(self.http, hub.http, who.token), self.keeper,
                                 self.workers, name)
        qtbot.addWidget(self.view)
        self.view.resize(1300, 560)

    def close(self) -> None:
        self.keeper.close()
        self.workers.shutdown()
        self.store.close()
        self.http.close()
        self.sync_http.close()


@pytest.fixture
def desks(qtbot: Any, hub: ThreadedHub, people: People, tmp_path: Path,
          desk_theme: Any) -> Iterator[tuple[Desk, Desk]]:
    made = (Desk(qtbot, hub, people.nurse, "nina", tmp_path),
            Desk(qtbot, hub, people.nurse2, "nora", tmp_path))
    yield made
    for desk in made:
        desk.close()


def rows(view: WorklistView) -> list[tuple[str, str, str]]:
    m = view.model
    return [(m.index(r, 1).data(), m.index(r, 2).data(), m.index(r, 6).data().split(",")[0])
            for r in range(m.rowCount())]


def test_a_check_due_on_desk_as_claim_is_recorded_at_desk_b_and_done_by_her_at_both(
        qtbot: Any, hub: ThreadedHub, hubdb: HubDatabase, people: People,
        desks: tuple[Desk, Desk]) -> None:
    a, b = desks
    due = signed_off_claim(a.store, "nina", 3.5, admission=True)
    signed_off_claim(a.store, "nina", 10, ae_attendance=True)
    with httpx.Client(timeout=10) as http:
        pushed = SyncRunner(a.store, HubClient(http, hub.http, people.nurse.token)).push_once()
        assert pushed.settled == 2

    b.keeper.start_sync()
    b.view.show()  # showing it asks the hub
    qtbot.waitUntil(lambda: b.view.model.rowCount() == 3, timeout=10_000)
    assert rows(b.view) == [("72 hours", "overdue", "—"), ("7 days", "overdue", "—"),
                            ("72 hours", "due", "—")]
    assert b.view.summary.text() == "2 overdue · 1 due · 0 done recently · 1 not due yet"
    # Readable and reachable: named controls, Tab from the table to the buttons.
    assert b.view.table.accessibleName() == "Follow-up checks"
    for colour in STATE_COLOURS.values():
        assert min(contrast(colour, bg) for bg in ("#1d232a", "#232a32")) >= 4.5
    b.view.table.setFocus()
    for expected in (b.view.refresh_button, b.view.record_button):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        assert QApplication.focusWidget() is expected
    SHOTS.mkdir(parents=True, exist_ok=True)
    b.view.grab().save(str(SHOTS / "desk-worklist.png"))

    # Desk B records the due check: the dialog opens on its window, saving commits it here.
    b.view.table.selectRow(2)
    qtbot.mouseClick(b.view.record_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: b.view.dialog is not None and b.view.dialog.isVisible(),
                    timeout=10_000)
    dialog = b.view.dialog
    assert dialog is not None and dialog.window_choice.currentData() == "72h"
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Save).click()
    qtbot.waitUntil(lambda: rows(b.view)[2][1] in (WAITING, "done: claim confirmed"),
                    timeout=5_000)
    # Once its outbox has pushed it, the hub says who did it: at desk B and at desk A.
    qtbot.waitUntil(lambda: ("72 hours", "done: claim confirmed", "Nora") in rows(b.view),
                    timeout=15_000)
    with b.store.unit_of_work() as uow:
        assert [v.version for v in uow.records.history(due.uuid, "test")] == [1, 2]
    a.view.show()
    qtbot.waitUntil(lambda: ("72 hours", "done: claim confirmed", "Nora") in rows(a.view),
                    timeout=10_000)
    assert [i.state for i in a.view.model.rows] == [FollowUpState.OVERDUE] * 2 + [
        FollowUpState.DONE]
    b.view.grab().save(str(SHOTS / "desk-worklist-done.png"))

    # The manager view counts the overdue checks.
    with httpx.Client(timeout=10) as http:
        manager = ManagerView(HubClient(http, hub.http, hubdb.staff("max", "manager").token),
                              a.workers)
        qtbot.addWidget(manager)
        manager.refresh()
        qtbot.waitUntil(lambda: manager.overdue.text() == "Follow-ups overdue: 2 (due: 0)",
                        timeout=10_000)
        qtbot.waitUntil(lambda: manager.refresh_button.isEnabled(), timeout=10_000)
