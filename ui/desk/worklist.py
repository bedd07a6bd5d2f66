"""The hub-wide follow-up worklist at a nurse's desk: due, overdue and done checks, and by whom.

The list is the hub's (``HubClient.follow_ups``), whichever desk made the claim. Recording a
check takes the hub's current version of the record into this desk's store and writes the
check as its next version there (``RecordKeeper.follow_up``), so it is saved locally before
anything else and reaches the hub through the outbox; until the hub has it, the row says so.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtGui import QBrush, QColor, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from hub.client import HubClient, HubError
from hub.contract.followups import FollowUpItem, FollowUpState, Worklist
from records import codes
from ui.announce import announce
from ui.desk.followup import FollowUpDialog
from ui.desk.recordkeeper import RecordKeeper, SyncStatus
from ui.desk.tables import ColumnsModel, Index, keyboard_table
from ui.desk.work import Workers
from ui.heading import heading

COLUMNS = ("Due", "Check", "State", "Patient", "Site", "Claim", "Done by")
CLAIM_WORDS = {"admission": "admission avoided", "ae_attendance": "A&E attendance avoided",
               "prison_transfer": "prison transfer avoided"}
# On the table's dark rows (theme), each at least 4.5:1.
STATE_COLOURS = {FollowUpState.OVERDUE: "#ff8a80", FollowUpState.DUE: "#ffd866",
                 FollowUpState.DONE: "#7ee787"}
WAITING = "recorded here, waiting to sync"


def state_words(item: FollowUpItem, local: bool) -> str:
    if item.state is not FollowUpState.DONE and local:
        return WAITING
    if item.state is FollowUpState.DONE:
        return f"done: claim {item.result}" if item.result else "done"
    return item.state.value


class WorklistModel(ColumnsModel):
    columns = COLUMNS

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rows: list[FollowUpItem] = []
        self.local: set[tuple[UUID, str]] = set()  # checks recorded here, not on the hub yet

    def set_rows(self, rows: list[FollowUpItem]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def row_total(self) -> int:
        return len(self.rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        item, col = self.rows[index.row()], index.column()
        local = (item.record_uuid, item.window) in self.local
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                f"{item.due_at.astimezone():%d %b %H:%M}",
                codes.follow_up_windows()[item.window].label,
                state_words(item, local),
                item.patient or "—",
                f"{item.site_id} ({item.setting.replace('_', ' ')})",
                ", ".join(CLAIM_WORDS[c] for c in item.claims),
                (f"{item.done_by}, {item.done_at.astimezone():%d %b %H:%M}"
                 if item.done_by and item.done_at else "—"),
            )[col]
        if role == Qt.ItemDataRole.ForegroundRole and col == 2 and not local:
            colour = STATE_COLOURS.get(item.state)
            return QBrush(QColor(colour)) if colour else None
        return None


class WorklistView(QWidget):
    """The worklist page of a nurse's desk. Collaborators are passed in: the desk's hub client
    (the nurse's token), its record keeper, its workers, and the nurse's user name."""

    def __init__(self, hub: HubClient, keeper: RecordKeeper, workers: Workers, nurse: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hub, self.keeper, self.workers, self.nurse = hub, keeper, workers, nurse
        self.dialog: FollowUpDialog | None = None  # the check being recorded
        self.model = WorklistModel(self)  # owned by the view, as History's (Qt parent)
        title = heading(QLabel("Follow-ups across the hub"))
        self.summary = QLabel("Not loaded yet.")
        self.summary.setWordWrap(True)
        self.summary.setAccessibleName("Follow-up counts")
        self.table = QTableView()
        self.table.setModel(self.model)
        keyboard_table(self.table, "Follow-up checks", "Up and Down choose a check for "
                       "Record follow-up")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(5, QHeaderView.ResizeMode.Stretch)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setAccessibleName("Refresh the follow-up worklist")
        self.record_button = QPushButton("&Record follow-up…")
        self.record_button.setAccessibleName("Record the selected follow-up check")
        self.note = QLabel("")
        self.note.setProperty("role", "muted")
        self.note.setWordWrap(True)
        actions = QHBoxLayout()
        actions.addWidget(self.note, 1)
        actions.addWidget(self.refresh_button)
        actions.addWidget(self.record_button)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        layout.addLayout(actions)
        self.refresh_button.clicked.connect(self.refresh)
        self.record_button.clicked.connect(self.on_record_clicked)
        keeper.syncChanged.connect(self.on_sync)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()

    @Slot()
    def refresh(self) -> None:
        self.workers.run(self.hub.follow_ups, on_done=self.show_worklist,
                         on_failed=self.on_unreachable)

    def show_worklist(self, worklist: Worklist) -> None:
        chosen = self.selected()
        done = {(i.record_uuid, i.window) for i in worklist.items
                if i.state is FollowUpState.DONE}
        self.model.local -= done  # on the hub now
        self.model.set_rows(worklist.items)
        again = next((n for n, i in enumerate(worklist.items) if chosen is not None
                      and (i.record_uuid, i.window) == (chosen.record_uuid, chosen.window)),
                     None)  # fmt: skip
        if again is not None:
            self.table.selectRow(again)
        c = worklist.counts
        self.summary.setText(f"{c.overdue} overdue · {c.due} due · {c.done} done recently · "
                             f"{c.upcoming} not due yet")
        self.note.setText(f"From the hub at {datetime.now(UTC).astimezone():%H:%M:%S}.")

    def on_unreachable(self, exc: BaseException) -> None:
        why = str(exc) if isinstance(exc, HubError) else type(exc).__name__
        self.note.setText(f"The worklist could not be refreshed: {why}. It shows what the "
                          "hub said last.")

    @Slot(SyncStatus)
    def on_sync(self, status: SyncStatus) -> None:
        if self.model.local and status.reachable and status.pending == 0:
            self.refresh()  # a check recorded here has reached the hub

    def selected(self) -> FollowUpItem | None:
        rows = self.table.selectionModel().selectedRows()
        current = self.table.currentIndex()
        row = rows[0].row() if rows else current.row() if current.isValid() else -1
        return self.model.rows[row] if 0 <= row < len(self.model.rows) else None

    @Slot()
    def on_record_clicked(self) -> None:
        item = self.selected()
        if item is None:
            return self._say("Choose a check first: Up and Down in the table.")
        if item.state is FollowUpState.DONE:
            return self._say(f"This check was done by {item.done_by}.")
        self.note.setText("Fetching the record from the hub…")
        self.workers.run(self.hub.record_payload, item.record_uuid,
                         on_done=lambda payload: self.open_dialog(item, payload),
                         on_failed=self.on_unreachable)

    def open_dialog(self, item: FollowUpItem, payload: str) -> None:
        self.dialog = FollowUpDialog(self.keeper, item.record_uuid, self.nurse, self,
                                     window=item.window, hub_payload=payload)
        self.dialog.accepted.connect(lambda: self.on_recorded(item))
        self.dialog.open()
        self.note.setText("")

    def on_recorded(self, item: FollowUpItem) -> None:
        self.model.local.add((item.record_uuid, item.window))
        self.model.set_rows(self.model.rows)
        self._say("Follow-up saved at this desk; it goes to the hub with the next sync.")
        self.keeper.sync_now()

    def _say(self, text: str) -> None:
        self.note.setText(text)
        announce(self.note, text, assertive=True)
