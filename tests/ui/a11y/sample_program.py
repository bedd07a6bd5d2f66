"""A small form for the AT-SPI harness's own test: a label, a field, a table, two buttons,
and an announcement (ui.announce) on command."""

from __future__ import annotations

import sys

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
from ui.announce import announce


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

    return serve(window, {"announce": lambda req: announce(
        label, req["text"], assertive=bool(req.get("assertive")))})


if __name__ == "__main__":
    sys.exit(main())
