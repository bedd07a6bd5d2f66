"""History: the hub's encounters, merged with this desk's versions not yet synced, searched by
patient, NHS number, site, problem, outcome and date, a page at a time; amendments and
follow-ups. What it shows comes from records/hub_history.py (the hub through HubClient)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from uuid import UUID

from PySide6.QtCore import (
    QDate,
    QObject,
    Qt,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import QBrush, QColor, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from hub.contract.history import FollowUpState, HistoryQuery
from records import codes
from records.hub_history import HistoryResult, HistoryRow
from records.store import SyncState
from ui import theme
from ui.announce import announce
from ui.desk.tables import ColumnsModel, Index, keyboard_table
from ui.labels import status_label

COLUMNS = ("When", "Site", "Patient", "Problem", "NEWS2", "Outcome", "Status", "Sync",
           "Follow-up")
SYNC_WORDS = {SyncState.PENDING: "waiting to sync", SyncState.SYNCED: "synced",
              SyncState.CONFLICT: "conflict: newer version held",
              SyncState.FAILED: "refused by the store"}
SYNC_COLOURS = {SyncState.PENDING: "#ffd866", SyncState.SYNCED: "#7ee787",
                SyncState.CONFLICT: "#ff6b6b", SyncState.FAILED: "#ff6b6b"}
ON_HUB = "on the hub"  # a record this desk never held: another desk's
FOLLOW_UP_WORDS = {FollowUpState.NONE: "—", FollowUpState.DUE: "due",
                   FollowUpState.OVERDUE: "overdue", FollowUpState.CONFIRMED: "confirmed",
                   FollowUpState.WITHDRAWN: "claim withdrawn"}
ANY_DAY = QDate(2000, 1, 1)  # a date field at its minimum means "any day"


def sync_words(row: HistoryRow) -> str:
    """Where the row's version is: on the hub, or only on this desk (and why)."""
    if row.status == "draft":
        return "draft: this desk only"
    if row.sync is not None:
        return SYNC_WORDS[row.sync]
    return ON_HUB if row.on_hub else "not yet synced"


class HistoryModel(ColumnsModel):
    columns = COLUMNS

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rows: list[HistoryRow] = []

    def set_rows(self, rows: list[HistoryRow]) -> None:
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
                return row.call_at.astimezone().strftime("%d %b %Y %H:%M")
            if col == 1:
                return f"{row.site} ({row.setting.replace('_', ' ')})"
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
                return sync_words(row)
            if col == 8:
                return FOLLOW_UP_WORDS[row.follow_up] if row.follow_up else "—"
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == 7 and row.sync is not None:
                return QBrush(QColor(SYNC_COLOURS[row.sync]))
            if col == 7 and row.on_hub:
                return QBrush(QColor(SYNC_COLOURS[SyncState.SYNCED]))
            if col == 4 and row.news2_band:
                return QBrush(QColor(theme.BAND_COLOURS.get(row.news2_band, "#d6dde6")))
        return None


