"""The station's waiting page: its place in the hub's queue, the expected wait (or, when
nobody can answer, what to do instead), the nurses' messages and a reply, "Cancel"."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from ui.station.page import Page, landing, title
from ui.station.talk import TalkPanel, status_label

STAY = "Stay with the resident. A nurse will answer as soon as they can."
OFFLINE = ("Not connected to the hub – trying again. Your call goes through as soon as it is "
           "back. In an emergency call 999.")


def wait_words(seconds: int | None) -> str:
    if seconds is None:  # nobody can answer now: the hub's status says what to do instead
        return ""
    if seconds < 60:
        return "Expected wait: less than a minute"
    minutes = -(-seconds // 60)
    return f"Expected wait: about {minutes} minute{'s' if minutes != 1 else ''}"


def position_words(position: int) -> str:
    return "You are next" if position == 1 else f"You are number {position} in the queue"


class WaitingPage(Page):
    """From the request until a nurse answers.

    Signals:
        cancelRequested(): "Cancel the call" was pressed.
    """

    cancelRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        col = QVBoxLayout(self)
        col.setContentsMargins(40, 40, 40, 40)
        col.addWidget(title("Calling the hub"))
        col.addStretch(1)
        # Focus lands on the place in the queue, never on Cancel: a second press of the key
        # that made the call must not cancel it.
        self.position = landing(QLabel("Asking for a nurse…"))
        self.position.setObjectName("big")
        self.position.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.position.setWordWrap(True)
        self.wait = QLabel("")
        self.wait.setObjectName("wait")
        self.wait.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.wait.setWordWrap(True)
        self.waiting_note = QLabel(STAY)
        self.waiting_note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.waiting_note.setWordWrap(True)
        self.nobody = status_label()
        self.offline = QLabel(OFFLINE)  # shown only while the hub cannot be reached
        self.offline.setObjectName("notice")
        self.offline.setWordWrap(True)
        self.offline.setAccessibleName("Connection to the hub")
        self.offline.setVisible(False)
        for w in (self.position, self.wait, self.offline, self.nobody, self.waiting_note):
            col.addWidget(w)
        self.talk = TalkPanel()
        col.addWidget(self.talk)
        col.addStretch(1)
        self.cancel_button = QPushButton("Cancel the call")
        self.cancel_button.setObjectName("danger")
        self.cancel_button.setMinimumWidth(360)
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.landing = self.position
        col.addWidget(self.cancel_button, 0, Qt.AlignmentFlag.AlignCenter)

    def asking(self) -> None:
        self.position.setText("Asking for a nurse…")
        self.wait.setText("")

    def show_connection(self, up: bool) -> None:
        self.offline.setVisible(not up)

    def show_place(self, position: int, wait_s: int | None) -> None:
        self.position.setText(position_words(position))
        self.wait.setText(wait_words(wait_s))

    def nurse_lost(self) -> None:
        self.waiting_note.setText("The nurse's connection was lost. You are at the front of "
                                  "the queue again.")

    def reset(self) -> None:
        self.waiting_note.setText(STAY)
