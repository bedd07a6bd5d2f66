"""The live queue: every waiting call with its site, urgency, reason, NEWS2 and ticking wait."""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    Qt,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import QBrush, QColor, QFont, QKeySequence, QShortcut
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

from hub.contract.identity import SiteKind
from hub.contract.signaling import QueueEntry
from ui import theme
from ui.desk.tables import ColumnsModel, Index, choose_by_keys, keyboard_table
from ui.heading import heading

KIND_LABELS = {SiteKind.CARE_HOME: "care home", SiteKind.PRISON: "prison",
               SiteKind.HOME: "home (Gold Line)"}
COLUMNS = ("Urgency", "Site", "Reason", "NEWS2", "Waiting")


def wait_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    minutes, secs = divmod(seconds, 60)
    if minutes >= 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    return f"{minutes}:{secs:02d}"


def news2_text(entry: QueueEntry) -> str:
    if entry.news2 is None:
        return "—"
    band = entry.news2.band.replace("_", "-")
    partial = "" if entry.news2.complete else " partial"
    return f"{entry.news2.total} {band}{partial}"


class QueueModel(ColumnsModel):
    """The waiting calls (or, for a specialist, the invitations) as table rows."""

    columns = COLUMNS

    def __init__(self, now: type[datetime] = datetime, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.entries: list[QueueEntry] = []
        self._now = now

    def set_entries(self, entries: tuple[QueueEntry, ...] | list[QueueEntry]) -> None:
        self.beginResetModel()
        # The hub's own rule, shown as such: most urgent first, then longest waiting.
        self.entries = sorted(entries, key=lambda e: (e.urgency.rank, e.requested_at))
        self.endResetModel()

    def row_total(self) -> int:
        return len(self.entries)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        entry = self.entries[index.row()]
        col = index.column()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            if col == 0:
                return entry.urgency.value.upper() + (" (requeued)" if entry.requeued else "")
            if col == 1:
                return f"{entry.site_name}\n{KIND_LABELS[entry.site_kind]}"
            if col == 2:
                return entry.reason
            if col == 3:
                return news2_text(entry)
            if col == 4:
                return wait_text((self._now.now(UTC) - entry.requested_at).total_seconds())
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == 0:
                return QBrush(QColor(theme.URGENCY_COLOURS.get(entry.urgency, "#d6dde6")))
            if col == 3 and entry.news2 is not None:
                return QBrush(QColor(theme.BAND_COLOURS.get(entry.news2.band, "#d6dde6")))
        if role == Qt.ItemDataRole.FontRole and col in (0, 4):
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ToolTipRole and col == 3 and entry.news2 is not None:
            return ("Partial: some observations were not taken" if not entry.news2.complete
                    else "All seven parameters scored")
        return None

    def tick(self) -> None:
        if self.entries:
            self.dataChanged.emit(self.index(0, 4), self.index(len(self.entries) - 1, 4))


class QueueView(QWidget):
    """The queue screen.

    Signals:
        answerRequested(str): the nurse answers this call id (button, double-click, Ctrl+Return).
    """

    answerRequested = Signal(str)

    def __init__(self, specialist: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = QueueModel(parent=self)  # owned by the view, as History's (Qt parent)
        self.table = QTableView()
        self.table.setModel(self.model)
        keyboard_table(self.table, "Invitations" if specialist else "Waiting calls",
                       "Up and Down choose an invitation; Enter or Ctrl+Return joins its "
                       "call" if specialist else
                       "Up and Down choose a call; Enter or Ctrl+Return answers it")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(True)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.doubleClicked.connect(self.on_double_clicked)
        # Enter on a row answers it, as a double-click does.
        choose_by_keys(self.table, lambda _r, _c: self.on_answer_clicked(),
                       (Qt.Key.Key_Return, Qt.Key.Key_Enter), click=False)

        what = "invitations" if specialist else "calls waiting"
        self.title = heading(QLabel(f"No {what}"))
        self.title.setProperty("role", "heading")
        self.answer_button = QPushButton("&Answer  (Ctrl+Return)")
        self.answer_button.setProperty("kind", "primary")
        # A specialist joins a call the nurse is in: said as such, not "answer".
        self.answer_button.setAccessibleName("Join the call of the selected invitation"
                                             if specialist else "Answer the selected call")
        self.answer_button.setEnabled(False)
        self.answer_button.clicked.connect(self.on_answer_clicked)
        self.decline_button = QPushButton("&Decline")
        self.decline_button.setAccessibleName("Decline the selected invitation")
        self.decline_button.setEnabled(False)
        self.hint = QLabel("Double-click an invitation or press Ctrl+Return to join the "
                           "selected (or first) one's call." if specialist else
                           "Double-click a call or press Ctrl+Return to answer the "
                           "selected (or first) call.")
        self.hint.setProperty("role", "muted")
        self.hint.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.decline_button)
        top.addWidget(self.answer_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        body = QHBoxLayout()
        body.addWidget(self.table, 3)
        self.side = QVBoxLayout()  # the window puts the chat and the held calls here
        body.addLayout(self.side, 2)
        layout.addLayout(body, 1)
        layout.addWidget(self.hint)
        self.decline_button.setVisible(specialist)  # after layout, see call.py
        self._specialist = specialist
        self._what = what

        shortcut = QShortcut(QKeySequence("Ctrl+Return"), self)
        shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
        shortcut.activated.connect(self.on_answer_clicked)
        self.answer_shortcut = shortcut
        self._ticker = QTimer(self)
        self._ticker.setInterval(1000)
        self._ticker.timeout.connect(self.model.tick)
        self._ticker.start()

    def _count(self, n: int) -> str:
        """'No calls waiting', '1 call waiting', '3 calls waiting' (likewise invitations)."""
        if n == 0:
            return f"No {self._what}"
        if n == 1:
            return "1 " + self._what.replace("calls", "call").replace("invitations",
                                                                      "invitation")
        return f"{n} {self._what}"

    def set_entries(self, entries: tuple[QueueEntry, ...] | list[QueueEntry]) -> None:
        selected = self.selected_call()
        self.model.set_entries(entries)
        n = len(entries)
        self.title.setText(self._count(n))
        self.answer_button.setEnabled(n > 0)
        self.decline_button.setEnabled(n > 0)
        ids = [e.call_id for e in entries]
        row = ids.index(selected) if selected in ids else (0 if n else -1)
        if row >= 0:
            self.table.selectRow(row)

    def selected_call(self) -> str | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if rows and rows[0].row() < len(self.model.entries):
            return self.model.entries[rows[0].row()].call_id
        return None

    def entry(self, call_id: str) -> QueueEntry | None:
        return next((e for e in self.model.entries if e.call_id == call_id), None)

    @Slot()
    def on_answer_clicked(self) -> None:
        if not self.isVisible() and not self.answer_button.isEnabled():
            return
        call_id = self.selected_call() or (
            self.model.entries[0].call_id if self.model.entries else None)
        if call_id is not None:
            self.answerRequested.emit(call_id)

    @Slot(QModelIndex)
    def on_double_clicked(self, index: QModelIndex) -> None:
        if index.isValid():
            self.answerRequested.emit(self.model.entries[index.row()].call_id)
