"""What every page of the station's window shares: a styled background, its labels, where
focus lands when the page shows, and names for the controls a screen reader reads."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from ui.heading import heading


class Page(QWidget):
    """One page of the station's window (the kiosk style sheet paints its background).

    ``landing`` is where keyboard focus goes when the page shows: a line that says what is
    happening, never a button that a repeated key press would set off (the station's
    window puts it there).
    """

    landing: QWidget | None = None

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # A QWidget subclass paints a style-sheet background only when asked to.
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)


def title(text: str) -> QLabel:
    """A page's title, read as a heading."""
    label = heading(QLabel(text))
    label.setObjectName("title")
    label.setWordWrap(True)
    return label


def landing(label: QLabel) -> QLabel:
    """A line focus can land on (Tab and Shift+Tab reach it too): a screen reader reads it
    when the page shows, and a key pressed again there sets nothing off."""
    label.setFocusPolicy(Qt.FocusPolicy.TabFocus)
    label.setProperty("landing", True)
    return label


def error_label() -> QLabel:
    """A red line that says what is wrong (empty while nothing is)."""
    label = QLabel("")
    label.setObjectName("error")
    label.setWordWrap(True)
    return label


def named(widget: QWidget, name: str, label: QLabel | None = None) -> QWidget:
    """Gives ``widget`` the name a screen reader reads. Set on the widget itself: on Linux a
    combo box takes its name only from a buddy label, a field inside a group box from the
    group's title, and a field with a placeholder from nothing. ``label`` (the visible
    label) becomes its buddy: the accessibility tree then relates the two."""
    widget.setAccessibleName(name)
    if label is not None:
        label.setBuddy(widget)
    return widget


def sentence(text: str) -> str:
    """The first letter upper-cased; str.capitalize() would lower-case the rest (URLs too)."""
    return text[:1].upper() + text[1:]
