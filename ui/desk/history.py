"""History: past encounters with search, filters and sync state; amendments and follow-ups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from PySide6.QtCore import (
    Qt,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from records import codes
from records.store import RecordSummary, SyncState
from ui import theme
from ui.announce import announce
from ui.desk.tables import ColumnsModel, Index, keyboard_table

COLUMNS = ("When", "Site", "Patient", "Problem", "NEWS2", "Outcome", "Status", "Sync")
SYNC_WORDS = {SyncState.PENDING: "waiting to sync", SyncState.SYNCED: "synced",
              SyncState.CONFLICT: "conflict: newer version held",
              SyncState.FAILED: "refused by the store"}
SYNC_COLOURS = {SyncState.PENDING: "#ffd866", SyncState.SYNCED: "#7ee787",
                SyncState.CONFLICT: "#ff6b6b", SyncState.FAILED: "#ff6b6b"}


class HistoryModel(ColumnsModel):
    columns = COLUMNS

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[RecordSummary] = []

    def set_rows(self, rows: list[RecordSummary]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def row_total(self) -> int:
        return len(self.rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return row.updated_at.astimezone().strftime("%d %b %H:%M")
            if col == 1:
                return f"{row.site_id} ({row.setting.replace('_', ' ')})"
            if col == 2:
                return row.patient or "—"
            if col == 3:
                return row.problem
            if col == 4:
                if row.news2_total is None:
                    return "—"
                return f"{row.news2_total} {row.news2_band}" + (
                    "" if row.news2_complete else " partial")
            if col == 5:
                return codes.outcomes()[row.outcome].label if row.outcome else "—"
            if col == 6:
                return ("draft" if row.status == "draft" else
                        f"signed off v{row.version}")
            if col == 7:
                return SYNC_WORDS.get(row.sync, "not yet") if row.sync else "draft: local"
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == 7 and row.sync is not None:
                return QBrush(QColor(SYNC_COLOURS[row.sync]))
            if col == 4 and row.news2_band:
                return QBrush(QColor(theme.BAND_COLOURS.get(row.news2_band, "#d6dde6")))
        return None


class HistoryView(QWidget):
    """Signals:
        refreshRequested(str, str, str, object): search text, status filter, sync filter,
            and the earliest call to show (a UTC datetime, or None for any time).
        amendRequested(UUID): the record to amend.
        followUpRequested(UUID): the record to add a follow-up check to.
        recordChosen(object): the record now chosen (a UUID), or None (its photos follow it).
    """

    refreshRequested = Signal(str, str, str, object)
    amendRequested = Signal(UUID)
    followUpRequested = Signal(UUID)
    recordChosen = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = HistoryModel()
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search site, patient, NHS number, problem, outcome")
        self.search.setAccessibleName("Search history")
        self.status = theme.compact_combo(QComboBox(), 10)
        self.status.setAccessibleName("Filter by status")
        for code, label in (("", "all records"), ("draft", "drafts"),
                            ("signed_off", "signed off")):
            self.status.addItem(label, code)
        self.sync = theme.compact_combo(QComboBox(), 12)
        self.sync.setAccessibleName("Filter by sync state")
        self.sync.addItem("any sync state", "")
        for state in SyncState:
            self.sync.addItem(SYNC_WORDS[state], state.value)
        self.period = theme.compact_combo(QComboBox(), 12)
        self.period.setAccessibleName("Filter by when the call was made")
        for days, label in ((None, "any time"), (1, "last 24 hours"), (7, "last 7 days"),
                            (30, "last 30 days")):
            self.period.addItem(label, days)
        self.table = QTableView()
        self.table.setModel(self.model)
        keyboard_table(self.table, "Past encounters", "Up and Down choose a record for "
                       "Amend or Follow-up check")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.amend = QPushButton("&Amend…")
        self.amend.setAccessibleName("Amend the selected record")
        self.follow = QPushButton("&Follow-up check…")
        self.follow.setAccessibleName("Record a follow-up check for the selected record")
        self.count = QLabel("")
        self.count.setProperty("role", "muted")
        filters = QHBoxLayout()
        filters.addWidget(self.search, 1)
        filters.addWidget(self.status)
        filters.addWidget(self.sync)
        filters.addWidget(self.period)
        actions = QHBoxLayout()
        actions.addWidget(self.count, 1)
        actions.addWidget(self.follow)
        actions.addWidget(self.amend)
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        self.beside = QVBoxLayout()  # what follows the chosen record (its photos)
        layout.addLayout(self.beside)
        layout.addLayout(actions)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(250)
        self._debounce.timeout.connect(self.refresh)
        self.search.textChanged.connect(self._debounce.start)
        self.status.currentIndexChanged.connect(self.refresh)
        self.sync.currentIndexChanged.connect(self.refresh)
        self.period.currentIndexChanged.connect(self.refresh)
        self.amend.clicked.connect(self.on_amend_clicked)
        self.follow.clicked.connect(self.on_follow_clicked)
        self.table.selectionModel().currentRowChanged.connect(self.on_current_changed)

    @Slot()
    def refresh(self) -> None:
        days = self.period.currentData()
        since = datetime.now(UTC) - timedelta(days=days) if days else None
        self.refreshRequested.emit(self.search.text(), self.status.currentData(),
                                   self.sync.currentData(), since)

    def set_rows(self, rows: list[RecordSummary]) -> None:
        # The record in hand stays chosen across a refresh (one follows each sign-off and
        # follow-up check): a keyboard user would otherwise be back before the first row.
        chosen = self.selected()
        self.model.set_rows(rows)
        again = next((n for n, row in enumerate(rows)
                      if chosen is not None and row.uuid == chosen.uuid), None)
        if again is not None:
            self.table.selectRow(again)
        self.count.setText(f"{len(rows)} records · refreshed "
                           f"{datetime.now(UTC).astimezone():%H:%M:%S}")

    def selected(self) -> RecordSummary | None:
        """The chosen record: the selected row, else the row of the table's cursor (focus
        comes into the table on its first cell, unselected: with one record Down moves
        nowhere, yet the screen reader has read that record as the one in hand)."""
        rows = self.table.selectionModel().selectedRows()
        current = self.table.currentIndex()
        row = rows[0].row() if rows else current.row() if current.isValid() else -1
        return self.model.rows[row] if 0 <= row < len(self.model.rows) else None

    @Slot()
    def on_current_changed(self) -> None:
        row = self.selected()
        self.recordChosen.emit(row.uuid if row is not None else None)

    @Slot()
    def on_amend_clicked(self) -> None:
        row = self.selected()
        if row is not None and row.status == "signed_off":
            self.amendRequested.emit(row.uuid)
        elif row is not None:
            self._refuse("A draft is changed by typing, not amended; sign it off first.")
        else:
            self._refuse("Choose a record first: Up and Down in the table.")

    @Slot()
    def on_follow_clicked(self) -> None:
        row = self.selected()
        if row is not None and row.status == "signed_off":
            self.followUpRequested.emit(row.uuid)
        elif row is not None:
            self._refuse("A follow-up check is recorded on a signed-off record; sign the "
                         "draft off first.")
        else:
            self._refuse("Choose a record first: Up and Down in the table.")

    def _refuse(self, why: str) -> None:
        """Why the button did nothing, shown and said (it was silent to a screen reader)."""
        self.count.setText(why)
        announce(self.count, why, assertive=True)