class DayEdit(QDateEdit):
    """A day field that Tab leaves (QDateEdit keeps Tab while it shows its special "any day"
    text, and otherwise spends it on moving between day, month and year: Left and Right do
    that here)."""

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Tab, Qt.Key.Key_Backtab):
            forward = (event.key() == Qt.Key.Key_Tab
                       and not event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
            QWidget.focusNextPrevChild(self, forward)
            event.accept()
            return
        super().keyPressEvent(event)


class HistoryView(QWidget):
    """Signals:
        refreshRequested(HistoryQuery): the page to show (the search fields and its cursor).
        amendRequested(UUID): the record to amend.
        followUpRequested(UUID): the record to add a follow-up check to.
        recordChosen(object): the record now chosen (a UUID), or None (its photos follow it).
    """

    refreshRequested = Signal(HistoryQuery)
    amendRequested = Signal(UUID)
    followUpRequested = Signal(UUID)
    recordChosen = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # Owned by the view (Qt parent): a parentless model is deleted whenever Python's GC
        # collects it, which can be while its table is asking it for rows (a segfault).
        self.model = HistoryModel(self)
        self.result: HistoryResult | None = None
        self.page_size = 50  # encounters a page (the hub's default)
        # Keyset paging: the cursors of the pages before this one (None: the first page).
        self._cursors: list[str | None] = []
        self._cursor: str | None = None

        def field(placeholder: str, name: str, chars: int) -> QLineEdit:
            edit = QLineEdit()
            edit.setPlaceholderText(placeholder)
            edit.setAccessibleName(name)
            edit.setMaxLength(chars)
            edit.returnPressed.connect(self.search)
            edit.textChanged.connect(lambda _t: self._debounce.start())
            return edit

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(350)
        self._debounce.timeout.connect(self.search)
        self.name = field("Patient name", "Search by patient name", 120)
        self.nhs = field("NHS number", "Search by NHS number", 16)
        self.site = field("Site (its full name)", "Search by site", 200)
        self.problem = field("Problem (words)", "Search by presenting problem", 200)
        self.outcome = theme.compact_combo(QComboBox(), 16)
        self.outcome.setAccessibleName("Search by outcome")
        self.outcome.addItem("any outcome", "")
        table = codes.outcomes()
        for code in table.codes:
            self.outcome.addItem(table[code].label, code)
        self.start = self._day("Calls from (any day at its earliest)", "From")
        self.end = self._day("Calls up to (any day at its earliest)", "To")
        self.search_button = QPushButton("&Search")
        self.search_button.setAccessibleName("Search the hub's history")
        self.newer = QPushButton("&Newer")
        self.newer.setAccessibleName("Newer page")
        self.older = QPushButton("&Older")
        self.older.setAccessibleName("Older page")
        self.notice = status_label("History notice")
        self.notice.setWordWrap(True)
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
        filters = QGridLayout()
        filters.addWidget(self.name, 0, 0)
        filters.addWidget(self.nhs, 0, 1)
        filters.addWidget(self.site, 0, 2)
        filters.addWidget(self.problem, 0, 3)
        filters.addWidget(self.outcome, 1, 0)
        dates = QHBoxLayout()
        for label, edit in (("From", self.start), ("to", self.end)):
            words = QLabel(label)
            words.setBuddy(edit)
            dates.addWidget(words)
            dates.addWidget(edit)
        filters.addLayout(dates, 1, 1)
        filters.addWidget(self.search_button, 1, 3)
        for column in range(4):
            filters.setColumnStretch(column, 1)
        actions = QHBoxLayout()
        actions.addWidget(self.count, 1)
        actions.addWidget(self.newer)
        actions.addWidget(self.older)
        actions.addWidget(self.follow)
        actions.addWidget(self.amend)
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.notice)
        layout.addWidget(self.table, 1)
        self.beside = QVBoxLayout()  # what follows the chosen record (its photos)
        layout.addLayout(self.beside)
        layout.addLayout(actions)
        # Tab follows the screen: the fields, Search, the list, then the buttons under it.
        chain = (self.name, self.nhs, self.site, self.problem, self.outcome, self.start,
                 self.end, self.search_button, self.table, self.newer, self.older,
                 self.follow, self.amend)
        for before, after in itertools.pairwise(chain):
            QWidget.setTabOrder(before, after)
        self.notice.setVisible(False)
        self.newer.setEnabled(False)
        self.older.setEnabled(False)

        self.outcome.currentIndexChanged.connect(self.search)
        self.start.dateChanged.connect(self._debounce.start)
        self.end.dateChanged.connect(self._debounce.start)
        self.search_button.clicked.connect(self.search)
        self.newer.clicked.connect(self.on_newer_clicked)
        self.older.clicked.connect(self.on_older_clicked)
        self.amend.clicked.connect(self.on_amend_clicked)
        self.follow.clicked.connect(self.on_follow_clicked)
        self.table.selectionModel().currentRowChanged.connect(self.on_current_changed)

    def _day(self, name: str, words: str) -> QDateEdit:
        edit = DayEdit()
        edit.setCalendarPopup(True)
        edit.setDisplayFormat("dd MMM yyyy")
        edit.setMinimumDate(ANY_DAY)
        edit.setSpecialValueText("any day")  # shown at the minimum: no bound
        edit.setDate(ANY_DAY)
        edit.setAccessibleName(f"{words} day")
        edit.setAccessibleDescription(name)
        return edit

    @staticmethod
    def _date(edit: QDateEdit) -> date | None:
        day = edit.date()
        return None if day == ANY_DAY else date(day.year(), day.month(), day.day())

    def query(self) -> HistoryQuery:
        """The search fields as the hub's query (the NHS number's spaces kept: the hub and
        this desk take them)."""
        def text(edit: QLineEdit) -> str | None:
            return edit.text().strip() or None

        start, end = self._date(self.start), self._date(self.end)
        if start is not None and end is not None and end < start:
            start, end = end, start
        return HistoryQuery(name=text(self.name), nhs_number=text(self.nhs),
                            site=text(self.site), problem=text(self.problem),
                            outcome=self.outcome.currentData() or None, start=start, end=end,
                            cursor=self._cursor, limit=self.page_size)

    @Slot()
    def search(self) -> None:
        """From the first page, with the fields as they are."""
        self._debounce.stop()
        self._cursors, self._cursor = [], None
        self.refresh()

    @Slot()
    def refresh(self) -> None:
        """This page again (a sign-off, a sync round)."""
        self.refreshRequested.emit(self.query())

    @Slot()
    def on_older_clicked(self) -> None:
        if self.result is not None and self.result.next_cursor is not None:
            self._cursors.append(self._cursor)
            self._cursor = self.result.next_cursor
            self.refresh()

    @Slot()
    def on_newer_clicked(self) -> None:
        if self._cursors:
            self._cursor = self._cursors.pop()
            self.refresh()

    def set_result(self, result: HistoryResult) -> None:
        if result.query != self.query():
            return  # an answer to an earlier search: a newer one is on its way
        self.result = result
        self.set_rows(result.rows)
        self.newer.setEnabled(result.reachable and bool(self._cursors))
        self.older.setEnabled(result.reachable and result.next_cursor is not None)
        page = len(self._cursors) + 1
        if result.reachable:
            self.notice.setVisible(False)
            waiting = (f"; {result.local_only} only on this desk (not yet on the hub)"
                       if result.local_only else "")
            self.count.setText(f"Page {page}: {len(result.rows) - result.local_only} "
                               "records from the hub"
                               f"{waiting} · {datetime.now(UTC).astimezone():%H:%M:%S}")
        else:
            words = ("The hub cannot be reached, so History shows only the "
                     f"{len(result.rows)} records kept on this desk; other desks' records "
                     "and further pages come back when the hub does.")
            self.notice.setText(words)
            self.notice.setVisible(True)
            self.count.setText(f"{len(result.rows)} records on this desk · "
                               f"{datetime.now(UTC).astimezone():%H:%M:%S}")
            if self.notice.text() != getattr(self, "_said", ""):
                announce(self.notice, words)
                self._said = words

    def set_rows(self, rows: list[HistoryRow]) -> None:
        # The record in hand stays chosen across a refresh (one follows each sign-off and
        # follow-up check): a keyboard user would otherwise be back before the first row.
        chosen = self.selected()
        self.model.set_rows(rows)
        again = next((n for n, row in enumerate(rows)
                      if chosen is not None and row.uuid == chosen.uuid), None)
        if again is not None:
            self.table.selectRow(again)

    def selected(self) -> HistoryRow | None:
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
