"""What every page of the station's window shares: a styled background and its labels."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget


class Page(QWidget):
    """One page of the station's window (the kiosk style sheet paints its background)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # A QWidget subclass paints a style-sheet background only when asked to.
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)


def title(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("title")
    label.setWordWrap(True)
    return label


def error_label() -> QLabel:
    """A red line that says what is wrong (empty while nothing is)."""
    label = QLabel("")
    label.setObjectName("error")
    label.setWordWrap(True)
    return label


def sentence(text: str) -> str:
    """The first letter upper-cased; str.capitalize() would lower-case the rest (URLs too)."""
    return text[:1].upper() + text[1:]
