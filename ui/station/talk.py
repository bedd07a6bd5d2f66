"""The station's side of the conversation with the hub: the nurses' messages shown large, with
a sound, and said to a screen reader; the station's typed reply; and what to do instead when
nobody can answer (the hub's status)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from hub.contract import signaling as p
from ui.announce import announce
from ui.station.page import named


def status_words(status: p.HubStatus) -> str:
    """What a caller is told when nobody can answer; empty when a nurse can."""
    if status.state is p.HubState.OPEN:
        return ""
    why = {p.HubState.UNSTAFFED: "No nurse is signed in at the hub right now.",
           p.HubState.CLOSED: "The hub is closed right now.",
           p.HubState.SUSPENDED: "The hub's service is suspended right now."}[status.state]
    phone = f" Phone: {status.phone}." if status.phone else ""
    return f"{why} {status.advice or ''}{phone}".strip()


def status_label() -> QLabel:
    """The line that says nobody can answer (hidden while someone can)."""
    label = QLabel("")
    label.setObjectName("notice")
    label.setWordWrap(True)
    label.setAccessibleName("Hub status")
    label.setVisible(False)
    return label


def show_status(label: QLabel, status: p.HubStatus) -> None:
    words = status_words(status)
    label.setText(words)
    label.setVisible(bool(words))


class TalkPanel(QFrame):
    """Messages from the nurse (the latest large), and a reply box.

    Signals:
        replyRequested(str): the station's reply, to send (the box is cleared).
    """

    replyRequested = Signal(str)

    def __init__(self, compact: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("talk")
        # Beside the video (compact): the latest message only, and the reply box from the
        # start (chat both ways in a call). While waiting the box comes with the first
        # message, to answer it: the page stays short, and Tab goes where it went before.
        self.compact = compact
        self.chimes = 0  # sounds made (a test counts them)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 8, 0, 8)
        self.from_line = QLabel("")
        self.from_line.setObjectName("status")
        self.from_line.setVisible(False)
        self.latest = QLabel("")
        self.latest.setObjectName("message")
        self.latest.setWordWrap(True)
        self.latest.setFocusPolicy(Qt.FocusPolicy.TabFocus)  # a reader can go back to it
        self.latest.setAccessibleName("Latest message")
        self.latest.setVisible(False)
        self.earlier = QLabel("")
        self.earlier.setObjectName("status")
        self.earlier.setWordWrap(True)
        self.earlier.setAccessibleName("Earlier messages")
        self.earlier.setVisible(False)
        self.reply = QLineEdit()
        self.reply.setMaxLength(p.MAX_CHAT_CHARS)
        self.reply.setPlaceholderText("Type a message to the nurse")
        named(self.reply, "Message to the nurse")
        self.send_button = QPushButton("Send")
        self.send_button.setAccessibleName("Send the message to the nurse")
        # As tall as the box beside it: two fixed heights in one row squeeze the taller one.
        self.send_button.setSizePolicy(QSizePolicy.Policy.Preferred,
                                       QSizePolicy.Policy.Preferred)
        row = QHBoxLayout()
        row.addWidget(self.reply, 1)
        row.addWidget(self.send_button)
        self._show_reply(compact)
        for w in (self.from_line, self.latest, self.earlier):
            col.addWidget(w)
        col.addLayout(row)
        self.send_button.clicked.connect(self.on_send)
        self.reply.returnPressed.connect(self.on_send)
        self._lines: list[str] = []

    def clear(self) -> None:
        self._lines.clear()
        self.from_line.setText("")
        self.from_line.setVisible(False)
        self.latest.setText("")
        self.latest.setVisible(False)
        self.earlier.setText("")
        self.earlier.setVisible(False)
        self.reply.clear()
        self._show_reply(self.compact)

    def _show_reply(self, on: bool) -> None:
        self.reply.setVisible(on)
        self.send_button.setVisible(on)

    def show_message(self, msg: p.ChatMessage, mine: bool) -> None:
        """A message of the call. The nurse's shows large, with a sound, and is said at once
        (assertive: it may be "call 999 now"); the station's own goes in the list below."""
        at = f"{msg.sent_at.astimezone():%H:%M}"
        if mine:
            self._lines.insert(0, f"You, {at}: {msg.text}")
        else:
            if self.latest.text():
                self._lines.insert(0, f"{self.from_line.text()}: {self.latest.text()}")
            self.from_line.setText(f"Message from {msg.name} ({msg.role}) at {at}")
            self.latest.setText(msg.text)
            self.latest.setAccessibleDescription(self.from_line.text())
            self.chimes += 1
            self._show_reply(True)
            QApplication.beep()
            announce(self.latest, f"Message from {msg.name}: {msg.text}", assertive=True)
        for w in (self.from_line, self.latest):
            w.setVisible(bool(self.latest.text()))
        self.earlier.setText("\n".join(self._lines[:4]))
        self.earlier.setVisible(bool(self._lines) and not self.compact)

    @Slot()
    def on_send(self) -> None:
        text = self.reply.text().strip()
        if text:
            self.replyRequested.emit(text)
            self.reply.clear()
