"""A small form for the AT-SPI harness's own test: a label, a field, a table, two buttons,
and an announcement on command."""

from __future__ import annotations

import sys
from typing import Any

from PySide6.QtGui import QAccessible, QAccessibleAnnouncementEvent
from PySide6.QtWidgets import (
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from tests.helpers.atspi_program import program_args, serve


def main() -> int:
    _app, _ = program_args()
    window = QWidget()
    window.setWindowTitle("Harness sample")
    layout = QVBoxLayout(window)
    label = QLabel("NEWS2 7")
    name = QLineEdit()
    name.setAccessibleName("Patient name")
    table = QTableWidget(2, 2)
    table.setAccessibleName("Waiting calls")
    for r in range(2):
        for c in range(2):
            table.setItem(r, c, QTableWidgetItem(f"cell {r}{c}"))
    table.setTabKeyNavigation(False)
    first, second = QPushButton("Answer"), QPushButton("Decline")
    for w in (label, name, table, first, second):
        layout.addWidget(w)
    name.setFocus()

    def announce(req: dict[str, Any]) -> None:
        event = QAccessibleAnnouncementEvent(label, req["text"])
        if req.get("assertive"):
            event.setPoliteness(QAccessible.AnnouncementPoliteness.Assertive)
        QAccessible.updateAccessibility(event)

    return serve(window, {"announce": announce})


if __name__ == "__main__":
    sys.exit(main())
