"""The reason for the call (the one thing the station must say) and how urgent it is."""

from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from hub.contract import signaling as p
from ui.station.page import error_label, named

URGENCIES = ((p.Urgency.EMERGENCY, "Emergency"), (p.Urgency.URGENT, "Urgent"),
             (p.Urgency.ROUTINE, "Routine"))


class ReasonText(QPlainTextEdit):
    """A box three lines of the station's type high, whatever size that type is (a fixed
    height would cut the text at a large system font)."""

    LINES = 3

    def sizeHint(self) -> QSize:
        frame = self.frameWidth() * 2 + 2 * int(self.document().documentMargin()) + 16
        return QSize(super().sizeHint().width(),
                     self.fontMetrics().lineSpacing() * self.LINES + frame)

    def minimumSizeHint(self) -> QSize:
        return QSize(super().minimumSizeHint().width(), self.sizeHint().height())


class ReasonBox(QWidget):
    """The reason, in a few words, and emergency / urgent (the default) / routine."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        heading = QLabel("<b>Reason for the call</b> (needed)")
        col.addWidget(heading)
        self.reason = ReasonText()
        named(self.reason, "Reason for the call (needed)", heading)
        self.reason.setPlaceholderText("For example: fall in the lounge, new confusion")
        # Tab leaves the box (a reason never needs a tab character).
        self.reason.setTabChangesFocus(True)
        col.addWidget(self.reason)
        self.reason_error = error_label()
        col.addWidget(self.reason_error)
        self.reason.textChanged.connect(self.reason_error.clear)

        urgency_row = QHBoxLayout()
        urgency_row.addWidget(QLabel("<b>How urgent?</b>"))
        # One of three, kept so here rather than by an exclusive QButtonGroup: Qt makes such
        # a group one Tab stop (arrow keys inside), which no care-home worker would guess.
        self.urgency_buttons: dict[p.Urgency, QPushButton] = {}
        for value, text in URGENCIES:
            button = QPushButton(text)
            named(button, f"{text} (how urgent)")
            button.setCheckable(True)
            button.clicked.connect(lambda _=False, v=value: self.choose(v))
            self.urgency_buttons[value] = button
            urgency_row.addWidget(button, 1)
        self.choose(p.Urgency.URGENT)
        col.addLayout(urgency_row)

    def choose(self, urgency: p.Urgency) -> None:
        """``urgency`` pressed, the other two not (pressing the chosen one keeps it)."""
        for value, button in self.urgency_buttons.items():
            button.setChecked(value is urgency)

    def begin(self) -> None:
        """A new call: an empty reason, with the cursor in it, urgent (the default)."""
        self.reason.clear()
        self.choose(p.Urgency.URGENT)
        self.reason_error.setText("")
        self.reason.setFocus()

    def text(self) -> str | None:
        """The reason, or None (with the box saying it is needed)."""
        reason = self.reason.toPlainText().strip()
        if not reason:
            self.reason_error.setText("Say in a few words why you are calling.")
            self.reason.setFocus()
            return None
        return reason

    def chosen_urgency(self) -> p.Urgency:
        return next((u for u, b in self.urgency_buttons.items() if b.isChecked()),
                    p.Urgency.URGENT)
