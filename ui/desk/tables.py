"""The shared shape of the desk's flat tables: a list of rows under fixed column titles, and
how every table behaves at the keyboard (Tab leaves it; Enter or Space chooses a cell)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QAbstractItemView

Index = QModelIndex | QPersistentModelIndex


class ColumnsModel(QAbstractTableModel):
    """Row count, column count and titles for a table over a list; subclasses give
    ``columns``, ``row_total()`` and ``data()``."""

    columns: tuple[str, ...] = ()

    def row_total(self) -> int:
        raise NotImplementedError

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self.row_total()

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.columns[section]
        return None


def keyboard_table(table: QAbstractItemView, name: str, description: str = "") -> None:
    """A table a keyboard user can leave: Tab and Shift+Tab move to the next control (the
    arrow keys move between cells), never cell to cell forever. ``name`` is what a screen
    reader calls it; ``description`` how to use it."""
    table.setTabKeyNavigation(False)
    table.setAccessibleName(name)
    if description:
        table.setAccessibleDescription(description)


def choose_by_keys(table: QAbstractItemView, chosen: Callable[[int, int], None],
                   keys: tuple[Qt.Key, ...] = (Qt.Key.Key_Return, Qt.Key.Key_Enter,
                                               Qt.Key.Key_Space),
                   click: bool = True) -> None:
    """Enter, Return or Space on the current cell (and, with ``click``, a click on a cell)
    calls ``chosen(row, column)``: a drill-down as reachable by keyboard as by mouse."""
    def current() -> None:
        index = table.currentIndex()
        if index.isValid():
            chosen(index.row(), index.column())

    if click:
        table.clicked.connect(lambda index: chosen(index.row(), index.column()))
    for key in keys:
        shortcut = QShortcut(QKeySequence(key), table)
        shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)
        shortcut.activated.connect(current)
