"""The desk's side of the conversation with callers: messages to a waiting caller (ready-made
or the nurse's own words) and text chat in a call, and the calls on hold across the hub."""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtCore import QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from hub.contract import signaling as p
from ui.announce import announce
from ui.desk.queue import KIND_LABELS, wait_text
from ui.heading import heading

# What a nurse most often needs to tell a waiting caller, one click away (their own words in
# the box beside). The 999 advice is the hub's standing instruction to every caller.
READY_MADE = (
    "A nurse will be with you in a few minutes.",
    "If they stop breathing or do not respond, call 999 now.",
    "Please stay with the patient. We have not forgotten you.",
    "Please have the latest observations ready for the nurse.",
)


class Conversations:
    """Every message this desk has seen, by call (waiting calls and its own calls)."""

    def __init__(self) -> None:
        self.calls: dict[str, list[p.ChatMessage]] = {}

    def add(self, msg: p.ChatMessage) -> None:
        self.calls.setdefault(msg.call_id, []).append(msg)

    def of(self, call_id: str) -> list[p.ChatMessage]:
        return list(self.calls.get(call_id, []))

    def keep_only(self, call_ids: set[str]) -> None:
        for gone in set(self.calls) - call_ids:
            del self.calls[gone]


def line_of(msg: p.ChatMessage, me: str) -> str:
    who = "You" if msg.sender == me else f"{msg.name} ({msg.role})"
    return f"{msg.sent_at.astimezone():%H:%M} {who}: {msg.text}"


class ChatPanel(QWidget):
    """The messages of one call, and the nurse's message to send.

    Signals:
        sendRequested(str, str): send this text (second) to this call (first).
    """

    sendRequested = Signal(str, str)

    def __init__(self, me: str, what: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.me = me  # this desk's participant id: its own messages read "You"
        self.call_id: str | None = None
        self.title = heading(QLabel(what))
        self.title.setProperty("role", "heading")
        self.title.setWordWrap(True)
        self.transcript = QListWidget()
        self.transcript.setAccessibleName(f"{what}: transcript")
        self.transcript.setWordWrap(True)
        self.ready = QComboBox()
        self.ready.addItems(READY_MADE)
        self.ready.setAccessibleName("Ready-made message")
        self.send_ready = QPushButton("Send ready-made")
        self.send_ready.setAccessibleName("Send the ready-made message")
        self.own = QLineEdit()
        self.own.setMaxLength(p.MAX_CHAT_CHARS)
        self.own.setPlaceholderText("Or type your own message")
        self.own.setAccessibleName("Your own message")
        self.send_own = QPushButton("Send")
        self.send_own.setAccessibleName("Send your own message")
        ready_row, own_row = QHBoxLayout(), QHBoxLayout()
        ready_row.addWidget(self.ready, 1)
        ready_row.addWidget(self.send_ready)
        own_row.addWidget(self.own, 1)
        own_row.addWidget(self.send_own)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(self.title)
        col.addWidget(self.transcript, 1)
        col.addLayout(ready_row)
        col.addLayout(own_row)
        self.send_ready.clicked.connect(self.on_send_ready)
        self.send_own.clicked.connect(self.on_send_own)
        self.own.returnPressed.connect(self.on_send_own)
        self.show_call(None, "", [])

    def show_call(self, call_id: str | None, title: str,
                  messages: list[p.ChatMessage]) -> None:
        """The conversation of ``call_id`` (None: nothing to write to)."""
        self.call_id = call_id
        if title:
            self.title.setText(title)
        self.transcript.clear()
        for msg in messages:
            self.transcript.addItem(line_of(msg, self.me))
        for w in (self.ready, self.send_ready, self.own, self.send_own):
            w.setEnabled(call_id is not None)
        self.transcript.scrollToBottom()

    def add(self, msg: p.ChatMessage) -> None:
        """A message of the shown call; the caller's is said too (polite: the nurse's work
        goes on)."""
        if msg.call_id != self.call_id:
            return
        self.transcript.addItem(line_of(msg, self.me))
        self.transcript.scrollToBottom()
        if msg.sender != self.me:
            announce(self.transcript, f"Message from {msg.name}: {msg.text}")

    @Slot()
    def on_send_ready(self) -> None:
        if self.call_id is not None:
            self.sendRequested.emit(self.call_id, self.ready.currentText())

    @Slot()
    def on_send_own(self) -> None:
        text = self.own.text().strip()
        if self.call_id is not None and text:
            self.sendRequested.emit(self.call_id, text)
            self.own.clear()


class HeldCallsList(QWidget):
    """The calls on hold across the hub, with who holds each and for how long."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.calls: tuple[p.HeldCall, ...] = ()
        self.title = heading(QLabel("No calls on hold"))
        self.title.setProperty("role", "heading")
        self.list = QListWidget()
        self.list.setAccessibleName("Calls on hold")
        self.list.setWordWrap(True)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(self.title)
        col.addWidget(self.list)
        self._ticker = QTimer(self, interval=1000)
        self._ticker.timeout.connect(self.on_tick)
        self._ticker.start()

    def set_calls(self, calls: tuple[p.HeldCall, ...]) -> None:
        new = {c.call_id for c in calls} - {c.call_id for c in self.calls}
        self.calls = calls
        n = len(calls)
        self.title.setText("No calls on hold" if n == 0 else
                           f"{n} call{'s' if n != 1 else ''} on hold")
        self.on_tick()
        for c in calls:
            if c.call_id in new:
                announce(self.list, f"{c.site_name} put on hold by {c.nurse}.")

    @Slot()
    def on_tick(self) -> None:
        now = datetime.now(UTC)
        lines = [f"{c.site_name} ({KIND_LABELS[c.site_kind]}) · {c.urgency.value} · "
                 f"{c.reason} — held by {c.nurse} for "
                 f"{wait_text((now - c.since).total_seconds())}" for c in self.calls]
        if [self.list.item(i).text() for i in range(self.list.count())] != lines:
            self.list.clear()
            self.list.addItems(lines)
